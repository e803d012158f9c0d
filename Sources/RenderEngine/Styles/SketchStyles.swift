import Foundation

/// Pencil sketch: contour lines that follow the forms, hatching in the shadows only, white
/// paper in the lights, the subject finished and the sheet's edges left unfinished.
///
/// Working resolution: the photo simplified with an edge-preserving filter (the artist's view
/// of the shapes); contours from a difference of Gaussians smoothed along the edge flow (Kang's
/// FDoG, 2007), so they are long and coherent instead of photo edge noise; the tone
/// histogram-matched to a pencil drawing's (Lu, Xu and Jia, NPAR 2012: mostly paper, a mid-tone
/// band, few darks); a hatching direction from the tone's structure at a broad scale; and an
/// importance map (detail and distance from the sheet's edge) that fades the background.
/// Charcoal also simplifies its unimportant surround, busy texture most of all, into calmer,
/// lighter masses (`SketchSettings.CalmSurround`), and is drawn to the sheet's edges.
/// Print resolution: hatching strokes, contour pressure and paper tooth are pure functions of
/// the print position (`HatchStrokes`), so the marks are crisp and the same at every size.
public struct PencilSketchStyle: RenderStyle {
    public init() {}

    public let info = StyleInfo(
        id: uuid("550e8400-e29b-41d4-a716-446655440002"),
        slug: "pencil-sketch",
        name: "Pencil Sketch",
        description: "Graphite contour lines and hatched shadows on white paper; optionally coloured pencil.",
        parameters: [
            StyleParameter(
                name: "colour", description: "0 for graphite grey, 1 for coloured pencil, in between for a tint.", defaultValue: 0, minimum: 0, maximum: 1),
            StyleParameter(
                name: "stroke_length", description: "Size of the hatching strokes (length and spacing), relative to the default.", defaultValue: 1,
                minimum: 0.5, maximum: 2),
        ]
    )

    /// Strokes and tooth are drawn at print resolution; the abstraction needs less.
    public var workingShortSide: Int? { 1100 }

    public func abstract(_ image: PlanarImage, context: StyleContext) throws(RenderError) -> StyledImage {
        Sketch.abstract(
            image, context: context, settings: .pencil(strokeSize: context.parameters["stroke_length"], colour: Float(context.parameters["colour"])))
    }
}

/// Charcoal: broad side-of-the-stick strokes and finger-smudged mid-tones, velvety blacks,
/// bold contours, paper tooth in the lights and a few eraser highlights.
public struct CharcoalStyle: RenderStyle {
    public init() {}

    public let info = StyleInfo(
        id: uuid("550e8400-e29b-41d4-a716-446655440003"),
        slug: "charcoal",
        name: "Charcoal",
        description: "Bold, smudged charcoal strokes and deep blacks on coarse paper.",
        parameters: [
            StyleParameter(
                name: "smudge", description: "How much the strokes are blended with a finger (0 = crisp).", defaultValue: 0.5, minimum: 0, maximum: 1),
            StyleParameter(name: "darkness", description: "Overall darkness of the drawing.", defaultValue: 0.5, minimum: 0, maximum: 1),
            StyleParameter(
                name: "stroke_width", description: "Width of the charcoal strokes, relative to the default.", defaultValue: 1, minimum: 0.5, maximum: 2),
        ]
    )

    public var workingShortSide: Int? { 1100 }

    public func abstract(_ image: PlanarImage, context: StyleContext) throws(RenderError) -> StyledImage {
        let settings = SketchSettings.charcoal(
            strokeSize: context.parameters["stroke_width"], smudge: Float(context.parameters["smudge"]),
            darkness: Float(context.parameters["darkness"]))
        return Sketch.abstract(image, context: context, settings: settings)
    }
}

/// What distinguishes pencil from charcoal; spatial values in reference pixels.
struct SketchSettings {
    enum Medium { case pencil, charcoal }
    var medium: Medium
    /// σs of the edge-preserving simplification the tone is taken from.
    var simplify: Double
    /// σ of the contour DoG.
    var lineSigma: Double
    /// Contour field level where ink starts, and the width of its ramp.
    var lineEdge: Float
    var lineSoftness: Float
    var lineInk: Float
    /// Lines shorter than about this fade out (reference pixels). Charcoal's is 160 (was 80):
    /// its short ones were "random dash marks" in skies and water (blind round 22), and the
    /// longer minimum won its paired check 13 to 2.
    var minimumLineLength: Double
    var tone: ToneTarget
    /// Exponent on the darkness (< 1 darkens).
    var darkGamma: Float
    var pen: HatchStrokes.Pen
    /// Darkness at which each hatching layer starts, the bin offset of its direction and its
    /// sideways phase (a second pass in one direction falls between the first one's strokes).
    var layers: [(start: Float, offset: Int, phase: Float)]
    var hatchInk: Float
    /// Soft graphite or charcoal rubbed in under the strokes (0 for none).
    var smudge: Float
    var toothScale: Float
    var toothContrast: Float
    var colour: Float
    /// Pull of the stroke direction towards a right hand's diagonal where the tone is flat.
    var directionBias: Float
    /// Share of its darkness the least important part of the drawing keeps. Charcoal's heavy
    /// tone over a whole sheet buried its subject (blind round 8: "background smears", "no
    /// focal subject"); an artist masses the subject and lets the surround go light. Not too
    /// light: at 30 % (blind round 10) a charcoal was called a pencil sketch 4 times in 30.
    /// Charcoal's is 0.5 (was 0.42) now that its calm surround fades on its own.
    var background: Float = 0.55
    /// Weight of what stands out from the picture (`Sketch.saliency`) in the importance map,
    /// in place of the same share of the centre prior.
    var saliency: Float = 0
    /// What the darkest 2 % of the drawing's tone is pressed to (`Sketch.pressBlackPoint`).
    /// Charcoal's calm surround alone left some drawings pale enough to be called pencil (blind
    /// round 18: 6 of 30), and pencil was "washed out" and "faint" in round 20; the black point
    /// won both paired checks (charcoal 15 of 20, pencil 19 of 20).
    var blackPoint: Float
    /// How the unimportant surround is simplified; nil draws it like the subject, only lighter.
    var calmSurround: CalmSurround? = nil
    /// Whether the drawing fades to bare paper at the sheet's edges. Charcoal's does not: its
    /// dark passages (a sea, a beach) then stopped short of the edges in a straight line, "a
    /// hard-edged rectangular dark smear" (blind rounds 18 and 21); drawn to the edge it won its
    /// paired check 13 of 20 (docs/styles.md).
    var fadesAtSheetEdges = true

    /// The surround an artist leaves calm: blind round 16 found busy photos hatched at one
    /// strength everywhere ("uniform scribble", "black blotches", "no focal subject"). Where the
    /// importance map is low, more so where the photo is busy, the tone merges into larger,
    /// lighter masses and only the dominant lines stay.
    /// Charcoal only: the same change lost pencil's paired checks ("washed out") and won
    /// charcoal's 16 of 20 (docs/styles.md, "Paired checks").
    struct CalmSurround {
        /// Share of the surround simplified even where it is not busy (busy texture adds the rest).
        var base: Float
        /// Share of its darkness the calm surround loses on top of `background`, except next to
        /// the subject (a light subject keeps a frame of tone).
        var fade: Float
        /// Weight of what is in focus (`Sketch.focusMap`) in the importance map, scaled by how
        /// much of the photo is out of focus: a soft background is not the subject.
        var focus: Float = 0.8
    }

    static func pencil(strokeSize: Double, colour: Float) -> SketchSettings {
        let size = Float(strokeSize)
        return SketchSettings(
            medium: .pencil, simplify: 10, lineSigma: 2.2, lineEdge: 0.92, lineSoftness: 0.06, lineInk: 0.9, minimumLineLength: 14,
            tone: .pencil, darkGamma: 1,
            pen: .init(spacing: 16 * size, length: 110 * size, width: 4.5 * size, feather: 0.5, bow: 0.25, overlapping: false),
            layers: [(0.16, 0, 0), (0.4, 0, 0.5), (0.65, 2, 0.25)], hatchInk: 0.85, smudge: 0.45,
            toothScale: 1, toothContrast: 0.45, colour: colour, directionBias: 0.4, blackPoint: 0.9)
    }

    static func charcoal(strokeSize: Double, smudge: Float, darkness: Float) -> SketchSettings {
        let size = Float(strokeSize)
        return SketchSettings(
            medium: .charcoal, simplify: 16, lineSigma: 5, lineEdge: 0.8, lineSoftness: 0.1, lineInk: 0.9, minimumLineLength: 160,
            tone: .charcoal, darkGamma: 1 - 0.4 * darkness,
            pen: .init(spacing: 40 * size, length: 260 * size, width: 34 * size, feather: 2.5, bow: 0.3, overlapping: true),
            layers: [], hatchInk: 0.93, smudge: smudge,
            toothScale: 2.5, toothContrast: 0.55, colour: 0, directionBias: 0.15, background: 0.5, saliency: 0.5, blackPoint: 0.95,
            calmSurround: .init(base: 0.35, fade: 0.3), fadesAtSheetEdges: false)
    }
}

/// The tone distribution of a drawing (Lu et al.: bright paper, mid-tone band, dark strokes).
struct ToneTarget {
    var bright: Double, middle: Double, dark: Double
    var darkMean: Double, darkSigma: Double
    var middleRange: ClosedRange<Double>

    static let pencil = ToneTarget(bright: 50, middle: 38, dark: 12, darkMean: 85, darkSigma: 12, middleRange: 100...225)
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
        let grey = Colour.luma(image)
        let w = grey.width, h = grey.height
        // Lines from a lightly simplified photo, tone from a strongly simplified one.
        let lineSource = DomainTransform.smooth(PlanarImage(planes: [grey]), sigmaSpatial: 4 * s, sigmaRange: 0.08).planes[0]
        var toneSource = DomainTransform.smooth(PlanarImage(planes: [lineSource]), sigmaSpatial: settings.simplify * s, sigmaRange: 0.1).planes[0]
        let surround = settings.calmSurround
        var (importance, skin) = importanceMap(
            image, grey: lineSource, focus: surround.map { (grey, $0.focus) }, context: context, saliency: settings.saliency,
            fadesAtEdges: settings.fadesAtSheetEdges)
        // How much the drawing simplifies each place, 0...1 (nil: nowhere).
        var calm: Plane?
        var lineImportance = importance, crowded: Plane?
        if let surround {
            importance = decisive(importance)
            // Busy: fine texture (foliage, ripples, bark, bristles, cobbles), 0...1: the photo's
            // mean departure from itself blurred by a few reference pixels.
            let fineBlur = Blur.gaussian(grey, sigma: max(1, 5 * s))
            let departure = Blur.gaussian(PlaneMath.combine(grey, fineBlur) { abs($0 - $1) }, sigma: Double(min(w, h)) * 0.03)
            let busy = PlaneMath.map(departure) { smoothstep(0.008, 0.03, $0) }
            let simplified = PlaneMath.combine(importance, busy) { m, b in min(1, max(0, 1 - m) * (surround.base + b)) }
            calm = simplified
            // Where the surround is both calm and busy only its dominant lines are drawn; off
            // the subject they keep most of their pressure: contours make a scene readable.
            crowded = PlaneMath.combine(simplified, busy) { c, b in smoothstep(0.45, 0.85, c) * b }
            lineImportance = PlaneMath.map(importance) { 0.6 + 0.4 * $0 }
        }
        let lines = contourField(
            lineSource, importance: lineImportance, skin: skin, sigma: settings.lineSigma * s, scale: s, texture: crowded,
            minimumLength: settings.minimumLineLength)
        // Faces are drawn from the less simplified picture: the subject is more finished.
        Parallel.rows(grey.height) { rows in
            for y in rows {
                let t = toneSource.row(y), l = lineSource.row(y), k = skin.row(y)
                for x in 0..<w { t[x] += (l[x] - t[x]) * min(1, 1.5 * k[x]) * 0.8 }
            }
        }
        if let calm {
            // The calm surround in larger, quieter masses.
            let masses = Blur.gaussian(toneSource, sigma: 50 * s)
            Parallel.rows(h) { rows in
                for y in rows {
                    let t = toneSource.row(y), m = masses.row(y), c = calm.row(y)
                    for x in 0..<w { t[x] += (m[x] - t[x]) * 0.85 * smoothstep(0.3, 0.8, c[x]) }
                }
            }
        }
        // Charcoal's heavy darks would swallow a dark subject whole.
        if settings.medium == .charcoal { toneSource = ShadowOpening.opened(toneSource) }
        let tone = toneMap(toneSource, target: settings.tone, crush: 1)
        let darkness = Plane(width: grey.width, height: grey.height)
        let low = percentile(toneSource, 0.02), high = max(percentile(toneSource, 0.9), low + 0.05)
        Parallel.rows(grey.height) { rows in
            for y in rows {
                let t = tone.row(y), m = importance.row(y), o = darkness.row(y)
                let g = toneSource.row(y)
                for x in 0..<w {
                    // The drawing's tone distribution, kept honest by the photo's own values.
                    let stretched = min(max((high - g[x]) / (high - low), 0), 1)
                    let dark = 0.5 * (1 - t[x]) + 0.5 * pow(stretched, 1.4)
                    o[x] = pow(dark, settings.darkGamma) * (settings.background + (1 - settings.background) * m[x])
                }
            }
        }
        // Hatch along the tone's contours; a right hand's diagonal where the tone is flat.
        let direction = SketchFlow.hatchDirection(toneSource, sigma: max(1, 40 * s), preferred: 0.75 * .pi, bias: settings.directionBias)
        if let surround, let calm {
            // The calm surround fades towards paper, except next to the subject (a light
            // subject needs its frame). Its strokes still follow the forms: turned to one
            // diagonal they crossed fields, water and buses as "heavy diagonal smears" in a
            // "mechanical stroke direction" (blind rounds 74, 79 and 80).
            let near = PlaneMath.map(Blur.gaussian(importance, sigma: Double(min(w, h)) * 0.05)) { 0.8 * smoothstep(0.3, 0.7, $0) }
            Parallel.rows(h) { rows in
                for y in rows {
                    let o = darkness.row(y), c = calm.row(y), n = near.row(y)
                    for x in 0..<w { o[x] *= 1 - surround.fade * c[x] * (1 - n[x]) }
                }
            }
        }
        let seed = Noise.stream(context.seed, 7)
        if settings.medium == .charcoal {
            // Rubbed with a finger: the tone blends softly, the lines keep the shapes.
            let sigma = Double(settings.smudge) * 40 * s
            let smudged = Blur.gaussian(darkness, sigma: sigma)
            if let calm {
                // Off the calm surround the rubbing stops at the shapes' edges: dark masses are
                // shapes, not smears (blind round 16: "black blotches", "heavy dark smears").
                let kept = DomainTransform.smooth(PlanarImage(planes: [darkness]), sigmaSpatial: sigma, sigmaRange: 0.15).planes[0]
                Parallel.rows(h) { rows in
                    for y in rows {
                        let o = smudged.row(y), k = kept.row(y), c = calm.row(y)
                        for x in 0..<w { o[x] += (k[x] - o[x]) * 0.7 * (1 - c[x]) }
                    }
                }
            }
            pressBlackPoint(smudged, to: settings.blackPoint)
            let deposit = CharcoalPaper.drag(smudged, direction: direction, settings: settings, scale: s, anchor: context.workingAnchor, seed: seed)
            let planes = [lines.shape, lines.strength, smudged, deposit, eraserMarks(lineSource, scale: s)]
            let finish = CharcoalPaper(printScale: Float(context.printScale), origin: context.printAnchor, seed: seed, settings: settings)
            return StyledImage(planes: PlanarImage(planes: planes), finish: finish)
        }
        pressBlackPoint(darkness, to: settings.blackPoint)
        var planes = [lines.shape, lines.strength, darkness, direction.c2, direction.s2]
        if settings.colour > 0 {
            let (cb, cr) = chroma(image, sigma: 1.5 * s)
            planes += [cb, cr]
        }
        let finish = SketchPaper(printScale: Float(context.printScale), origin: context.printAnchor, seed: seed, settings: settings)
        return StyledImage(planes: PlanarImage(planes: planes), finish: finish)
    }

    /// Scales the drawing's darkness so its darkest 2 % reach `blackPoint`, by at most 1.4×
    /// (never lighter): every drawing has real darks, whatever the photo's contrast.
    static func pressBlackPoint(_ darkness: Plane, to blackPoint: Float) {
        let gain = min(1.4, max(1, blackPoint / max(percentile(darkness, 0.98), 1e-3)))
        let w = darkness.width
        Parallel.rows(darkness.height) { rows in
            for y in rows {
                let o = darkness.row(y)
                for x in 0..<w { o[x] = min(1, o[x] * gain) }
            }
        }
    }

    /// Highlights lifted with an eraser, 0...1: small spots brighter than their surroundings
    /// among the brightest in the picture, and inside dark shapes (a black dog's fur, the sheen
    /// on dark cloth) the lights that keep them from becoming a flat black blob.
    static func eraserMarks(_ grey: Plane, scale s: Double) -> Plane {
        let surround = Blur.gaussian(grey, sigma: max(1, 14 * s))
        let bright = percentile(grey, 0.96), brightest = max(percentile(grey, 0.995), bright + 0.01)
        let dark = percentile(grey, 0.3)
        let out = Plane(width: grey.width, height: grey.height)
        let w = grey.width
        Parallel.rows(grey.height) { rows in
            for y in rows {
                let g = grey.row(y), m = surround.row(y), o = out.row(y)
                for x in 0..<w {
                    let lift = smoothstep(0.04, 0.12, g[x] - m[x])
                    // Half-lifted, and only for clear lights: every small brightness step lifted to
                    // paper drew white rings round eyes and squiggles through fur.
                    let inDark = 0.3 * smoothstep(dark, 0.5 * dark, m[x]) * smoothstep(0.04, 0.1, g[x] - m[x])
                    o[x] = max(lift * smoothstep(bright, brightest, g[x]), inDark)
                }
            }
        }
        return out
    }

    /// How finished each part of the drawing is, 0...1: high towards the centre (or, by
    /// `salientWeight`, on what stands out from the picture), on skin (faces) and where the
    /// photo has detail, fading irregularly to bare paper at the sheet's edges if `fadesAtEdges`.
    /// `skin` alone is returned too: faces keep all their lines.
    /// - Parameter focus: the photo's luma and the weight of what is in focus (`focusMap`), in
    ///   place of the same share of the detail and the centre or saliency, scaled by how much of
    ///   the photo is out of focus.
    static func importanceMap(
        _ image: PlanarImage, grey: Plane, focus: (luma: Plane, weight: Float)? = nil, context: StyleContext, saliency salientWeight: Float = 0,
        fadesAtEdges: Bool = true
    ) -> (importance: Plane, skin: Plane) {
        let w = grey.width, h = grey.height
        let short = Float(min(w, h))
        let detail = Blur.gaussian(Gradient.sobelMagnitude(grey), sigma: Double(short) * 0.05)
        let reference = max(percentile(detail, 0.98), 1e-6)
        let skin = Blur.gaussian(skinLikelihood(image), sigma: Double(short) * 0.015)
        let salient = salientWeight > 0 ? saliency(image) : Plane(width: w, height: h)
        var sharp = Plane(width: w, height: h)
        var focusShare: Float = 0
        if let focus {
            let (field, defocused) = focusMap(focus.luma)
            sharp = field
            focusShare = focus.weight * defocused
        }
        let out = Plane(width: w, height: h)
        let anchor = context.workingAnchor
        let noiseScale = 1 / (short * 0.09)
        let seed = Noise.stream(context.seed, 11)
        Parallel.rows(h) { rows in
            for y in rows {
                let d = detail.row(y), k = skin.row(y), o = out.row(y), v = salient.row(y), f = sharp.row(y)
                let cy = (Float(y) - Float(h) / 2) / (0.45 * Float(h))
                for x in 0..<w {
                    let cx = (Float(x) - Float(w) / 2) / (0.45 * Float(w))
                    let centre = exp(-0.5 * (cx * cx + cy * cy))
                    var fade: Float = 1
                    if fadesAtEdges {
                        let wander = Noise.fractal((Float(x) + anchor.x) * noiseScale, (Float(y) + anchor.y) * noiseScale, octaves: 3, seed) - 0.5
                        let edge = Float(min(min(x, w - 1 - x), min(y, h - 1 - y))) / short + 0.06 * wander
                        fade = smoothstep(0.01, 0.1, edge)
                    }
                    let prior = 0.75 * centre * (1 - salientWeight) + salientWeight * v[x]
                    let inFocus = (f[x] * (0.6 + 0.4 * centre) - prior) * focusShare
                    let detailShare = 0.25 * min(1, d[x] / reference) * (1 - focusShare)
                    // The prior is written out again, not as `prior`: without focus the map stays
                    // bit for bit the pencil's of before (its paired checks judged those pixels).
                    o[x] = min(1, detailShare + 0.75 * centre * (1 - salientWeight) + salientWeight * v[x] + inFocus + 0.6 * k[x]) * fade
                }
            }
        }
        return (out, skin)
    }

    /// 0...1: how much each place is the picture's subject (what stands out from it, towards
    /// its centre, with detail; not faded at the sheet's edges): the decisive importance map
    /// past 0.5 … 0.85. Returned with the skin map. Comic, pop art and pointillism draw the
    /// subject closer than the rest: its small features and tone islands are kept, its dabs are
    /// finer (blind rounds 91, 93–95 and 97).
    static func subject(_ image: PlanarImage, grey: Plane, context: StyleContext) -> (subject: Plane, skin: Plane) {
        let (importance, skin) = importanceMap(image, grey: grey, context: context, saliency: 0.5, fadesAtEdges: false)
        return (PlaneMath.map(decisive(importance)) { smoothstep(0.5, 0.85, $0) }, skin)
    }

    /// The importance map pulled half-way to its own 25th-90th percentile stretch: every
    /// picture has a subject and a surround, whatever its overall detail.
    static func decisive(_ importance: Plane) -> Plane {
        let low = percentile(importance, 0.25), high = max(percentile(importance, 0.9), low + 0.05)
        return PlaneMath.map(importance) { $0 + (smoothstep(low, high, $0) - $0) * 0.5 }
    }

    /// Where the photo is in focus, 0...1, and how much of it is not (0 when all of it is sharp,
    /// 1 when at least about a third is soft): the crispness of its edges (`Gradient.crispness`),
    /// averaged over the edges nearby and normalised by the picture's own range.
    static func focusMap(_ luma: Plane) -> (focus: Plane, defocused: Float) {
        let short = Double(min(luma.width, luma.height))
        let k = short / 1100
        let lightness = PlaneMath.map(luma) { 100 * $0 }
        let crisp = Gradient.crispness(lightness, fine: 2 * k, coarse: 8 * k, window: 12 * k)
        let edges = Blur.gaussian(Gradient.sobelMagnitude(Blur.gaussian(lightness, sigma: 2 * k)), sigma: short * 0.02)
        let weighted = Blur.gaussian(PlaneMath.combine(crisp, edges) { $0 * $1 }, sigma: short * 0.04)
        let spread = Blur.gaussian(edges, sigma: short * 0.04)
        let focus = PlaneMath.combine(weighted, spread) { $0 / ($1 + 1e-3) }
        // Crispness below this is a soft edge (a blurred background).
        let softLevel: Float = 3
        var soft = 0, total = 0
        let step = max(1, Int(short / 300))
        for y in stride(from: 0, to: focus.height, by: step) {
            let r = focus.row(y)
            for x in stride(from: 0, to: focus.width, by: step) {
                total += 1
                if r[x] < softLevel { soft += 1 }
            }
        }
        let defocused = smoothstep(0.1, 0.35, Float(soft) / Float(max(total, 1)))
        let low = percentile(focus, 0.3), high = max(percentile(focus, 0.97), low + 1e-3)
        return (PlaneMath.map(focus) { smoothstep(low, high, $0) }, defocused)
    }

    /// 0...1: how much each part stands out from the picture as a whole (Achanta et al. 2009,
    /// frequency-tuned saliency: the distance of the slightly blurred Lab colour from the
    /// picture's mean), spread over the shape and normalised by its 95th percentile.
    static func saliency(_ image: PlanarImage) -> Plane {
        let short = Double(min(image.width, image.height))
        let lab = Colour.srgbToLab(PlanarImage(planes: image.planes.map { Blur.gaussian($0, sigma: short * 0.006) }))
        let means = lab.planes.map { plane -> Float in
            var sum: Double = 0
            for y in 0..<plane.height {
                let r = plane.row(y)
                for x in 0..<plane.width { sum += Double(r[x]) }
            }
            return Float(sum / Double(plane.count))
        }
        let distance = Plane(width: image.width, height: image.height)
        let w = image.width
        Parallel.rows(image.height) { rows in
            for y in rows {
                let l = lab.planes[0].row(y), a = lab.planes[1].row(y), b = lab.planes[2].row(y), o = distance.row(y)
                for x in 0..<w {
                    let dl = l[x] - means[0], da = a[x] - means[1], db = b[x] - means[2]
                    o[x] = (dl * dl + da * da + db * db).squareRoot()
                }
            }
        }
        let spread = Blur.gaussian(distance, sigma: short * 0.03)
        let top = max(percentile(spread, 0.95), 1e-3)
        return PlaneMath.map(spread) { min(1, $0 / top) }
    }

    /// 0...1: how much a colour looks like skin (a box in YCbCr around the skin locus, soft
    /// edged; Chai and Ngan 1999), from fair to dark skin, and not grey.
    static func skinLikelihood(_ image: PlanarImage) -> Plane {
        let (r, g, b) = (image.planes[0], image.planes[1], image.planes[2])
        let out = Plane(width: image.width, height: image.height)
        let w = image.width
        Parallel.rows(image.height) { rows in
            for y in rows {
                let rr = r.row(y), gr = g.row(y), br = b.row(y), o = out.row(y)
                for x in 0..<w {
                    let luma = 0.299 * rr[x] + 0.587 * gr[x] + 0.114 * br[x]
                    let cb = (br[x] - luma) * 0.564, cr = (rr[x] - luma) * 0.713
                    let inCr = smoothstep(0.02, 0.05, cr) * smoothstep(0.2, 0.16, cr)
                    let inCb = smoothstep(-0.22, -0.18, cb) * smoothstep(0.0, -0.03, cb)
                    o[x] = inCr * inCb * smoothstep(0.12, 0.25, luma)
                }
            }
        }
        return out
    }

    /// Contour lines: the dark side of edges (DoG), smoothed along the flow, split into a
    /// line shape (1 on the ridge) and a pressure (1 on the picture's strong edges, less where
    /// the drawing is less finished or crowded with texture).
    ///
    /// Texture (gravel, foliage, fur) is a dense field of similar lines; a contour stands alone
    /// or dominates its neighbours. Where lines crowd, only the locally strongest are kept;
    /// skin (faces) tolerates more crowding.
    /// - Parameters:
    ///   - sigma: DoG scale in working pixels.
    ///   - scale: working pixels per reference pixel.
    ///   - texture: how crowded each place is, 0...1, on top of the share of the neighbourhood
    ///     covered by lines (about 0.1 beside a lone contour, 0.3 in texture).
    ///   - chroma: Lab a and b; where given, borders between colours of equal lightness are
    ///     drawn too (from the chroma gradient, 1 Lab unit of chroma counting as `chromaWeight`
    ///     units of lightness).
    ///   - minimumLength: lines shorter than about this (reference pixels) fade out: fur and
    ///     grass give dashes, contours long strokes.
    ///   - face: on skin, a shorter minimum length and a pressure raised by `gain` (× 1 + gain):
    ///     a face's features are short lines.
    static func contourField(
        _ grey: Plane, importance: Plane?, skin: Plane, sigma: Double, scale: Double, texture: Plane? = nil,
        chroma: (a: Plane, b: Plane)? = nil, chromaWeight: Float = 0, minimumLength: Double = 0,
        face: (minimumLength: Double, gain: Float)? = nil
    ) -> (shape: Plane, strength: Plane) {
        let flow = OrientationField.compute(PlanarImage(planes: [grey]), sigma: max(1, 2 * sigma))
        var dog = SketchFlow.differenceOfGaussians(grey, sigma: max(0.6, sigma))
        dog = SketchFlow.alongFlow(dog, tangentX: flow.tangentX, tangentY: flow.tangentY, halfLength: max(3, 7 * sigma))
        let ink = PlaneMath.map(dog) { max(0, -$0) }
        if let chroma {
            // Gradient magnitude of the chroma at the line scale: one ridge on each colour border,
            // as high as a DoG of a lightness step of the same size.
            let a = SketchFlow.gaussian(chroma.a, sigma: max(0.6, sigma)), b = SketchFlow.gaussian(chroma.b, sigma: max(0.6, sigma))
            let ga = Gradient.sobelMagnitude(a), gb = Gradient.sobelMagnitude(b)
            let gain = chromaWeight * Float(max(0.6, sigma)) * 0.2
            let w = grey.width
            Parallel.rows(grey.height) { rows in
                for y in rows {
                    let o = ink.row(y), ra = ga.row(y), rb = gb.row(y)
                    for x in 0..<w { o[x] = max(o[x], gain * (ra[x] * ra[x] + rb[x] * rb[x]).squareRoot()) }
                }
            }
        }
        let reference = max(percentile(ink, 0.99), 0.012)
        let (shape, strength) = SketchFlow.ridges(ink, radius: max(1, Int((2 * sigma).rounded())), reference: reference)
        let w = grey.width, h = grey.height
        let mask = Plane(width: w, height: h)
        Parallel.rows(h) { rows in
            for y in rows {
                let sh = shape.row(y), st = strength.row(y), o = mask.row(y)
                for x in 0..<w { o[x] = smoothstep(0.6, 0.8, sh[x]) * smoothstep(0.06, 0.15, st[x]) }
            }
        }
        let crowding = PlaneMath.map(Blur.gaussian(mask, sigma: max(4, 30 * scale))) { smoothstep(0.14, 0.32, $0) }
        if let texture {
            Parallel.rows(h) { rows in
                for y in rows {
                    let c = crowding.row(y), t = texture.row(y)
                    for x in 0..<w { c[x] = max(c[x], t[x]) }
                }
            }
        }
        let radius = max(3, Int((45 * scale).rounded()))
        let dominant = SketchFlow.gaussian(SketchFlow.maximum(strength, radius: radius), sigma: Double(radius) / 2)
        Parallel.rows(h) { rows in
            for y in rows {
                let o = strength.row(y), m = importance?.row(y), c = crowding.row(y), k = skin.row(y), d = dominant.row(y)
                for x in 0..<w {
                    let leading = smoothstep(0.8, 0.97, o[x] / max(d[x], 1e-6))
                    let alone = max(max(1 - c[x], leading), min(1, 1.5 * k[x]) * (1 - 0.6 * smoothstep(0.4, 1, c[x])))
                    o[x] *= (0.35 + 0.65 * (m?[x] ?? 1)) * (0.1 + 0.9 * alone) * (1 + (face?.gain ?? 0) * min(1, 1.5 * k[x]))
                }
            }
        }
        if minimumLength > 0 {
            // The share of the streamline through each pixel that is drawn: about 1 inside a
            // long line, 0.5 at its ends, little on a short dash.
            let drawn = Plane(width: w, height: h)
            Parallel.rows(h) { rows in
                for y in rows {
                    let sh = shape.row(y), st = strength.row(y), o = drawn.row(y)
                    for x in 0..<w { o[x] = smoothstep(0.6, 0.8, sh[x]) * smoothstep(0.15, 0.35, st[x]) }
                }
            }
            func reach(_ length: Double) -> Plane {
                SketchFlow.alongFlow(drawn, tangentX: flow.tangentX, tangentY: flow.tangentY, halfLength: max(2, length * scale))
            }
            let extent = reach(minimumLength), faceExtent = face.map { reach($0.minimumLength) }
            Parallel.rows(h) { rows in
                for y in rows {
                    let o = strength.row(y), e = extent.row(y), f = faceExtent?.row(y), k = skin.row(y)
                    for x in 0..<w {
                        var keep = smoothstep(0.25, 0.5, e[x])
                        if let f { keep += (smoothstep(0.25, 0.5, f[x]) - keep) * min(1, 1.5 * k[x]) }
                        o[x] *= keep
                    }
                }
            }
        }
        return (shape, strength)
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
        let step = max(1, Int((Double(plane.count) / 100_000).squareRoot()))
        for y in stride(from: 0, to: plane.height, by: step) {
            for x in stride(from: 0, to: plane.width, by: step) { sample.append(plane[x, y]) }
        }
        sample.sort()
        return sample[min(sample.count - 1, Int(Double(sample.count) * fraction))]
    }
}

@inline(__always) func smoothstep(_ edge0: Float, _ edge1: Float, _ x: Float) -> Float {
    let t = min(max((x - edge0) / (edge1 - edge0), 0), 1)
    return t * t * (3 - 2 * t)
}

/// Print-resolution drawing: hatching layers switched on by the darkness, contour lines with
/// varying pressure, graphite caught on the paper's tooth, optional colour.
struct SketchPaper: PrintFinish {
    let printScale: Float
    let origin: (x: Float, y: Float)
    let seed: UInt32
    let settings: SketchSettings

    /// Height of the paper's tooth, 0...1, features of `toothScale` reference pixels.
    @inline(__always) func toothAt(_ u: Float, _ v: Float) -> Float {
        let ts = 0.55 / settings.toothScale
        return Noise.value(u * ts, v * ts * 1.6, seed &+ 2) * 0.65 + Noise.value(u * ts * 2.3, v * ts * 2.3, seed &+ 3) * 0.35
    }

    func finish(row input: UnsafePointer<Float>, bands: Int, output: UnsafeMutablePointer<UInt8>, x: Int, y: Int, count: Int) {
        let inverse = 1 / printScale
        let v = (Float(y) + origin.y) * inverse
        var pen = settings.pen
        pen.feather = max(pen.feather, 0.6 * inverse)
        let binAngle = Float.pi / Float(HatchStrokes.bins)
        let layers = settings.layers
        for i in 0..<count {
            let p = input + i * bands
            let u = (Float(x + i) + origin.x) * inverse
            let darkness = p[2]
            var ink: Float = 0
            if darkness > layers[0].start {
                var f = 0.5 * atan2(p[4], p[3]) / binAngle
                if f < 0 { f += Float(HatchStrokes.bins) }
                let k0 = Int(f)
                let blend = smoothstep(0.42, 0.58, f - Float(k0))
                var paper: Float = 1
                for (l, layer) in layers.enumerated() where darkness > layer.start {
                    let strength = min(1, (darkness - layer.start) / 0.3)
                    let density = min(1, (darkness - layer.start) / 0.08)
                    var layerInk: Float = 0
                    for side in 0..<2 {
                        let weight = side == 0 ? 1 - blend : blend
                        guard weight > 0.01 else { continue }
                        let (c, s) = HatchStrokes.direction(k0 + side + layer.offset)
                        let mark = HatchStrokes.mark(u: u, v: v, c: c, s: s, pen: pen, phase: layer.phase, seed: seed &+ UInt32(l) &* 0x9E37_79B9)
                        guard mark.cover > 0, mark.gate < density * 1.1 else { continue }
                        let choice = (mark.gate * 7.31).truncatingRemainder(dividingBy: 1)
                        guard choice < weight else { continue }
                        layerInk = max(layerInk, mark.cover * mark.pressure * (0.35 + 0.65 * strength))
                    }
                    paper *= 1 - settings.hatchInk * layerInk
                }
                ink = 1 - paper
            }
            let tooth = toothAt(u, v)
            // Soft graphite rubbed in under the strokes, heavier in the deepest shadows.
            if darkness > 0.04 {
                let base = settings.smudge * (0.45 * darkness * smoothstep(0.04, 0.3, darkness) + 0.55 * smoothstep(0.55, 1, darkness))
                ink = 1 - (1 - ink) * (1 - base * (0.45 + 1.1 * tooth))
            }
            // Contours: pressure wanders along the line.
            // Firm lines on strong edges are wider: the field is cut lower on its ridge.
            let firmness = min(p[1], 1.5)
            if p[1] > 0.15, p[0] > settings.lineEdge - 0.18 * firmness - 0.05 - settings.lineSoftness {
                let pressure = Noise.value(u * 0.018, v * 0.018, seed &+ 5)
                let edge = settings.lineEdge - 0.18 * firmness + 0.1 * (pressure - 0.5)
                let line = smoothstep(edge - settings.lineSoftness, edge + settings.lineSoftness, p[0])
                let weight = smoothstep(0.15, 0.6, p[1]) * (0.75 + 0.25 * pressure)
                ink = 1 - (1 - ink) * (1 - line * settings.lineInk * weight)
            }
            // Graphite catches on the tooth of the paper.
            ink *= 1 - settings.toothContrast * tooth
            let lum = (1 - ink) * (0.985 - 0.02 * tooth)
            var cb: Float = 0, cr: Float = 0
            if bands >= 7 {
                cb = p[5] * settings.colour
                cr = p[6] * settings.colour
            }
            let r = lum + 1.403 * cr, g = lum - 0.344 * cb - 0.714 * cr, b = lum + 1.773 * cb
            output[3 * i] = byte(r)
            output[3 * i + 1] = byte(g * 0.99)
            output[3 * i + 2] = byte(b * 0.965)
        }
    }
}

/// Print-resolution charcoal: the stick deposits where the paper's tooth stands higher than the
/// remaining white (grain in the lights and mid-tones), dragged in broad streaks along the
/// hatching direction; rubbed areas fill the valleys; the darkest parts are velvet black; bold
/// contours on top; eraser lifts back to paper.
struct CharcoalPaper: PrintFinish {
    let printScale: Float
    let origin: (x: Float, y: Float)
    let seed: UInt32
    let settings: SketchSettings

    /// The charcoal laid down before the paper's tooth breaks it: the smudged darkness dragged
    /// into broad side-of-the-stick streaks along the hatching direction, strongest in the
    /// mid-tones. The streaks are tens of reference pixels wide, so they are computed at
    /// working resolution and the print stage only adds the fine grain.
    static func drag(_ darkness: Plane, direction: (c2: Plane, s2: Plane), settings: SketchSettings, scale: Double, anchor: (x: Float, y: Float), seed: UInt32)
        -> Plane
    {
        let w = darkness.width
        let out = Plane(width: w, height: darkness.height)
        let perWorking = 1 / Float(scale)
        let binAngle = Float.pi / Float(HatchStrokes.bins)
        let width = settings.pen.width, length = settings.pen.length
        Parallel.rows(darkness.height) { rows in
            for y in rows {
                let d = darkness.row(y), c2 = direction.c2.row(y), s2 = direction.s2.row(y), o = out.row(y)
                let v = (Float(y) + anchor.y) * perWorking
                for x in 0..<w {
                    let u = (Float(x) + anchor.x) * perWorking
                    var f = 0.5 * atan2(s2[x], c2[x]) / binAngle
                    if f < 0 { f += Float(HatchStrokes.bins) }
                    let k0 = Int(f)
                    let blend = smoothstep(0.35, 0.65, f - Float(k0))
                    var streak: Float = 0
                    for side in 0..<2 {
                        let weight = side == 0 ? 1 - blend : blend
                        guard weight > 0.01 else { continue }
                        let (c, s) = HatchStrokes.direction(k0 + side)
                        let along = u * c + v * s, across = v * c - u * s
                        let drag =
                            Noise.value(along / length, across / width, seed &+ 20) * 0.65
                            + Noise.value(along / (0.4 * length), across / (0.35 * width), seed &+ 21) * 0.35
                        streak += weight * drag
                    }
                    let darkness = min(max(d[x], 0), 1)
                    let midTone = 4 * darkness * (1 - darkness)
                    o[x] = darkness + 0.4 * (streak - 0.5) * (0.25 + midTone)
                }
            }
        }
        return out
    }

    func finish(row input: UnsafePointer<Float>, bands: Int, output: UnsafeMutablePointer<UInt8>, x: Int, y: Int, count: Int) {
        let inverse = 1 / printScale
        let v = (Float(y) + origin.y) * inverse
        for i in 0..<count {
            let p = input + i * bands
            let u = (Float(x + i) + origin.x) * inverse
            let darkness = min(max(p[2], 0), 1)
            let deposit = p[3]
            // Grain: charcoal sits on the tooth's peaks unless pressed or rubbed in.
            let tooth = toothAt(u, v)
            let grainy = smoothstep(tooth - 0.22, tooth + 0.12, deposit) * (0.8 + 0.2 * smoothstep(0.4, 0.9, deposit))
            let rubbed = min(max(deposit, 0), 1)
            let velvet = smoothstep(0.7, 0.95, darkness)
            var ink = grainy + (rubbed - grainy) * min(0.85, 0.35 * settings.smudge + velvet)
            // Bold contours, broken by the grain like the rest of the charcoal.
            let firmness = min(p[1], 1.5)
            ink *= settings.hatchInk
            if p[1] > 0.2, p[0] > settings.lineEdge - 0.2 * firmness - 0.06 - settings.lineSoftness {
                let pressure = Noise.value(u * 0.012, v * 0.012, seed &+ 5)
                let edge = settings.lineEdge - 0.2 * firmness + 0.12 * (pressure - 0.5)
                let line =
                    smoothstep(edge - settings.lineSoftness, edge + settings.lineSoftness, p[0])
                    * smoothstep(0.2, 0.55, p[1]) * (0.15 + 0.85 * smoothstep(tooth - 0.25, tooth + 0.05, 0.55 + 0.35 * pressure))
                ink = 1 - (1 - ink) * (1 - line * settings.lineInk)
            }
            // The eraser lifts charcoal back to the paper.
            ink *= 1 - min(max(p[4], 0), 1) * 0.9
            let paper: Float = 0.965 - 0.03 * tooth
            let lum = paper * (1 - ink)
            output[3 * i] = byte(lum)
            output[3 * i + 1] = byte(lum * 0.99)
            output[3 * i + 2] = byte(lum * 0.97)
        }
    }

    /// Height of the paper's tooth, 0...1: a fibrous grain a few reference pixels across
    /// (two octaves, each stretched a little along its own axis).
    @inline(__always) func toothAt(_ u: Float, _ v: Float) -> Float {
        let ts = 1 / settings.toothScale
        return Noise.value(u * ts * 0.8 + v * ts * 0.25, v * ts * 1.3, seed &+ 2) * 0.6 + Noise.value(u * ts * 2.1, v * ts * 1.7 - u * ts * 0.4, seed &+ 3)
            * 0.4
    }
}
