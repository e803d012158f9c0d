import CVips
import CVipsShim
import Foundation

/// What an image's header says, read without decoding any pixels.
public struct ImageProbe: Sendable, Equatable, Codable {
    public let format: ImageFormat
    /// Stored dimensions, before EXIF orientation is applied.
    public let width: Int
    public let height: Int
    /// EXIF orientation 1...8 (1 = as stored).
    public let orientation: Int
    public let bands: Int
    public let hasAlpha: Bool
    /// libvips' name for the colour space: "srgb", "cmyk", "b-w", "rgb16", "grey16", ...
    public let colourSpace: String
    public let hasICCProfile: Bool
    /// Bits per sample (8 or 16, 32 for float data).
    public let bitsPerSample: Int

    /// Dimensions as the photo is meant to be seen (orientations 5–8 swap the sides).
    public var orientedWidth: Int { orientation >= 5 ? height : width }
    public var orientedHeight: Int { orientation >= 5 ? width : height }
    public var pixelCount: Int { width * height }
}

/// Limits applied to every input before any pixel is decoded.
public struct InputLimits: Sendable, Equatable {
    /// Largest accepted image, in pixels (width × height), checked from the header:
    /// a 50 MB file can declare billions of pixels.
    public var maxPixels: Int

    public init(maxPixels: Int = 100_000_000) {
        self.maxPixels = maxPixels
    }
}

extension ImageProbe {
    /// Reads the header of the file at `path`: format from the magic bytes, then dimensions,
    /// orientation and colour information from libvips' lazy header load.
    ///
    /// - Throws: `RenderError` `.emptyFile`, `.unsupportedFormat`, `.corruptImage`,
    ///   `.tooManyPixels`, or `.io`.
    public static func read(path: String, limits: InputLimits = InputLimits()) throws(RenderError) -> ImageProbe {
        try Vips.start()
        guard let format = try ImageFormat.sniff(fileAt: path) else {
            throw RenderError(
                .unsupportedFormat,
                "Unsupported image format: expected JPEG, PNG, WebP, TIFF, GIF or HEIC/HEIF")
        }
        guard let pointer = aso_open_header(path, Int32(VIPS_FAIL_ON_ERROR.rawValue)) else {
            throw RenderError(
                .corruptImage, "The \(format.displayName) file is corrupt or truncated and cannot be read",
                detail: Vips.takeErrorText())
        }
        let image = VipsImageRef(taking: pointer)
        let probe = ImageProbe(
            format: format,
            width: image.width,
            height: image.height,
            orientation: Int(aso_orientation(pointer)),
            bands: image.bands,
            hasAlpha: image.hasAlpha,
            colourSpace: String(cString: vips_enum_nick(vips_interpretation_get_type(), Int32(image.interpretation.rawValue))),
            hasICCProfile: aso_has_icc(pointer) != 0,
            bitsPerSample: Int(vips_format_sizeof(image.format)) * 8
        )
        try probe.check(limits)
        return probe
    }

    /// Decodes the whole photo at low resolution (shrink-on-load for JPEG and WebP, a streamed
    /// decode otherwise), failing on the first decoding error: a truncated or corrupt file is
    /// caught while its uploader waits, not later in a worker. Bounded by the upload and pixel
    /// limits, since every pixel is read once.
    public static func verifyDecodes(path: String, format: ImageFormat) throws(RenderError) {
        var out: UnsafeMutablePointer<VipsImage>?
        defer { if let out { g_object_unref(UnsafeMutableRawPointer(out)) } }
        let decodes =
            aso_thumbnail(path, &out, 64, 64, 0, Int32(VIPS_FAIL_ON_ERROR.rawValue), 0) == 0
            && out.map { image in
                var size = 0
                let bytes = aso_write_to_memory(image, &size)
                g_free(bytes)
                return bytes != nil
            } ?? false
        guard decodes else {
            throw RenderError(.corruptImage, "The \(format.displayName) file is corrupt or truncated and cannot be decoded", detail: Vips.takeErrorText())
        }
    }

    /// The check an upload gets while its client waits: a JPEG's markers are walked from SOI
    /// to EOI (`JPEGStructure`: memory speed, and it also finds a cut file padded with zeros,
    /// which libjpeg decodes without complaint); other formats get `verifyDecodes`.
    public static func verifyUpload(path: String, format: ImageFormat) throws(RenderError) {
        guard format == .jpeg else { return try verifyDecodes(path: path, format: format) }
        switch JPEGStructure.check(path: path) {
        case .complete:
            return
        case .truncated(let why), .corrupt(let why):
            throw RenderError(.corruptImage, "The JPEG file is corrupt or truncated and cannot be decoded", detail: why)
        }
    }

    func check(_ limits: InputLimits) throws(RenderError) {
        guard width > 0, height > 0 else {
            throw RenderError(.corruptImage, "The image header declares no pixels")
        }
        if pixelCount > limits.maxPixels {
            throw RenderError(
                .tooManyPixels,
                "The image is \(width)x\(height) pixels (\(Self.megapixels(pixelCount)) Mpx); the maximum is \(Self.megapixels(limits.maxPixels)) Mpx"
            )
        }
    }

    private static func megapixels(_ pixels: Int) -> String {
        let value = Double(pixels) / 1_000_000
        return value >= 10 ? String(Int(value.rounded())) : String(format: "%.1f", value)
    }
}

extension ImageFormat {
    var displayName: String {
        switch self {
        case .jpeg: "JPEG"
        case .png: "PNG"
        case .webp: "WebP"
        case .tiff: "TIFF"
        case .gif: "GIF"
        case .heif: "HEIC/HEIF"
        }
    }
}
