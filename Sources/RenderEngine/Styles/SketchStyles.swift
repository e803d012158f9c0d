import Foundation

/// Pencil sketch after Lu, Xu and Jia, "Combining Sketch and Tone for Pencil Drawing
/// Production" (NPAR 2012).
///
/// Working resolution: stroke map from gradient directions (eight line kernels, about 1/30 of
/// the image long, O(1) per pixel) and a tone map histogram-matched to a pencil drawing's
/// tone distribution. Print resolution: pencil hatching and paper grain, a function of the
/// print position, modulate the tone (Lu's T = P^β), so the texture is sharp at every size.
public struct PencilSketchStyle: RenderStyle {
    public init() {}

    public let info = StyleInfo(
        id: uuid("550e8400-e29b-41d4-a716-446655440002"),
        slug: "pencil-sketch",
        name: "Pencil Sketch",
        description: "Graphite strokes along the photo's edges with hatched shading on textured paper; optionally coloured pencil.",
        parameters: [
            StyleParameter(name: "colour", description: "0 for graphite grey, 1 for coloured pencil, in between for a tint.", defaultValue: 0, minimum: 0, maximum: 1),
            StyleParameter(name: "stroke_length", description: "Length of the pencil strokes, relative to the default.", defaultValue: 1, minimum: 0.5, maximum: 2),
        ]
    )

    public func abstract(_ image: PlanarImage, context: StyleContext) throws(RenderError) -> StyledImage {
        let settings = SketchSettings(
            strokeLength: context.parameters["stroke_length"], strokeWidth: 0, strokeGain: 1.0, smudge: 0,
            tone: .pencil, crush: 1.0, grainScale: 1.0, grainContrast: 0.45, hatchContrast: 0.55, colour: Float(context.parameters["colour"]))
        return Sketch.abstract(image, context: context, settings: settings)
    }
}

/// Charcoal: the pencil machinery with broader, smudged strokes, a darker tone target, crushed
/// blacks and a coarse paper grain.
public struct CharcoalStyle: RenderStyle {
    public init() {}

    public let info = StyleInfo(
        id: uuid("550e8400-e29b-41d4-a716-446655440003"),
        slug: "charcoal",
        name: "Charcoal",
        description: "Bold, smudged charcoal strokes and deep blacks on coarse paper.",
        parameters: [
            StyleParameter(name: "smudge", description: "How much the strokes are blended with a finger (0 = crisp).", defaultValue: 0.5, minimum: 0, maximum: 1),
            StyleParameter(name: "darkness", description: "Overall darkness of the drawing.", defaultValue: 0.5, minimum: 0, maximum: 1),
        ]
    )

    public func abstract(_ image: PlanarImage, context: StyleContext) throws(RenderError) -> StyledImage {
        let darkness = context.parameters["darkness"]
        let settings = SketchSettings(
            strokeLength: 1.3, strokeWidth: 2.2, strokeGain: 1.5, smudge: context.parameters["smudge"],
            tone: .charcoal, crush: Float(1.15 + 0.5 * darkness), grainScale: 2.6, grainContrast: 0.8, hatchContrast: 0.35, colour: 0)
        return Sketch.abstract(image, context: context, settings: settings)
    }
}

struct SketchSettings {
    /// Stroke kernel length relative to 1/30 of the short side.
    var strokeLength: Double
    /// Blur of the gradient before strokes, in reference pixels (broad charcoal sticks).
    var strokeWidth: Double
    var strokeGain: Float
    /// Smudging of strokes and tone, 0...1.
    var smudge: Double
    var tone: ToneTarget
    /// Exponent on the tone (> 1 crushes the blacks).
    var crush: Float
    /// Paper grain feature size relative to pencil's.
    var grainScale: Float
    var grainContrast: Float
    var hatchContrast: Float
    /// 0 grey, 1 the photo's colours under the graphite.
    var colour: Float
}

/// The tone distribution of a drawing (Lu et al.: bright paper, mid-tone band, dark strokes).
struct ToneTarget {
    var bright: Double, middle: Double, dark: Double
    var darkMean: Double, darkSigma: Double
    var middleRange: ClosedRange<Double>

    static let pencil = ToneTarget(bright: 76, middle: 22, dark: 2, darkMean: 90, darkSigma: 11, middleRange: 105...225)
    static let charcoal = ToneTarget(bright: 42, middle: 33, dark: 25, darkMean: 55, darkSigma: 18, middleRange: 70...210)

    /// Probability of grey level v (0...255).
    func density(_ v: Double) -> Double {
        let laplacian = v <= 255 ? exp(-(255 - v) / 9) / 9 : 0
        let uniform = middleRange.contains(v) ? 1 / (middleRange.upperBound - middleRange.lowerBound) : 0
        let gaussian = exp(-(v - darkMean) * (v - darkMean) / (2 * darkSigma * darkSigma)) / (2 * .pi * darkSigma * darkSigma).squareRoot()
        return bright * laplacian + middle * uniform + dark * gaussian
    }
}

enum Sketch {
    static func abstract(_ image: PlanarImage, context: StyleContext, settings: SketchSettings) -> StyledImage {
        let s = context.workingScale
        let grey = PlaneMath.median3(Colour.luma(image))
        let strokes = strokeMap(grey, context: context, settings: settings)
        var tone = toneMap(grey, target: settings.tone, crush: settings.crush)
        if settings.smudge > 0 { tone = Blur.gaussian(tone, sigma: settings.smudge * 3 * s) }
        // Colour for coloured pencil: the photo's chroma (YCbCr), lightly smoothed.
        let (cb, cr) = chroma(image, sigma: 1.5 * s)
        let finish = SketchPaper(
            printScale: Float(context.printScale), origin: context.printAnchor, seed: Noise.stream(context.seed, 7),
            grainScale: settings.grainScale, grainContrast: settings.grainContrast, hatchContrast: settings.hatchContrast,
            colour: settings.colour)
        return StyledImage(planes: PlanarImage(planes: [strokes, tone, cb, cr]), finish: finish)
    }

    /// Lu et al.'s stroke map: classify each gradient by its strongest line direction, then
    /// draw each class along its direction. 1 is paper, lower is graphite.
    static func strokeMap(_ grey: Plane, context: StyleContext, settings: SketchSettings) -> Plane {
        let s = context.workingScale
        let w = grey.width, h = grey.height
        var gradient = Plane(width: w, height: h)
        Parallel.rows(h) { rows in
            for y in rows {
                let r = grey.row(y), down = grey.row(min(y + 1, h - 1)), o = gradient.row(y)
                for x in 0..<w {
                    let gx = r[min(x + 1, w - 1)] - r[x], gy = down[x] - r[x]
                    o[x] = (gx * gx + gy * gy).squareRoot()
                }
            }
        }
        if settings.strokeWidth > 0 { gradient = Blur.gaussian(gradient, sigma: settings.strokeWidth * s) }
        let length = Double(min(w, h)) / 30 * settings.strokeLength
        // Strongest direction per pixel, one direction at a time (eight response planes at
        // once would hold a gigabyte at working resolution).
        let bestDirection = Plane(width: w, height: h, fill: 0)
        let bestResponse = Plane(width: w, height: h, fill: -1)
        for direction in 0..<8 {
            let response = LineConvolution.along(gradient, direction: direction, length: length)
            Parallel.rows(h) { rows in
                for y in rows {
                    let r = response.row(y), br = bestResponse.row(y), bd = bestDirection.row(y)
                    for x in 0..<w where r[x] > br[x] {
                        br[x] = r[x]
                        bd[x] = Float(direction)
                    }
                }
            }
        }
        // Draw each class of gradients along its own direction and add them up.
        let sum = Plane(width: w, height: h)
        let classified = Plane(width: w, height: h)
        for direction in 0..<8 {
            let d = Float(direction)
            Parallel.rows(h) { rows in
                for y in rows {
                    let g = gradient.row(y), bd = bestDirection.row(y), c = classified.row(y)
                    for x in 0..<w { c[x] = bd[x] == d ? g[x] : 0 }
                }
            }
            let drawn = LineConvolution.along(classified, direction: direction, length: length)
            Parallel.rows(h) { rows in
                for y in rows {
                    let o = sum.row(y), r = drawn.row(y)
                    for x in 0..<w { o[x] += r[x] }
                }
            }
        }
        // Normalise by a high percentile so the result does not depend on image size or contrast.
        let reference = max(percentile(sum, 0.995), 1e-6)
        var strokes = PlaneMath.map(sum) { v in max(0, 1 - settings.strokeGain * v / reference) }
        if settings.smudge > 0 { strokes = Blur.gaussian(strokes, sigma: settings.smudge * 2.5 * s) }
        return strokes
    }

    /// Histogram matching of the grey image to the drawing's tone distribution.
    static func toneMap(_ grey: Plane, target: ToneTarget, crush: Float) -> Plane {
        var histogram = [Double](repeating: 0, count: 256)
        for y in 0..<grey.height {
            let r = grey.row(y)
            for x in 0..<grey.width { histogram[min(255, max(0, Int(r[x] * 255 + 0.5)))] += 1 }
        }
        var source = [Double](repeating: 0, count: 256), wanted = [Double](repeating: 0, count: 256)
        var a = 0.0, b = 0.0
        let densities = (0..<256).map { target.density(Double($0)) }
        let totalDensity = densities.reduce(0, +), totalCount = histogram.reduce(0, +)
        for v in 0..<256 {
            a += histogram[v] / totalCount
            b += densities[v] / totalDensity
            source[v] = a
            wanted[v] = b
        }
        var lut = [Float](repeating: 0, count: 256)
        var j = 0
        for v in 0..<256 {
            while j < 255 && wanted[j] < source[v] { j += 1 }
            lut[v] = pow(Float(j) / 255, crush)
        }
        return lut.withUnsafeBufferPointer { table in
            let table = UncheckedSendable(table)
            return PlaneMath.map(grey) { v in
                // Linear interpolation between LUT entries keeps gradients smooth.
                let f = min(max(v, 0), 1) * 255
                let i = min(Int(f), 254)
                let t = f - Float(i)
                return table.value[i] + (table.value[i + 1] - table.value[i]) * t
            }
        }
    }

    static func chroma(_ image: PlanarImage, sigma: Double) -> (Plane, Plane) {
        let (r, g, b) = (image.planes[0], image.planes[1], image.planes[2])
        let cb = Plane(width: image.width, height: image.height), cr = Plane(width: image.width, height: image.height)
        let w = image.width
        Parallel.rows(image.height) { rows in
            for y in rows {
                let rr = r.row(y), gr = g.row(y), br = b.row(y), ob = cb.row(y), orr = cr.row(y)
                for x in 0..<w {
                    let luma = 0.299 * rr[x] + 0.587 * gr[x] + 0.114 * br[x]
                    ob[x] = (br[x] - luma) * 0.564
                    orr[x] = (rr[x] - luma) * 0.713
                }
            }
        }
        return (Blur.gaussian(cb, sigma: sigma), Blur.gaussian(cr, sigma: sigma))
    }

    static func percentile(_ plane: Plane, _ fraction: Double) -> Float {
        var sample: [Float] = []
        let step = max(1, Int((Double(plane.count) / 250_000).squareRoot()))
        for y in stride(from: 0, to: plane.height, by: step) {
            for x in stride(from: 0, to: plane.width, by: step) { sample.append(plane[x, y]) }
        }
        sample.sort()
        return sample[min(sample.count - 1, Int(Double(sample.count) * fraction))]
    }
}

/// Print-resolution graphite: hatching texture P and paper grain shape the tone J as
/// T = J^(ln P / ln P̄) (Lu et al.), strokes multiply, colour optional.
struct SketchPaper: PrintFinish {
    let printScale: Float
    let origin: (x: Float, y: Float)
    let seed: UInt32
    let grainScale: Float
    let grainContrast: Float
    let hatchContrast: Float
    let colour: Float

    private static let meanLogP = log(Float(0.62))

    func finish(row input: UnsafePointer<Float>, bands: Int, output: UnsafeMutablePointer<UInt8>, x: Int, y: Int, count: Int) {
        let inverse = 1 / printScale
        let v = (Float(y) + origin.y) * inverse
        let c45: Float = 0.70710678
        for i in 0..<count {
            let p = input + i * bands
            let u = (Float(x + i) + origin.x) * inverse
            // Hatching: strokes along 45°, long and thin (in reference pixels).
            let along = (u + v) * c45, across = (v - u) * c45
            let hatch = Noise.value(along * 0.06, across * 0.75, seed) * 0.7 + Noise.value(along * 0.11, across * 1.4, seed &+ 1) * 0.3
            let grain = Noise.value(u * 0.6 / grainScale, v * 0.6 / grainScale, seed &+ 2)
            let pencil = max(0.08, 1 - hatchContrast * hatch - grainContrast * 0.5 * grain)
            let tone = max(p[1], 0.002)
            let textured = pow(min(tone, 1), log(pencil) / Self.meanLogP)
            let grey = min(max(p[0], 0), 1) * textured
            // Paper: warm white, its grain visible in the light areas too.
            let paper = 1 - 0.035 * grain
            let lum = grey * paper
            let cb = p[2] * colour, cr = p[3] * colour
            let r = lum + 1.403 * cr, g = lum - 0.344 * cb - 0.714 * cr, b = lum + 1.773 * cb
            output[3 * i] = byte(r * 0.995)
            output[3 * i + 1] = byte(g * 0.985)
            output[3 * i + 2] = byte(b * 0.96)
        }
    }
}
