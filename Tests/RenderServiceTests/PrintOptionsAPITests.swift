import Foundation
import Hummingbird
import HummingbirdTesting
import RenderEngine
import Testing

@testable import RenderService

/// The print-lab fields of `POST /v1/renders` (issue 15) through the HTTP API in embedded mode:
/// refused with a clear 400 when wrong, stored, rendered, reported in the render resource and
/// visible in the downloaded files.
@Suite("Print options through the HTTP API")
struct PrintOptionsAPITests {
    /// Standard output of a lab's inspection tool (tiffinfo, exiftool), which exits on its own.
    static func output(_ tool: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    @Test func wrongSizesAndPrintOptionsAreRefusedSayingWhy() async throws {
        let service = try await EmbeddedTestService.make()
        defer { service.cleanUp() }
        try await service.app.test(.router) { client in
            @discardableResult func refused(_ fields: [String: String], preset: String? = nil, _ error: String) async throws -> String? {
                let body = try await client.upload(try MultipartBody.render(preset: preset, extra: fields)).expectError(.badRequest, error)
                return body["message"] as? String
            }
            #expect(try await refused([:], "size_preset_id is required")?.contains("width_inches") == true)
            try await refused(["width_inches": "8", "height_inches": "10"], preset: IDs.preset9x12, "Conflicting size")
            try await refused(["width_inches": "8", "height_mm": "300"], "Conflicting size")
            #expect(try await refused(["width_inches": "8"], "Incomplete custom size") == "width_inches and height_inches go together")
            #expect(
                try await refused(["width_inches": "1.5", "height_inches": "10"], "Invalid custom size") == "The width must be between 2 and 60 in (got 1.5 in)"
            )
            #expect(
                try await refused(["width_mm": "210", "height_mm": "1600"], "Invalid custom size")
                    == "The height must be between 50.8 and 1524 mm (got 1600 mm)")
            for number in ["0x10", "8,5", "1e1", "08", " 8", "inf", "8.1234"] {
                try await refused(["width_inches": number, "height_inches": "10"], "Invalid width_inches")
            }
            for bleed in ["0.6", "-0.1", "1/8"] {
                try await refused(["bleed_inches": bleed], preset: IDs.preset9x12, "Invalid bleed_inches")
            }
            try await refused(["output_profile": "prophoto"], preset: IDs.preset9x12, "Invalid output_profile")
            try await refused(["rendering_intent": "saturation"], preset: IDs.preset9x12, "Invalid rendering_intent")
            try await refused(["crop_marks": "yes"], preset: IDs.preset9x12, "Invalid crop_marks")
        }
    }

    @Test func customSizeWithBleedCropMarksAndCMYKIsStoredRenderedAndReported() async throws {
        let service = try await EmbeddedTestService.make()
        defer { service.cleanUp() }
        try await service.app.test(.router) { client in
            let fields = [
                "width_inches": "5", "height_inches": "7", "bleed_inches": "0.125", "crop_marks": "true", "output_profile": "cmyk",
                "rendering_intent": "relative",
            ]
            let created = try await client.upload(try MultipartBody.render(preset: nil, extra: fields))
            #expect(created.status == .created)
            let id = try #require(try created.json["render_id"] as? String)
            let queued = try await client.get("/v1/renders/\(id)").json
            let print = try #require(queued["print"] as? [String: Any])
            // (5 + 2 × 0.125 + 2 × 0.25) × 300 by (7 + …) × 300, stated portrait like a preset.
            #expect(print["trim_width_inches"] as? Double == 5 && print["trim_height_inches"] as? Double == 7)
            #expect(print["bleed_inches"] as? Double == 0.125 && print["crop_marks"] as? Bool == true)
            #expect(print["output_profile"] as? String == "cmyk" && print["rendering_intent"] as? String == "relative")
            #expect(print["dpi"] as? Int == 300 && print["width_px"] as? Int == 1725 && print["height_px"] as? Int == 2325)
            let size = try #require(queued["size_preset"] as? [String: Any])
            #expect(size["id"] is NSNull && size["name"] as? String == "5x7" && size["width_px"] as? Int == 1500)

            try await service.drainQueue()
            let done = try await client.get("/v1/renders/\(id)").json
            #expect(done["status"] as? String == "completed", "\(done)")

            let scratch = temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: scratch) }
            func fetch(_ kind: String, to name: String) async throws -> String {
                let link = try await client.get("/v1/renders/\(id)/\(kind)").json
                let file = try await client.get(try EmbeddedTestService.pathAndQuery(try #require(link["url"] as? String)))
                #expect(file.status == .ok)
                let path = "\(scratch)/\(name)"
                try Data(buffer: file.body).write(to: URL(fileURLWithPath: path))
                return path
            }
            let master = try await fetch("download", to: "output.tiff")
            // Dune is a landscape photo: the 5x7 print is turned.
            let info = try Self.output("/usr/bin/tiffinfo", [master])
            #expect(info.contains("Image Width: 2325 Image Length: 1725"), "\(info)")
            #expect(info.contains("Resolution: 300, 300 pixels/inch"))
            #expect(info.contains("Photometric Interpretation: separated"))
            #expect(info.contains("Compression Scheme: LZW"))
            let description = try Self.output("/usr/bin/exiftool", ["-s3", "-ICC_Profile:ProfileDescription", master])
            #expect(description.trimmingCharacters(in: .whitespacesAndNewlines) == PrintOptions.cmykProfileName)
            let preview = try ImageProbe.read(path: try await fetch("preview", to: "preview.jpg"))
            #expect(preview.width == 1200 && preview.colourSpace == "srgb" && preview.hasICCProfile)
        }
    }
}
