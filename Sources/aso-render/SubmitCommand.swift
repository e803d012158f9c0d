import ArgumentParser
import Foundation
import RenderEngine
import RenderService

/// `aso-render submit`: queues a render of a photo on disk through the intake that serves
/// `POST /v1/renders`, so it is checked, stored and recorded exactly as an upload would be.
struct SubmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Queue a render of a photo on disk, as POST /v1/renders would; prints its render_id.",
        discussion:
            "Embedded mode needs DATA_DIR to itself (stop `serve` first; it renders the queue when it starts). The render belongs to no API key."
    )

    @Argument(help: "The photo (JPEG, PNG, WebP, TIFF, GIF or HEIC); copied, never moved.")
    var photo: String

    @Option(help: "Style slug (see `aso-render styles`).")
    var style = "photo"

    @Option(help: "Print size preset name (see `aso-render presets`); default 9x12 unless a custom size is given with --field.")
    var size: String?

    @Option(name: .customLong("field"), help: "Another field of POST /v1/renders, NAME=VALUE (repeatable), e.g. fit=contain or width_inches=10.")
    var fields: [String] = []

    @Option(help: "As the Idempotency-Key header: the same key and request give the same render.")
    var idempotencyKey: String?

    func run() async throws {
        ProcessFiles.restrict()
        guard let style = StyleCatalog.find(slug: style) else {
            throw ValidationError("Unknown style '\(style)'. Known: \(StyleCatalog.all.map(\.info.slug).joined(separator: ", "))")
        }
        var form = ["style_id": style.info.id.lowercased]
        for field in fields {
            let parts = field.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw ValidationError("Fields are NAME=VALUE, got '\(field)'") }
            form[parts[0]] = parts[1]
        }
        let customSize = form.keys.contains { $0.hasPrefix("width_") || $0.hasPrefix("height_") }
        if size != nil || !customSize {
            guard let preset = SizePreset.find(name: size ?? "9x12") else {
                throw ValidationError("Unknown size '\(size ?? "")'. Known: \(SizePreset.all.map(\.name).joined(separator: ", "))")
            }
            form["size_preset_id"] = preset.id.lowercased
        }
        guard let bytes = try? FileManager.default.attributesOfItem(atPath: photo)[.size] as? Int else {
            throw ValidationError("Cannot read \(photo)")
        }
        let configuration = try ServiceConfiguration()
        let logger = Logging.bootstrapJSON(level: configuration.logLevel)
        do {
            let request = form
            let deployment = try await Deployment.open(configuration: configuration, logger: logger)
            let accepted = try await deployment.run { components in
                try await components.intake.submit(
                    fields: request, photo: .init(path: photo, size: bytes, isTemporary: false), idempotencyKey: idempotencyKey, logger: logger)
            }
            print(
                try JSON.string(
                    Submitted(
                        render_id: accepted.renderID.lowercased, status: "queued", created_at: Timestamps.rfc3339(accepted.createdAt),
                        replayed: accepted.isReplay)))
        } catch let refusal as IntakeError {
            FileHandle.standardError.write(Data("error: \(refusal.error)\(refusal.message.map { ": \($0)" } ?? "")\n".utf8))
            throw ExitCode(2)
        } catch let error as ConfigurationError {
            logger.critical("\(error.description)")
            throw ExitCode(78)
        }
    }
}

extension SubmitCommand {
    /// The API's 201 body, and whether it repeats an earlier submission.
    struct Submitted: Encodable {
        let render_id: String
        let status: String
        let created_at: String
        let replayed: Bool
    }
}
