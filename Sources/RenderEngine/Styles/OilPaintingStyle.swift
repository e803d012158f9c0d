import Foundation

/// Oil painting: anisotropic Kuwahara filtering (Kyprianidis et al. 2009/2010) for the paint
/// patches, then brush and canvas relief lit from the upper left (after Semmo et al. 2016).
///
/// The Kuwahara filter is the expensive part (dozens of samples and eight sectors per pixel),
/// so it runs at a coarse scale (about 720 px on the short side) and a guided filter brings it
/// back to the working resolution along the photo's own edges. Brush streaks are noise smeared
/// along the flow field; at print resolution a canvas weave is added and everything is lit.
public struct OilPaintingStyle: RenderStyle {
    public init() {}

    public let info = StyleInfo(
        id: uuid("550e8400-e29b-41d4-a716-446655440001"),
        slug: "oil-painting",
        name: "Oil Painting",
        description: "Thick, directional brush strokes that follow the forms of the photo, on lit canvas.",
        parameters: [
            StyleParameter(name: "brush_size", description: "Size of the brush strokes, relative to the default.", defaultValue: 1, minimum: 0.5, maximum: 2),
            StyleParameter(name: "relief", description: "How strongly brush ridges and the canvas weave catch the light (0 = flat).", defaultValue: 0.5, minimum: 0, maximum: 1),
        ]
    )

    /// Short side of the coarse scale the Kuwahara filter runs at.
    static let coarseShortSide = 720.0

    public func abstract(_ image: PlanarImage, context: StyleContext) throws(RenderError) -> StyledImage {
        let s = context.workingScale
        let brush = context.parameters["brush_size"]
        let w = image.width, h = image.height
        let factor = min(1, Self.coarseShortSide / Double(min(w, h)))
        let cw = max(1, Int((Double(w) * factor).rounded())), ch = max(1, Int((Double(h) * factor).rounded()))

        // Paint patches at the coarse scale.
        let coarse = PlanarImage(planes: image.planes.map { Resample.reduce($0, width: cw, height: ch) })
        let coarseScale = s * factor * Double(w) / Double(cw) * Double(cw) / Double(w)
        let flow = OrientationField.compute(coarse, sigma: max(1, 2.5 * coarseScale * 2.7))
        let radius = Float(max(1.5, 11 * brush * coarseScale))
        let painted = AnisotropicKuwahara.filter(coarse, orientation: flow, radius: radius)

        // Back to working resolution along the photo's edges.
        let guide = Colour.luma(image)
        let guideRadius = max(1, Int((1 / factor).rounded()))
        let colour = painted.planes.map { plane in
            GuidedFilter.apply(Resample.enlarge(plane, width: w, height: h), guide: guide, radius: guideRadius, epsilon: 0.002)
        }

        // Brush streaks: noise smeared along the flow, at a finer scale than the patches.
        let relief = Float(context.parameters["relief"])
        // Streaks at half the working resolution: they are soft, and this is the costly part.
        let hw = max(1, w / 2), hh = max(1, h / 2)
        let anchor = context.workingAnchor
        let height = BrushRelief.heightField(
            flow: flow, width: hw, height: hh, scale: s / 2, brush: brush, anchor: (anchor.x / 2, anchor.y / 2), seed: Noise.stream(context.seed, 11))
        let (halfX, halfY) = BrushRelief.gradient(height)
        // Enlarged back, a gradient per half-resolution pixel is half as steep per working pixel.
        let hx = PlaneMath.map(Resample.enlarge(halfX, width: w, height: h)) { $0 * 0.5 }
        let hy = PlaneMath.map(Resample.enlarge(halfY, width: w, height: h)) { $0 * 0.5 }
        return StyledImage(
            planes: PlanarImage(planes: colour + [hx, hy]),
            finish: CanvasLight(relief: relief, printScale: Float(context.printScale), workingPerPrint: Float(context.workingScale / context.printScale), origin: context.printAnchor, seed: Noise.stream(context.seed, 12)))
    }
}

enum BrushRelief {
    /// Line integral convolution of value noise along the (enlarged) flow field: streaks about
    /// one brush width apart and a few widths long, like bristle marks.
    static func heightField(flow: OrientationField, width: Int, height: Int, scale: Double, brush: Double, anchor: (x: Float, y: Float), seed: UInt32) -> Plane {
        let out = Plane(width: width, height: height)
        let fx = Float(flow.tangentX.width) / Float(width), fy = Float(flow.tangentX.height) / Float(height)
        let bristle = Float(1.6 * scale * brush)      // noise feature across the stroke, in working px
        let step = Float(max(0.75, 1.5 * scale * brush))
        let steps = 7
        Parallel.rows(height) { rows in
            for y in rows {
                let o = out.row(y)
                for x in 0..<width {
                    var sum: Float = 0
                    for direction in [Float(1), -1] {
                        var px = Float(x), py = Float(y)
                        for _ in 0..<steps {
                            let tx = flow.tangentX.bilinear(px * fx, py * fy), ty = flow.tangentY.bilinear(px * fx, py * fy)
                            px += direction * tx * step
                            py += direction * ty * step
                            sum += Noise.value((px + anchor.x) / bristle, (py + anchor.y) / bristle, seed)
                        }
                    }
                    o[x] = sum / Float(2 * steps)
                }
            }
        }
        return out
    }

    /// Central differences, in height units per working pixel.
    static func gradient(_ plane: Plane) -> (Plane, Plane) {
        let w = plane.width, h = plane.height
        let gx = Plane(width: w, height: h), gy = Plane(width: w, height: h)
        Parallel.rows(h) { rows in
            for y in rows {
                let up = plane.row(max(y - 1, 0)), mid = plane.row(y), down = plane.row(min(y + 1, h - 1))
                let ox = gx.row(y), oy = gy.row(y)
                for x in 0..<w {
                    ox[x] = (mid[min(x + 1, w - 1)] - mid[max(x - 1, 0)]) * 0.5
                    oy[x] = (down[x] - up[x]) * 0.5
                }
            }
        }
        return (gx, gy)
    }
}

/// Print-resolution paint surface: brush ridges (from the working-resolution height field)
/// and a canvas weave, lit by a light from the upper left.
struct CanvasLight: PrintFinish {
    let relief: Float
    let printScale: Float
    let workingPerPrint: Float
    let origin: (x: Float, y: Float)
    let seed: UInt32

    func finish(row input: UnsafePointer<Float>, bands: Int, output: UnsafeMutablePointer<UInt8>, x: Int, y: Int, count: Int) {
        let inverse = 1 / printScale
        let v = (Float(y) + origin.y) * inverse
        // Light direction (normalised) from the upper left, fairly low for visible relief.
        let lx: Float = -0.55, ly: Float = -0.55, lz: Float = 0.63
        let brushStrength = 9 * relief
        let weaveStrength = 0.10 * relief
        let period: Float = 3.2  // canvas threads, in reference pixels
        for i in 0..<count {
            let p = input + i * bands
            let u = (Float(x + i) + origin.x) * inverse
            // Canvas weave: two sets of threads, slightly irregular.
            let wobble = Noise.value(u * 0.15, v * 0.15, seed) * 0.6
            let cx = cos((u + wobble) * 2 * .pi / period), cy = cos((v - wobble) * 2 * .pi / period)
            let weaveX = -sin((u + wobble) * 2 * .pi / period) * cy * weaveStrength
            let weaveY = -sin((v - wobble) * 2 * .pi / period) * cx * weaveStrength
            // Surface normal from the brush height gradient (per working pixel) and the weave.
            let nx = -(p[3] * brushStrength + weaveX), ny = -(p[4] * brushStrength + weaveY)
            let length = (nx * nx + ny * ny + 1).squareRoot()
            let lambert = (nx * lx + ny * ly + lz) / length
            let shade = 0.9 + 0.35 * (lambert - lz)
            let specular = pow(max(0, lambert), 24) * 0.06 * relief
            output[3 * i] = byte(p[0] * shade + specular)
            output[3 * i + 1] = byte(p[1] * shade + specular)
            output[3 * i + 2] = byte(p[2] * shade + specular)
        }
    }
}
