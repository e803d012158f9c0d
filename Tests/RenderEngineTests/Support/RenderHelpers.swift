import Foundation
import RenderEngine
import Testing

/// One render into a fresh directory, with its outputs read back.
struct Rendered {
    let outcome: RenderOutcome
    let directory: String
    var master: String { "\(directory)/output.tiff" }
    var preview: String { "\(directory)/preview.jpg" }

    static func make(
        _ input: String, style: any RenderStyle = PhotoStyle(), preset: String = "9x12",
        orientation: OrientationPolicy = .auto, fit: FitPolicy = .cover, seed: UInt64? = nil,
        parameters: [String: Double] = [:], renderThreads: Int? = nil, name: String = #function
    ) throws -> Rendered {
        let directory = temporaryDirectory(name)
        let engine = try RenderEngine(threads: renderThreads)
        let outcome = try engine.render(
            RenderJob(
                input: input, style: style, parameters: parameters, preset: try #require(SizePreset.find(name: preset)),
                orientation: orientation, fit: fit, seed: seed, masterPath: "\(directory)/output.tiff",
                previewPath: "\(directory)/preview.jpg"))
        return Rendered(outcome: outcome, directory: directory)
    }

    func cleanUp() { try? FileManager.default.removeItem(atPath: directory) }

    /// Everything a print lab checks on a master.
    func expectPrintReady(width: Int, height: Int, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let tags = try TIFFTags(path: master)
        #expect(tags.integer(TIFFTags.Tag.imageWidth) == width, sourceLocation: sourceLocation)
        #expect(tags.integer(TIFFTags.Tag.imageLength) == height, sourceLocation: sourceLocation)
        #expect(tags.integer(TIFFTags.Tag.compression) == 5, "LZW", sourceLocation: sourceLocation)
        #expect(tags.integer(TIFFTags.Tag.predictor) == 2, "horizontal predictor", sourceLocation: sourceLocation)
        #expect(tags.integer(TIFFTags.Tag.samplesPerPixel) == 3, "RGB, no alpha", sourceLocation: sourceLocation)
        #expect(tags.integer(TIFFTags.Tag.bitsPerSample) == 8, sourceLocation: sourceLocation)
        #expect(tags.integer(TIFFTags.Tag.photometric) == 2, "RGB", sourceLocation: sourceLocation)
        #expect(!tags.has(TIFFTags.Tag.extraSamples), "no alpha", sourceLocation: sourceLocation)
        #expect(tags.integer(TIFFTags.Tag.resolutionUnit) == 2, "inch", sourceLocation: sourceLocation)
        let xres = try #require(tags.rational(TIFFTags.Tag.xResolution), sourceLocation: sourceLocation)
        let yres = try #require(tags.rational(TIFFTags.Tag.yResolution), sourceLocation: sourceLocation)
        #expect(abs(xres - 300) < 0.01 && abs(yres - 300) < 0.01, "300 DPI, got \(xres)x\(yres)", sourceLocation: sourceLocation)
        #expect(tags.has(TIFFTags.Tag.iccProfile), "sRGB ICC embedded", sourceLocation: sourceLocation)
        #expect(!tags.has(TIFFTags.Tag.exifIFD) && !tags.has(TIFFTags.Tag.gpsIFD), "no EXIF/GPS", sourceLocation: sourceLocation)
        #expect(!tags.has(TIFFTags.Tag.xmp) && !tags.has(TIFFTags.Tag.iptc), "no XMP/IPTC", sourceLocation: sourceLocation)
        if let orientation = tags.integer(TIFFTags.Tag.orientation) {
            #expect(orientation == 1, sourceLocation: sourceLocation)
        }

        let probe = try ImageProbe.read(path: preview)
        #expect(probe.format == .jpeg, sourceLocation: sourceLocation)
        #expect(max(probe.width, probe.height) == 1200, sourceLocation: sourceLocation)
        #expect(abs(Double(probe.width) / Double(probe.height) - Double(width) / Double(height)) < 0.01, sourceLocation: sourceLocation)
        #expect(probe.hasICCProfile, sourceLocation: sourceLocation)
        #expect(probe.colourSpace == "srgb" && probe.bands == 3, sourceLocation: sourceLocation)
        // Progressive JPEG: a SOF2 frame header rather than baseline SOF0.
        let jpeg = [UInt8](try Data(contentsOf: URL(fileURLWithPath: preview)))
        let sof2 = (0..<(jpeg.count - 1)).contains { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xC2 }
        #expect(sof2, "preview is progressive", sourceLocation: sourceLocation)
    }
}

/// Mean absolute difference per sample between two images of the same size.
func meanAbsoluteDifference(_ a: RasterImage, _ b: RasterImage) -> Double {
    precondition(a.width == b.width && a.height == b.height && a.bands == b.bands)
    var total = 0
    for i in 0..<a.pixels.count { total += abs(Int(a.pixels[i]) - Int(b.pixels[i])) }
    return Double(total) / Double(a.pixels.count)
}
