import Foundation
import RenderEngine
import Testing

@Suite("Print master and preview")
struct PrintMasterTests {
    @Test func landscapePhotoBecomesALandscapePrintReadyForTheLab() throws {
        let r = try Rendered.make(try Photos.require(Photos.elephants))
        defer { r.cleanUp() }
        try r.expectPrintReady(width: 3600, height: 2700)
        #expect(r.outcome.orientation == "landscape")
        #expect(r.outcome.effectiveDPI > 300)
        #expect(r.outcome.warnings.isEmpty)
        #expect(r.outcome.preview == PixelSize(width: 1200, height: 900))
        #expect(["probe", "decode", "print", "preview", "total"].allSatisfy { r.outcome.timingsMs[$0] != nil })
    }

    @Test func portraitPhotoStaysPortraitAndPolicyCanForceLandscape() throws {
        let portrait = try Photos.require(Photos.portrait)
        let auto = try Rendered.make(portrait, preset: "12x16")
        defer { auto.cleanUp() }
        try auto.expectPrintReady(width: 3600, height: 4800)
        let forced = try Rendered.make(portrait, preset: "12x16", orientation: .landscape)
        defer { forced.cleanUp() }
        try forced.expectPrintReady(width: 4800, height: 3600)
        #expect(forced.outcome.orientation == "landscape")
    }

    @Test func largePrintsFromSmallPhotosAreUpsampledAndWarnAboutResolution() throws {
        let r = try Rendered.make(try Photos.require(Photos.elephantsSmall), preset: "18x24")
        defer { r.cleanUp() }
        try r.expectPrintReady(width: 7200, height: 5400)
        // 1920x1080 on 24x18 in: 80 px/in horizontally, 60 vertically; the lower one limits.
        #expect(abs(r.outcome.effectiveDPI - 60) < 0.5)
        #expect(r.outcome.warnings.count == 1)
        #expect(r.outcome.warnings.first?.contains("60 DPI at 24x18 in") == true)
    }

    @Test func containKeepsTheWholePhotoOnWhitePaper() throws {
        let r = try Rendered.make(try Photos.require(Photos.elephants), orientation: .portrait, fit: .contain)
        defer { r.cleanUp() }
        try r.expectPrintReady(width: 2700, height: 3600)
        let preview = try RasterImage.load(path: r.preview)
        // 5640x3172 fitted to 2700 wide is 1518 high: white bands above and below.
        let top = preview.mean(y: 0, height: 100)
        let middle = preview.mean(y: 550, height: 100)
        #expect(top.allSatisfy { $0 > 252 }, "top margin is paper white: \(top)")
        #expect(middle.reduce(0, +) / 3 < 200, "photo in the middle: \(middle)")
    }

    @Test func attentionCropFillsThePaperToo() throws {
        let r = try Rendered.make(try Photos.require(Photos.flower), preset: "12x16", orientation: .portrait, fit: .coverAttention)
        defer { r.cleanUp() }
        try r.expectPrintReady(width: 3600, height: 4800)
        // The flower's centre (right half of the photo) is what attention keeps: mostly yellow.
        let mean = try RasterImage.load(path: r.preview).mean()
        #expect(mean[0] > 120 && mean[1] > 100 && mean[2] < mean[1], "\(mean)")
    }

    @Test func upsamplingKeepsFlatColourFlatAndTheMeanUnchanged() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A 300x400 flat swatch on 24x36 is a 24x enlargement with print sharpening.
        try Tools.vips("black", "\(dir)/b.v", "300", "400", "--bands", "3")
        try Tools.vips("linear", "\(dir)/b.v", "\(dir)/flat.png", "1 1 1", "90 140 200", "--uchar")
        let r = try Rendered.make("\(dir)/flat.png", preset: "24x36")
        defer { r.cleanUp() }
        let master = try RasterImage.load(path: r.master, maxSide: 1200)
        var lo = [255, 255, 255], hi = [0, 0, 0]
        for i in 0..<master.pixels.count {
            lo[i % 3] = min(lo[i % 3], Int(master.pixels[i]))
            hi[i % 3] = max(hi[i % 3], Int(master.pixels[i]))
        }
        #expect(lo == [90, 140, 200] && hi == [90, 140, 200], "flat stays flat: \(lo)...\(hi)")
    }

    @Test func previewShowsExactlyThePrintedPixels() throws {
        let r = try Rendered.make(try Photos.require(Photos.dune))
        defer { r.cleanUp() }
        let preview = try RasterImage.load(path: r.preview)
        let fromMaster = try RasterImage.load(path: r.master, maxSide: 1200)
        #expect(preview.width == fromMaster.width && preview.height == fromMaster.height)
        // Only JPEG quantisation and resampling separate them.
        #expect(meanAbsoluteDifference(preview, fromMaster) < 3)
    }

    @Test func cameraMetadataIsNotCarriedToOutputs() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tagged = "\(dir)/gps.jpg"
        try FileManager.default.copyItem(atPath: try Photos.require(Photos.dune), toPath: tagged)
        try Tools.run(
            "exiftool",
            [
                "-q", "-overwrite_original", "-GPSLatitude=48.85", "-GPSLatitudeRef=N", "-GPSLongitude=2.35",
                "-GPSLongitudeRef=E", "-Make=SecretCam", "-XMP:Creator=Someone", tagged,
            ])
        let r = try Rendered.make(tagged)
        defer { r.cleanUp() }
        try r.expectPrintReady(width: 3600, height: 2700)
        for output in [r.master, r.preview] {
            let report = try Tools.run("exiftool", ["-a", "-G1", output])
            #expect(!report.contains("GPS"), "\(output) carries GPS")
            #expect(!report.contains("SecretCam") && !report.contains("Someone"), "\(output) carries camera metadata")
        }
    }

    @Test func outputsAppearAtomicallyAndFailuresLeaveNothing() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let truncated = try Fixtures.truncated(try Photos.require(Photos.dune), in: dir)
        let engine = try RenderEngine()
        let out = "\(dir)/out"
        let job = RenderJob(
            input: truncated, style: PhotoStyle(), preset: SizePreset.all[0], masterPath: "\(out)/output.tiff", previewPath: "\(out)/preview.jpg")
        do {
            _ = try engine.render(job)
            Issue.record("a truncated JPEG rendered")
        } catch {
            #expect(error.code == .corruptImage)
            #expect(error.message.contains("JPEG"))
        }
        let left = (try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []
        #expect(left.isEmpty, "left behind: \(left)")
    }

    @Test func cancellationStopsTheRender() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let engine = try RenderEngine()
        let job = RenderJob(
            input: try Photos.require(Photos.dune), style: PhotoStyle(), preset: SizePreset.all[0],
            masterPath: "\(dir)/output.tiff", previewPath: "\(dir)/preview.jpg", isCanceled: { true })
        #expect { try engine.render(job) } throws: { ($0 as? RenderError)?.code == .canceled }
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/output.tiff"))
    }
}
