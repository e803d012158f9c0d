import CVips
import CVipsShim
import Foundation

/// A decoded 8-bit image in memory, as stored in the file (no orientation or colour
/// conversion applied). For inspecting outputs: tests, contact sheets, statistics.
public struct RasterImage: Sendable {
    public let width: Int
    public let height: Int
    public let bands: Int
    /// Interleaved samples, rows top to bottom.
    public let pixels: [UInt8]

    public init(width: Int, height: Int, bands: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * bands, "pixel count does not match the size")
        self.width = width
        self.height = height
        self.bands = bands
        self.pixels = pixels
    }

    /// Decodes a file, optionally reduced so that its longest side is at most `maxSide`.
    public static func load(path: String, maxSide: Int? = nil) throws(RenderError) -> RasterImage {
        try Vips.start()
        guard let pointer = aso_open_header(path, Int32(VIPS_FAIL_ON_ERROR.rawValue)) else {
            throw RenderError(.corruptImage, "The image could not be opened", detail: Vips.takeErrorText())
        }
        var image = VipsImageRef(taking: pointer)
        if let maxSide, max(image.width, image.height) > maxSide {
            let scale = Double(maxSide) / Double(max(image.width, image.height))
            let source = image
            image = try VipsImageRef.make(.internalFailure, "The image could not be resized") {
                aso_resize(source.pointer, $0, scale, scale)
            }
        }
        if image.format != VIPS_FORMAT_UCHAR {
            throw RenderError(.unsupportedFormat, "Only 8-bit images can be inspected")
        }
        let data = try image.materialise()
        return RasterImage(width: image.width, height: image.height, bands: image.bands, pixels: [UInt8](data))
    }

    @inline(__always) public func sample(_ x: Int, _ y: Int, _ band: Int) -> UInt8 {
        pixels[(y * width + x) * bands + band]
    }

    /// A rectangle of this image.
    public func cropped(x: Int, y: Int, width w: Int, height h: Int) -> RasterImage {
        let x = min(max(0, x), width - 1), y = min(max(0, y), height - 1)
        let w = min(w, width - x), h = min(h, height - y)
        var out = [UInt8](repeating: 0, count: w * h * bands)
        for row in 0..<h {
            let source = ((y + row) * width + x) * bands
            out.replaceSubrange((row * w * bands)..<((row + 1) * w * bands), with: pixels[source..<(source + w * bands)])
        }
        return RasterImage(width: w, height: h, bands: bands, pixels: out)
    }

    /// Mean of each band over a rectangle.
    public func mean(x: Int = 0, y: Int = 0, width w: Int? = nil, height h: Int? = nil) -> [Double] {
        let w = w ?? width - x, h = h ?? height - y
        var sums = [Double](repeating: 0, count: bands)
        for row in y..<(y + h) {
            for column in x..<(x + w) {
                for band in 0..<bands { sums[band] += Double(sample(column, row, band)) }
            }
        }
        return sums.map { $0 / Double(w * h) }
    }

    /// A blank image filled with one colour.
    public init(width: Int, height: Int, fill: [UInt8]) {
        precondition(!fill.isEmpty)
        var pixels = [UInt8](repeating: 0, count: width * height * fill.count)
        for i in stride(from: 0, to: pixels.count, by: fill.count) {
            for b in 0..<fill.count { pixels[i + b] = fill[b] }
        }
        self.init(width: width, height: height, bands: fill.count, pixels: pixels)
    }

    /// Text as a one-band mask (255 = ink), about `height` pixels tall.
    public static func text(_ text: String, height: Int) throws(RenderError) -> RasterImage {
        try Vips.start()
        let image = try VipsImageRef.make(.internalFailure, "Text could not be rendered") { aso_text_mask($0, text, Int32(height)) }
        let data = try image.materialise()
        return RasterImage(width: image.width, height: image.height, bands: image.bands, pixels: [UInt8](data))
    }

    /// Copies `image` (same band count, or a one-band mask drawn in `ink`) with its top-left
    /// corner at (x, y), clipped to this image.
    public mutating func draw(_ image: RasterImage, x: Int, y: Int, ink: [UInt8]? = nil) {
        var pixels = self.pixels
        for row in 0..<image.height {
            let ty = y + row
            guard ty >= 0, ty < height else { continue }
            for column in 0..<image.width {
                let tx = x + column
                guard tx >= 0, tx < width else { continue }
                let target = (ty * width + tx) * bands
                if let ink {
                    let alpha = Int(image.sample(column, row, 0))
                    for b in 0..<bands { pixels[target + b] = UInt8((Int(pixels[target + b]) * (255 - alpha) + Int(ink[b]) * alpha) / 255) }
                } else {
                    for b in 0..<bands { pixels[target + b] = image.sample(column, row, min(b, image.bands - 1)) }
                }
            }
        }
        self = RasterImage(width: width, height: height, bands: bands, pixels: pixels)
    }

    /// Writes a JPEG (quality 0...100), sRGB, no metadata.
    public func writeJPEG(to path: String, quality: Int) throws(RenderError) {
        try Vips.start()
        let failure: RenderError? = pixels.withUnsafeBytes { bytes in
            guard
                let image = aso_image_from_memory(bytes.baseAddress, bytes.count, Int32(width), Int32(height), Int32(bands), Int32(VIPS_FORMAT_UCHAR.rawValue))
            else {
                return RenderError(.internalFailure, "The image could not be wrapped", detail: Vips.takeErrorText())
            }
            let ref = VipsImageRef(taking: image)
            if aso_save_jpeg(ref.pointer, path, Int32(quality), 1, 1) != 0 {
                return RenderError(.io, "The JPEG could not be written", detail: Vips.takeErrorText())
            }
            return nil
        }
        if let failure { throw failure }
    }

    /// Writes a PNG (contact sheets, debugging).
    public func writePNG(to path: String) throws(RenderError) {
        try Vips.start()
        let failure: RenderError? = pixels.withUnsafeBytes { bytes in
            guard
                let image = aso_image_from_memory(bytes.baseAddress, bytes.count, Int32(width), Int32(height), Int32(bands), Int32(VIPS_FORMAT_UCHAR.rawValue))
            else {
                return RenderError(.internalFailure, "The image could not be wrapped", detail: Vips.takeErrorText())
            }
            let ref = VipsImageRef(taking: image)
            if aso_save_png(ref.pointer, path) != 0 {
                return RenderError(.io, "The PNG could not be written", detail: Vips.takeErrorText())
            }
            return nil
        }
        if let failure { throw failure }
    }
}
