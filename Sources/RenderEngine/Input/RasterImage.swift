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

    /// Writes a PNG (contact sheets, debugging).
    public func writePNG(to path: String) throws(RenderError) {
        try Vips.start()
        let failure: RenderError? = pixels.withUnsafeBytes { bytes in
            guard let image = aso_image_from_memory(bytes.baseAddress, bytes.count, Int32(width), Int32(height), Int32(bands), Int32(VIPS_FORMAT_UCHAR.rawValue)) else {
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
