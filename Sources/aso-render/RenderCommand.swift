import ArgumentParser
import Foundation
import RenderEngine

/// `aso-render render`: one file in, `output.tiff` and `preview.jpg` out, no service needed.
struct RenderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render",
        abstract: "Render one photo to DIR/output.tiff and DIR/preview.jpg; prints a JSON report."
    )

    @Argument(help: "The photo (JPEG, PNG, WebP, TIFF, GIF or HEIC).")
    var input: String

    @Option(help: "Style slug (see `aso-render styles`).")
    var style: String = "photo"

    @Option(help: "Print size preset, e.g. 9x12 or 24x36 (see `aso-render presets`).")
    var size: String = "9x12"

    @Option(help: "auto, portrait or landscape.")
    var orientation: OrientationPolicy = .auto

    @Option(help: "cover, cover-attention or contain.")
    var fit: FitPolicy = .cover

    @Option(help: "Seed for the style's textures and strokes (default: a hash of the photo's pixels).")
    var seed: UInt64?

    @Option(name: .customLong("param"), help: "Style parameter NAME=VALUE (repeatable).")
    var parameters: [String] = []

    @Option(help: "Largest accepted input in pixels.")
    var maxPixels: Int = InputLimits().maxPixels

    @Option(help: "Output directory.")
    var out: String

    func run() throws {
        do {
            guard let style = StyleCatalog.find(slug: style) else {
                throw ValidationError("Unknown style '\(style)'. Known: \(StyleCatalog.all.map(\.info.slug).joined(separator: ", "))")
            }
            guard let preset = SizePreset.find(name: size) else {
                throw ValidationError("Unknown size '\(size)'. Known: \(SizePreset.all.map(\.name).joined(separator: ", "))")
            }
            var values: [String: Double] = [:]
            for parameter in parameters {
                let parts = parameter.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2, let value = Double(parts[1]) else {
                    throw ValidationError("Style parameters are NAME=NUMBER, got '\(parameter)'")
                }
                values[parts[0]] = value
            }
            let engine = try RenderEngine(limits: InputLimits(maxPixels: maxPixels))
            let outcome = try engine.render(
                RenderJob(
                    input: input, style: style, parameters: values, preset: preset, orientation: orientation,
                    fit: fit, seed: seed, masterPath: "\(out)/output.tiff", previewPath: "\(out)/preview.jpg"))
            print(try JSON.string(outcome))
        } catch let error as RenderError {
            FileHandle.standardError.write(Data("error: \(error.message)\(error.detail.isEmpty ? "" : " (\(error.detail))")\n".utf8))
            throw ExitCode(2)
        }
    }
}

extension OrientationPolicy: ExpressibleByArgument {}
extension FitPolicy: ExpressibleByArgument {}

enum JSON {
    static func string<T: Encodable>(_ value: T, pretty: Bool = false) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
