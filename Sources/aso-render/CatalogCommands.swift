import ArgumentParser
import Foundation
import RenderEngine

/// `aso-render presets`: the print sizes.
struct PresetsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "presets", abstract: "List print size presets.")

    @Flag(help: "Print JSON (the API's shape).")
    var json = false

    func run() throws {
        if json {
            print(try JSON.string(SizePreset.all.map(PresetListing.init), pretty: true))
            return
        }
        for preset in SizePreset.all {
            print(
                "\(preset.name.padding(toLength: 8, withPad: " ", startingAt: 0))  \(preset.widthPixels)x\(preset.heightPixels) px @ \(preset.dpi) DPI  \(preset.id.uuidString.lowercased())"
            )
        }
    }
}

/// `aso-render styles`: the artistic styles and their parameters.
struct StylesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "styles", abstract: "List artistic styles and their parameters.")

    @Flag(help: "Print JSON (the API's shape).")
    var json = false

    func run() throws {
        let infos = StyleCatalog.all.map(\.info)
        if json {
            print(try JSON.string(infos.map(StyleListing.init), pretty: true))
            return
        }
        for info in infos {
            print("\(info.slug)  \(info.id.uuidString.lowercased())\n  \(info.description)")
            for parameter in info.parameters {
                print(
                    "  --param \(parameter.name)=N  (\(parameter.minimum)...\(parameter.maximum), default \(parameter.defaultValue)): \(parameter.description)")
            }
        }
    }
}

/// A preset as the spec's `GET /v1/size-presets` shows it.
struct PresetListing: Encodable {
    let id: String, name: String, widthInches: Double, heightInches: Double, dpi: Int, widthPx: Int, heightPx: Int
    let widthMm: Double?, heightMm: Double?
    init(_ preset: SizePreset) {
        id = preset.id.uuidString.lowercased()
        name = preset.name
        // Inches to 2 decimals, as the API and the database state them.
        widthInches = (preset.widthInches * 100).rounded() / 100
        heightInches = (preset.heightInches * 100).rounded() / 100
        dpi = preset.dpi
        widthPx = preset.widthPixels
        heightPx = preset.heightPixels
        widthMm = preset.widthMillimetres
        heightMm = preset.heightMillimetres
    }
    enum CodingKeys: String, CodingKey {
        case id, name, dpi
        case widthInches = "width_inches", heightInches = "height_inches", widthPx = "width_px", heightPx = "height_px"
        case widthMm = "width_mm", heightMm = "height_mm"
    }
}

struct StyleListing: Encodable {
    let id: String, slug: String, name: String, description: String, parameters: [StyleParameter]
    init(_ info: StyleInfo) {
        id = info.id.uuidString.lowercased()
        slug = info.slug
        name = info.name
        description = info.description
        parameters = info.parameters
    }
}
