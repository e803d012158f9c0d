import Foundation

/// Watercolor as layered transparent glazes (after Curtis et al. 1997, Bousseau et al. NPAR 2006,
/// Wang et al. TVCG 2014 and Montesdeoca et al.'s MNPR 2018).
///
/// Working resolution: the photo is simplified three times with the domain transform, from a
/// very coarse light wash to a fine dark layer that only the subject receives. Each layer is a
/// wash: a smooth density field thresholded into a shape with a hard edge, displaced by its own
/// wobble so that it wanders off the drawing, with pigment pooled darker along its own border,
/// low-frequency turbulence and the odd back-run (a bloom with a cauliflower edge). The layers'
/// optical densities add, which is how glazes combine. Highlights stay white paper and a faint
/// graphite underdrawing traces the strongest edges.
/// Print resolution: pigment granulates into the cold-pressed paper's tooth, graphite catches
/// on its ridges, and the paper's relief shows everywhere, even in the white.
public struct WatercolorStyle: RenderStyle {
    public init() {}

    public let info = StyleInfo(
        id: uuid("550e8400-e29b-41d4-a716-446655440000"),
        slug: "watercolor",
        name: "Watercolor",
        description: "Transparent washes layered over simplified shapes, with hard pigment edges, blooms and granulation on cold-pressed paper.",
        parameters: [
            StyleParameter(
                name: "wash_size", description: "Size of the washes and how much the picture is simplified, relative to the default.",
                defaultValue: 1, minimum: 0.5, maximum: 2),
            StyleParameter(
                name: "edge_darkness", description: "How much pigment pools at the borders of washes (0 = none).",
                defaultValue: 0.6, minimum: 0, maximum: 1),
            StyleParameter(
                name: "paper_texture", description: "How strongly the paper's grain shows and pigment granulates in it (0 = smooth paper).",
                defaultValue: 0.6, minimum: 0, maximum: 1),
        ]
    )

    /// Washes are broad; their hard edges come from thresholds evaluated at `compositeShortSide`.
    public var workingShortSide: Int? { 1350 }

    /// Short side of the coarse fields (light and mid washes, noise).
    static let fieldShortSide = 675.0
    /// Washes are thresholded at least at this size, so a small photo still gets crisp edges.
    static let compositeShortSide = 1350.0

    /// One glaze: a flat wash laid wherever the simplified picture is darker than `threshold`.
    struct Layer {
        /// Luminance density above which the wash is laid.
        var threshold: Float
        /// Share of the picture lighter than the threshold in a photo of average key.
        var quantile: Float
        /// Luminance density the wash itself carries.
        var step: Float
        /// Smallest shape or hole the wash keeps, in reference pixels (off the subject).
        var smallest: Float
        /// Edge displacement in reference pixels and its period.
        var wobble: Float
        var wobblePeriod: Float
        /// Spread of the threshold (density units): shapes break up and leave paper.
        var thresholdNoise: Float
        var turbulence: Float
        var turbulencePeriod: Float
        /// How far in from the frame the wash stops, in reference pixels.
        var margin: Float
        /// Share of the colour (spread of the channel densities) kept where the wash is
        /// lighter than the photo.
        var colourKept: Float
    }

    static let layers = [
        Layer(threshold: 0.10, quantile: 0.08, step: 0.22, smallest: 30, wobble: 12, wobblePeriod: 130, thresholdNoise: 0.06, turbulence: 0.35, turbulencePeriod: 220, margin: 35, colourKept: 0.75),
        Layer(threshold: 0.38, quantile: 0.40, step: 0.32, smallest: 22, wobble: 9, wobblePeriod: 90, thresholdNoise: 0.06, turbulence: 0.25, turbulencePeriod: 140, margin: 50, colourKept: 0.5),
        Layer(threshold: 0.75, quantile: 0.72, step: 0.40, smallest: 14, wobble: 6, wobblePeriod: 60, thresholdNoise: 0.05, turbulence: 0.15, turbulencePeriod: 90, margin: 65, colourKept: 0),
    ]

    public func abstract(_ image: PlanarImage, context: StyleContext) throws(RenderError) -> StyledImage {
        let s = Float(context.workingScale)
        let wash = Float(context.parameters["wash_size"])
        let edgeDarkness = Float(context.parameters["edge_darkness"])
        let seed = context.seed
        let w = image.width, h = image.height
        let shortSide = Double(min(w, h))
        // Reference pixels of the whole photo at working pixel (0, 0).
        let origin = (x: context.workingAnchor.x / s, y: context.workingAnchor.y / s)
        let spec = Self.layers

        // Coarse field resolution and composite resolution.
        let fieldFactor = min(1, Self.fieldShortSide / shortSide)
        let fw = max(1, Int((Double(w) * fieldFactor).rounded())), fh = max(1, Int((Double(h) * fieldFactor).rounded()))
        let compositeFactor = max(1, Self.compositeShortSide / shortSide)
        let ow = max(1, Int((Double(w) * compositeFactor).rounded())), oh = max(1, Int((Double(h) * compositeFactor).rounded()))
        // Working pixels per field pixel; field and composite pixels per reference pixel.
        let fieldStep = (x: Float(w) / Float(fw), y: Float(h) / Float(fh))
        let sField = s / fieldStep.x
        let sOut = s * Float(ow) / Float(w)

        // 1. Three simplifications of the photo: coarse light wash, mid-tones, detail.
        let gamma: Float = 0.7, chroma: Float = 1.2
        let lab = Colour.srgbToLab(image)
        let labField = PlanarImage(planes: lab.planes.map { Resample.reduce($0, width: fw, height: fh) })
        let coarse = WatercolorWash.density(
            DomainTransform.smooth(labField, sigmaSpatial: Double(90 * sField * wash), sigmaRange: 30), gamma: gamma, chroma: chroma)
        let middle = WatercolorWash.density(
            DomainTransform.smooth(labField, sigmaSpatial: Double(36 * sField * wash), sigmaRange: 16), gamma: gamma, chroma: chroma)
        let fineLab = DomainTransform.smooth(lab, sigmaSpatial: Double(12 * s * wash), sigmaRange: 12)
        let fine = WatercolorWash.density(fineLab, gamma: gamma, chroma: chroma)
        let subject = WatercolorWash.subject(labField, sigma: Double(60 * sField))

        // 2. Noise fields at field resolution, anchored to the photo.
        let toReference = (x: fieldStep.x / s, y: fieldStep.y / s)
        let fieldOrigin = (x: origin.x + (0.5 * fieldStep.x - 0.5) / s, y: origin.y + (0.5 * fieldStep.y - 0.5) / s)
        func field(_ period: Float, _ octaves: Int, _ index: UInt32) -> Plane {
            WatercolorWash.noise(
                width: fw, height: fh, toReference: toReference, origin: fieldOrigin, period: period * wash, octaves: octaves,
                seed: Noise.stream(seed, index))
        }
        let wobbleX = spec.indices.map { field(spec[$0].wobblePeriod, 2, 10 + UInt32($0)) }
        let wobbleY = spec.indices.map { field(spec[$0].wobblePeriod, 2, 20 + UInt32($0)) }
        let thresholds = spec.indices.map { field(spec[$0].wobblePeriod * 1.5, 3, 30 + UInt32($0)) }
        let turbulence = spec.indices.map { field(spec[$0].turbulencePeriod, 3, 40 + UInt32($0)) }
        let bloomNoise = field(160, 4, 50)
        let frameNoise = field(300, 4, 60)

        // 3. Layer fields: each wash is flat, its colour the hue of its simplification at the
        //    layer's own strength; its shape where that simplification is darker than the
        //    layer's threshold, cleaned of shapes and holes smaller than the smallest mark
        //    (a majority filter: blur the coverage, threshold it again at one half).
        //    Layers 0 and 1 at field resolution from the coarse and middle simplifications;
        //    layer 2 at working resolution from the detail (on the subject) or the middle one.
        // Distance to the frame in reference pixels, for washes that stop short of it.
        let frame = (x: Float(w) / s, y: Float(h) / s)
        @inline(__always) func inset(_ rx: Float, _ ry: Float) -> Float {
            min(min(rx, frame.x - rx), min(ry, frame.y - ry))
        }
        func layer(_ k: Int, source: (Int, Int) -> (Float, Float, Float), width lw: Int, height lh: Int, perReference: Float, grid: (x: Float, y: Float)) -> PlanarImage {
            let out = PlanarImage(width: lw, height: lh, channels: 5)
            let coverage = Plane(width: lw, height: lh)
            let value = Plane(width: lw, height: lh)
            let band: Float = 0.06
            Parallel.rows(lh) { rows in
                for y in rows {
                    let o = out.planes.map { $0.row(y) }, vr = value.row(y)
                    for x in 0..<lw {
                        let c = source(x, y)
                        let v = WatercolorWash.luminanceDensity(c.0, c.1, c.2)
                        vr[x] = v
                        let gain = max(spec[k].step, k == 2 ? v - spec[0].step - spec[1].step - 0.4 : 0) / max(v, 0.5 * spec[k].threshold)
                        // The light washes keep much of their colour even where they carry
                        // less density than the photo (watercolour is luminous, not greyed).
                        let hue = k == 2 ? gain : max(gain, spec[k].colourKept)
                        o[0][x] = max(0, gain * v + (c.0 - v) * hue)
                        o[1][x] = max(0, gain * v + (c.1 - v) * hue)
                        o[2][x] = max(0, gain * v + (c.2 - v) * hue)
                    }
                }
            }
            // The picture's own key moves the thresholds halfway: a light photo keeps some
            // paper, a dark or mid-toned one still gets its tones split into washes.
            let nominal = 0.5 * spec[k].threshold + 0.5 * WatercolorWash.quantile(value, spec[k].quantile)
            let base = WatercolorWash.valley(value, near: nominal, within: 0.1, weight: subject, grid: grid)
            Parallel.rows(lh) { rows in
                for y in rows {
                    let cv = coverage.row(y), vr = value.row(y)
                    let ry = (Float(y) + 0.5) / perReference
                    let qy = (Float(y) + 0.5) * grid.y - 0.5
                    for x in 0..<lw {
                        let qx = (Float(x) + 0.5) * grid.x - 0.5
                        let noise = thresholds[k].bilinear(qx, qy) - 0.5
                        let rx = (Float(x) + 0.5) / perReference
                        let ragged = 2.4 * (frameNoise.bilinear(qx, qy) - 0.5) + 0.6 * noise
                        let fade = WatercolorWash.smoothstep(spec[k].margin * 0.3, spec[k].margin * 1.2, inset(rx, ry) + spec[k].margin * ragged)
                        let calm = 1 - 0.7 * subject.bilinear(qx, qy)
                        let threshold = base + spec[k].thresholdNoise * 2 * noise * calm
                        cv[x] = WatercolorWash.smoothstep(threshold - band / 2, threshold + band / 2, vr[x]) * fade
                    }
                }
            }
            // Majority filter, finer on the subject.
            let loose = Blur.gaussian(coverage, sigma: Double(max(1.5, spec[k].smallest * wash * perReference * 0.5)))
            let tight = Blur.gaussian(coverage, sigma: Double(max(1, spec[k].smallest * wash * perReference * 0.2)))
            // Hard edges where the picture changes abruptly, soft (wet-in-wet) where it is
            // shaded gradually: the slope of the value field in density per reference pixel.
            let slope = Blur.gaussian(Gradient.sobelMagnitude(value), sigma: Double(spec[k].smallest * wash * perReference * 0.4))
            let shape = out.planes[3], hardness = out.planes[4]
            Parallel.rows(lh) { rows in
                for y in rows {
                    let a = loose.row(y), b = tight.row(y), o = shape.row(y), g = slope.row(y), hr = hardness.row(y)
                    let qy = (Float(y) + 0.5) * grid.y - 0.5
                    for x in 0..<lw {
                        let t = subject.bilinear((Float(x) + 0.5) * grid.x - 0.5, qy)
                        o[x] = a[x] + (b[x] - a[x]) * t
                        hr[x] = WatercolorWash.smoothstep(0.003, 0.012, g[x] * perReference)
                    }
                }
            }
            return out
        }
        let l0 = layer(0, source: { x, y in (coarse.planes[0][x, y], coarse.planes[1][x, y], coarse.planes[2][x, y]) },
                       width: fw, height: fh, perReference: sField, grid: (1, 1))
        let l1 = layer(1, source: { x, y in (middle.planes[0][x, y], middle.planes[1][x, y], middle.planes[2][x, y]) },
                       width: fw, height: fh, perReference: sField, grid: (1, 1))
        let l2 = layer(2, source: { x, y in
            let qx = (Float(x) + 0.5) / fieldStep.x - 0.5, qy = (Float(y) + 0.5) / fieldStep.y - 0.5
            let t = subject.bilinear(qx, qy)
            return (fine.planes[0][x, y] * t + middle.planes[0].bilinear(qx, qy) * (1 - t),
                    fine.planes[1][x, y] * t + middle.planes[1].bilinear(qx, qy) * (1 - t),
                    fine.planes[2][x, y] * t + middle.planes[2].bilinear(qx, qy) * (1 - t))
        }, width: w, height: h, perReference: s, grid: (1 / fieldStep.x, 1 / fieldStep.y))

        // 4. Wash shapes at composite resolution: threshold the displaced shape fields.
        let toField = (x: Float(fw) / Float(ow), y: Float(fh) / Float(oh))
        let toWorking = (x: Float(w) / Float(ow), y: Float(h) / Float(oh))
        let masks = PlanarImage(width: ow, height: oh, channels: 4)
        // Where layer k samples its field for composite pixel (x, y), in the field's pixels.
        @inline(__always) func position(_ k: Int, _ x: Int, _ y: Int) -> (Float, Float, Float, Float) {
            let qx = (Float(x) + 0.5) * toField.x - 0.5, qy = (Float(y) + 0.5) * toField.y - 0.5
            let amplitude = 2 * spec[k].wobble * wash
            let dx = (wobbleX[k].bilinear(qx, qy) - 0.5) * amplitude, dy = (wobbleY[k].bilinear(qx, qy) - 0.5) * amplitude
            if k < 2 { return (qx + dx * sField, qy + dy * sField, qx, qy) }
            return ((Float(x) + 0.5) * toWorking.x - 0.5 + dx * s, (Float(y) + 0.5) * toWorking.y - 0.5 + dy * s, qx, qy)
        }
        let layerFields = [l0, l1, l2]
        Parallel.rows(oh) { rows in
            for y in rows {
                let out = masks.planes.map { $0.row(y) }
                for x in 0..<ow {
                    var qx: Float = 0, qy: Float = 0
                    for k in 0..<3 {
                        let p = position(k, x, y)
                        qx = p.2
                        qy = p.3
                        let planes = layerFields[k].planes
                        let softness = min(0.5, 0.06 + 0.44 * (1 - planes[4].bilinear(p.0, p.1)) + 0.2 * subject.bilinear(p.2, p.3))
                        out[k][x] = WatercolorWash.smoothstep(0.5 - softness, 0.5 + softness, planes[3].bilinear(p.0, p.1))
                    }
                    // Back-runs: blobs of a fractal field, kept off the subject.
                    let bloom = bloomNoise.bilinear(qx, qy) - 0.3 * subject.bilinear(qx, qy)
                    out[3][x] = WatercolorWash.smoothstep(0.7, 0.715, bloom)
                }
            }
        }
        let rimSigma = Double(max(1, 5 * sOut))
        let pooled = masks.planes.map { Blur.gaussian($0, sigma: rimSigma) }

        // 5. Pencil underdrawing: the strongest edges of the detail simplification.
        let pencilWorking = Self.underdrawing(lightness: fineLab.planes[0], subject: subject, fieldStep: fieldStep, scale: s)
        let pencil = ow == w && oh == h ? pencilWorking : Resample.enlarge(pencilWorking, width: ow, height: oh)

        // 6. Composite: the densities of the layers add (glazes multiply transmittances).
        let result = PlanarImage(width: ow, height: oh, channels: 4)
        let rimStrength = 1.8 * edgeDarkness
        Parallel.rows(oh) { rows in
            for y in rows {
                let m = masks.planes.map { $0.row(y) }, b = pooled.map { $0.row(y) }
                let out = result.planes.map { $0.row(y) }
                let pr = pencil.row(y)
                for x in 0..<ow {
                    var density: (Float, Float, Float) = (0, 0, 0)
                    let bloom = m[3][x]
                    let bloomRing = min(1, 3 * max(0, b[3][x] - bloom))
                    for k in 0..<3 {
                        let coverage = m[k][x]
                        if coverage <= 0 { continue }
                        let p = position(k, x, y)
                        let f = layerFields[k].planes
                        let rim = min(1, 2 * max(0, coverage - b[k][x]))
                        var amount = coverage * (1 + rimStrength * rim)
                        amount *= 1 + spec[k].turbulence * (turbulence[k].bilinear(p.2, p.3) - 0.5) * 2
                        if k < 2 { amount *= 1 - 0.45 * bloom + 0.9 * bloomRing }
                        density.0 += amount * f[0].bilinear(p.0, p.1)
                        density.1 += amount * f[1].bilinear(p.0, p.1)
                        density.2 += amount * f[2].bilinear(p.0, p.1)
                    }
                    out[0][x] = Colour.encode(exp(-density.0))
                    out[1][x] = Colour.encode(exp(-density.1))
                    out[2][x] = Colour.encode(exp(-density.2))
                    out[3][x] = pr[x]
                }
            }
        }
        return StyledImage(
            planes: result,
            finish: WatercolorPaper(
                texture: Float(context.parameters["paper_texture"]),
                printScale: Float(context.printScale),
                origin: context.printAnchor,
                seed: Noise.stream(seed, 3)))
    }

    /// Graphite lines (0 = none, 1 = a full line) on the dark side of strong edges, stronger
    /// on the subject: a difference of Gaussians of the lightness, thresholded.
    static func underdrawing(lightness: Plane, subject: Plane, fieldStep: (x: Float, y: Float), scale s: Float) -> Plane {
        let sigma = Double(max(0.7, 1.6 * s))
        let narrow = Blur.gaussian(lightness, sigma: sigma)
        let wide = Blur.gaussian(lightness, sigma: sigma * 1.6)
        let out = Plane(width: lightness.width, height: lightness.height)
        let w = lightness.width
        Parallel.rows(lightness.height) { rows in
            for y in rows {
                let n = narrow.row(y), v = wide.row(y), o = out.row(y)
                let qy = (Float(y) + 0.5) / fieldStep.y - 0.5
                for x in 0..<w {
                    let qx = (Float(x) + 0.5) / fieldStep.x - 0.5
                    let edge = v[x] - n[x]
                    let gate = 0.5 + 0.5 * subject.bilinear(qx, qy)
                    o[x] = WatercolorWash.smoothstep(2.5, 6, edge) * gate
                }
            }
        }
        return out
    }

    /// Bousseau's density transfer: darkens (d > 1) or lightens (d < 1) a transparent layer,
    /// leaving pure white (no pigment) untouched.
    @inline(__always) static func transfer(_ c: Float, _ d: Float) -> Float {
        min(max(c * (1 - (1 - c) * (d - 1)), 0), 1)
    }
}

/// The print-resolution layer of watercolor: cold-pressed paper, granulation, graphite.
///
/// Input bands: the painted colour (sRGB 0...1) and the pencil line strength.
struct WatercolorPaper: PrintFinish {
    let texture: Float
    let printScale: Float
    let origin: (x: Float, y: Float)
    let seed: UInt32

    /// Warm white of cold-pressed paper.
    private static let paper: (Float, Float, Float) = (0.992, 0.982, 0.958)

    func finish(row input: UnsafePointer<Float>, bands: Int, output: UnsafeMutablePointer<UInt8>, x: Int, y: Int, count: Int) {
        let inverseScale = 1 / printScale
        let v = (Float(y) + origin.y) * inverseScale
        for i in 0..<count {
            let u = (Float(x + i) + origin.x) * inverseScale
            // The paper's tooth: bumps about 11 reference pixels (1 mm at 9x12) with finer ones.
            let tooth = 0.6 * Noise.value(u / 11, v / 11, seed) + 0.4 * Noise.value(u / 5, v / 5, seed &+ 1)
            // Light from the upper left on the bumps.
            let slope = Noise.value((u + 2) / 11, (v + 2) / 11, seed) - Noise.value((u - 2) / 11, (v - 2) / 11, seed)
            let shade = 1 + texture * (0.045 * slope - 0.02 * (0.5 - tooth))
            // Pigment settles in the hollows (granulation), more in some passages than others.
            let settling = 0.5 + Noise.value(u / 150, v / 150, seed &+ 3)
            let density = 1 + texture * 0.7 * settling * (0.5 - tooth)
            let p = input + i * bands
            // Graphite catches on the ridges.
            let graphite = 1 - min(1, p[3]) * 0.42 * (0.55 + 0.9 * tooth)
            let r = WatercolorStyle.transfer(p[0], density) * Self.paper.0 * shade * graphite
            let g = WatercolorStyle.transfer(p[1], density) * Self.paper.1 * shade * graphite
            let b = WatercolorStyle.transfer(p[2], density) * Self.paper.2 * shade * graphite
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
