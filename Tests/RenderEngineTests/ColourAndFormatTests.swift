import Foundation
import RenderEngine
import Testing

@Suite("Orientation, colour management and input formats")
struct ColourAndFormatTests {
    @Test("EXIF orientation puts up at the top", arguments: 1...8)
    func everyExifOrientationIsUpright(orientation: Int) throws {
        let dir = temporaryDirectory("orientation\(orientation)")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try Rendered.make(try Fixtures.oriented(orientation, in: dir), name: "orientation\(orientation)")
        defer { r.cleanUp() }
        try r.expectPrintReady(width: 2700, height: 3600)
        let preview = try RasterImage.load(path: r.preview)
        let (w, h) = (preview.width, preview.height)
        func quadrant(_ qx: Int, _ qy: Int) -> [Double] {
            preview.mean(x: qx * w / 2 + w / 8, y: qy * h / 2 + h / 8, width: w / 4, height: h / 4)
        }
        let (tl, tr, bl, br) = (quadrant(0, 0), quadrant(1, 0), quadrant(0, 1), quadrant(1, 1))
        #expect(tl[0] > 180 && tl[1] < 80 && tl[2] < 80, "top-left should be red: \(tl)")
        #expect(tr[1] > 160 && tr[0] < 80 && tr[2] < 80, "top-right should be green: \(tr)")
        #expect(bl[2] > 180 && bl[0] < 80 && bl[1] < 80, "bottom-left should be blue: \(bl)")
        #expect(br.allSatisfy { $0 > 235 }, "bottom-right should be white: \(br)")
    }

    /// Renders `source` and a converted copy, and compares their previews.
    private func compare(_ name: String, vips arguments: [String], tolerance: Double) throws -> (RasterImage, RasterImage) {
        let dir = temporaryDirectory(name)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let source = try Photos.require(Photos.dune)
        let converted = try Fixtures.converted(source, to: name, in: dir, arguments)
        let reference = try Rendered.make(source, name: name + "ref")
        defer { reference.cleanUp() }
        let r = try Rendered.make(converted, name: name)
        defer { r.cleanUp() }
        try r.expectPrintReady(width: 3600, height: 2700)
        let a = try RasterImage.load(path: reference.preview), b = try RasterImage.load(path: r.preview)
        let difference = meanAbsoluteDifference(a, b)
        #expect(difference < tolerance, "\(name): mean difference \(difference)")
        return (a, b)
    }

    /// The sRGB → CMYK → sRGB round trip itself loses 6.3 levels on average (measured): the
    /// bound sits just above that, so a CMYK photo taken without its profile fails.
    @Test func cmykJPEGWithProfileIsConvertedToSRGB() throws {
        _ = try compare("cmyk.jpg", vips: ["icc_transform", "{in}", "{out}", "cmyk", "--input-profile", "srgb"], tolerance: 7.5)
    }

    @Test func cmykJPEGWithoutProfileUsesAGenericCMYKProfile() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bare = try Fixtures.cmykJPEG(try Photos.require(Photos.dune), in: dir, embedProfile: false)
        #expect(try ImageProbe.read(path: bare).hasICCProfile == false)
        let r = try Rendered.make(bare)
        defer { r.cleanUp() }
        try r.expectPrintReady(width: 3600, height: 2700)
        let reference = try Rendered.make(try Photos.require(Photos.dune), name: "cmykbareref")
        defer { reference.cleanUp() }
        #expect(meanAbsoluteDifference(try RasterImage.load(path: reference.preview), try RasterImage.load(path: r.preview)) < 10)
    }

    @Test func sixteenBitPNGIsReducedTo8Bit() throws {
        _ = try compare("rgb16.png", vips: ["colourspace", "{in}", "{out}", "rgb16"], tolerance: 1.5)
    }

    @Test func embeddedWideGamutProfileIsHonoured() throws {
        // Display P3 pixel values differ from sRGB ones; without conversion the colours shift.
        _ = try compare("p3.jpg", vips: ["icc_transform", "{in}", "{out}", "p3", "--input-profile", "srgb"], tolerance: 3)
    }

    @Test func greyscaleBecomesNeutralRGB() throws {
        // The colour reference differs from any grey by ~35 levels: that bound only says "a picture".
        let (reference, grey) = try compare("grey.jpg", vips: ["colourspace", "{in}", "{out}", "b-w"], tolerance: 40)
        // The tones: each grey is the reference's own luminance (sRGB primaries, sRGB curve, as
        // libvips's b-w conversion makes it). Measured: 2.3 levels mean difference, bias -0.3
        // (JPEG both ways); a grey 8 levels darker or lighter fails.
        let toLinear = (0...255).map { (value: Int) -> Double in
            let c = Double(value) / 255
            return c <= 0.04045 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4)
        }
        var total = 0.0, bias = 0.0
        for i in stride(from: 0, to: reference.pixels.count, by: 3) {
            let y =
                0.2126 * toLinear[Int(reference.pixels[i])] + 0.7152 * toLinear[Int(reference.pixels[i + 1])] + 0.0722 * toLinear[Int(reference.pixels[i + 2])]
            let expected = (y <= 0.0031308 ? y * 12.92 : 1.055 * pow(y, 1 / 2.4) - 0.055) * 255
            let difference = Double(grey.pixels[i]) - expected
            total += abs(difference)
            bias += difference
        }
        let count = Double(reference.pixels.count / 3)
        #expect(total / count <= 4, "grey tones differ from the reference's luminance by \(total / count) levels on average")
        #expect(abs(bias / count) <= 1.5, "grey tones are shifted by \(bias / count) levels")
        var worst = 0
        for i in stride(from: 0, to: grey.pixels.count, by: 3) {
            worst = max(worst, abs(Int(grey.pixels[i]) - Int(grey.pixels[i + 1])), abs(Int(grey.pixels[i + 1]) - Int(grey.pixels[i + 2])))
        }
        #expect(worst <= 3, "channels of a greyscale render differ by up to \(worst)")
    }

    @Test func transparencyIsFlattenedOntoWhitePaper() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let source = try Photos.require(Photos.dune)
        let rgba = try Fixtures.converted(source, to: "half.png", in: dir, ["bandjoin_const", "{in}", "{out}", "128"])
        let palette = try Fixtures.converted(rgba, to: "palette.png", in: dir, ["copy", "{in}", "{out}[palette]"])
        let probe = try ImageProbe.read(path: palette)
        #expect(probe.hasAlpha)
        let reference = try Rendered.make(source)
        defer { reference.cleanUp() }
        let r = try Rendered.make(palette)
        defer { r.cleanUp() }
        try r.expectPrintReady(width: 3600, height: 2700)
        let opaque = try RasterImage.load(path: reference.preview).mean()
        let flattened = try RasterImage.load(path: r.preview).mean()
        for band in 0..<3 {
            let expected = (opaque[band] * 128 + 255 * 127) / 255
            #expect(abs(flattened[band] - expected) < 6, "band \(band): \(flattened[band]) vs \(expected)")
        }
    }

    /// Tolerances: measured mean differences from the JPEG's own render were 2.4 (JPEG
    /// re-encoded progressive), 2.4 (WebP), 0 (lossless TIFF), 2.5 (GIF), 1.3 (HEIC).
    @Test(
        "other input formats",
        arguments: [
            ("progressive.jpg", ["copy", "{in}", "{out}[interlace]"], 3.5),
            ("photo.webp", ["copy", "{in}", "{out}[Q=90]"], 3.5),
            ("photo.tiff", ["copy", "{in}", "{out}[compression=deflate]"], 0.5),
            ("photo.gif", ["copy", "{in}", "{out}"], 4),
            ("photo.heic", ["copy", "{in}", "{out}[Q=80]"], 2.5),
        ])
    func acceptsEveryPhotoFormat(name: String, arguments: [String], tolerance: Double) throws {
        let dir = temporaryDirectory(name)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let input = try Fixtures.converted(try Photos.require(Photos.dune), to: name, in: dir, arguments)
        // The extension is irrelevant: only the bytes decide.
        let renamed = "\(dir)/upload.bin"
        try FileManager.default.moveItem(atPath: input, toPath: renamed)
        let r = try Rendered.make(renamed, name: name)
        defer { r.cleanUp() }
        try r.expectPrintReady(width: 3600, height: 2700)
        #expect(r.outcome.warnings.first?.contains("117 DPI") == true)
        let preview = try RasterImage.load(path: r.preview)
        #expect(preview.mean().allSatisfy { $0 > 40 && $0 < 230 }, "a plausible photo, not a blank: \(preview.mean())")
        // The same picture as the JPEG it was made from, within what the format's own encoding loses.
        let reference = try Rendered.make(try Photos.require(Photos.dune), name: name + "ref")
        defer { reference.cleanUp() }
        let difference = meanAbsoluteDifference(try RasterImage.load(path: reference.preview), preview)
        #expect(difference <= tolerance, "\(name): mean difference \(difference) from the JPEG's render")
    }

    @Test func truncatedAndEmptyInputsFailWithTypedErrors() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let engine = try RenderEngine()
        func render(_ input: String) throws(RenderError) {
            _ = try engine.render(
                RenderJob(input: input, style: PhotoStyle(), preset: SizePreset.all[0], masterPath: "\(dir)/o/output.tiff", previewPath: "\(dir)/o/preview.jpg")
            )
        }
        let cases: [(String, RenderError.Code)] = [
            (try Fixtures.truncated(try Photos.require(Photos.dune), in: dir), .corruptImage),
            (try Fixtures.write("", to: "empty.jpg", in: dir), .emptyFile),
            (try Fixtures.write("GIF89a but not really", to: "fake.gif", in: dir), .corruptImage),
            (try Fixtures.write("hello", to: "notes.jpg", in: dir), .unsupportedFormat),
            (try Fixtures.bomb(in: dir), .tooManyPixels),
        ]
        for (input, code) in cases {
            do {
                try render(input)
                Issue.record("\(input) rendered")
            } catch {
                #expect(error.code == code, "\(input): \(error)")
                #expect(!error.message.isEmpty)
            }
        }
    }
}
