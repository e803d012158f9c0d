import Foundation
import RenderEngine
import Testing

@Suite("aso-render CLI")
struct CLITests {
    static let binary: String = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/aso-render").path
    }()

    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    static func run(_ arguments: [String]) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    /// Every print-lab option of `render` reaches the master; a bad one exits with its reason.
    @Test func renderTakesCustomSizeBleedCropMarksAndOutputProfile() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let result = try Self.run([
            "render", try Photos.require(Photos.dune), "--width-mm", "100", "--height-mm", "150", "--bleed-inches", "0.25", "--crop-marks",
            "--output-profile", "adobe-rgb", "--rendering-intent", "relative", "--orientation", "portrait", "--out", dir,
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        // 100x150 mm is 1181x1772 px; + 150 px of bleed and 2 × 75 px of slug.
        #expect(report["width"] as? Int == 1481 && report["height"] as? Int == 2072 && report["preset"] as? String == "100x150mm")
        let print = try #require(report["print"] as? [String: Any])
        #expect(print["bleed_inches"] as? Double == 0.25 && print["crop_marks"] as? Bool == true)
        #expect(print["output_profile"] as? String == "adobe-rgb" && print["rendering_intent"] as? String == "relative")
        let tags = try TIFFTags(path: "\(dir)/output.tiff")
        #expect(tags.integer(TIFFTags.Tag.imageWidth) == 1481 && tags.integer(TIFFTags.Tag.imageLength) == 2072)
        #expect(tags.integer(TIFFTags.Tag.photometric) == 2 && abs((tags.rational(TIFFTags.Tag.xResolution) ?? 0) - 300) < 0.01)
        let description = try Tools.run("exiftool", ["-s3", "-ICC_Profile:ProfileDescription", "\(dir)/output.tiff"])
        #expect(description.contains("Compatible with Adobe RGB (1998)"))

        let refused = try Self.run(["render", try Photos.require(Photos.dune), "--width-inches", "70", "--height-inches", "10", "--out", dir])
        #expect(refused.status == 2 && refused.stderr.contains("The width must be between 2 and 60 in (got 70 in)"), "\(refused.stderr)")
        let noBleed = try Self.run(["render", try Photos.require(Photos.dune), "--bleed-inches", "0.75", "--out", dir])
        #expect(noBleed.status == 2 && noBleed.stderr.contains("bleed_inches must be between 0 and 0.5"), "\(noBleed.stderr)")
    }

    @Test func renderWritesOutputsAndReportsOneJSONObject() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let result = try Self.run(["render", try Photos.require(Photos.dune), "--style", "photo", "--size", "12x16", "--out", dir])
        #expect(result.status == 0, "\(result.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(report["width"] as? Int == 4800 && report["height"] as? Int == 3600)
        #expect(report["dpi"] as? Int == 300)
        #expect((report["effective_dpi"] as? Double).map { abs($0 - 87.5) < 0.1 } == true)
        #expect((report["warnings"] as? [String])?.count == 1)
        #expect((report["timings_ms"] as? [String: Double])?["total"] != nil)
        #expect((report["peak_memory_bytes"] as? Int ?? 0) > 10_000_000)
        #expect(FileManager.default.fileExists(atPath: "\(dir)/output.tiff"))
        #expect(FileManager.default.fileExists(atPath: "\(dir)/preview.jpg"))
    }

    /// One row per style: its preview on each photo, then a 100 % crop of the first print.
    @Test func galleryLaysOutARowPerStyleWithACropOfThePrint() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let result = try Self.run(["gallery", "--out", dir, "--photo", try Photos.require(Photos.dune), "--styles", "photo,pop-art", "--cell", "200"])
        #expect(result.status == 0, "\(result.stderr)")
        let sheet = try RasterImage.load(path: "\(dir)/contact-sheet.png")
        // 12 px gaps; two columns (the preview, the crop); two rows of a 30 px title and a
        // 200x150 preview (9x12 landscape).
        #expect(sheet.width == 12 + 2 * (200 + 12) && sheet.height == 12 + 2 * (30 + 150 + 12), "\(sheet.width)x\(sheet.height)")
        // The crop is print pixels, not an enlarged preview: pop art's Ben-Day dots are there.
        let crop = sheet.cropped(x: 12 + 212, y: 12 + 30 + 192 + 30, width: 200, height: 150)
        let levels = Set(stride(from: 0, to: crop.pixels.count, by: crop.bands).map { crop.pixels[$0] / 32 })
        #expect(levels.count >= 3, "the crop cell holds a picture")
        let html = try String(contentsOfFile: "\(dir)/index.html", encoding: .utf8)
        #expect(html.contains("photo-0/preview.jpg") && html.contains("pop-art-0/preview.jpg"))
    }

    @Test func photoAt24x36StaysUnder600MBResident() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let result = try Self.run(["render", try Photos.require(Photos.elephants), "--size", "24x36", "--out", dir])
        #expect(result.status == 0, "\(result.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let peak = try #require(report["peak_memory_bytes"] as? Int)
        #expect(peak < 600 * 1024 * 1024, "peak RSS \(peak / 1_048_576) MB")
        #expect(report["width"] as? Int == 10800 && report["height"] as? Int == 7200)
    }

    @Test func badInputExitsNonZeroWithTheErrorOnStderr() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let text = try Fixtures.write("not an image", to: "photo.jpg", in: dir)
        let result = try Self.run(["render", text, "--out", "\(dir)/out"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("Unsupported image format"))
        #expect(result.stdout.isEmpty)
        let unknown = try Self.run(["render", text, "--style", "cubism", "--out", "\(dir)/out"])
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("Unknown style 'cubism'"))
    }

    @Test func catalogueCommandsListPresetsAndStylesAsJSON() throws {
        let presets = try Self.run(["presets", "--json"])
        let list = try #require(try JSONSerialization.jsonObject(with: Data(presets.stdout.utf8)) as? [[String: Any]])
        #expect(list.count == SizePreset.all.count)
        #expect(list.first?["id"] as? String == "6ba7b810-9dad-11d1-80b4-00c04fd430c8")
        #expect(list.first?["width_px"] as? Int == 2700)
        let styles = try Self.run(["styles", "--json"])
        let styleList = try #require(try JSONSerialization.jsonObject(with: Data(styles.stdout.utf8)) as? [[String: Any]])
        let watercolor = try #require(styleList.first { $0["slug"] as? String == "watercolor" })
        #expect(watercolor["id"] as? String == "550e8400-e29b-41d4-a716-446655440000")
        #expect(
            (watercolor["parameters"] as? [[String: Any]])?.contains { $0["name"] as? String == "paper_texture" && $0["default"] as? Double == 0.35 } == true)
        #expect(try Self.run(["styles"]).stdout.contains("watercolor"))
    }
}
