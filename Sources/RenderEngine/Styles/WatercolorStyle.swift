import Foundation

/// Watercolor after Bousseau et al. (NPAR 2006) and Wang et al. (TVCG 2014).
///
/// Working resolution: edge-aware abstraction in Lab (domain transform) and soft luminance
/// quantisation give flat washes; the lookup wobbles along a noise field so borders are not
/// ruler-straight; pigment pools at the borders of washes (edge darkening) and varies in
/// low-frequency turbulence. Print resolution: paper grain and pigment dispersion modulate
/// the density of every pixel, and the paper's white shows through the lightest washes.
public struct WatercolorStyle: RenderStyle {
    public init() {}

    public let info = StyleInfo(
        id: uuid("550e8400-e29b-41d4-a716-446655440000"),
        slug: "watercolor",
        name: "Watercolor",
        description: "Soft washes of transparent colour on textured paper, with pigment pooling at the edges of each wash.",
        parameters: [
            StyleParameter(
                name: "paper_texture", description: "How strongly the paper grain shows through the paint (0 = smooth paper).",
                defaultValue: 0.6, minimum: 0, maximum: 1),
            StyleParameter(
                name: "edge_darkness", description: "How much pigment pools at the borders of washes (0 = none).",
                defaultValue: 0.5, minimum: 0, maximum: 1),
            StyleParameter(
                name: "wash_size", description: "Size of the simplified colour areas, relative to the default.",
                defaultValue: 1, minimum: 0.5, maximum: 2),
        ]
    )

    public func abstract(_ image: PlanarImage, context: StyleContext) throws(RenderError) -> StyledImage {
        let s = context.workingScale
        let wash = context.parameters["wash_size"]
        let edgeDarkness = Float(context.parameters["edge_darkness"])
        let seed = context.seed

        // 1. Abstraction: flatten textures into washes while keeping object borders.
        var lab = Colour.srgbToLab(image)
        lab = DomainTransform.smooth(lab, sigmaSpatial: 30 * s * wash, sigmaRange: 18)
        lab = DomainTransform.smooth(lab, sigmaSpatial: 12 * s * wash, sigmaRange: 10)
        PlaneMath.softQuantise(lab.planes[0], range: 100, levels: 10, sharpness: 0.6)

        // 2. Wobble: borders follow the paper, not a ruler.
        let anchor = context.workingAnchor
        lab = Self.wobble(lab, amplitude: Float(2.2 * s), period: Float(38 * s), anchor: anchor, seed: Noise.stream(seed, 1))

        // 3. Pigment pools where washes meet: gradient of the abstracted lightness, spread into
        //    a rim about half a millimetre wide on a 9x12 print. Multiplying by σ makes the rim's
        //    strength independent of the working resolution (a blurred step of height H peaks at
        //    H / (σ√2π)).
        let rimSigma = max(0.8, 6 * s)
        let edges = Blur.gaussian(Gradient.sobelMagnitude(lab.planes[0]), sigma: rimSigma)
        let rimScale = Float(rimSigma * 2.5)
        let rgb = Colour.labToSrgb(lab)

        // 4. Density: edge darkening and low-frequency turbulence (Bousseau's transfer),
        //    then a lighter, slightly desaturated palette with white paper in the highlights.
        let turbulenceSeed = Noise.stream(seed, 2)
        let turbulencePeriod = Float(260 * s)
        let w = rgb.width
        let (r, g, b) = (rgb.planes[0], rgb.planes[1], rgb.planes[2])
        Parallel.rows(rgb.height) { rows in
            for y in rows {
                let rr = r.row(y), gr = g.row(y), br = b.row(y), er = edges.row(y)
                for x in 0..<w {
                    let step = er[x] * rimScale
                    let edge = step / (step + 15)
                    let turbulence = Noise.fractal((Float(x) + anchor.x) / turbulencePeriod, (Float(y) + anchor.y) / turbulencePeriod, octaves: 3, turbulenceSeed)
                    let density = 1 + edgeDarkness * 1.6 * edge + 0.45 * (turbulence - 0.5)
                    var c = (rr[x], gr[x], br[x])
                    let grey = 0.2126 * c.0 + 0.7152 * c.1 + 0.0722 * c.2
                    c = (grey + 0.88 * (c.0 - grey), grey + 0.88 * (c.1 - grey), grey + 0.88 * (c.2 - grey))
                    rr[x] = Self.paint(Self.transfer(c.0, density))
                    gr[x] = Self.paint(Self.transfer(c.1, density))
                    br[x] = Self.paint(Self.transfer(c.2, density))
                }
            }
        }
        return StyledImage(
            planes: rgb,
            finish: WatercolorPaper(
                texture: Float(context.parameters["paper_texture"]),
                printScale: Float(context.printScale),
                origin: context.printAnchor,
                seed: Noise.stream(seed, 3)))
    }

    /// Bousseau's density transfer: darkens (d > 1) or lightens (d < 1) a transparent layer,
    /// leaving pure white (no pigment) untouched.
    @inline(__always) static func transfer(_ c: Float, _ d: Float) -> Float {
        min(max(c * (1 - (1 - c) * (d - 1)), 0), 1)
    }

    /// Thinner pigment overall, and paper white where the wash is nearly white.
    @inline(__always) static func paint(_ c: Float) -> Float {
        let lifted = 1 - (1 - c) * 0.84
        let t = min(max((lifted - 0.9) / 0.08, 0), 1)
        return lifted + (1 - lifted) * t * t * (3 - 2 * t)
    }

    /// Resamples all planes at positions displaced by a smooth noise field.
    static func wobble(_ image: PlanarImage, amplitude: Float, period: Float, anchor: (x: Float, y: Float), seed: UInt32) -> PlanarImage {
        let out = PlanarImage(width: image.width, height: image.height, channels: image.channels)
        let w = image.width
        let planes = image.planes, outPlanes = out.planes
        Parallel.rows(image.height) { rows in
            for y in rows {
                for x in 0..<w {
                    let u = (Float(x) + anchor.x) / period, v = (Float(y) + anchor.y) / period
                    let dx = (Noise.fractal(u, v, octaves: 2, seed) - 0.5) * 2 * amplitude
                    let dy = (Noise.fractal(u + 31.7, v - 17.3, octaves: 2, seed) - 0.5) * 2 * amplitude
                    for c in planes.indices {
                        outPlanes[c].row(y)[x] = planes[c].bilinear(Float(x) + dx, Float(y) + dy)
                    }
                }
            }
        }
        return out
    }
}

/// The print-resolution layer of watercolor: paper grain and pigment dispersion.
struct WatercolorPaper: PrintFinish {
    let texture: Float
    let printScale: Float
    let origin: (x: Float, y: Float)
    let seed: UInt32

    /// Warm white of cold-pressed paper.
    private static let paper: (Float, Float, Float) = (0.995, 0.985, 0.960)

    func finish(row input: UnsafePointer<Float>, bands: Int, output: UnsafeMutablePointer<UInt8>, x: Int, y: Int, count: Int) {
        let inverseScale = 1 / printScale
        let v = (Float(y) + origin.y) * inverseScale
        for i in 0..<count {
            let u = (Float(x + i) + origin.x) * inverseScale
            // Grain features about 3 and 1.3 reference pixels across; dispersion finer still.
            let grain = 0.65 * Noise.value(u * 0.33, v * 0.33, seed) + 0.35 * Noise.value(u * 0.75, v * 0.75, seed &+ 7)
            let dispersion = Noise.value(u * 1.6, v * 1.6, seed &+ 13)
            let density = 1 + texture * (0.9 * (grain - 0.5) + 0.35 * (dispersion - 0.5))
            let shade = 1 - texture * 0.06 * (grain - 0.5)
            let p = input + i * bands
            let r = WatercolorStyle.transfer(p[0], density) * Self.paper.0 * shade
            let g = WatercolorStyle.transfer(p[1], density) * Self.paper.1 * shade
            let b = WatercolorStyle.transfer(p[2], density) * Self.paper.2 * shade
            output[3 * i] = byte(r)
            output[3 * i + 1] = byte(g)
            output[3 * i + 2] = byte(b)
        }
    }
}

/// 0...1 to a rounded byte, clamped (NaN becomes 0).
@inline(__always) func byte(_ v: Float) -> UInt8 {
    guard v > 0 else { return 0 }
    return v >= 1 ? 255 : UInt8(v * 255 + 0.5)
}
