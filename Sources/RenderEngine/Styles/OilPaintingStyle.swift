import Foundation

/// Oil painting, alla prima: curved brush strokes in coarse-to-fine layers (Hertzmann,
/// SIGGRAPH 1998) that follow the flow of the photo's structure tensor, each stroke carrying
/// bristle streaks and depositing paint height; the height field is lit from the upper left
/// with a glossy highlight at print resolution, over a canvas weave where the paint is thin
/// (the relief of Semmo et al. 2016, but from real strokes).
///
/// Strokes are painted on a canvas of `canvasShortSide` pixels whatever the photo's size (a
/// small photo is enlarged first), so brush marks keep crisp edges and the same proportions.
public struct OilPaintingStyle: RenderStyle {
    public init() {}

    public let info = StyleInfo(
        id: uuid("550e8400-e29b-41d4-a716-446655440001"),
        slug: "oil-painting",
        name: "Oil Painting",
        description: "Thick, directional brush strokes that follow the forms of the photo, on lit canvas.",
        parameters: [
            StyleParameter(name: "brush_size", description: "Size of the brush strokes, relative to the default.", defaultValue: 1, minimum: 0.5, maximum: 2),
            StyleParameter(name: "relief", description: "How strongly the impasto and the canvas weave catch the light (0 = flat).", defaultValue: 0.5, minimum: 0, maximum: 1),
        ]
    )

    public var workingShortSide: Int? { Self.canvasShortSide }

    /// Short side of the canvas the strokes are painted on.
    static let canvasShortSide = 1400

    public func abstract(_ image: PlanarImage, context: StyleContext) throws(RenderError) -> StyledImage {
        let brush = Float(context.parameters["brush_size"])
        let (photo, factor) = PaintPreparation.canvas(image, shortSide: Self.canvasShortSide)
        let w = photo.width, h = photo.height
        // One percent of the short side, in canvas pixels: every length below is a multiple.
        let unit = Float(min(w, h)) / 100
        let anchor = (context.workingAnchor.x * factor, context.workingAnchor.y * factor)
        let rich = PaintPreparation.enrich(photo, chroma: 1.18, contrast: 0.12)

        // A toned ground (imprimatura): the photo's colours, very blurred and a little warm.
        let ground = PlanarImage(planes: rich.planes.enumerated().map { channel, plane in
            let warm: [Float] = [0.04, 0.01, -0.03]
            return PlaneMath.map(Blur.gaussian(plane, sigma: Double(4 * unit))) { $0 * 0.9 + warm[channel] }
        })
        let surface = PaintSurface(ground: ground)
        let flowSeed = Noise.stream(context.seed, 31)
        let layers: [StrokeLayer] = [
            StrokeLayer(radius: 1.0 * unit * brush, spacing: 1.9 * unit * brush, threshold: 0, cover: true, minSteps: 3, maxSteps: 7, step: 0.9 * unit * brush, inertia: 0.35, edgeStop: 0.22, thickness: 1),
            StrokeLayer(radius: 0.55 * unit * brush, spacing: 0.65 * unit * brush, threshold: 0.08, cover: false, minSteps: 2, maxSteps: 7, step: 0.55 * unit * brush, inertia: 0.35, edgeStop: 0.16, thickness: 0.6),
            StrokeLayer(radius: 0.3 * unit * brush, spacing: 0.36 * unit * brush, threshold: 0.1, cover: false, minSteps: 2, maxSteps: 6, step: 0.3 * unit * brush, inertia: 0.3, edgeStop: 0.12, thickness: 0.35),
            StrokeLayer(radius: 0.17 * unit * brush, spacing: 0.2 * unit * brush, threshold: 0.12, cover: false, minSteps: 1, maxSteps: 5, step: 0.18 * unit * brush, inertia: 0.3, edgeStop: 0.1, thickness: 0.22),
        ]
        for (index, layer) in layers.enumerated() {
            let reference = PlanarImage(planes: rich.planes.map { Blur.gaussian($0, sigma: Double(layer.radius) * 0.5) })
            let flow = StrokeFlow.compute(reference, sigma: Double(layer.radius) * 1.5, priorAngle: { x, y in
                // Where the photo is flat, strokes sweep in broad, slowly turning diagonals.
                0.5 + 1.4 * (Noise.value((Float(x) + anchor.0) / (25 * unit), (Float(y) + anchor.1) / (25 * unit), flowSeed) - 0.5)
            }, priorWeight: 0.04)
            var strokes = StrokePlacer.place(layer, index: index, reference: reference, flow: flow, canvas: surface.colour, anchor: anchor, seed: context.seed)
            for i in strokes.indices {
                let key = strokes[i].key
                // A loaded brush never carries quite the mixed colour: small value and warmth shifts.
                let value = 1 + (keyUnit(key, 7) - 0.5) * 0.07
                let warmth = (keyUnit(key, 8) - 0.5) * 0.03
                strokes[i].colour = strokes[i].colour * value + SIMD3(warmth, 0, -warmth)
                strokes[i].radius *= 0.9 + 0.2 * keyUnit(key, 9)
            }
            if ProcessInfo.processInfo.environment["BRUSH_DEBUG"] != nil {
                let area = strokes.reduce(Float(0)) { $0 + 2 * $1.radius * (2 * $1.radius + Float($1.points.count - 1) * layer.step) }
                FileHandle.standardError.write("layer \(index): \(strokes.count) strokes, area \(area / Float(w * h))\n".data(using: .utf8)!)
            }
            surface.paint(strokes, texture: BrushTexture(
                bristleWidth: max(1.2, 0.14 * unit), bristleShade: 0.06, bristleRelief: 0.22, ridge: 0.4, tail: 0.9,
                pickup: 0.35, softness: 1, wobble: 0.06, flatten: 0.75))
        }
        let (gx, gy) = surface.heightGradient()
        return StyledImage(
            planes: PlanarImage(planes: surface.colour.planes + [gx, gy, surface.height]),
            finish: ImpastoLight(
                relief: Float(context.parameters["relief"]), printScale: Float(context.printScale), origin: context.printAnchor,
                gloss: 0.22, weave: 1))
    }
}

/// Shared preparation of the photo for the painted styles.
enum PaintPreparation {
    /// The photo at `shortSide` pixels on its short side (enlarged if smaller; a larger working
    /// image is left alone), and the canvas pixels per working pixel.
    static func canvas(_ image: PlanarImage, shortSide: Int) -> (PlanarImage, Float) {
        let short = min(image.width, image.height)
        guard short < shortSide else { return (image, 1) }
        let factor = Double(shortSide) / Double(short)
        let w = Int((Double(image.width) * factor).rounded()), h = Int((Double(image.height) * factor).rounded())
        let enlarged = PlanarImage(planes: image.planes.map { Resample.enlarge($0, width: w, height: h) })
        return (enlarged, Float(w) / Float(image.width))
    }

    /// Richer colour: chroma scaled in Lab and a gentle S-curve on lightness.
    static func enrich(_ image: PlanarImage, chroma: Float, contrast: Float) -> PlanarImage {
        let lab = Colour.srgbToLab(image)
        let w = lab.width
        Parallel.rows(lab.height) { rows in
            for y in rows {
                let l = lab.planes[0].row(y), a = lab.planes[1].row(y), b = lab.planes[2].row(y)
                for x in 0..<w {
                    let t = min(max(l[x] / 100, 0), 1)
                    let curved = t + contrast * t * (1 - t) * (2 * t - 1) * 2
                    l[x] = curved * 100
                    a[x] *= chroma
                    b[x] *= chroma
                }
            }
        }
        return Colour.labToSrgb(lab)
    }
}

/// Print-resolution paint surface: the strokes' height field (slopes in planes 3 and 4, height
/// in plane 5) lit from the upper left, with a glossy highlight on the ridges, over a canvas
/// weave that shows where the paint is thin.
struct ImpastoLight: PrintFinish {
    let relief: Float
    let printScale: Float
    let origin: (x: Float, y: Float)
    /// Strength of the specular highlight.
    let gloss: Float
    /// Strength of the canvas weave.
    let weave: Float

    /// Canvas threads: one period in reference pixels (about 0.8 mm at 300 DPI).
    static let threadPeriod: Float = 9

    /// sin(2πt) for t in 0...1, 64 steps, for the weave.
    static let sine: [Float] = (0...64).map { sin(Float($0) / 64 * 2 * .pi) }

    func finish(row input: UnsafePointer<Float>, bands: Int, output: UnsafeMutablePointer<UInt8>, x: Int, y: Int, count: Int) {
        Self.sine.withUnsafeBufferPointer { sine in
            @inline(__always) func wave(_ t: Float) -> (sin: Float, cos: Float) {
                let f = (t - t.rounded(.down)) * 64
                let i = min(Int(f), 63), g = f - Float(i)
                let c = (i + 16) & 63
                return (sine[i] + (sine[i + 1] - sine[i]) * g, sine[c] + (sine[c + 1] - sine[c]) * g)
            }
            let inverse = 1 / (printScale * Self.threadPeriod)
            // Plain weave as an egg-crate of thread crossings; its slopes tilt the normal.
            let (sb, cb) = wave((Float(y) + origin.y) * inverse)
            // Light from the upper left, 40° above the canvas; half vector for the highlight.
            let lx: Float = -0.54, ly: Float = -0.54, lz: Float = 0.645
            let hx: Float = -0.29, hy: Float = -0.29, hz: Float = 0.912
            let strength = 4.5 * relief
            let weaveSlope = 0.5 * relief * weave
            let flatSpecular = pow(hz, 40)
            for i in 0..<count {
                let p = input + i * bands
                let (sa, ca) = wave((Float(x + i) + origin.x) * inverse)
                // The weave shows through thin paint and is buried under thick strokes.
                let thin = weaveSlope * (0.15 + 0.85 * max(0, 1 - max(p[5], 0) * 2))
                let nx = -(p[3] * strength + ca * sb * thin), ny = -(p[4] * strength + sa * cb * thin)
                let inverseLength = 1 / (nx * nx + ny * ny + 1).squareRoot()
                let diffuse = max(0, (nx * lx + ny * ly + lz) * inverseLength)
                let shade = 0.35 + 0.65 * diffuse / lz
                var specular = max(0, (nx * hx + ny * hy + hz) * inverseLength)
                specular *= specular  // ^2
                specular *= specular  // ^4
                specular *= specular  // ^8
                let s8 = specular
                specular *= specular  // ^16
                specular *= specular * s8  // ^40
                let highlight = max(0, specular - flatSpecular) * gloss * relief * 2
                output[3 * i] = byte(p[0] * shade + highlight)
                output[3 * i + 1] = byte(p[1] * shade + highlight)
                output[3 * i + 2] = byte(p[2] * shade + highlight)
            }
        }
    }
}
