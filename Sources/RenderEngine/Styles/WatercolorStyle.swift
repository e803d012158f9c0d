import Foundation

/// Watercolor as layered transparent glazes (after Curtis et al. 1997, Bousseau et al. NPAR 2006,
/// Wang et al. TVCG 2014 and Montesdeoca et al.'s MNPR 2018).
///
/// Working resolution: the photo is simplified three times with the domain transform, from a
/// very coarse light wash to a fine dark layer that only the subject receives. Each layer is a
/// wash: a smooth density field thresholded into a shape with a hard edge, displaced by its own
/// wobble so that it wanders off the drawing, with pigment pooled darker along its own border,
/// low-frequency turbulence and, on request (`back_runs`), the odd back-run (a bloom with a
/// cauliflower edge). The layers' optical densities add, which is how glazes combine. Edges dry hard only where the photo is
/// in focus and its tone changes cleanly: out-of-focus passages run wet-in-wet, and busy tone
/// (cobbles, bark) gets a graded wash rather than blotches. Broad highlights stay white paper and a faint
/// graphite underdrawing traces the strongest edges. Away from the subject the washes retreat
/// from the frame into a vignette of white paper, and a gap a wash closes around dries soft
/// instead of reading as a hole punched in it.
/// Print resolution: pigment granulates into the cold-pressed paper's tooth, graphite catches
/// on its ridges, and the paper's relief shows everywhere, even in the white.
public struct WatercolorStyle: RenderStyle {
    public init() {}

    public let info = StyleInfo(
        id: uuid("550e8400-e29b-41d4-a716-446655440000"),
        slug: "watercolor",
        name: "Watercolor",
        description: "Transparent washes layered over simplified shapes, with hard pigment edges and granulation on cold-pressed paper.",
        parameters: [
            StyleParameter(
                name: "paper_texture", description: "How strongly the paper's grain shows and pigment granulates in it (0 = smooth paper).",
                defaultValue: 0.35, minimum: 0, maximum: 1),
            StyleParameter(
                name: "edge_darkness", description: "How much pigment pools at the borders of washes (0 = none).",
                defaultValue: 0.6, minimum: 0, maximum: 1),
            StyleParameter(
                name: "wash_size", description: "Size of the washes and how much the picture is simplified, relative to the default.",
                defaultValue: 1, minimum: 0.5, maximum: 2),
            StyleParameter(
                name: "back_runs", description: "How many back-runs (pale blooms with a dark cauliflower rim) dry in the quiet washes (0 = none).",
                defaultValue: 0, minimum: 0, maximum: 1),
        ]
    )

    /// Washes are broad: the photo is simplified at a modest resolution, and the washes' hard
    /// edges come from thresholds evaluated at `compositeShortSide`.
    public var workingShortSide: Int? { 1000 }

    /// Short side of the coarse fields (light and mid washes) and of the smooth noise fields.
    static let fieldShortSide = 500.0
    static let noiseShortSide = 250.0
    /// Washes are thresholded and composited at this size (never less than the working size,
    /// never more than the print's: a 600 px style preview composites at its own size).
    static let compositeShortSide = 1350.0

    /// One glaze: a flat wash laid wherever the simplified picture is darker than `threshold`.
    struct Layer {
        /// Luminance density above which the wash is laid.
        var threshold: Float
        /// Share of the picture lighter than the threshold in a photo of average key.
        var quantile: Float
        /// Luminance density the wash itself carries.
        var step: Float
        /// Share of the colour (spread of the channel densities) kept where the wash is
        /// lighter than the photo.
        var colourKept: Float
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
    }

    /// Where the picture has no subject the washes stop further in from the frame, by this many
    /// times their own margin (0…3 × with the frame's noise): the painting ends in a wandering,
    /// round-cornered edge of white paper, a vignette, and darker washes always retreat further
    /// than lighter ones. Round 38 (docs/styles.md).
    static let vignette: Float = 2.5
    /// A gap a wash closes around (the wash's shape, blurred over `holeReach` reference pixels,
    /// above 0.55 … 0.85 there) is partly filled by `holeFill` and dries soft, with no pooled
    /// rim: hard-rimmed white holes in dark passages (sunlit gaps in a canopy, bark) were the
    /// judges' "punched holes" (rounds 36 and 37).
    static let holeReach: Float = 50
    static let holeFill: Float = 0.3

    /// The darkest value (density) the first wash may leave as white paper: 85 % transmittance.
    static let paperReserve: Float = 0.16
    /// Paper is reserved only where the picture around (a Gaussian of this sigma, reference
    /// pixels) is light too: between these densities the first wash closes over it.
    static let reserveSurround: Float = 150
    static let reserveSurroundLow: Float = 0.22
    static let reserveSurroundHigh: Float = 0.34
    /// Crispness (`Gradient.crispness`) below which edges are wet-in-wet, and above which hard.
    /// Width of a wash's graded border per unit of the tone's local spread.
    static let gradedBySpread: Float = 2
    static let softFocus: Float = 1.5
    static let hardFocus: Float = 2.6
    /// The middle wash deepens with its source beyond its own threshold (by this share of the
    /// excess density) and the dark wash carries that much less. With flat steps every tone
    /// between the middle and the dark thresholds got the middle wash's light value: in a dark
    /// photo a cobbled road at L 39 was painted at L 84 beside the dark wash — the hard-rimmed
    /// "white holes" of blind rounds 21–24. With it, round 25's watercolor rose 5.63 → 5.83, the
    /// portrait 4.0 → 6.5 and the stream 3.0 → 4.5. A full ramp (1.0) won its paired check only
    /// weakly (9 · 5 · 6), and round 25 already named more "muddy" passages.
    static let middleRamp: Float = 0.6

    static let layers = [
        Layer(
            threshold: 0.10, quantile: 0.08, step: 0.22, colourKept: 0.45, smallest: 60, wobble: 12, wobblePeriod: 130,
            thresholdNoise: 0.06, turbulence: 0.35, turbulencePeriod: 220, margin: 35),
        Layer(
            threshold: 0.38, quantile: 0.40, step: 0.32, colourKept: 0.25, smallest: 44, wobble: 9, wobblePeriod: 90,
            thresholdNoise: 0.06, turbulence: 0.25, turbulencePeriod: 140, margin: 50),
        Layer(
            threshold: 0.75, quantile: 0.72, step: 0.45, colourKept: 0.3, smallest: 28, wobble: 6, wobblePeriod: 60,
            thresholdNoise: 0.05, turbulence: 0.15, turbulencePeriod: 90, margin: 65),
    ]

    /// A grid the picture is held at: its size and its pixels per reference pixel.
    struct Grid {
        let width: Int
        let height: Int
        /// Pixels per reference pixel.
        let scale: Float

        init(working w: Int, _ h: Int, workingScale s: Float, shortSide: Double, round: (Double) -> Double) {
            let factor = shortSide / Double(min(w, h))
            width = max(1, Int(round(Double(w) * factor)))
            height = max(1, Int(round(Double(h) * factor)))
            scale = s * Float(width) / Float(w)
        }

        /// This grid's pixel coordinates of the point at pixel (x, y) of `other`.
        @inline(__always) func map(_ x: Int, _ y: Int, from other: Grid) -> (Float, Float) {
            ((Float(x) + 0.5) * Float(width) / Float(other.width) - 0.5, (Float(y) + 0.5) * Float(height) / Float(other.height) - 0.5)
        }
    }

    public func abstract(_ image: PlanarImage, context: StyleContext) throws(RenderError) -> StyledImage {
        let s = Float(context.workingScale)
        let wash = Float(context.parameters["wash_size"])
        let edgeDarkness = Float(context.parameters["edge_darkness"])
        let backRuns = Float(context.parameters["back_runs"])
        let seed = context.seed
        let w = image.width, h = image.height
        let shortSide = Double(min(w, h))
        let spec = Self.layers

        let working = Grid(working: w, h, workingScale: s, shortSide: shortSide, round: { $0 })
        let fieldGrid = Grid(working: w, h, workingScale: s, shortSide: min(shortSide, Self.fieldShortSide), round: { $0.rounded() })
        let noiseGrid = Grid(working: w, h, workingScale: s, shortSide: min(shortSide, Self.noiseShortSide), round: { $0.rounded() })
        let composite = Grid(
            working: w, h, workingScale: s, shortSide: max(shortSide, min(Self.compositeShortSide, Double(context.layout.content.shortSide))),
            round: { $0.rounded() })
        // Reference pixels of the whole photo at working pixel (0, 0).
        let origin = (x: context.workingAnchor.x / s, y: context.workingAnchor.y / s)

        // 1. Three simplifications of the photo: coarse light wash, mid-tones, detail.
        let gamma: Float = 0.7, chroma: Float = 1.05
        let lab = Colour.srgbToLab(image)
        let labField = PlanarImage(planes: lab.planes.map { Resample.reduce($0, width: fieldGrid.width, height: fieldGrid.height) })
        // Small features go before the edge-aware smoothing, which would keep them if they
        // are contrasty: repeated 3x3 medians remove shapes a few pixels across, keep borders.
        func declutter(_ image: PlanarImage, passes: Int) -> PlanarImage {
            PlanarImage(
                planes: image.planes.map { plane in
                    var p = plane
                    for _ in 0..<passes { p = PlaneMath.median3(p) }
                    return p
                })
        }
        let calmField = declutter(labField, passes: Int((12 * fieldGrid.scale).rounded()))
        let coarse = WatercolorWash.density(
            DomainTransform.smooth(calmField, sigmaSpatial: Double(90 * fieldGrid.scale * wash), sigmaRange: 30), gamma: gamma, chroma: chroma)
        let middleLab = DomainTransform.smooth(calmField, sigmaSpatial: Double(36 * fieldGrid.scale * wash), sigmaRange: 16)
        let middle = WatercolorWash.density(middleLab, gamma: gamma, chroma: chroma)
        // Where colours meet abruptly a painter lays separate washes that stop short of each
        // other: a thin gap of white paper (on some borders; elsewhere they overlap).
        let gaps = Blur.gaussian(WatercolorWash.colourEdges(middleLab, perReference: fieldGrid.scale), sigma: 1)
        let fineLab = DomainTransform.smooth(declutter(lab, passes: Int(3 * s)), sigmaSpatial: Double(12 * s * wash), sigmaRange: 12)
        let fine = WatercolorWash.density(fineLab, gamma: gamma, chroma: chroma)
        // Where the photo is out of focus the washes run wet-in-wet (soft edges, no pooled
        // rim); where it is sharp they dry hard. The depth of field becomes the focal point.
        let crispWorking = PlaneMath.map(Gradient.crispness(lab.planes[0], fine: 1, coarse: 4, window: 6)) {
            WatercolorWash.smoothstep(Self.softFocus, Self.hardFocus, $0)
        }
        let crispField = Resample.reduce(crispWorking, width: fieldGrid.width, height: fieldGrid.height)
        let (subjectField, skinField) = WatercolorWash.subject(labField, simplified: middleLab, sigma: Double(60 * fieldGrid.scale))
        let subjectWorking = Resample.enlarge(subjectField, width: w, height: h)
        // The dark layer's source: the detail on the subject, the middle simplification elsewhere.
        let middleWorking = PlanarImage(planes: middle.planes.map { Resample.enlarge($0, width: w, height: h) })
        let detail = PlanarImage(
            planes: (0..<3).map { c in
                let out = middleWorking.planes[c].copy()
                let f = fine.planes[c], t = subjectWorking
                Parallel.rows(h) { rows in
                    for y in rows {
                        let o = out.row(y), fr = f.row(y), tr = t.row(y)
                        for x in 0..<w { o[x] += (fr[x] - o[x]) * tr[x] }
                    }
                }
                return out
            })

        // 2. Smooth noise fields, anchored to the photo.
        func noise(_ period: Float, _ octaves: Int, _ index: UInt32, on grid: Grid) -> Plane {
            let step = (x: Float(w) / Float(grid.width) / s, y: Float(h) / Float(grid.height) / s)
            return WatercolorWash.noise(
                width: grid.width, height: grid.height, toReference: step,
                origin: (origin.x + (0.5 * step.x * s - 0.5) / s, origin.y + (0.5 * step.y * s - 0.5) / s),
                period: period * wash, octaves: octaves, seed: Noise.stream(seed, index))
        }
        let wobbleX = spec.indices.map { noise(spec[$0].wobblePeriod, 2, 10 + UInt32($0), on: noiseGrid) }
        let wobbleY = spec.indices.map { noise(spec[$0].wobblePeriod, 2, 20 + UInt32($0), on: noiseGrid) }
        let thresholds = spec.indices.map { noise(spec[$0].wobblePeriod * 1.5, 3, 30 + UInt32($0), on: noiseGrid) }
        let turbulence = spec.indices.map { noise(spec[$0].turbulencePeriod, 3, 40 + UInt32($0), on: noiseGrid) }
        let frameNoise = noise(300, 4, 60, on: noiseGrid)
        let bloomNoise = noise(400, 4, 50, on: fieldGrid)

        // 3. Layer fields: each wash is flat, its colour the hue of its simplification at the
        //    layer's own strength; its shape where that simplification is darker than the
        //    layer's threshold, cleaned of shapes and holes smaller than the smallest mark
        //    (a majority filter: blur the coverage, threshold it again at one half).
        //    Layers 0 and 1 at field resolution from the coarse and middle simplifications;
        //    layer 2 at working resolution from the detail.
        let frame = (x: Float(w) / s, y: Float(h) / s)
        // The deckled margin runs along the trim, not the bleed: a lab's cut must not leave a
        // sliver of it (reference pixels, from the content's edges).
        let beyond = context.layout.contentBeyondTrim
        let toReference = Float(w) / Float(context.layout.content.width) / s
        let trimBox = (
            left: Float(beyond.left) * toReference, top: Float(beyond.top) * toReference,
            right: frame.x - Float(beyond.right) * toReference, bottom: frame.y - Float(beyond.bottom) * toReference
        )
        // The middle wash's threshold, which the dark wash's extra depth is measured from.
        var middleThreshold: Float = 0
        func layer(
            _ k: Int, _ source: PlanarImage, grid: Grid, subject: Plane, skin: Plane, crisp: Plane, gaps: Plane? = nil, depth: PlanarImage? = nil
        ) -> PlanarImage {
            let lw = grid.width, lh = grid.height
            let middleWashThreshold = middleThreshold
            var out = PlanarImage(width: lw, height: lh, channels: 7)
            let value = Plane(width: lw, height: lh)
            let layer = spec[k]
            Parallel.rows(lh) { rows in
                for y in rows {
                    let c0 = source.planes[0].row(y), c1 = source.planes[1].row(y), c2 = source.planes[2].row(y)
                    let o0 = out.planes[0].row(y), o1 = out.planes[1].row(y), o2 = out.planes[2].row(y), vr = value.row(y)
                    let d = depth.map { ($0.planes[0].row(y), $0.planes[1].row(y), $0.planes[2].row(y)) }
                    for x in 0..<lw {
                        let v = WatercolorWash.luminanceDensity(c0[x], c1[x], c2[x])
                        vr[x] = v
                        let gain = layer.step / max(v, 0.5 * layer.threshold)
                        // The washes keep much of their colour even where they carry less
                        // density than the photo (watercolour is luminous, not greyed).
                        let hue = max(gain, layer.colourKept)
                        var r = gain * v + (c0[x] - v) * hue, g = gain * v + (c1[x] - v) * hue, b = gain * v + (c2[x] - v) * hue
                        // The darkest passages: more of the same pigment, following the smooth
                        // simplification rather than the detail.
                        if let d {
                            let dv = WatercolorWash.luminanceDensity(d.0[x], d.1[x], d.2[x])
                            let ramped = Self.middleRamp * max(0, dv - middleWashThreshold)
                            let extra = max(0, dv - spec[0].step - spec[1].step - layer.step - 0.1 - ramped) / max(dv, 0.1)
                            r += extra * d.0[x]
                            g += extra * d.1[x]
                            b += extra * d.2[x]
                        }
                        o0[x] = max(0, r)
                        o1[x] = max(0, g)
                        o2[x] = max(0, b)
                    }
                }
            }
            // The picture's own key moves the threshold halfway: a light photo keeps some
            // paper, a dark or mid-toned one still gets its tones split into washes.
            var nominal = (0.5 * layer.threshold + 0.5 * WatercolorWash.quantile(value, layer.quantile))
            // Paper is reserved for real lights only: in a mid-toned photo the lightest tenth is
            // sunlit bark or tarmac, and left white it reads as holes in the picture.
            if k == 0 { nominal = min(nominal, Self.paperReserve) }
            let base = WatercolorWash.valley(value, near: nominal, within: 0.1, weight: subject, grid: (1, 1))
            if k == 1 {
                middleThreshold = base
                // More of the same pigment where the source is darker than the threshold.
                Parallel.rows(lh) { rows in
                    for y in rows {
                        let c0 = source.planes[0].row(y), c1 = source.planes[1].row(y), c2 = source.planes[2].row(y)
                        let o0 = out.planes[0].row(y), o1 = out.planes[1].row(y), o2 = out.planes[2].row(y), vr = value.row(y)
                        for x in 0..<lw {
                            let more = Self.middleRamp * max(0, vr[x] - base) / max(vr[x], 1e-3)
                            o0[x] += more * c0[x]
                            o1[x] += more * c1[x]
                            o2[x] += more * c2[x]
                        }
                    }
                }
            }
            // Paper stays white only in broad lights: a small light shape in a darker passage
            // (a seed head in grass, a sunlit cobble) gets the first wash, or it reads as a hole.
            let surround: Plane? = k == 0 ? Blur.gaussian(value, sigma: Double(Self.reserveSurround * grid.scale * wash)) : nil
            // Where the tone is busy around the threshold (cobbles, bark) a hard cut makes
            // blotches: there the wash is graded over the local spread of the tone instead.
            let spreadSigma = Double(max(1, layer.smallest * 2 * grid.scale * wash))
            let localMean = Blur.gaussian(value, sigma: spreadSigma)
            let spread = PlaneMath.combine(Blur.gaussian(PlaneMath.map(value) { $0 * $0 }, sigma: spreadSigma), localMean) { m2, m in
                (max(0, m2 - m * m)).squareRoot()
            }
            let coverage = Plane(width: lw, height: lh)
            let band: Float = 0.06
            let thresholdNoise = WatercolorWash.Sampler(thresholds[k]), ragged = WatercolorWash.Sampler(frameNoise)
            Parallel.rows(lh) { rows in
                for y in rows {
                    let cv = coverage.row(y), vr = value.row(y), sr = subject.row(y), kr = skin.row(y), spreadRow = spread.row(y)
                    let ry = (Float(y) + 0.5) / grid.scale
                    for x in 0..<lw {
                        let q = noiseGrid.map(x, y, from: grid)
                        let n = thresholdNoise(q.0, q.1) - 0.5
                        let rx = (Float(x) + 0.5) / grid.scale
                        // Washes stop short of the frame, raggedly, further off the subject
                        // (`vignette`), with rounded corners.
                        let dx = min(rx - trimBox.left, trimBox.right - rx), dy = min(ry - trimBox.top, trimBox.bottom - ry)
                        let corner = 2 * Self.vignette * layer.margin
                        let (cx, cy) = (corner - dx, corner - dy)
                        let inset = dx < corner && dy < corner ? corner - (cx * cx + cy * cy).squareRoot() : min(dx, dy)
                        let r = ragged(q.0, q.1)
                        let retreat = Self.vignette * (1 - sr[x]) * layer.margin * max(0, 1 + 4 * (r - 0.5))
                        let edge = inset + layer.margin * (2.4 * (r - 0.5) + 0.6 * n) - retreat
                        let fade = WatercolorWash.smoothstep(layer.margin * 0.3, layer.margin * 1.2, edge)
                        // Skin is washed, not left as paper: a pale face needs its warm tone
                        // and its features (lips, nostrils, lids) to read as a portrait.
                        let threshold = base * (1 - 0.45 * kr[x]) + layer.thresholdNoise * 2 * n * (1 - 0.7 * sr[x])
                        // On skin and fur the washes fade in with the tone (graded, no blotches).
                        let width = band + 0.3 * kr[x] + Self.gradedBySpread * spreadRow[x]
                        var covered = WatercolorWash.smoothstep(threshold - width / 2, threshold + width / 2, vr[x])
                        if let surround {
                            covered = max(covered, WatercolorWash.smoothstep(Self.reserveSurroundLow, Self.reserveSurroundHigh, surround.row(y)[x]))
                        }
                        cv[x] = covered * fade
                    }
                }
            }
            // Majority filter, finer on the subject.
            let smallest = layer.smallest * wash * grid.scale
            let loose = Blur.gaussian(coverage, sigma: Double(max(1.5, smallest * 0.5)))
            let tight = Blur.gaussian(coverage, sigma: Double(max(1, smallest * 0.2)))
            let gapRows: Plane? = gaps.map { gaps in
                let gapNoise = WatercolorWash.Sampler(thresholds[(k + 1) % 3])
                let out = Plane(width: lw, height: lh)
                Parallel.rows(lh) { rows in
                    for y in rows {
                        let g = gaps.row(y), o = out.row(y)
                        for x in 0..<lw {
                            let q = noiseGrid.map(x, y, from: grid)
                            o[x] = 0.6 * g[x] * WatercolorWash.smoothstep(0.4, 0.55, gapNoise(q.0, q.1))
                        }
                    }
                }
                return out
            }
            // Hard edges where the picture changes abruptly, soft (wet-in-wet) where it is
            // shaded gradually: the slope of the value field in density per reference pixel.
            let slope = Gradient.sobelMagnitude(Blur.gaussian(value, sigma: Double(max(1, smallest * 0.6))))
            Parallel.rows(lh) { rows in
                for y in rows {
                    let a = loose.row(y), b = tight.row(y), g = slope.row(y), t = subject.row(y), c = crisp.row(y)
                    let shape = out.planes[3].row(y), hardness = out.planes[4].row(y)
                    for x in 0..<lw {
                        shape[x] = a[x] + (b[x] - a[x]) * t[x] - (gapRows?.row(y)[x] ?? 0)
                        hardness[x] = WatercolorWash.smoothstep(0.0012, 0.005, g[x] * grid.scale) * c[x]
                    }
                }
            }
            // Gaps the wash closes around are partly filled and dry soft.
            let enclosure = Blur.gaussian(out.planes[3], sigma: Double(Self.holeReach * grid.scale))
            Parallel.rows(lh) { rows in
                for y in rows {
                    let e = enclosure.row(y), shape = out.planes[3].row(y), hardness = out.planes[4].row(y)
                    for x in 0..<lw {
                        let hole = WatercolorWash.smoothstep(0.55, 0.85, e[x])
                        shape[x] += Self.holeFill * hole * max(0, 1 - shape[x])
                        hardness[x] *= 1 - hole
                    }
                }
            }
            // The shape's slope turns it into a distance to the wash's border.
            out.planes[5] = Gradient.sobelMagnitude(out.planes[3])
            // Turbulence on this layer's grid, as a density factor.
            let turbulenceSampler = WatercolorWash.Sampler(turbulence[k])
            Parallel.rows(lh) { rows in
                for y in rows {
                    let o = out.planes[6].row(y)
                    for x in 0..<lw {
                        let q = noiseGrid.map(x, y, from: grid)
                        o[x] = 1 + 2 * layer.turbulence * (turbulenceSampler(q.0, q.1) - 0.5)
                    }
                }
            }
            return out
        }
        let layerFields = [
            layer(0, coarse, grid: fieldGrid, subject: subjectField, skin: skinField, crisp: crispField, gaps: gaps),
            layer(1, middle, grid: fieldGrid, subject: subjectField, skin: skinField, crisp: crispField, gaps: gaps),
            layer(
                2, detail, grid: working, subject: subjectWorking, skin: Resample.enlarge(skinField, width: w, height: h), crisp: crispWorking,
                depth: middleWorking),
        ]
        let layerGrids = [fieldGrid, fieldGrid, working]

        // 4. The composite reads every layer's fields (colour, shape, slope, hardness,
        //    turbulence) in one lookup, where its wobble moves them.
        let packedLayers = layerFields.map { WatercolorWash.Packed($0.planes) }
        let packedWobble = WatercolorWash.Packed(wobbleX.indices.flatMap { [wobbleX[$0], wobbleY[$0]] })
        // Back-runs: a few broad blobs of a fractal field, kept off the subject; small or
        // strongly paled ones read as holes in the paper (blind round 7).
        // Back-runs happen in broad, quiet washes: not on the subject, not amid detail.
        // Off by default: with them, the same prints lost 16 paired comparisons of 20 (4 even)
        // on the tuning photos, the judges calling them "stray outlined blotches" and "stains".
        // Many at `back_runs` 1, as many as before they became optional at about 0.67, fewer and
        // smaller below; at 0 none is drawn and the composite skips them.
        let busy = Blur.gaussian(Gradient.sobelMagnitude(labField.planes[0]), sigma: Double(max(1, 25 * fieldGrid.scale)))
        let busyMean = max(Float(busy.mean), 1e-3)
        let bloomField = PlaneMath.map(bloomNoise) { $0 }
        let backRunsOn = backRuns > 0
        let bloomOffset = 0.55 + 0.75 * (1 - backRuns)
        Parallel.rows(fieldGrid.height) { rows in
            for y in rows {
                let o = bloomField.row(y), t = subjectField.row(y), d = busy.row(y)
                for x in 0..<fieldGrid.width { o[x] -= bloomOffset + 0.5 * t[x] + 0.4 * WatercolorWash.smoothstep(0.7, 1.6, d[x] / busyMean) }
            }
        }
        let packedField = WatercolorWash.Packed([subjectField, bloomField, Gradient.sobelMagnitude(bloomField), skinField])
        let bloomAntialias = 0.6 * fieldGrid.scale / composite.scale, bloomRing = 16 * fieldGrid.scale, bloomFade = 16 * fieldGrid.scale

        // 5. Pencil underdrawing: the strongest edges of the detail simplification.
        let ow = composite.width, oh = composite.height
        let pencilWorking = Self.underdrawing(lightness: fineLab.planes[0], subject: subjectWorking, scale: s)
        let pencil = ow == w && oh == h ? pencilWorking : Resample.enlarge(pencilWorking, width: ow, height: oh)

        // 6. Composite at composite resolution: each layer's shape is thresholded through its
        //    distance to the border (the shape minus one half, over its slope), so the border is
        //    anti-aliased at this resolution and the pooled rim has a fixed width on paper. The
        //    densities of the layers add (glazes multiply transmittances).
        let result = PlanarImage(width: ow, height: oh, channels: 4)
        let rimStrength = 1.8 * edgeDarkness
        let layerSamplers = packedLayers.map(\.sampler), wobble = packedWobble.sampler, fields = packedField.sampler
        let amplitude = (0..<3).map { 2 * spec[$0].wobble * wash * layerGrids[$0].scale }
        let antialias = (0..<3).map { 0.6 * layerGrids[$0].scale / composite.scale }
        let rimWidth = (0..<3).map { 10 * layerGrids[$0].scale }
        Parallel.rows(oh) { rows in
            for y in rows {
                let out0 = result.planes[0].row(y), out1 = result.planes[1].row(y), out2 = result.planes[2].row(y), out3 = result.planes[3].row(y)
                let pr = pencil.row(y)
                for x in 0..<ow {
                    let q = noiseGrid.map(x, y, from: composite)
                    let f = fieldGrid.map(x, y, from: composite)
                    let displacement = wobble(q.0, q.1) - 0.5
                    let local = fields(f.0, f.1)
                    // Inside a back-run the wash is paler; the pigment it pushed out dries in a
                    // dark, ragged ring around it.
                    var bloom: Float = 0, ring: Float = 0
                    if backRunsOn {
                        let bloomDistance = local[1] / max(local[2], 1e-4)
                        bloom =
                            WatercolorWash.smoothstep(-bloomAntialias, bloomAntialias, bloomDistance)
                            * (0.4 + 0.6 * WatercolorWash.smoothstep(0, bloomFade, bloomDistance))
                        let outside = -bloomDistance
                        ring =
                            WatercolorWash.smoothstep(-bloomAntialias, bloomAntialias, outside)
                            * (1 - WatercolorWash.smoothstep(0, bloomRing, outside)) * (1 - WatercolorWash.smoothstep(0, bloomRing * 0.3, outside) * 0.5)
                    }
                    var density = SIMD8<Float>.zero
                    for k in 0..<3 {
                        let p0 = layerGrids[k].map(x, y, from: composite)
                        let a = amplitude[k]
                        let v = layerSamplers[k](p0.0 + displacement[2 * k] * a, p0.1 + displacement[2 * k + 1] * a)
                        // v: density r, g, b; shape; hardness; the shape's slope; turbulence.
                        let slope = max(v[5], 1e-4)
                        let distance = (v[3] - 0.5) / slope
                        let softness = min(0.5, 0.06 + 0.44 * (1 - v[4]) + 0.3 * local[3])
                        let width = max(antialias[k], softness / slope)
                        let coverage = WatercolorWash.smoothstep(-width, width, distance)
                        guard coverage > 0 else { continue }
                        // Pigment pools along hard borders, inside the wash; a pale tint (mean
                        // density below 0.6) pools a fainter rim, none below 0.2, or its border
                        // reads as an outline drawn round a white hole.
                        let tint = (v[0] + v[1] + v[2]) / 3
                        let rim =
                            (1 - WatercolorWash.smoothstep(0, rimWidth[k], distance)) * (1 - WatercolorWash.smoothstep(0.1, 0.35, softness))
                            * WatercolorWash.smoothstep(0.2, 0.6, tint)
                        var amount = coverage * (1 + rimStrength * rim) * v[6]
                        if k < 2 { amount *= 1 + (0.8 * ring - 0.12 * bloom) * (1 - v[5]) }
                        density += amount * v
                    }
                    out0[x] = WatercolorWash.encode(exp(-density[0]))
                    out1[x] = WatercolorWash.encode(exp(-density[1]))
                    out2[x] = WatercolorWash.encode(exp(-density[2]))
                    out3[x] = pr[x]
                }
            }
        }
        // The samplers above read these planes through bare pointers.
        withExtendedLifetime((packedLayers, packedWobble, packedField)) {}
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
    static func underdrawing(lightness: Plane, subject: Plane, scale s: Float) -> Plane {
        let sigma = Double(max(0.7, 1.6 * s))
        let narrow = Blur.gaussian(lightness, sigma: sigma)
        let wide = Blur.gaussian(lightness, sigma: sigma * 1.6)
        let out = Plane(width: lightness.width, height: lightness.height)
        let w = lightness.width
        Parallel.rows(lightness.height) { rows in
            for y in rows {
                let n = narrow.row(y), v = wide.row(y), t = subject.row(y), o = out.row(y)
                for x in 0..<w {
                    o[x] = WatercolorWash.smoothstep(1.5 + 2 * (1 - t[x]), 4.5 + 3 * (1 - t[x]), v[x] - n[x]) * (0.3 + 0.7 * t[x])
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
            let settling = 0.2 + WatercolorWash.smoothstep(0.4, 0.8, Noise.value(u / 150, v / 150, seed &+ 3))
            let grain = texture * 0.75 * settling * (0.5 - tooth)
            let p = input + i * bands
            // Granulation shows in the mid-tones; in dark passages it would read as noise.
            let lightness = 0.3 * p[0] + 0.55 * p[1] + 0.15 * p[2]
            let density = 1 + grain * min(1, 2 * lightness)
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
