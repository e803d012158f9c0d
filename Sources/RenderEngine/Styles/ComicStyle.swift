import Foundation

/// Comic / cartoon after Winnemöller, Olsen and Gooch (SIGGRAPH 2006) with XDoG lines
/// (Winnemöller et al. 2012).
///
/// Working resolution: edge-preserving abstraction in Lab (domain transform), soft luminance
/// quantisation into a few tones, and the continuous difference-of-Gaussians field of the
/// lines. Print resolution: the line field is thresholded per print pixel, so ink lines stay
/// crisp and anti-aliased however much the print is enlarged.
public struct ComicStyle: RenderStyle {
    public init() {}

    public let info = StyleInfo(
        id: uuid("550e8400-e29b-41d4-a716-446655440004"),
        slug: "comic",
        name: "Comic",
        description: "Flat cel-shaded colour in a few tones with crisp black ink outlines.",
        parameters: [
            StyleParameter(name: "line_weight", description: "Thickness of the ink lines, relative to the default.", defaultValue: 1, minimum: 0.5, maximum: 2.5),
            StyleParameter(name: "colour_levels", description: "Number of tones each colour is reduced to.", defaultValue: 6, minimum: 3, maximum: 12),
        ]
    )

    public func abstract(_ image: PlanarImage, context: StyleContext) throws(RenderError) -> StyledImage {
        let s = context.workingScale
        let levels = Int(context.parameters["colour_levels"].rounded())
        let weight = context.parameters["line_weight"]

        var lab = Colour.srgbToLab(image)
        // Lines from a lightly smoothed photo: object outlines, not gravel and foliage noise.
        lab = DomainTransform.smooth(lab, sigmaSpatial: 4 * s, sigmaRange: 8)
        let lines = ComicInk.lineField(lightness: lab.planes[0], scale: s, weight: weight)
        lab = DomainTransform.smooth(lab, sigmaSpatial: 12 * s, sigmaRange: 10)
        lab = DomainTransform.smooth(lab, sigmaSpatial: 6 * s, sigmaRange: 8)
        PlaneMath.softQuantise(lab.planes[0], range: 100, levels: levels, sharpness: 0.9)
        // Cartoon colour: a little more saturated than life.
        for c in 1...2 { lab.planes[c] = PlaneMath.map(lab.planes[c]) { $0 * 1.25 } }
        var rgb = Colour.labToSrgb(lab)
        rgb.planes.append(lines)
        return StyledImage(planes: rgb, finish: InkedColour(edge: ComicInk.edge, softness: ComicInk.softness))
    }
}

/// The XDoG line field shared by comic and pop art.
enum ComicInk {
    /// Ink where the field falls below `edge`; `softness` is the anti-aliasing ramp width.
    static let edge: Float = -0.018
    static let softness: Float = 0.012

    /// D = G_σ − G_1.6σ of lightness (0...1): negative on the dark side of edges. σ is in
    /// reference pixels, so lines have the same weight relative to the picture at every size.
    static func lineField(lightness: Plane, scale: Double, weight: Double) -> Plane {
        let luminance = PlaneMath.map(lightness) { $0 / 100 }
        let sigma = max(0.5, 1.4 * weight * scale)
        let narrow = Blur.gaussian(luminance, sigma: sigma)
        let wide = Blur.gaussian(luminance, sigma: sigma * 1.6)
        let out = Plane(width: luminance.width, height: luminance.height)
        let w = luminance.width
        Parallel.rows(luminance.height) { rows in
            for y in rows {
                let n = narrow.row(y), v = wide.row(y), o = out.row(y)
                for x in 0..<w { o[x] = n[x] - v[x] }
            }
        }
        return out
    }

    /// 1 where ink covers the paper, 0 where it does not, smooth in between.
    @inline(__always) static func coverage(_ field: Float, edge: Float, softness: Float) -> Float {
        let t = min(max((edge - field) / softness + 0.5, 0), 1)
        return t * t * (3 - 2 * t)
    }
}

/// Colour planes plus an ink-line field: ink drawn over the colour at print resolution.
struct InkedColour: PrintFinish {
    let edge: Float
    let softness: Float
    private static let ink: Float = 0.07

    func finish(row input: UnsafePointer<Float>, bands: Int, output: UnsafeMutablePointer<UInt8>, x: Int, y: Int, count: Int) {
        for i in 0..<count {
            let p = input + i * bands
            let k = ComicInk.coverage(p[3], edge: edge, softness: softness)
            output[3 * i] = byte(p[0] + (Self.ink - p[0]) * k)
            output[3 * i + 1] = byte(p[1] + (Self.ink - p[1]) * k)
            output[3 * i + 2] = byte(p[2] + (Self.ink - p[2]) * k)
        }
    }
}
