import Foundation

/// An artistic style: the part of a render between "the photo, oriented, colour-managed and
/// cropped" and "8-bit pixels on paper".
///
/// Every style has the two-stage shape from `styles.md`:
/// 1. `abstract` runs once at a bounded *working resolution* (`workingShortSide`: 1000–1200 px
///    on the short side for the artistic styles, or the photo's own size if smaller) and does
///    the expensive, edge-aware work. Its result is a few float planes.
/// 2. The engine upsamples those planes to print resolution (Lanczos3) and the style's
///    `PrintFinish` turns each print row into RGB: paper grain, dots, relief, line thresholds.
///    That stage streams in strips on all cores and never holds the print in memory.
///
/// Spatial parameters are defined in reference pixels (pixels of a 9x12 in print, see
/// `StyleContext.referenceShortSide`) and scaled to the actual size, so a photo looks the
/// same at 9x12 and at 24x36. Randomness is a pure function of position
/// and `StyleContext.seed`, so equal inputs give byte-identical prints.
public protocol RenderStyle: Sendable {
    var info: StyleInfo { get }

    /// Short side of the working image in pixels, or nil for a style without an abstraction
    /// stage: the photo then streams straight from the decoder to print resolution.
    var workingShortSide: Int? { get }

    /// Long side of a small picture of the whole photo, uncropped, that the style reads its
    /// global statistics from (palette, tone levels), or nil if it needs none. Statistics of
    /// the crop would differ between a 9x12 and a 24x36 of one photo; the photo's do not.
    var overviewLongSide: Int? { get }

    /// Stage 1. `image` holds the photo's sRGB values in 0...1, three planes.
    func abstract(_ image: PlanarImage, context: StyleContext) throws(RenderError) -> StyledImage
}

extension RenderStyle {
    /// 2000 px on the short side: a 9x12 print (2700 px) is enlarged only 1.35× after the
    /// abstraction, which the print stage's Lanczos3 and the style's print-resolution finish
    /// hide, while the abstraction costs half of what it would at 2700 and holds half the memory.
    public var workingShortSide: Int? { 2000 }

    public var overviewLongSide: Int? { nil }
}

/// What stage 1 hands to the print stage.
public struct StyledImage: Sendable {
    /// Planes to upsample to print resolution (1...8), values as `finish` expects them.
    public var planes: PlanarImage
    /// Turns upsampled rows into RGB bytes. nil: the first three planes are sRGB in 0...1.
    public var finish: (any PrintFinish)?

    public init(planes: PlanarImage, finish: (any PrintFinish)? = nil) {
        self.planes = planes
        self.finish = finish
    }
}

/// Stage 2 of a style, run on every row of the print, concurrently from several threads.
public protocol PrintFinish: Sendable {
    /// - Parameters:
    ///   - input: `count` pixels of `bands` interleaved floats (the style's planes, upsampled).
    ///   - output: `count` RGB pixels to write.
    ///   - x, y: canvas position of the first pixel, in print pixels.
    func finish(row input: UnsafePointer<Float>, bands: Int, output: UnsafeMutablePointer<UInt8>, x: Int, y: Int, count: Int)
}

/// What a style knows about the render it is part of.
public struct StyleContext: Sendable {
    public let seed: UInt64
    public let parameters: ResolvedStyleParameters
    public let layout: PrintLayout
    public let dpi: Int

    /// Add to a working-image position to get the same point's position in the whole photo
    /// (in working pixels). Noise and stroke grids use photo positions, so a 9x12 and a 24x36
    /// print of one photo share their texture where their crops overlap.
    public let workingAnchor: (x: Float, y: Float)

    /// The whole photo at `RenderStyle.overviewLongSide`, sRGB in 0...1, when the style asks for it.
    public let overview: PlanarImage?

    public init(
        seed: UInt64, parameters: ResolvedStyleParameters, layout: PrintLayout, dpi: Int, workingAnchor: (x: Float, y: Float)? = nil,
        overview: PlanarImage? = nil
    ) {
        self.seed = seed
        self.overview = overview
        self.parameters = parameters
        self.layout = layout
        self.dpi = dpi
        if let workingAnchor {
            self.workingAnchor = workingAnchor
        } else {
            let perPrint = Double(layout.working.shortSide) / Double(layout.content.shortSide)
            self.workingAnchor = (Float(layout.cropOrigin.x * perPrint), Float(layout.cropOrigin.y * perPrint))
        }
    }

    /// The short side every spatial parameter is stated against: a 9x12 in print at 300 DPI.
    /// A length of `n` reference pixels is `n · s` pixels on a print whose short side is
    /// `2700 · s`, so the picture keeps its structure at every size (`styles.md`).
    public static let referenceShortSide = 2700.0

    /// Working pixels per reference pixel.
    public var workingScale: Double { Double(layout.working.shortSide) / Self.referenceShortSide }

    /// Print pixels per reference pixel.
    public var printScale: Double { Double(layout.content.shortSide) / Self.referenceShortSide }

    /// Add to a canvas position (print pixels) to get the photo position in print pixels.
    public var printAnchor: (x: Float, y: Float) {
        (Float(layout.cropOrigin.x) - Float(layout.contentOrigin.x), Float(layout.cropOrigin.y) - Float(layout.contentOrigin.y))
    }
}

/// Describes a style to clients (`GET /v1/styles`, `aso-render styles`).
public struct StyleInfo: Sendable, Codable, Hashable {
    public let id: UUID
    public let slug: String
    public let name: String
    public let description: String
    public let parameters: [StyleParameter]

    public init(id: UUID, slug: String, name: String, description: String, parameters: [StyleParameter]) {
        self.id = id
        self.slug = slug
        self.name = name
        self.description = description
        self.parameters = parameters
    }
}

/// A number a customer may set, with its range and default.
public struct StyleParameter: Sendable, Codable, Hashable {
    public let name: String
    public let description: String
    public let defaultValue: Double
    public let minimum: Double
    public let maximum: Double

    public init(name: String, description: String, defaultValue: Double, minimum: Double, maximum: Double) {
        self.name = name
        self.description = description
        self.defaultValue = defaultValue
        self.minimum = minimum
        self.maximum = maximum
    }

    enum CodingKeys: String, CodingKey {
        case name, description, minimum, maximum
        case defaultValue = "default"
    }
}

/// Parameter values after validation, with defaults filled in.
public struct ResolvedStyleParameters: Sendable, Equatable, Codable {
    public let values: [String: Double]

    public subscript(_ name: String) -> Double {
        guard let value = values[name] else { preconditionFailure("style read undeclared parameter \(name)") }
        return value
    }
}

extension StyleInfo {
    /// Validates customer-supplied values against the declared parameters.
    /// - Throws: `.invalidRequest` naming the unknown key or the value out of range.
    public func resolve(_ supplied: [String: Double]) throws(RenderError) -> ResolvedStyleParameters {
        let known = Dictionary(uniqueKeysWithValues: parameters.map { ($0.name, $0) })
        for key in supplied.keys.sorted() where known[key] == nil {
            let accepted = parameters.map(\.name).joined(separator: ", ")
            throw RenderError(
                .invalidRequest,
                "Unknown parameter '\(key)' for style \(slug)"
                    + (accepted.isEmpty ? " (it takes none)" : " (accepted: \(accepted))"))
        }
        var values: [String: Double] = [:]
        for parameter in parameters {
            let value = supplied[parameter.name] ?? parameter.defaultValue
            guard value.isFinite, value >= parameter.minimum, value <= parameter.maximum else {
                throw RenderError(
                    .invalidRequest,
                    "Parameter '\(parameter.name)' for style \(slug) must be between \(format(parameter.minimum)) and \(format(parameter.maximum)), got \(format(value))"
                )
            }
            values[parameter.name] = value
        }
        return ResolvedStyleParameters(values: values)
    }
}

private func format(_ value: Double) -> String {
    value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
}
