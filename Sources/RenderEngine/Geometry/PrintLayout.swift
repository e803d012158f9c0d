import Foundation

/// Which way up the print is.
public enum OrientationPolicy: String, Sendable, CaseIterable, Codable {
    /// Portrait preset for a portrait (or square) photo, the same preset turned for a landscape one.
    case auto
    case portrait
    case landscape
}

/// How the photo fills the paper.
public enum FitPolicy: String, Sendable, CaseIterable, Codable {
    /// Scale to fill the paper and crop what overhangs: centred, but never through the top
    /// face of a tall photo (`CropPlacement`).
    case cover
    /// Same as cover, but the crop keeps the most salient part of the photo (libvips attention).
    case coverAttention = "cover-attention"
    /// The whole photo, centred on white paper margins.
    case contain
}

/// An integer pixel size.
public struct PixelSize: Sendable, Hashable, Codable, CustomStringConvertible {
    public var width: Int
    public var height: Int
    public init(width: Int, height: Int) {
        self.width = width
        self.height = height
    }
    public var shortSide: Int { min(width, height) }
    public var longSide: Int { max(width, height) }
    public var description: String { "\(width)x\(height)" }
}

/// Where every pixel of a render comes from and goes to, computed before any decoding.
///
/// Pure arithmetic, so the whole geometry is testable without images.
public struct PrintLayout: Sendable, Equatable {
    /// The whole master in print pixels: trim, bleed and (with crop marks) the slug around it.
    public let canvas: PixelSize
    /// The paper as cut (the preset turned as the orientation policy decided).
    public let trim: PixelSize
    /// Where the trim box's top-left corner lies on the canvas (bleed + slug in from the edge).
    public let trimOrigin: (x: Int, y: Int)
    /// Bleed of both sides together, in print pixels (the left and top get half, rounded down).
    public let bleed: Int
    /// Where the photo lands on the canvas (the trim box plus bleed for cover).
    public let contentOrigin: (x: Int, y: Int)
    public let content: PixelSize
    /// How far the content reaches beyond the trim box on each side, in print pixels: the
    /// bleed a cover picture runs into (0 where the content lies inside the trim, as with contain).
    public var contentBeyondTrim: (left: Int, top: Int, right: Int, bottom: Int) {
        (
            max(0, trimOrigin.x - contentOrigin.x), max(0, trimOrigin.y - contentOrigin.y),
            max(0, contentOrigin.x + content.width - trimOrigin.x - trim.width),
            max(0, contentOrigin.y + content.height - trimOrigin.y - trim.height)
        )
    }
    /// The photo decoded, oriented, cropped/fitted and resized to this size before the style
    /// runs; then upsampled to `content`. Never larger than `content`, never larger than the
    /// photo's own pixels.
    public let working: PixelSize
    /// Where the content's top-left corner lies on the whole photo scaled to print size, in
    /// print pixels (a centred crop starts inside the photo; `contain` starts at its corner).
    /// Textures anchored here stay fixed to the photo whatever the paper's shape.
    public let cropOrigin: (x: Double, y: Double)
    /// Source pixels per inch of print on the limiting side.
    public let effectiveDPI: Double
    public let isLandscape: Bool

    public static func == (a: PrintLayout, b: PrintLayout) -> Bool {
        a.canvas == b.canvas && a.trim == b.trim && a.trimOrigin == b.trimOrigin && a.bleed == b.bleed
            && a.contentOrigin == b.contentOrigin && a.cropOrigin == b.cropOrigin && a.content == b.content
            && a.working == b.working && a.effectiveDPI == b.effectiveDPI && a.isLandscape == b.isLandscape
    }

    /// - Parameters:
    ///   - source: the photo's size after EXIF orientation.
    ///   - maxWorkingShortSide: the style's bound on its working resolution (nil = print resolution).
    ///   - bleed: print pixels added beyond the trim, both sides together (`PrintOptions.bleedPixels`);
    ///     cover fills them with picture, contain leaves them paper-white (the photo stays inside the trim).
    ///   - slug: print pixels of white outside the bleed, where crop marks go.
    public init(
        source: PixelSize, preset: SizePreset, orientation: OrientationPolicy, fit: FitPolicy,
        maxWorkingShortSide: Int?, bleed: Int = 0, slug: Int = 0
    ) {
        let landscape: Bool
        switch orientation {
        case .auto: landscape = source.width > source.height
        case .portrait: landscape = false
        case .landscape: landscape = true
        }
        isLandscape = landscape
        let w = preset.widthPixels, h = preset.heightPixels
        trim = landscape ? PixelSize(width: h, height: w) : PixelSize(width: w, height: h)
        self.bleed = bleed
        let edge = bleed / 2 + slug
        trimOrigin = (edge, edge)
        canvas = PixelSize(width: trim.width + bleed + 2 * slug, height: trim.height + bleed + 2 * slug)

        // Cover fills trim and bleed; contain fits the whole photo inside the trim.
        let target = fit == .contain ? trim : PixelSize(width: trim.width + bleed, height: trim.height + bleed)
        let sx = Double(target.width) / Double(source.width)
        let sy = Double(target.height) / Double(source.height)
        // Print pixels per source pixel.
        let scale: Double
        switch fit {
        case .cover, .coverAttention:
            scale = max(sx, sy)
            content = target
            contentOrigin = (slug, slug)
        case .contain:
            scale = min(sx, sy)
            let cw = min(target.width, max(1, Int((Double(source.width) * scale).rounded())))
            let ch = min(target.height, max(1, Int((Double(source.height) * scale).rounded())))
            content = PixelSize(width: cw, height: ch)
            contentOrigin = (edge + (target.width - cw) / 2, edge + (target.height - ch) / 2)
        }
        effectiveDPI = Double(preset.dpi) / scale
        cropOrigin =
            fit == .contain
            ? (0, 0)
            : ((Double(source.width) * scale - Double(content.width)) / 2, (Double(source.height) * scale - Double(content.height)) / 2)

        // Working pixels per print pixel: at most 1 (never above print resolution), at most
        // 1/scale (never above the photo's own resolution), and within the style's bound.
        var factor = min(1.0, 1.0 / scale)
        if let bound = maxWorkingShortSide {
            factor = min(factor, Double(bound) / Double(content.shortSide))
        }
        if factor >= 1.0 {
            working = content
        } else {
            // Rounded down so that covering it never needs the photo enlarged.
            working = PixelSize(
                width: max(1, Int((Double(content.width) * factor).rounded(.down))),
                height: max(1, Int((Double(content.height) * factor).rounded(.down))))
        }
    }

    /// Print pixels per working pixel along the short side (≥ 1).
    public var upsampling: Double { Double(content.shortSide) / Double(working.shortSide) }
}
