import Foundation

/// The colour space of the print master, with its ICC profile embedded.
public enum OutputProfile: String, Sendable, CaseIterable, Codable {
    /// The spec's default: sRGB IEC61966-2.1, what most labs and every screen expect.
    case srgb
    /// Adobe RGB (1998), for labs whose printers reach greens and cyans beyond sRGB; the profile
    /// is Debian's `compatibleWithAdobeRGB1998.icc` (icc-profiles-free).
    case adobeRGB = "adobe-rgb"
    /// CMYK for a press, separated with libvips' built-in CMYK profile (see `cmykProfileName`).
    case cmyk

    /// Where Debian's icc-profiles-free puts its Adobe RGB (1998)-compatible profile.
    public static let adobeRGBPath = "/usr/share/color/icc/compatibleWithAdobeRGB1998.icc"

    /// What libvips takes as a profile: a built-in name or an ICC file.
    var vipsProfile: String {
        switch self {
        case .srgb: "srgb"
        case .adobeRGB: Self.adobeRGBPath
        case .cmyk: "cmyk"
        }
    }
}

/// How colours outside the output profile's gamut are brought in.
public enum RenderingIntent: String, Sendable, CaseIterable, Codable {
    /// Compresses the whole gamut so that relations between colours survive (the default).
    case perceptual
    /// Keeps in-gamut colours exact and clips the rest, with black point compensation so shadow
    /// detail is not crushed into the press's (lighter) black.
    case relative
}

/// What a print lab asks of a master beyond its size: bleed, crop marks and output colour.
/// The defaults are the spec's print (sRGB, exact size, no bleed) and change nothing.
public struct PrintOptions: Sendable, Hashable, Codable {
    /// Picture (or margin) beyond the trim on every side, in inches.
    public var bleedInches: Double
    /// Trim marks in a white slug outside the bleed.
    public var cropMarks: Bool
    public var outputProfile: OutputProfile
    public var renderingIntent: RenderingIntent

    enum CodingKeys: String, CodingKey {
        case bleedInches = "bleed_inches", cropMarks = "crop_marks", outputProfile = "output_profile", renderingIntent = "rendering_intent"
    }

    public init(bleedInches: Double = 0, cropMarks: Bool = false, outputProfile: OutputProfile = .srgb, renderingIntent: RenderingIntent = .perceptual) {
        self.bleedInches = bleedInches
        self.cropMarks = cropMarks
        self.outputProfile = outputProfile
        self.renderingIntent = renderingIntent
    }

    /// Absent keys take their defaults, so renders stored before these options decode as the
    /// spec's print.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            bleedInches: try container.decodeIfPresent(Double.self, forKey: .bleedInches) ?? 0,
            cropMarks: try container.decodeIfPresent(Bool.self, forKey: .cropMarks) ?? false,
            outputProfile: try container.decodeIfPresent(OutputProfile.self, forKey: .outputProfile) ?? .srgb,
            renderingIntent: try container.decodeIfPresent(RenderingIntent.self, forKey: .renderingIntent) ?? .perceptual)
    }

    /// Labs ask for 1/8 in (3 mm) or 1/4 in; half an inch covers canvas wraps' fold too.
    public static let bleedRangeInches = 0.0...0.5

    /// The white band outside the bleed that holds the crop marks: 1/4 in, as on press sheets.
    public static let slugInches = 0.25

    /// Refuses a bleed outside `bleedRangeInches`, with the sentence the API and CLI show.
    public func validated() throws(RenderError) -> PrintOptions {
        guard bleedInches.isFinite, Self.bleedRangeInches.contains(bleedInches) else {
            throw RenderError(.invalidRequest, "bleed_inches must be between 0 and 0.5 (e.g. 0.125 for 1/8 in)")
        }
        return self
    }

    /// Bleed of both sides together in print pixels at `dpi`, rounded once, so the master is
    /// exactly (trim + 2 × bleed) × dpi: 1/8 in at 300 DPI is 75 px, 37 on one side, 38 on the other.
    public func bleedPixels(dpi: Int) -> Int { Int((2 * bleedInches * Double(dpi)).rounded()) }

    /// Slug in print pixels at `dpi` (0 without crop marks).
    public func slugPixels(dpi: Int) -> Int { cropMarks ? Int((Self.slugInches * Double(dpi)).rounded()) : 0 }

    /// The ICC description embedded in CMYK masters (libvips' built-in profile).
    public static let cmykProfileName = "Chemical proof"
}
