import Foundation

/// One render: a photo file in, a print master and a preview out.
public struct RenderJob: Sendable {
    public var input: String
    public var style: any RenderStyle
    /// Customer-supplied style parameters (validated against the style; defaults fill the rest).
    public var parameters: [String: Double]
    public var preset: SizePreset
    public var orientation: OrientationPolicy
    public var fit: FitPolicy
    /// Bleed, crop marks and output colour (defaults: the spec's sRGB print, exact size).
    public var print: PrintOptions
    /// nil: a hash of the working image's pixels, so equal photos give equal prints.
    public var seed: UInt64?
    public var masterPath: String
    public var previewPath: String
    /// The preview JPEG's long edge in pixels (the 1200 px preview of the spec; the studio's
    /// style previews ask for less).
    public var previewLongSide: Int
    /// Polled between stages; returning true stops the render with `RenderError.canceled`.
    public var isCanceled: @Sendable () -> Bool

    public init(
        input: String, style: any RenderStyle, parameters: [String: Double] = [:], preset: SizePreset,
        orientation: OrientationPolicy = .auto, fit: FitPolicy = .cover, print: PrintOptions = PrintOptions(), seed: UInt64? = nil,
        masterPath: String, previewPath: String, previewLongSide: Int = 1200, isCanceled: @escaping @Sendable () -> Bool = { false }
    ) {
        self.previewLongSide = previewLongSide
        self.input = input
        self.style = style
        self.parameters = parameters
        self.preset = preset
        self.orientation = orientation
        self.fit = fit
        self.print = print
        self.seed = seed
        self.masterPath = masterPath
        self.previewPath = previewPath
        self.isCanceled = isCanceled
    }
}

/// What a finished render reports (the CLI prints it as JSON; the service logs it).
public struct RenderOutcome: Sendable, Codable, Equatable {
    /// The master in pixels: trim + 2 × bleed (+ 2 × slug with crop marks), at `dpi`.
    public var width: Int
    public var height: Int
    public var dpi: Int
    /// The paper as cut, as printed (turned for a landscape print).
    public var trimWidthInches: Double
    public var trimHeightInches: Double
    public var print: PrintOptions
    /// Photo pixels per inch of print on the limiting side.
    public var effectiveDPI: Double
    public var warnings: [String]
    public var orientation: String
    public var style: String
    public var preset: String
    public var seed: UInt64?
    public var source: ImageProbe
    public var working: PixelSize
    public var preview: PixelSize
    public var masterBytes: Int
    public var previewBytes: Int
    /// Milliseconds per stage: decode, style, print (upsample + finish + TIFF), preview, total.
    public var timingsMs: [String: Double]
    /// Peak resident memory of the process so far, in bytes.
    public var peakMemoryBytes: Int

    enum CodingKeys: String, CodingKey {
        case width, height, dpi, warnings, orientation, style, preset, seed, source, working, preview, print
        case trimWidthInches = "trim_width_inches"
        case trimHeightInches = "trim_height_inches"
        case effectiveDPI = "effective_dpi"
        case masterBytes = "master_bytes"
        case previewBytes = "preview_bytes"
        case timingsMs = "timings_ms"
        case peakMemoryBytes = "peak_memory_bytes"
    }
}

/// Below this many photo pixels per print inch, a print looks soft: say so.
public let lowResolutionWarningDPI = 150.0
