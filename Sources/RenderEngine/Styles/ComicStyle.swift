import Foundation

/// Comic / cartoon: clean ink outlines of one weight on the contours of shapes, flat cel
/// shading in a few tones, bold colour, spot blacks in the deepest shadows.
///
/// Working resolution (after Winnemöller, Olsen and Gooch, SIGGRAPH 2006): the photo in Lab
/// flattened by strong edge-preserving smoothing (domain transform) until texture — grass,
/// gravel, fur — is gone and only shapes remain; chroma boosted. Outlines come from a
/// difference of Gaussians of the lightly smoothed lightness, smoothed along the edge flow and
/// normalised on their ridges so every line has the same weight; lines in crowded texture are
/// dropped, lines on faces kept. Print resolution: the lightness is cut into a few flat tones
/// and the outline field thresholded per print pixel, so tone borders and ink stay crisp and
/// anti-aliased however much the print is enlarged. The shade tone of a lit colour is hatched
/// in ink, as an inker models form, the lines thickening as the shade deepens.
public struct ComicStyle: RenderStyle {
    public init() {}

    public let info = StyleInfo(
        id: uuid("550e8400-e29b-41d4-a716-446655440004"),
        slug: "comic",
        name: "Comic",
        description: "Flat cel-shaded colour in a few tones with clean black ink outlines and hatched shade.",
        parameters: [
            StyleParameter(
                name: "line_weight", description: "Thickness of the ink outlines and hatching, relative to the default.", defaultValue: 1, minimum: 0.5,
                maximum: 2.5),
            StyleParameter(name: "colour_levels", description: "Number of flat tones the lightness is cut into.", defaultValue: 3, minimum: 2, maximum: 5),
        ]
    )

    /// Tone borders and ink are cut at print resolution; shapes need no more than this.
    public var workingShortSide: Int? { 1000 }

    /// The palette and tone cuts come from the whole photo, so every print size of it gets the same colours.
    public var overviewLongSide: Int? { 320 }

    public func abstract(_ image: PlanarImage, context: StyleContext) throws(RenderError) -> StyledImage {
        let s = context.workingScale
        let levels = Int(context.parameters["colour_levels"].rounded())
        let weight = Float(context.parameters["line_weight"])

        var lab = Colour.srgbToLab(image)
        lab = DomainTransform.smooth(lab, sigmaSpatial: 4 * s, sigmaRange: 8)
        let lineLightness = PlaneMath.map(lab.planes[0]) { $0 / 100 }
        let w = lab.width, h = lab.height
        // What stands out from the picture towards its centre (the subject), and where skin is;
        // both get a face's licence below.
        let (subject, skin) = Sketch.subject(image, grey: lineLightness, context: context)

        // Flat shapes: texture smoothed away inside regions, their borders kept; where edges
        // crowd (grass, gravel, foliage) the colour is simply averaged.
        var flat = DomainTransform.smooth(lab, sigmaSpatial: 24 * s, sigmaRange: 12)
        flat = DomainTransform.smooth(flat, sigmaSpatial: 12 * s, sigmaRange: 8)
        // Smooth iso-lines for the tone cuts: wide smoothing that stops at real edges.
        flat = DomainTransform.smooth(flat, sigmaSpatial: 40 * s, sigmaRange: 5)
        // Texture: fine lightness detail (the photo minus its 3 px blur), averaged over a
        // neighbourhood; a lone edge has little of it, gravel and leaves much.
        let fine = lab.planes[0], coarse = Blur.gaussian(lab.planes[0], sigma: max(0.7, 3 * s))
        let detail = Plane(width: w, height: h)
        Parallel.rows(h) { rows in
            for y in rows {
                let f = fine.row(y), c = coarse.row(y), o = detail.row(y)
                for x in 0..<w { o[x] = abs(f[x] - c[x]) }
            }
        }
        let detailEnergy = Blur.gaussian(detail, sigma: max(2, 20 * s))
        let texture = PlaneMath.map(detailEnergy) { smoothstep(1.5, 3.5, $0) }
        // Skin-coloured texture (tabby fur, wood grain) is not a face: it gets no licence to crowd.
        let smoothSkin = PlaneMath.combine(skin, detailEnergy) { k, e in k * smoothstep(4.5, 2.5, e) }
        // The subject (what stands out from the picture, towards its centre) gets a face's
        // licence below: short contours and small shapes kept, so a dog's eyes and muzzle, a
        // ladybird or a fig's seeds read. Without it comic subjects were "lost in blotches" and
        // "unreadable" (blind round 91: +0.46, 24 photos better and 6 worse).
        let licence = PlaneMath.combine(smoothSkin, subject) { max($0, $1) }
        // Only long contours are inked: short ones (ripples, grass, feather flecks) read as
        // stray dashes (blind round 11: "flat blocks with stray outlines"). Faces and the
        // subject keep their short features (eyes, nostrils, the line of a smile), a little
        // bolder: without them a face was "a flat pink blob with barely any features" (blind
        // round 17).
        let lines = Sketch.contourField(
            lineLightness, importance: nil, skin: licence, sigma: 2.2 * s * Double(ComicOutline.spread(weight)), scale: s,
            texture: PlaneMath.map(detailEnergy) { smoothstep(2.2, 4.5, $0) }, chroma: (lab.planes[1], lab.planes[2]), chromaWeight: 0.006, minimumLength: 130,
            face: (minimumLength: 45, gain: 0.3))
        for c in 0..<3 {
            let plane = flat.planes[c]
            let averaged = Blur.gaussian(plane, sigma: max(1, 16 * s))
            Parallel.rows(h) { rows in
                for y in rows {
                    let o = plane.row(y), m = averaged.row(y), t = texture.row(y), k = skin.row(y)
                    for x in 0..<w { o[x] += (m[x] - o[x]) * 0.6 * t[x] * (1 - min(1, 1.5 * k[x])) }
                }
            }
        }
        // A face is one colour in a few lights: its chroma is the skin's average around it, so a
        // reddened shadow (nose fold, eye socket) is a shade of the skin, not a patch of the
        // flag's red (blind round 12: "faces in red and grey patches").
        let skinWeight = PlaneMath.map(smoothSkin) { smoothstep(0.2, 0.6, $0) }
        let skinMass = Blur.gaussian(skinWeight, sigma: Double(min(w, h)) * 0.03)
        for c in 1..<3 {
            let plane = flat.planes[c]
            let average = Blur.gaussian(PlaneMath.combine(plane, skinWeight) { $0 * $1 }, sigma: Double(min(w, h)) * 0.03)
            Parallel.rows(h) { rows in
                for y in rows {
                    let o = plane.row(y), m = average.row(y), k = skinWeight.row(y), n = skinMass.row(y)
                    for x in 0..<w where k[x] > 0 && n[x] > 0.05 { o[x] += (m[x] / n[x] - o[x]) * k[x] }
                }
            }
        }
        guard let overview = context.overview else {
            throw RenderError(.internalFailure, "The comic style needs the photo's overview")
        }
        // The overview flattened like the working image (its own scale), then both stretched alike.
        let o = Double(min(overview.width, overview.height)) / StyleContext.referenceShortSide
        var whole = DomainTransform.smooth(Colour.srgbToLab(overview), sigmaSpatial: 24 * o, sigmaRange: 12)
        whole = DomainTransform.smooth(whole, sigmaSpatial: 40 * o, sigmaRange: 5)
        let stretch = LightnessStretch(whole.planes[0])
        stretch.apply(to: whole.planes[0])
        stretch.apply(to: flat.planes[0])
        let palette = ComicPalette(whole, count: 10, levels: levels, boost: 1.75, skinBoost: 1.4)
        palette.removeSpecks(flat, licence: licence, minimumArea: max(16, Int(0.002 * Double(w * h))))
        // Round off the pixel steps the clean-up left, so cut borders stay smooth when enlarged.
        flat = PlanarImage(planes: flat.planes.map { SketchFlow.gaussian($0, sigma: 0.8) })

        let gradient = Gradient.sobelMagnitude(flat.planes[0])
        let perReference = Float(s)
        Parallel.rows(h) { rows in
            for y in rows {
                let g = gradient.row(y)
                for x in 0..<w { g[x] *= perReference }
            }
        }
        // Outlines round every colour shape: a ridge on the borders between hues (not between
        // the cel tones of one hue), cut at one level at print resolution so it has one weight.
        let borders = palette.hueBorders(flat, skin: skin, sigma: Double(ComicOutline.borderSigma(workingScale: Float(s), weight: weight)), scale: s)
        // The print stage takes at most 8 bands: texture and skin share one, skin negative.
        let textureOrSkin = PlaneMath.combine(texture, skinWeight) { $0 - $1 }
        let planes = [flat.planes[0], flat.planes[1], flat.planes[2], lines.shape, lines.strength, gradient, borders, textureOrSkin]
        let finish = CelInk(
            printScale: Float(context.printScale), origin: context.printAnchor, palette: palette, lineWeight: weight, workingScale: Float(s))
        return StyledImage(planes: PlanarImage(planes: planes), finish: finish)
    }
}

/// The comic's colours: a few hues (k-means on the flattened photo, lightness weighted in
/// lightly so a colour's lit and shaded parts stay one colour), each with `levels` flat tones
/// cut at quantiles of its own lightness: cel shading per colour region.
struct ComicPalette: Sendable {
    struct Hue: Sendable {
        var lightness: Float, a: Float, b: Float
        /// The cluster's own chroma (before the boost), what pixels are matched against.
        var centreA: Float, centreB: Float
        /// Lightness cuts between tones, and the lightness of each tone.
        var cuts: [Float]
        var tones: [Float]
        /// Each tone's sRGB colour (0...1). A shade tone keeps the hue but not its full chroma
        /// (at a lower lightness the same chroma reads as a hotter colour: skin shadows turned
        /// into red patches), and a light tone pales towards white, as a colourist's shades do.
        var rgb: [(Float, Float, Float)] {
            tones.map { tone in
                let chroma = tone < lightness ? max(0.45, pow(tone / max(lightness, 1), 1.2)) : 1 - 0.35 * smoothstep(lightness, 98, tone)
                return Colour.labToSrgb(lightness: tone, a: a * chroma, b: b * chroma)
            }
        }
    }

    var hues: [Hue]
    /// Below this lightness shadows are solid ink (spot blacks).
    var black: Float
    static let lightWeight: Float = 0.5

    /// `boost` multiplies each colour's chroma; colours of skin's hues (Lab hue 22°–68°) get
    /// `skinBoost`. Bolder colour won its paired check 15 of 20 ("dull, muddy" against "bold,
    /// clean"), but only once skin kept the lesser boost: faces had turned "a garish orange".
    init(_ lab: PlanarImage, count: Int, levels: Int, boost: Float, skinBoost: Float) {
        let (pl, pa, pb) = (lab.planes[0], lab.planes[1], lab.planes[2])
        var samples: [(Float, Float, Float)] = []
        let step = max(1, Int((Double(lab.width * lab.height) / 40_000).squareRoot()))
        for y in stride(from: step / 2, to: lab.height, by: step) {
            for x in stride(from: step / 2, to: lab.width, by: step) {
                samples.append((pl[x, y] * Self.lightWeight, pa[x, y], pb[x, y]))
            }
        }
        // Deterministic seeding: samples spread in hue order, then Lloyd iterations.
        let sorted = samples.sorted { atan2($0.2, $0.1) < atan2($1.2, $1.1) }
        var centres = (0..<count).map { i in sorted[min(sorted.count - 1, (2 * i + 1) * sorted.count / (2 * count))] }
        // Colours that stand out from the picture's mean (a small bird on bark) pull harder, so
        // a small subject keeps its own ink instead of merging into the background's.
        let mean = samples.reduce((Float(0), Float(0), Float(0))) { ($0.0 + $1.0, $0.1 + $1.1, $0.2 + $1.2) }
        let n = Float(max(samples.count, 1))
        let weights = samples.map { sample -> Double in
            let d = ((sample.1 - mean.1 / n) * (sample.1 - mean.1 / n) + (sample.2 - mean.2 / n) * (sample.2 - mean.2 / n)).squareRoot()
            return 1 + 4 * Double(smoothstep(15, 40, d))
        }
        for _ in 0..<12 {
            var sums = [(Double, Double, Double, Double)](repeating: (0, 0, 0, 0), count: count)
            for (sample, weight) in zip(samples, weights) {
                let k = Self.nearest(sample, centres).0
                sums[k].0 += weight * Double(sample.0)
                sums[k].1 += weight * Double(sample.1)
                sums[k].2 += weight * Double(sample.2)
                sums[k].3 += weight
            }
            for k in 0..<count where sums[k].3 > 0 {
                let n = sums[k].3
                centres[k] = (Float(sums[k].0 / n), Float(sums[k].1 / n), Float(sums[k].2 / n))
            }
        }
        var members = [[Float]](repeating: [], count: count)
        for sample in samples { members[Self.nearest(sample, centres).0].append(sample.0 / Self.lightWeight) }
        var hues: [Hue] = []
        for k in 0..<count {
            let angle = atan2(centres[k].2, centres[k].1) * 180 / .pi
            let skinHue = smoothstep(22, 32, angle) * smoothstep(68, 58, angle)
            let boost = boost + (skinBoost - boost) * skinHue
            let values = members[k].sorted()
            let lightness = centres[k].0 / Self.lightWeight
            guard values.count > 4 else {
                hues.append(
                    Hue(
                        lightness: lightness, a: centres[k].1 * boost, b: centres[k].2 * boost, centreA: centres[k].1, centreB: centres[k].2, cuts: [],
                        tones: [lightness]))
                continue
            }
            func quantile(_ q: Float) -> Float { values[min(values.count - 1, Int(q * Float(values.count)))] }
            // Cuts at quantiles of this colour's lightness, but never closer than 14 L: a
            // colour with little shading keeps fewer tones instead of blotches.
            // A dark colour (a navy suit, black fur) gets one light and one shade: more tones
            // in the dark read as camouflage blotches, not shading (blind rounds 11 and 12).
            let toneCount = lightness < 32 ? min(levels, 2) : levels
            var cuts: [Float] = []
            for i in 1..<toneCount {
                let cut = quantile(Float(i) / Float(toneCount))
                if let last = cuts.last, cut - last < 14 { continue }
                if cut - quantile(0.03) < 7 || quantile(0.97) - cut < 7 { continue }
                cuts.append(cut)
            }
            // Each tone the median of its band, steps at least 12 L apart.
            let bounds = [quantile(0)] + cuts + [quantile(1)]
            var tones: [Float] = []
            for i in 0..<(cuts.count + 1) {
                let inside = values.filter { $0 >= bounds[i] && $0 <= bounds[i + 1] }
                tones.append(inside.isEmpty ? 0.5 * (bounds[i] + bounds[i + 1]) : inside[inside.count / 2])
            }
            for i in stride(from: tones.count - 2, through: 0, by: -1) { tones[i] = min(tones[i], tones[i + 1] - 12) }
            tones = tones.map { min(98, max(5, $0)) }
            hues.append(
                Hue(
                    lightness: lightness, a: centres[k].1 * boost, b: centres[k].2 * boost, centreA: centres[k].1, centreB: centres[k].2, cuts: cuts,
                    tones: tones))
        }
        self.hues = hues
        black = min(Sketch.percentile(pl, 0.03) + 2, 20)
    }

    /// Index of the nearest centre and the distances to the nearest and second nearest.
    @inline(__always) static func nearest(_ p: (Float, Float, Float), _ centres: [(Float, Float, Float)]) -> (Int, Float, Int, Float) {
        var best = 0, second = 0
        var bestDistance = Float.infinity, secondDistance = Float.infinity
        for (k, c) in centres.enumerated() {
            let d = (p.0 - c.0) * (p.0 - c.0) + (p.1 - c.1) * (p.1 - c.1) + (p.2 - c.2) * (p.2 - c.2)
            if d < bestDistance {
                second = best
                secondDistance = bestDistance
                bestDistance = d
                best = k
            } else if d < secondDistance {
                secondDistance = d
                second = k
            }
        }
        return (best, bestDistance, second, secondDistance)
    }

    var centres: [(Float, Float, Float)] { hues.map { ($0.lightness * Self.lightWeight, $0.centreA, $0.centreB) } }

    /// Hue and tone of a Lab colour, as one label (hue × 8 + tone), or −1 for spot black.
    @inline(__always) func label(_ l: Float, _ a: Float, _ b: Float, centres: [(Float, Float, Float)]) -> Int32 {
        if l < black { return -1 }
        let k = Self.nearest((l * Self.lightWeight, a, b), centres).0
        var tone = 0
        for cut in hues[k].cuts where l >= cut { tone += 1 }
        return Int32(k * 8 + tone)
    }

    /// The hue-and-tone label of every pixel (see `label`), row-major.
    func labels(_ pl: Plane, _ pa: Plane, _ pb: Plane) -> [Int32] {
        let w = pl.width, centres = self.centres
        var labels = [Int32](repeating: 0, count: w * pl.height)
        labels.withUnsafeMutableBufferPointer { buffer in
            let out = UncheckedSendable(buffer)
            Parallel.rows(pl.height) { rows in
                for y in rows {
                    let l = pl.row(y), a = pa.row(y), b = pb.row(y)
                    for x in 0..<w { out.value[y * w + x] = label(l[x], a[x], b[x], centres: centres) }
                }
            }
        }
        return labels
    }

    /// Removes specks of flat colour: regions of one hue and tone smaller than `minimumArea`
    /// working pixels take the surrounding colour. The planes are nudged, not repainted: a
    /// relabelled pixel (and its neighbours within 2 px) gets its new hue's chroma and a
    /// lightness inside its new tone, so the print-resolution cut follows the cleaned map.
    func removeSpecks(_ lab: PlanarImage, licence: Plane, minimumArea: Int) {
        let w = lab.width, h = lab.height
        let (pl, pa, pb) = (lab.planes[0], lab.planes[1], lab.planes[2])
        var labels = self.labels(pl, pa, pb)
        let changed = labels.withUnsafeMutableBufferPointer { buffer in
            // Faces and the subject keep their small features (pupils, nostrils): a tenth of the
            // area where `licence` (skin, or the subject) is above one half.
            CelRegions.removeIslands(
                buffer, width: w, height: h,
                minimumArea: { pixel in licence[pixel % w, pixel / w] > 0.5 ? minimumArea / 10 : minimumArea },
                blendArea: Self.blendArea, alike: { self.colourDistance($0, $1) < Self.alikeDistance })
        }
        let touched = Plane(width: w, height: h)
        for y in 0..<h {
            let t = touched.row(y)
            for x in 0..<w where changed[y * w + x] { t[x] = 1 }
        }
        let near = SketchFlow.maximum(touched, radius: 2)
        Parallel.rows(h) { rows in
            for y in rows {
                let l = pl.row(y), a = pa.row(y), b = pb.row(y), t = near.row(y)
                for x in 0..<w where t[x] > 0 {
                    let label = labels[y * w + x]
                    guard label >= 0 else {
                        l[x] = min(l[x], black - 3)
                        continue
                    }
                    let hue = hues[Int(label) / 8], tone = Int(label) % 8
                    let low = tone > 0 ? hue.cuts[tone - 1] + 3 : -Float.infinity
                    let high = tone < hue.cuts.count ? hue.cuts[tone] - 3 : Float.infinity
                    l[x] = max(black + 3, min(max(l[x], low), high))
                    a[x] = hue.centreA
                    b[x] = hue.centreB
                }
            }
        }
    }

    /// Patches up to this many times the speck area merge into their surround when their flat
    /// colours are closer than `alikeDistance` (ΔE): posterised shading, not a shape. The speck
    /// area is 0.2 % of the picture and ΔE 22 (were 0.08 % and 16): the patches between were the
    /// camouflage of fur, suits and bark (blind round 13).
    static let blendArea = 6
    static let alikeDistance: Float = 22

    /// The flat Lab colour of a label (−1: spot black).
    func flatColour(_ label: Int32) -> (Float, Float, Float) {
        guard label >= 0 else { return (3, 0, 0) }
        let hue = hues[Int(label) / 8]
        return (hue.tones[min(Int(label) % 8, hue.tones.count - 1)], hue.a, hue.b)
    }

    /// ΔE between the flat colours of two labels.
    func colourDistance(_ p: Int32, _ q: Int32) -> Float {
        let c = flatColour(p), d = flatColour(q)
        return ((c.0 - d.0) * (c.0 - d.0) + (c.1 - d.1) * (c.1 - d.1) + (c.2 - d.2) * (c.2 - d.2)).squareRoot()
    }

    /// A ridge (1 at its crest) on the borders between colour shapes of clearly different hue
    /// (ΔE of the hue colours ≥ 22) or between a hue and spot black, blurred by `sigma` working px.
    /// None inside faces (a lit cheek is not a shape) nor where borders crowd (foliage, gravel);
    /// only where they really crowd, so a patterned subject (a speckled bird) keeps its outline.
    func hueBorders(_ lab: PlanarImage, skin: Plane, sigma: Double, scale: Double) -> Plane {
        let w = lab.width, h = lab.height
        // Labels of the colours softened over ~12 reference px: slivers and flecks (sky seen
        // through leaves) merge into their surroundings and get no outline.
        let soft = max(1.5, 4.5 * scale)
        let labels = self.labels(
            SketchFlow.gaussian(lab.planes[0], sigma: soft), SketchFlow.gaussian(lab.planes[1], sigma: soft), SketchFlow.gaussian(lab.planes[2], sigma: soft))
        func differ(_ p: Int32, _ q: Int32) -> Bool {
            guard p != q, p < 0 || q < 0 || p / 8 != q / 8 else { return false }
            return colourDistance(p, q) >= 22
        }
        let border = Plane(width: w, height: h)
        for y in 0..<h {
            let o = border.row(y)
            let below = y + 1 < h ? border.row(y + 1) : nil
            for x in 0..<w {
                let p = labels[y * w + x]
                if x + 1 < w, differ(p, labels[y * w + x + 1]) {
                    o[x] = 1
                    o[x + 1] = 1
                }
                if let below, differ(p, labels[(y + 1) * w + x]) {
                    o[x] = 1
                    below[x] = 1
                }
            }
        }
        let crowding = Blur.gaussian(border, sigma: max(4, 30 * scale))
        Parallel.rows(h) { rows in
            for y in rows {
                let o = border.row(y), c = crowding.row(y), k = skin.row(y)
                for x in 0..<w { o[x] *= (1 - smoothstep(0.26, 0.5, c[x])) * (1 - smoothstep(0.25, 0.6, k[x])) }
            }
        }
        let ridge = SketchFlow.gaussian(border, sigma: sigma)
        // A straight two-pixel border blurred by σ peaks at about erf(1 / (σ√2)).
        let crest = Float(erf(1 / (sigma * 2.0.squareRoot())))
        return PlaneMath.map(ridge) { min(1, $0 / crest) }
    }

    /// The flat sRGB colour of hue `k` for lightness `l`, tone borders `soft` L units wide.
    @inline(__always) static func colour(_ hue: Hue, _ rgb: [(Float, Float, Float)], lightness l: Float, soft: Float) -> (Float, Float, Float) {
        var c = rgb[0]
        for (i, cut) in hue.cuts.enumerated() {
            let t = smoothstep(cut - soft, cut + soft, l)
            guard t > 0 else { break }
            c.0 += (rgb[i + 1].0 - rgb[i].0) * t
            c.1 += (rgb[i + 1].1 - rgb[i].1) * t
            c.2 += (rgb[i + 1].2 - rgb[i].2) * t
        }
        return c
    }
}

/// Comic colour is bright: the lightness is stretched to 6...97 (the photo's 2nd and 99th
/// percentiles) and a dark picture's median lifted towards the middle. A picture without deep
/// shadows or bright lights is not forced to have them: its darkest colour is not ink.
struct LightnessStretch: Sendable {
    let low: Float, high: Float, gamma: Float

    init(_ lightness: Plane) {
        low = min(Sketch.percentile(lightness, 0.02), 20)
        high = max(Sketch.percentile(lightness, 0.99), 85)
        let median = min(max((Sketch.percentile(lightness, 0.5) - low) / (high - low), 0.05), 0.95)
        gamma = min(max(log(Float(0.52)) / log(median), 0.6), 1.1)
    }

    func apply(to lightness: Plane) {
        let w = lightness.width
        Parallel.rows(lightness.height) { rows in
            for y in rows {
                let l = lightness.row(y)
                for x in 0..<w {
                    let t = min(max((l[x] - low) / (high - low), 0), 1)
                    l[x] = 6 + 91 * pow(t, gamma)
                }
            }
        }
    }
}

/// Flat tones and ink at print resolution.
struct CelInk: PrintFinish {
    let printScale: Float
    /// Where the hatching's line pattern is anchored, so every print size of a photo is hatched alike.
    let origin: (x: Float, y: Float)
    let palette: ComicPalette
    let lineWeight: Float
    let workingScale: Float
    private let rgb: [[(Float, Float, Float)]]

    init(printScale: Float, origin: (x: Float, y: Float), palette: ComicPalette, lineWeight: Float, workingScale: Float) {
        self.printScale = printScale
        self.origin = origin
        self.palette = palette
        self.lineWeight = lineWeight
        self.workingScale = workingScale
        rgb = palette.hues.map(\.rgb)
    }

    private static let ink: Float = 0.06
    /// Hatching (blind rounds 60 and 61): 45° lines 28 reference px apart (2.4 mm on a 9x12 print),
    /// up to 7 px wide (× the line weight) once the shade is 10 L below the colour's first cut;
    /// only on colours lighter than L 35 (a navy suit is shaded by its own darkness) and
    /// neither in texture nor on skin.
    static let hatchPeriod: Float = 28
    static let hatchWidth: Float = 7
    static let hatchDepth: Float = 10
    static let hatchMinimumLightness: Float = 35
    /// Width (L units) of a tone border, and of a hue border (Lab distance), where the photo is all texture.
    static let textureSoftness: Float = 6
    static let textureBlend: Float = 8

    func finish(row input: UnsafePointer<Float>, bands: Int, output: UnsafeMutablePointer<UInt8>, x: Int, y: Int, count: Int) {
        let centres = palette.centres, hues = palette.hues
        // The outline ridge is cut where the line is `lineWeight` × 9 reference px wide.
        let lineEdge = ComicOutline.edge(widthReference: 9 * lineWeight, workingScale: workingScale, weight: lineWeight)
        let borderEdge = ComicOutline.borderEdge(widthReference: 9 * lineWeight, workingScale: workingScale, weight: lineWeight)
        for i in 0..<count {
            let p = input + i * bands
            let l = p[0]
            // Half a print pixel of anti-aliasing across each border; in texture (fur, foliage,
            // stone) a soft ramp of several L units: hard cuts through texture are the
            // "camouflage patches" every blind round named, a ramp reads as brushed shading.
            let texture = max(0, p[7]), skin = max(0, -p[7])
            let soft = max(0.15, 0.7 * p[5] / printScale) + Self.textureSoftness * texture
            let (k1, d1, k2, d2) = ComicPalette.nearest((l * ComicPalette.lightWeight, p[1], p[2]), centres)
            let c1 = ComicPalette.colour(hues[k1], rgb[k1], lightness: l, soft: soft)
            var (r, g, b) = c1
            let gap = d2.squareRoot() - d1.squareRoot()
            let blend = 1.5 + Self.textureBlend * texture
            if gap < blend {
                let c2 = ComicPalette.colour(hues[k2], rgb[k2], lightness: l, soft: soft)
                let t = 0.5 + 0.5 * smoothstep(0, blend, gap)
                (r, g, b) = (c2.0 + (c1.0 - c2.0) * t, c2.1 + (c1.1 - c2.1) * t, c2.2 + (c1.2 - c2.2) * t)
            }
            var cover = smoothstep(palette.black + soft, palette.black - soft, l)
            let line = smoothstep(lineEdge - 0.06, lineEdge + 0.06, p[3]) * smoothstep(0.3, 0.45, p[4])
            let outline = smoothstep(borderEdge - 0.08, borderEdge + 0.08, p[6])
            cover = max(cover, max(line, outline))
            if let cut = hues[k1].cuts.first, hues[k1].lightness >= Self.hatchMinimumLightness {
                let depth = min(max((cut - l) / Self.hatchDepth, 0), 1) * (1 - texture) * (1 - skin)
                if depth > 0 { cover = max(cover, hatch(x: x + i, y: y, depth: depth)) }
            }
            output[3 * i] = byte(r + (Self.ink - r) * cover)
            output[3 * i + 1] = byte(g + (Self.ink - g) * cover)
            output[3 * i + 2] = byte(b + (Self.ink - b) * cover)
        }
    }
}

extension CelInk {
    /// Ink cover of the 45° hatching at a print pixel: a line `depth` × the full width wide,
    /// anti-aliased over one print pixel.
    @inline(__always) func hatch(x: Int, y: Int, depth: Float) -> Float {
        let period = Self.hatchPeriod * printScale
        let u = (Float(x) + origin.x + Float(y) + origin.y) * 0.70710678 / period
        let distance = abs(u - u.rounded()) * period
        let half = 0.5 * Self.hatchWidth * lineWeight * printScale * depth
        return min(max(half - distance + 0.5, 0), 1)
    }
}

/// Line width from a ridge-normalised DoG field.
enum ComicOutline {
    /// How much wider than the default the ridges are made for a heavy line: a ridge can only be
    /// cut to about 2.5 σ wide, so lines heavier than the default need a wider ridge.
    static func spread(_ weight: Float) -> Float { 0.5 + 0.5 * max(1, weight) }

    /// The σ (working px) of the hue-border ridge, and the level at which to cut it so the
    /// outline is `widthReference` reference px wide (the ridge is about Gaussian, 1 at its crest).
    static func borderSigma(workingScale: Float, weight: Float) -> Float { max(0.8, 2.6 * workingScale) * spread(weight) }

    static func borderEdge(widthReference: Float, workingScale: Float, weight: Float) -> Float {
        let sigmaReference = borderSigma(workingScale: workingScale, weight: weight) / workingScale
        let half = widthReference / (2 * sigmaReference)
        return min(0.9, max(0.1, exp(-half * half / 2)))
    }

    /// The level at which to cut a ridge (1 at its crest) so the line is `widthReference`
    /// reference px wide: the ridge is about Gaussian, σ set by the DoG scale and never below
    /// what the working resolution can hold.
    static func edge(widthReference: Float, workingScale: Float, weight: Float) -> Float {
        let sigmaWorking = max(0.6, 2.2 * workingScale * spread(weight)) * 0.8
        let sigmaReference = sigmaWorking / workingScale
        let half = widthReference / (2 * sigmaReference)
        return min(0.95, max(0.1, exp(-half * half / 2)))
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
