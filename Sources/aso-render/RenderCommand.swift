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

    @Option(help: "Print size preset, e.g. 9x12, 24x36 or A4 (see `aso-render presets`); default 9x12.")
    var size: String?

    @Option(help: "Custom print width in inches (2-60), with --height-inches, instead of --size.")
    var widthInches: Double?

    @Option(help: "Custom print height in inches (2-60).")
    var heightInches: Double?

    @Option(help: "Custom print width in millimetres (50.8-1524), with --height-mm, instead of --size.")
    var widthMm: Double?

    @Option(help: "Custom print height in millimetres.")
    var heightMm: Double?

    @Option(help: "Bleed beyond the trim on every side, in inches (0-0.5, e.g. 0.125).")
    var bleedInches: Double = 0

    @Flag(help: "Draw crop marks in a 1/4 in white slug outside the bleed.")
    var cropMarks = false

    @Option(help: "srgb, adobe-rgb or cmyk.")
    var outputProfile: OutputProfile = .srgb

    @Option(help: "perceptual, or relative (relative colorimetric with black point compensation).")
    var renderingIntent: RenderingIntent = .perceptual

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
            let preset = try paper()
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
                    fit: fit,
                    print: PrintOptions(bleedInches: bleedInches, cropMarks: cropMarks, outputProfile: outputProfile, renderingIntent: renderingIntent),
                    seed: seed, masterPath: "\(out)/output.tiff", previewPath: "\(out)/preview.jpg"))
            print(try JSON.string(outcome))
        } catch let error as RenderError {
            FileHandle.standardError.write(Data("error: \(error.message)\(error.detail.isEmpty ? "" : " (\(error.detail))")\n".utf8))
            throw ExitCode(2)
        }
    }

    /// The preset named by --size, or the custom size given in inches or millimetres (one of the three).
    private func paper() throws -> SizePreset {
        let inches = (widthInches, heightInches), millimetres = (widthMm, heightMm)
        let given = [size != nil, inches.0 != nil || inches.1 != nil, millimetres.0 != nil || millimetres.1 != nil].filter { $0 }.count
        guard given <= 1 else { throw ValidationError("Give --size, or --width-inches/--height-inches, or --width-mm/--height-mm: one of them") }
        if case (let width?, let height?) = inches { return try SizePreset.custom(width: width, height: height, millimetres: false) }
        if case (let width?, let height?) = millimetres { return try SizePreset.custom(width: width, height: height, millimetres: true) }
        guard [widthInches, heightInches, widthMm, heightMm].allSatisfy({ $0 == nil }) else {
            throw ValidationError("A custom size needs both its width and its height")
        }
        let name = size ?? "9x12"
        guard let preset = SizePreset.find(name: name) else {
            throw ValidationError("Unknown size '\(name)'. Known: \(SizePreset.all.map(\.name).joined(separator: ", "))")
        }
        return preset
    }
}

extension OrientationPolicy: ExpressibleByArgument {}
extension OutputProfile: ExpressibleByArgument {}
extension RenderingIntent: ExpressibleByArgument {}
extension FitPolicy: ExpressibleByArgument {}

enum JSON {
    static func string<T: Encodable>(_ value: T, pretty: Bool = false) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
