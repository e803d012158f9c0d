import Foundation
import RenderEngine
import Testing

@Suite("Input: sniffing and header probe")
struct InputTests {
    @Test(
        "formats are recognised from magic bytes only",
        arguments: [
            ([0xFF, 0xD8, 0xFF, 0xE0], ImageFormat.jpeg),
            ([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], .png),
            (Array("RIFF\u{0}\u{0}\u{0}\u{0}WEBPVP8 ".utf8), .webp),
            ([0x49, 0x49, 0x2A, 0x00], .tiff),
            ([0x4D, 0x4D, 0x00, 0x2A], .tiff),
            (Array("GIF89a".utf8), .gif),
            ([0, 0, 0, 0x18] + Array("ftypheic".utf8), .heif),
            ([0, 0, 0, 0x1C] + Array("ftypavif".utf8), .heif),
        ] as [([UInt8], ImageFormat)])
    func sniffsKnownFormats(bytes: [UInt8], format: ImageFormat) {
        #expect(ImageFormat.sniff(bytes) == format)
    }

    @Test(
        "anything else is not an image",
        arguments: [
            Array("<svg xmlns=\"http://www.w3.org/2000/svg\"/>".utf8),
            Array("%PDF-1.7".utf8),
            Array("<!DOCTYPE html>".utf8),
            [0x00, 0x00, 0x00, 0x18] + Array("ftypmp42".utf8),
            Array("RIFF\u{0}\u{0}\u{0}\u{0}WAVEfmt ".utf8),
            [],
        ])
    func rejectsOtherBytes(bytes: [UInt8]) {
        #expect(ImageFormat.sniff(bytes) == nil)
    }

    @Test func probeReadsHeaderOfRealPhoto() throws {
        let probe = try ImageProbe.read(path: try Photos.require(Photos.elephants))
        #expect(probe.format == .jpeg)
        #expect(probe.width == 5640 && probe.height == 3172)
        #expect(probe.orientation == 1)
        #expect(probe.bands == 3 && !probe.hasAlpha)
        #expect(probe.colourSpace == "srgb")
        #expect(probe.bitsPerSample == 8)
    }

    @Test func probeIsFastBecauseItDecodesNoPixels() throws {
        let path = try Photos.require(Photos.elephants)
        _ = try ImageProbe.read(path: path)
        let clock = ContinuousClock()
        let elapsed = try clock.measure { for _ in 0..<10 { _ = try ImageProbe.read(path: path) } }
        // A full decode of this 18 Mpx JPEG takes ~300 ms; ten header reads take a few.
        #expect(elapsed < .milliseconds(500))
    }

    @Test func probeReportsOrientationAndSwapsSides() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let probe = try ImageProbe.read(path: try Fixtures.oriented(6, in: dir))
        #expect(probe.orientation == 6)
        #expect(probe.width == 800 && probe.height == 600)
        #expect(probe.orientedWidth == 600 && probe.orientedHeight == 800)
    }

    @Test func probeReportsColourDetails() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let source = try Photos.require(Photos.dune)
        let cmyk = try ImageProbe.read(path: try Fixtures.cmykJPEG(source, in: dir))
        #expect(cmyk.colourSpace == "cmyk" && cmyk.bands == 4 && cmyk.hasICCProfile)
        let rgb16 = try ImageProbe.read(path: try Fixtures.converted(source, to: "16.png", in: dir, ["colourspace", "{in}", "{out}", "rgb16"]))
        #expect(rgb16.bitsPerSample == 16 && rgb16.format == .png)
        let alpha = try ImageProbe.read(path: try Fixtures.converted(source, to: "a.png", in: dir, ["bandjoin_const", "{in}", "{out}", "128"]))
        #expect(alpha.hasAlpha && alpha.bands == 4)
    }

    @Test func headerClaimingSixtyThousandSquaredIsRejectedBeforeDecoding() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bomb = try Fixtures.bomb(in: dir)
        let error = #expect(throws: RenderError.self) { try ImageProbe.read(path: bomb) }
        #expect(error?.code == .tooManyPixels)
        #expect(error?.message.contains("60000x60000") == true)
        #expect(error?.message.contains("maximum is 100 Mpx") == true)
    }

    @Test func pixelLimitIsConfigurable() throws {
        let path = try Photos.require(Photos.elephants)
        let error = #expect(throws: RenderError.self) { try ImageProbe.read(path: path, limits: InputLimits(maxPixels: 10_000_000)) }
        #expect(error?.code == .tooManyPixels)
        #expect(throws: Never.self) { try ImageProbe.read(path: path, limits: InputLimits(maxPixels: 20_000_000)) }
    }

    @Test func emptyFileAndTextNamedJPEGAreTypedErrors() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let empty = try Fixtures.write("", to: "empty.jpg", in: dir)
        #expect(throws: RenderError.self) { try ImageProbe.read(path: empty) }
        #expect((try? ImageProbe.read(path: empty)) == nil)
        do {
            _ = try ImageProbe.read(path: empty)
        } catch {
            #expect(error.code == .emptyFile)
        }
        let text = try Fixtures.write("this is not a photo\n", to: "photo.jpg", in: dir)
        do {
            _ = try ImageProbe.read(path: text)
            Issue.record("text file accepted")
        } catch {
            #expect(error.code == .unsupportedFormat)
            #expect(error.message.contains("Unsupported image format"))
        }
    }

    @Test func corruptHeaderIsACorruptImageError() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Valid PNG signature, garbage after it.
        let path = "\(dir)/bad.png"
        try Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + Array(repeating: 0x41, count: 64)).write(to: URL(fileURLWithPath: path))
        do {
            _ = try ImageProbe.read(path: path)
            Issue.record("corrupt PNG accepted")
        } catch {
            #expect(error.code == .corruptImage)
            #expect(error.message.contains("PNG"))
        }
    }
}
