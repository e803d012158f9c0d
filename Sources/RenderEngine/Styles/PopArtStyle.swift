import Foundation

/// Pop art in the manner of Lichtenstein's Ben-Day prints.
///
/// Working resolution: the photo flattened to a few colours (k-means in Lab) and each colour
/// given a comic-print treatment — black, white paper, a solid primary, or Ben-Day dots of a
/// primary on white — with XDoG outlines. Print resolution: the dots are an amplitude-modulated
/// screen computed per print pixel, so they stay round and crisp at any size.
///
/// Lichtenstein printed one screen per colour, not a four-colour rosette: a single 45° screen
/// per area reads as pop art where CMYK rosettes read as newsprint.
public struct PopArtStyle: RenderStyle {
    public init() {}

    public let info = StyleInfo(
        id: uuid("550e8400-e29b-41d4-a716-446655440005"),
        slug: "pop-art",
        name: "Pop Art",
        description: "Bold flat colours, black outlines and big halftone dots, like a 1960s comic-strip print.",
        parameters: [
            StyleParameter(name: "dot_size", description: "Size of the halftone dots, relative to the default.", defaultValue: 1, minimum: 0.5, maximum: 2.5),
            StyleParameter(name: "colours", description: "Number of flat colours the photo is reduced to.", defaultValue: 5, minimum: 3, maximum: 8),
        ]
    )

    /// Dot pitch in reference pixels (2.5 mm on a 9x12 in print).
    static let pitch = 30.0

    public func abstract(_ image: PlanarImage, context: StyleContext) throws(RenderError) -> StyledImage {
        let s = context.workingScale
        var lab = Colour.srgbToLab(image)
        lab = DomainTransform.smooth(lab, sigmaSpatial: 6 * s, sigmaRange: 10)
        let lines = ComicInk.lineField(lightness: lab.planes[0], scale: s, weight: 1.6)
        lab = DomainTransform.smooth(lab, sigmaSpatial: 18 * s, sigmaRange: 14)

        // Flatten: a k-means palette, each colour mapped to a comic-print ink treatment.
        let k = Int(context.parameters["colours"].rounded())
        let palette = KMeans.palette(lab, count: k, seed: Noise.stream(context.seed, 1))
        let treatments = Self.stretched(palette).map(Self.treatment)
        let assigned = KMeans.assign(lab, palette: palette)
        let w = lab.width, h = lab.height
        // Base colour (3), dot ink colour (3), dot coverage (1).
        let flat = PlanarImage(width: w, height: h, channels: 7)
        Parallel.rows(h) { rows in
            for y in rows {
                let a = assigned.row(y)
                let out = flat.planes.map { $0.row(y) }
                for x in 0..<w {
                    let t = treatments[Int(a[x])]
                    out[0][x] = t.base.0; out[1][x] = t.base.1; out[2][x] = t.base.2
                    out[3][x] = t.dot.0; out[4][x] = t.dot.1; out[5][x] = t.dot.2
                    out[6][x] = t.coverage
                }
            }
        }
        // Soften the region borders a little so colours change without stair steps.
        let planes = flat.planes.map { Blur.gaussian($0, sigma: max(0.5, 0.8 * s)) } + [lines]
        let pitch = Float(Self.pitch * context.parameters["dot_size"] * context.printScale)
        return StyledImage(planes: PlanarImage(planes: planes), finish: HalftonePrint(pitch: pitch, origin: context.printAnchor))
    }

    /// How one palette colour is printed: a solid ink, or Ben-Day dots of an ink on white.
    struct Treatment {
        let base: (Float, Float, Float)
        let dot: (Float, Float, Float)
        let coverage: Float
    }

    static let black: (Float, Float, Float) = (0.07, 0.07, 0.09)
    static let white: (Float, Float, Float) = (0.99, 0.98, 0.95)
    /// The comic-print primaries, with the Lab hue angle each stands for.
    static let primaries: [(hue: Float, ink: (Float, Float, Float))] = [
        (35, (0.88, 0.11, 0.13)),   // red
        (90, (0.99, 0.85, 0.08)),   // yellow
        (150, (0.10, 0.58, 0.32)),  // green
        (250, (0.10, 0.36, 0.78)),  // blue
        (320, (0.86, 0.20, 0.55)),  // magenta
    ]

    /// Pop art lives on value contrast, so the palette's lightness is stretched to span at least
    /// 12…92 before the treatments are chosen: a dark, low-key photo (a forest at dusk) still
    /// gets colours, dots and paper instead of a black sheet. Chroma grows with the lightness
    /// gain, so a dark green becomes a green, not a grey. Only ever stretches: a photo with a full
    /// tonal range keeps its palette.
    static func stretched(_ palette: [(Float, Float, Float)]) -> [(Float, Float, Float)] {
        let lightness = palette.map(\.0)
        guard let low = lightness.min(), let high = lightness.max(), high - low > 1 else { return palette }
        let targetLow = min(low, 12), targetHigh = max(high, 92)
        let gain = (targetHigh - targetLow) / (high - low)
        return palette.map { colour in
            let l = targetLow + (colour.0 - low) * gain
            let chromaGain = min(3, max(1, l / max(colour.0, 1)))
            return (l, colour.1 * chromaGain, colour.2 * chromaGain)
        }
    }

    /// Lichtenstein's rules, roughly: darks become black, light neutrals white paper, other
    /// colours the nearest primary — solid when dark or saturated, dots on white when light.
    static func treatment(_ lab: (Float, Float, Float)) -> Treatment {
        let (l, a, b) = lab
        let chroma = (a * a + b * b).squareRoot()
        if l < 16 || (l < 30 && chroma < 22) { return Treatment(base: black, dot: black, coverage: 0) }
        if chroma < 10 {
            if l > 78 { return Treatment(base: white, dot: white, coverage: 0) }
            // Greys: black dots on white.
            return Treatment(base: white, dot: black, coverage: min(0.75, max(0.12, (78 - l) / 60)))
        }
        var hue = atan2(b, a) * 180 / .pi
        if hue < 0 { hue += 360 }
        let ink = primaries.min { angularDistance($0.hue, hue) < angularDistance($1.hue, hue) }!.ink
        if l < 52 || chroma > 62 { return Treatment(base: ink, dot: ink, coverage: 0) }
        return Treatment(base: white, dot: ink, coverage: min(0.72, max(0.18, (100 - l) / 60)))
    }

    private static func angularDistance(_ a: Float, _ b: Float) -> Float {
        let d = abs(a - b).truncatingRemainder(dividingBy: 360)
        return min(d, 360 - d)
    }
}

/// Ben-Day dots of one ink on a base colour, plus ink outlines. The dot screen is a pure
/// function of the print position at 45°, so it tiles seamlessly at any size.
struct HalftonePrint: PrintFinish {
    let pitch: Float
    let origin: (x: Float, y: Float)

    init(pitch: Float, origin: (x: Float, y: Float)) {
        self.pitch = max(pitch, 3)
        self.origin = origin
    }

    /// Share of a print pixel covered by a round dot of area `coverage` per cell, with about
    /// one print pixel of anti-aliasing at its edge.
    @inline(__always) func dot(_ u: Float, _ v: Float, coverage: Float) -> Float {
        if coverage <= 0.005 { return 0 }
        let fu = u - u.rounded(), fv = v - v.rounded()
        let distance = (fu * fu + fv * fv).squareRoot() * pitch
        let radius = pitch * (coverage / .pi).squareRoot()
        return min(max(radius - distance + 0.5, 0), 1)
    }

    func finish(row input: UnsafePointer<Float>, bands: Int, output: UnsafeMutablePointer<UInt8>, x: Int, y: Int, count: Int) {
        let inverse = 1 / pitch
        let c45: Float = 0.70710678
        let py = (Float(y) + origin.y)
        for i in 0..<count {
            let p = input + i * bands
            let px = (Float(x + i) + origin.x)
            let u = (px + py) * c45 * inverse, v = (py - px) * c45 * inverse
            let d = dot(u, v, coverage: min(max(p[6], 0), 0.78))
            let line = ComicInk.coverage(p[7], edge: ComicInk.edge, softness: ComicInk.softness)
            for c in 0..<3 {
                let colour = p[c] + (p[3 + c] - p[c]) * d
                output[3 * i + c] = byte(colour + (PopArtStyle.black.0 - colour) * line)
            }
        }
    }
}

/// k-means colour clustering in Lab on a deterministic subsample.
enum KMeans {
    static func palette(_ lab: PlanarImage, count: Int, seed: UInt32, iterations: Int = 12) -> [(Float, Float, Float)] {
        // Samples on a fixed grid: deterministic and independent of the image size.
        var samples: [(Float, Float, Float)] = []
        let step = max(1, Int((Double(lab.width * lab.height) / 40_000).squareRoot()))
        for y in stride(from: step / 2, to: lab.height, by: step) {
            for x in stride(from: step / 2, to: lab.width, by: step) {
                samples.append((lab.planes[0][x, y], lab.planes[1][x, y], lab.planes[2][x, y]))
            }
        }
        // k-means++-style seeding by lightness order keeps the result deterministic.
        let sorted = samples.sorted { $0.0 < $1.0 }
        var centres = (0..<count).map { i in sorted[min(sorted.count - 1, (2 * i + 1) * sorted.count / (2 * count))] }
        for _ in 0..<iterations {
            var sums = [(Double, Double, Double, Int)](repeating: (0, 0, 0, 0), count: count)
            for sample in samples {
                let index = nearest(sample, centres)
                sums[index].0 += Double(sample.0)
                sums[index].1 += Double(sample.1)
                sums[index].2 += Double(sample.2)
                sums[index].3 += 1
            }
            for i in 0..<count where sums[i].3 > 0 {
                let n = Double(sums[i].3)
                centres[i] = (Float(sums[i].0 / n), Float(sums[i].1 / n), Float(sums[i].2 / n))
            }
        }
        _ = seed
        return centres
    }

    @inline(__always) static func nearest(_ c: (Float, Float, Float), _ centres: [(Float, Float, Float)]) -> Int {
        var best = 0
        var bestDistance = Float.infinity
        for (i, centre) in centres.enumerated() {
            let d0 = c.0 - centre.0, d1 = c.1 - centre.1, d2 = c.2 - centre.2
            // Lightness counts double: bold pop palettes separate light from dark first.
            let distance = 2 * d0 * d0 + d1 * d1 + d2 * d2
            if distance < bestDistance {
                bestDistance = distance
                best = i
            }
        }
        return best
    }

    /// Index of the nearest palette colour per pixel.
    static func assign(_ lab: PlanarImage, palette: [(Float, Float, Float)]) -> Plane {
        let out = Plane(width: lab.width, height: lab.height)
        let w = lab.width
        Parallel.rows(lab.height) { rows in
            for y in rows {
                let l = lab.planes[0].row(y), a = lab.planes[1].row(y), b = lab.planes[2].row(y), o = out.row(y)
                for x in 0..<w { o[x] = Float(nearest((l[x], a[x], b[x]), palette)) }
            }
        }
        return out
    }
}
