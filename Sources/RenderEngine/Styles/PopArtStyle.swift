import Foundation

/// Pop art in the manner of Lichtenstein's Ben-Day prints.
///
/// Working resolution: the photo abstracted in Lab (domain transform), its lightness split into
/// four tone bands at thresholds found in the photo itself (a one-dimensional k-means seeded at
/// quantiles, so a dark forest or a pale portrait uses every band), and thick outlines from a
/// difference of Gaussians of the abstracted lightness. The picture's subject is abstracted
/// less than the rest (`Sketch.subject`). Print resolution: every pixel picks its
/// ink from its band and its hue family — black, a solid primary, Ben-Day dots of the primary on
/// white paper, or paper — so region borders, dots and lines stay crisp at every print size.
///
/// Lichtenstein printed one screen per colour, not a four-colour rosette: a single 45° screen
/// per area reads as pop art where CMYK rosettes read as newsprint.
public struct PopArtStyle: RenderStyle {
    public init() {}

    public let info = StyleInfo(
        id: uuid("550e8400-e29b-41d4-a716-446655440005"),
        slug: "pop-art",
        name: "Pop Art",
        description: "Bold flat inks, thick black outlines and big Ben-Day dots, like a 1960s comic-strip print.",
        parameters: [
            StyleParameter(
                name: "dot_size", description: "Size of the Ben-Day dots, relative to the default (a 1.3 % screen).", defaultValue: 1, minimum: 0.5,
                maximum: 2.5),
            StyleParameter(
                name: "line_weight", description: "Thickness of the black outlines, relative to the default.", defaultValue: 1, minimum: 0.5, maximum: 2.5),
        ]
    )

    /// Flat inks and thick lines need no more: the print stage draws every edge and dot at
    /// print resolution.
    public var workingShortSide: Int? { 1200 }

    /// Dot pitch in reference pixels (3 mm on a 9x12 in print).
    static let pitch = 36.0

    public func abstract(_ image: PlanarImage, context: StyleContext) throws(RenderError) -> StyledImage {
        let s = context.workingScale
        var lab = Colour.srgbToLab(image)
        lab = DomainTransform.smooth(lab, sigmaSpatial: 8 * s, sigmaRange: 12)
        // The subject is drawn from this less simplified picture.
        let closer = PlanarImage(planes: lab.planes.map { Self.gaussian($0, sigma: 1.5 * s) })
        lab = DomainTransform.smooth(lab, sigmaSpatial: 24 * s, sigmaRange: 10)
        // Rounded, simple shapes: no patch of ink smaller than a few dots (texture such as fur,
        // gravel or leaves would otherwise print as speckle).
        lab = PlanarImage(planes: lab.planes.map { Self.gaussian($0, sigma: 4.5 * s) })
        // The subject is abstracted less: in blind rounds 93–95 pets, birds and still lifes kept
        // their features and pop art rose +0.16 … +0.18 each time.
        let subject = Sketch.subject(image, grey: PlaneMath.map(closer.planes[0]) { $0 / 100 }, context: context).subject
        for c in 0..<3 {
            let simple = lab.planes[c], close = closer.planes[c]
            Parallel.rows(lab.height) { rows in
                for y in rows {
                    let o = simple.row(y), d = close.row(y), k = subject.row(y)
                    for x in 0..<lab.width { o[x] += (d[x] - o[x]) * k[x] }
                }
            }
        }
        // Outlines of the shapes that survive the abstraction, not of texture: at most the
        // strongest 13 % of the picture is line (at the default weight).
        let weight = context.parameters["line_weight"]
        let lines = Self.lineField(lab.planes[0], sigma: 3.9 * s * weight)
        let lineEdge = min(-0.004, Self.quantile(lines, Float(min(0.25, 0.13 * weight))))

        let bands = Self.toneThresholds(lab.planes[0])
        let neutral = Self.neutralChroma(lab)
        // No islands of a tone band smaller than about half a dot cell: gravel, leaves and fur
        // print as calm shapes, not speckle. On the subject only islands under a sixth of a
        // cell go, so a dog's curls, eyes and muzzle keep their shapes.
        let cell = Self.pitch * context.parameters["dot_size"] * s
        let calm = Self.majorityBands(lab.planes[0], thresholds: bands, radius: max(1, Int((0.25 * cell).rounded())))
        let fine = Self.majorityBands(lab.planes[0], thresholds: bands, radius: max(1, Int((0.08 * cell).rounded())))
        Parallel.rows(lab.height) { rows in
            for y in rows {
                let c = calm.row(y), f = fine.row(y), k = subject.row(y)
                for x in 0..<lab.width where k[x] > 0.5 { c[x] = f[x] }
            }
        }
        lab.planes[0] = calm
        let pitch = Float(Self.pitch * context.parameters["dot_size"] * context.printScale)
        let finish = HalftonePrint(pitch: pitch, origin: context.printAnchor, thresholds: bands, neutralChroma: neutral, lineEdge: lineEdge)
        return StyledImage(planes: PlanarImage(planes: lab.planes + [lines]), finish: finish)
    }

    /// Three lightness thresholds between four tone bands, from the photo's own tones: halfway
    /// between the 15th, 42nd and 75th percentiles (every band gets its share of the picture)
    /// and the borders of Lloyd's one-dimensional k-means seeded near them (thresholds between
    /// the photo's clusters of tone, not across a flat area). A photo with almost no tonal range
    /// falls back to fixed bands.
    static func toneThresholds(_ lightness: Plane) -> [Float] {
        var samples: [Float] = []
        let step = max(1, Int((Double(lightness.count) / 40_000).squareRoot()))
        for y in stride(from: step / 2, to: lightness.height, by: step) {
            for x in stride(from: step / 2, to: lightness.width, by: step) { samples.append(lightness[x, y]) }
        }
        samples.sort()
        func at(_ q: Float) -> Float { samples[min(samples.count - 1, Int(Float(samples.count) * q))] }
        let fixed: [Float] = [22, 45, 90]
        let range = at(0.98) - at(0.02)
        guard range > 12 else { return fixed }
        let quantiles = [at(0.15), at(0.42), at(0.75)]
        var centres = [at(0.12), at(0.35), at(0.62), at(0.88)]
        for _ in 0..<20 {
            var sums = [Double](repeating: 0, count: 4), counts = [Int](repeating: 0, count: 4)
            for v in samples {
                var best = 0
                for k in 1..<4 where abs(v - centres[k]) < abs(v - centres[best]) { best = k }
                sums[best] += Double(v)
                counts[best] += 1
            }
            for k in 0..<4 where counts[k] > 0 { centres[k] = Float(sums[k] / Double(counts[k])) }
            centres.sort()
        }
        // Bands at least 8 L apart, so noise in a flat area never flips between them.
        var thresholds: [Float] = []
        for k in 0..<3 {
            let border: Float = (centres[k] + centres[k + 1]) / 2
            thresholds.append((border + quantiles[k]) / 2)
        }
        for k in 1..<3 { thresholds[k] = max(thresholds[k], thresholds[k - 1] + 8) }
        return thresholds
    }

    /// A Gaussian blur that stays exact at the small σ of a small working image (the box
    /// cascade of `Blur.gaussian` rounds σ below about 2 px to a few discrete widths, which
    /// would make the two Gaussians of the line field equal).
    static func gaussian(_ plane: Plane, sigma: Double) -> Plane {
        guard sigma < 2.5 else { return Blur.gaussian(plane, sigma: sigma) }
        let radius = Int((3 * sigma).rounded(.up))
        var weights = (-radius...radius).map { Float(exp(-Double($0 * $0) / (2 * sigma * sigma))) }
        let total = weights.reduce(0, +)
        weights = weights.map { $0 / total }
        let w = plane.width, h = plane.height
        let horizontal = Plane(width: w, height: h)
        Parallel.rows(h) { rows in
            for y in rows {
                let src = plane.row(y), dst = horizontal.row(y)
                for x in 0..<w {
                    var sum: Float = 0
                    for k in -radius...radius { sum += weights[k + radius] * src[min(max(x + k, 0), w - 1)] }
                    dst[x] = sum
                }
            }
        }
        let out = Plane(width: w, height: h)
        Parallel.rows(h) { rows in
            for y in rows {
                let dst = out.row(y)
                for x in 0..<w { dst[x] = 0 }
                for k in -radius...radius {
                    let src = horizontal.row(min(max(y + k, 0), h - 1)), weight = weights[k + radius]
                    for x in 0..<w { dst[x] += weight * src[x] }
                }
            }
        }
        return out
    }

    /// Replaces each pixel's tone band by the most common band in the (2r+1)² window around it
    /// (ties keep the pixel's own); a pixel that changes band gets the middle lightness of its
    /// new band, so the print stage's thresholds draw the cleaned shapes.
    static func majorityBands(_ lightness: Plane, thresholds: [Float], radius: Int) -> Plane {
        let w = lightness.width, h = lightness.height
        @inline(__always) func band(_ l: Float) -> Int { l < thresholds[0] ? 0 : l < thresholds[1] ? 1 : l < thresholds[2] ? 2 : 3 }
        let counts = (0..<4).map { k in
            Blur.box(PlaneMath.map(lightness) { band($0) == k ? 1 : 0 }, radius: radius)
        }
        let middle: [Float] = [thresholds[0] - 6, (thresholds[0] + thresholds[1]) / 2, (thresholds[1] + thresholds[2]) / 2, thresholds[2] + 6]
        let out = Plane(width: w, height: h)
        Parallel.rows(h) { rows in
            for y in rows {
                let l = lightness.row(y), o = out.row(y)
                let c = counts.map { $0.row(y) }
                for x in 0..<w {
                    let own = band(l[x])
                    var best = own
                    for k in 0..<4 where c[k][x] > c[best][x] + 1e-4 { best = k }
                    o[x] = best == own ? l[x] : middle[best]
                }
            }
        }
        return out
    }

    /// The `q`-quantile of a plane's samples, from a fixed subsample.
    static func quantile(_ plane: Plane, _ q: Float) -> Float {
        var samples: [Float] = []
        let step = max(1, Int((Double(plane.count) / 40_000).squareRoot()))
        for y in stride(from: step / 2, to: plane.height, by: step) {
            for x in stride(from: step / 2, to: plane.width, by: step) { samples.append(plane[x, y]) }
        }
        samples.sort()
        return samples[min(samples.count - 1, Int(Float(samples.count) * q))]
    }

    /// Chroma below which a colour counts as grey: a third of the photo's 90th percentile of
    /// chroma, at least 7 and at most 18, so a muted photo still shows its hues.
    static func neutralChroma(_ lab: PlanarImage) -> Float {
        var chroma: [Float] = []
        let step = max(1, Int((Double(lab.width * lab.height) / 20_000).squareRoot()))
        for y in stride(from: step / 2, to: lab.height, by: step) {
            for x in stride(from: step / 2, to: lab.width, by: step) {
                let a = lab.planes[1][x, y], b = lab.planes[2][x, y]
                chroma.append((a * a + b * b).squareRoot())
            }
        }
        chroma.sort()
        return min(max(chroma[chroma.count * 9 / 10] / 3, 7), 18)
    }

    /// D = G_σ − G_1.6σ of lightness (0...1): negative on the dark side of an edge.
    static func lineField(_ lightness: Plane, sigma: Double) -> Plane {
        let luminance = PlaneMath.map(lightness) { $0 / 100 }
        let narrow = Self.gaussian(luminance, sigma: max(0.5, sigma))
        let wide = Self.gaussian(luminance, sigma: max(0.5, sigma) * 1.6)
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
}

/// The pop-art print: per pixel, the ink from the tone band and hue family, Ben-Day dots on a
/// 45° screen that is a pure function of the print position (seamless, the same at any size),
/// and black outlines thresholded from the line field.
struct HalftonePrint: PrintFinish {
    let pitch: Float
    let origin: (x: Float, y: Float)
    /// Lightness thresholds between the four tone bands.
    let thresholds: [Float]
    let neutralChroma: Float
    /// Chroma above which a dark colour is printed as its ink rather than as black.
    let vividChroma: Float
    /// Chroma above which the lightest warm band is dotted rather than paper.
    let tintChroma: Float

    /// Ink where the line field falls below `lineEdge`, smooth over `lineSoftness`.
    let lineEdge: Float
    let lineSoftness: Float

    init(pitch: Float, origin: (x: Float, y: Float), thresholds: [Float], neutralChroma: Float, lineEdge: Float) {
        self.pitch = max(pitch, 3)
        self.lineEdge = lineEdge
        self.lineSoftness = -lineEdge * 0.3
        self.origin = origin
        self.thresholds = thresholds
        self.neutralChroma = neutralChroma
        vividChroma = max(2 * neutralChroma, 22)
        tintChroma = max(1.6 * neutralChroma, 16)
    }

    typealias Ink = (Float, Float, Float)
    static let black: Ink = (0.07, 0.07, 0.09)
    static let paper: Ink = (0.99, 0.98, 0.95)
    static let red: Ink = (0.89, 0.12, 0.15)
    static let yellow: Ink = (0.99, 0.85, 0.10)
    static let green: Ink = (0.08, 0.60, 0.34)
    static let blue: Ink = (0.08, 0.40, 0.80)

    /// How one tone band of one hue family prints: a base ink, and dots of another ink.
    struct Treatment {
        var base: Ink
        var dot: Ink = HalftonePrint.paper
        var coverage: Float = 0
    }

    /// Darkest band first. Light warm colours (skin) are red dots on white, as in Lichtenstein;
    /// yellows stay yellow however light; greys are blue dots, the comic-book grey.
    static let ladders: [[Treatment]] = [
        // red, orange, brown, skin, pink
        [Treatment(base: black), Treatment(base: red), Treatment(base: paper, dot: red, coverage: 0.42), Treatment(base: paper, dot: red, coverage: 0.2)],
        // yellow
        [
            Treatment(base: black), Treatment(base: yellow, dot: red, coverage: 0.42), Treatment(base: yellow),
            Treatment(base: paper, dot: yellow, coverage: 0.5),
        ],
        // green
        [
            Treatment(base: black), Treatment(base: green), Treatment(base: yellow, dot: green, coverage: 0.42),
            Treatment(base: paper, dot: green, coverage: 0.3),
        ],
        // blue, violet
        [Treatment(base: black), Treatment(base: blue), Treatment(base: paper, dot: blue, coverage: 0.45), Treatment(base: paper, dot: blue, coverage: 0.22)],
        // grey
        [Treatment(base: black), Treatment(base: blue), Treatment(base: paper, dot: blue, coverage: 0.38), Treatment(base: paper)],
    ]

    /// Darkest band of a vivid colour: its ink under black dots.
    static let shaded: [Treatment] = [red, yellow, green, blue].map { Treatment(base: $0, dot: black, coverage: 0.5) }

    /// Hue family from Lab a, b: 0 red (incl. skin, orange and magenta, hue 305°…80°), 1 yellow
    /// (80°…112°), 2 green (112°…200°), 3 blue and violet (200°…305°), 4 grey. Sector tests by
    /// the sign of cross products with the borders (each sector is under 180°), no atan2.
    @inline(__always) func family(_ a: Float, _ b: Float) -> Int {
        if a * a + b * b < neutralChroma * neutralChroma { return 4 }
        @inline(__always) func leftOf(_ border: (Float, Float)) -> Bool { border.0 * b - border.1 * a >= 0 }
        let yellow = leftOf(Self.borders[0]), green = leftOf(Self.borders[1]), blue = leftOf(Self.borders[2]), red = leftOf(Self.borders[3])
        if yellow && !green { return 1 }
        if green && !blue { return 2 }
        if blue && !red { return 3 }
        return 0
    }

    /// Unit vectors of the hue borders at 80°, 112°, 200° and 305°.
    static let borders: [(Float, Float)] = [80, 112, 200, 305].map { (cos(Float($0) * .pi / 180), sin(Float($0) * .pi / 180)) }

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
        let py = Float(y) + origin.y
        let (t0, t1, t2) = (thresholds[0], thresholds[1], thresholds[2])
        for i in 0..<count {
            let p = input + i * bands
            let px = Float(x + i) + origin.x
            let l = p[0]
            let band = l < t0 ? 0 : l < t1 ? 1 : l < t2 ? 2 : 3
            let hueFamily = family(p[1], p[2])
            var treatment = Self.ladders[hueFamily][band]
            // A strongly coloured subject in the darkest band (a red flower, a brown dog) keeps
            // its ink, shaded with black dots, instead of sinking into a black shape.
            if band == 0 && hueFamily < 4 && l > 10 && p[1] * p[1] + p[2] * p[2] > vividChroma * vividChroma {
                treatment = Self.shaded[hueFamily]
            }
            // The lightest warm band is paper, except where it is clearly tinted: light skin is
            // sparse red dots on white (Lichtenstein), a white cat's chest stays white.
            if band == 3 && hueFamily == 0 && p[1] * p[1] + p[2] * p[2] < tintChroma * tintChroma {
                treatment = Treatment(base: Self.paper)
            }
            let u = (px + py) * c45 * inverse, v = (py - px) * c45 * inverse
            let d = dot(u, v, coverage: treatment.coverage)
            let t = min(max((lineEdge - p[3]) / lineSoftness + 0.5, 0), 1)
            let line = t * t * (3 - 2 * t)
            let base = treatment.base, ink = treatment.dot
            let colour = (base.0 + (ink.0 - base.0) * d, base.1 + (ink.1 - base.1) * d, base.2 + (ink.2 - base.2) * d)
            output[3 * i] = Self.byte(colour.0 + (Self.black.0 - colour.0) * line)
            output[3 * i + 1] = Self.byte(colour.1 + (Self.black.1 - colour.1) * line)
            output[3 * i + 2] = Self.byte(colour.2 + (Self.black.2 - colour.2) * line)
        }
    }

    @inline(__always) private static func byte(_ v: Float) -> UInt8 {
        UInt8(min(max(v * 255 + 0.5, 0), 255))
    }
}
