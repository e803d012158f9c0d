import Foundation

/// A brush stroke: a band of paint of half-width `radius` along a curved centre line, with
/// a rounded head where the brush landed and a ragged, dry tail where it lifted.
struct BrushStroke: Sendable {
    /// Centre line, at least two points, in canvas pixels.
    var points: [SIMD2<Float>]
    var radius: Float
    /// sRGB, 0...1.
    var colour: SIMD3<Float>
    /// Paint order (increasing) and the seed of the stroke's bristle texture.
    var key: UInt64
    var opacity: Float = 1
    /// Paint height the stroke deposits (arbitrary units; the print finish scales it).
    var thickness: Float = 1
}

/// How the paint of a stroke looks and how it builds up relief.
struct BrushTexture: Sendable {
    /// Lateral size of a bristle streak, in canvas pixels.
    var bristleWidth: Float
    /// Colour variation across the bristles (± fraction of the colour).
    var bristleShade: Float
    /// Height variation across the bristles (± fraction of the thickness).
    var bristleRelief: Float
    /// Extra height where the paint is pushed to the stroke's edges.
    var ridge: Float
    /// Length of the dry, ragged tail beyond the last point, in radii.
    var tail: Float
    /// Under-paint picked up and mixed in along the stroke (0 = clean colour to the end).
    var pickup: Float
    /// Width of the stroke's edge, in canvas pixels (1 = crisp, larger = soft, lost edges).
    var softness: Float
    /// Irregularity of the stroke's edges, as a fraction of the radius.
    var wobble: Float
    /// How much the stroke narrows from its head to its end (0: parallel edges).
    var taper: Float = 0
    /// How much a stroke levels the paint it covers, down to its own thickness (0: paint
    /// piles up; 1: a stroke over thicker paint only adds what exceeds its own deposit).
    var flatten: Float
}

/// RGB paint and its height, painted stroke by stroke.
///
/// Strokes are applied in increasing key order. The surface is split into bands of rows and
/// every band paints the strokes that touch it in that global order, so the result does not
/// depend on how the bands are spread over threads.
struct PaintSurface {
    let colour: PlanarImage
    let height: Plane
    /// How much of each pixel paint covers (0: bare ground), for the canvas weave.
    let coverage: Plane
    static let bandHeight = 24

    /// A surface primed with `ground` (copied) and no relief.
    init(ground: PlanarImage) {
        colour = PlanarImage(planes: ground.planes.prefix(3).map { $0.copy() })
        height = Plane(width: ground.width, height: ground.height)
        coverage = Plane(width: ground.width, height: ground.height)
    }

    func paint(_ strokes: [BrushStroke], texture: BrushTexture) {
        let w = colour.width, h = colour.height
        let sorted = strokes.sorted { $0.key < $1.key }
        let prepared = UnsafeMutableBufferPointer<PreparedStroke>.allocate(capacity: sorted.count)
        defer {
            _ = prepared.deinitialize()
            prepared.deallocate()
        }
        let target = UncheckedSendable(prepared)
        Parallel.rows(sorted.count, minimumChunk: 512) { range in
            for i in range { (target.value.baseAddress! + i).initialize(to: PreparedStroke(sorted[i], texture: texture)) }
        }
        let ordered = UnsafeBufferPointer(prepared)
        let bandCount = (h + Self.bandHeight - 1) / Self.bandHeight
        var bands = [[Int32]](repeating: [], count: bandCount)
        for (index, stroke) in ordered.enumerated() {
            let margin = stroke.radius * (1.15 + texture.tail) + texture.softness + 2
            guard stroke.maxY + margin >= 0, stroke.minY - margin < Float(h), stroke.maxX + margin >= 0, stroke.minX - margin < Float(w) else { continue }
            let first = max(0, Int(stroke.minY - margin) / Self.bandHeight)
            let last = min(bandCount - 1, Int(max(0, stroke.maxY + margin)) / Self.bandHeight)
            guard first <= last else { continue }
            for band in first...last { bands[band].append(Int32(index)) }
        }
        let planes = colour.planes + [height, coverage]
        Parallel.rows(bandCount, minimumChunk: 1) { range in
            for band in range {
                let y0 = band * Self.bandHeight, y1 = min(h, y0 + Self.bandHeight)
                for index in bands[band] {
                    Self.draw(ordered[Int(index)], texture: texture, planes: planes, width: w, rows: y0..<y1)
                }
            }
        }
    }

    /// Slope of the height field per canvas pixel (central differences).
    func heightGradient() -> (Plane, Plane) {
        let w = height.width, h = height.height
        let gx = Plane(width: w, height: h), gy = Plane(width: w, height: h)
        let field = height
        Parallel.rows(h) { rows in
            for y in rows {
                let up = field.row(max(y - 1, 0)), mid = field.row(y), down = field.row(min(y + 1, h - 1))
                let ox = gx.row(y), oy = gy.row(y)
                for x in 0..<w {
                    ox[x] = (mid[min(x + 1, w - 1)] - mid[max(x - 1, 0)]) * 0.5
                    oy[x] = (down[x] - up[x]) * 0.5
                }
            }
        }
        return (gx, gy)
    }

    /// A stroke with its segments measured once, before it is drawn into several bands.
    private struct PreparedStroke {
        /// Per segment: start x, start y, unit direction x, unit direction y.
        let segments: [SIMD4<Float>]
        let lengths: [Float]
        /// Arc length at the start of each segment.
        let starts: [Float]
        let total: Float
        let radius: Float
        let colour: SIMD3<Float>
        let opacity: Float
        let thickness: Float
        /// Per bristle lane (across the stroke): paint load, and how far the bristle reaches
        /// into the tail; one entry per lane plus one.
        let bristles: [SIMD2<Float>]
        /// Half-width factor along the stroke, one entry per `wobbleStep` of arc length.
        let wobble: [Float]
        let minX: Float, minY: Float, maxX: Float, maxY: Float

        init(_ stroke: BrushStroke, texture: BrushTexture) {
            var points = stroke.points
            if points.count < 2 { points.append((points.first ?? .zero) + SIMD2(0.01, 0)) }
            var segments: [SIMD4<Float>] = [], lengths: [Float] = [], starts: [Float] = []
            var total: Float = 0
            for i in 0..<(points.count - 1) {
                let a = points[i], d = points[i + 1] - a
                let length = max((d * d).sum().squareRoot(), 1e-3)
                segments.append(SIMD4(a.x, a.y, d.x / length, d.y / length))
                lengths.append(length)
                starts.append(total)
                total += length
            }
            self.segments = segments
            self.lengths = lengths
            self.starts = starts
            self.total = total
            radius = stroke.radius
            colour = stroke.colour
            opacity = stroke.opacity
            thickness = stroke.thickness
            let seed = UInt32(truncatingIfNeeded: stroke.key >> 17)
            let lanes = max(2, Int((2 * stroke.radius / max(texture.bristleWidth, 0.5)).rounded(.up)))
            bristles = (0...lanes).map { i in
                // Load: smooth across neighbouring lanes; length: independent per bristle.
                SIMD2(Noise.unit(Int32(i), 0, seed), Noise.unit(Int32(i), 1, seed))
            }
            let wobbleCount = Int(total / (1.7 * stroke.radius)) + 4
            wobble = (0..<wobbleCount).map { i in 1 + texture.wobble * (2 * Noise.unit(Int32(i), 2, seed) - 1) }
            minX = points.map(\.x).min()!
            maxX = points.map(\.x).max()!
            minY = points.map(\.y).min()!
            maxY = points.map(\.y).max()!
        }
    }

    /// Linear interpolation in a table at fractional index `t` (clamped).
    @inline(__always) private static func lookup(_ table: UnsafeBufferPointer<Float>, _ t: Float) -> Float {
        let c = min(max(t, 0), Float(table.count - 1))
        let i = min(Int(c), table.count - 2), f = c - Float(i)
        return table[i] + (table[i + 1] - table[i]) * f
    }

    /// Narrows [xMin, xMax] (offsets from the segment start) to where lo ≤ X·cx + Y·cy ≤ hi.
    /// - Returns: false if no x qualifies.
    @inline(__always) private static func clip(_ xMin: inout Float, _ xMax: inout Float, cx: Float, cy: Float, Y: Float, lo: Float, hi: Float) -> Bool {
        let fixed = Y * cy
        if abs(cx) > 1e-6 {
            let p = (lo - fixed) / cx, q = (hi - fixed) / cx
            xMin = max(xMin, min(p, q))
            xMax = min(xMax, max(p, q))
            return xMin <= xMax
        }
        return fixed >= lo && fixed <= hi
    }

    @inline(__always) private static func smoothstep(_ t: Float) -> Float {
        let c = min(max(t, 0), 1)
        return c * c * (3 - 2 * c)
    }

    private static func draw(_ stroke: PreparedStroke, texture: BrushTexture, planes: [Plane], width: Int, rows: Range<Int>) {
        let r = stroke.radius
        let soft = max(texture.softness, 0.5)
        let reach = r * (1 + texture.wobble) + 0.5 * soft
        let tailReach = r * texture.tail + soft
        let last = stroke.segments.count - 1
        let total = stroke.total
        let inverseSpan = 1 / max(total, r)
        let inverseWobble = 1 / (1.7 * r)
        let lanes = Float(stroke.bristles.count - 1)
        // Paint rises over this width at the stroke's edges (a rounded bead, not a cliff).
        let inverseRamp = 1 / max(0.5 * r, 1.5)
        let pr = planes[0], pg = planes[1], pb = planes[2], ph = planes[3], pc = planes[4]
        let colour = stroke.colour
        stroke.segments.withUnsafeBufferPointer { segments in
            stroke.lengths.withUnsafeBufferPointer { lengths in
                stroke.bristles.withUnsafeBufferPointer { bristles in
                    stroke.wobble.withUnsafeBufferPointer { wobble in
                        @inline(__always) func distanceSquared(_ k: Int, _ px: Float, _ py: Float) -> Float {
                            let s = segments[k]
                            let vx = px - s.x, vy = py - s.y
                            let t = min(max(vx * s.z + vy * s.w, 0), lengths[k])
                            let ex = vx - s.z * t, ey = vy - s.w * t
                            return ex * ex + ey * ey
                        }
                        for k in 0...last {
                            let seg = segments[k]
                            let length = lengths[k]
                            let ax = seg.x, ay = seg.y, ux = seg.z, uy = seg.w
                            let segmentStart = stroke.starts[k]
                            // Pixels a segment may own: its body (with the head before the first segment and
                            // the tail after the last), and the wedge outside the bend at its end.
                            for piece in 0..<(k < last ? 2 : 1) {
                                let lo: Float = piece == 1 ? length : (k == 0 ? -(0.6 * r + soft) : 0)
                                let hi: Float = piece == 1 ? length + reach : (k == last ? length + tailReach : length)
                                let next = piece == 1 ? segments[k + 1] : seg
                                let minY = max(rows.lowerBound, Int((min(ay + uy * lo, ay + uy * hi) - reach).rounded(.down)))
                                let maxY = min(rows.upperBound - 1, Int((max(ay + uy * lo, ay + uy * hi) + reach).rounded(.up)))
                                guard minY <= maxY else { continue }
                                for y in minY...maxY {
                                    let py = Float(y) + 0.5
                                    let Y = py - ay
                                    // X range where lo ≤ X·ux + Y·uy ≤ hi and |Y·ux − X·uy| ≤ reach (X = px − ax),
                                    // and for the wedge, before the start of the next segment.
                                    var xMin = -Float.infinity, xMax = Float.infinity
                                    guard clip(&xMin, &xMax, cx: ux, cy: uy, Y: Y, lo: lo, hi: hi),
                                        clip(&xMin, &xMax, cx: -uy, cy: ux, Y: Y, lo: -reach, hi: reach)
                                    else { continue }
                                    if piece == 1 {
                                        let shift = (next.x - ax) * next.z + (next.y - ay) * next.w
                                        guard clip(&xMin, &xMax, cx: next.z, cy: next.w, Y: Y, lo: -reach + shift, hi: shift) else { continue }
                                    }
                                    let x0 = max(0, Int((ax + xMin - 0.5).rounded(.up))), x1 = min(width - 1, Int((ax + xMax - 0.5).rounded(.down)))
                                    guard x0 <= x1 else { continue }
                                    let rowR = pr.row(y), rowG = pg.row(y), rowB = pb.row(y), rowH = ph.row(y), rowC = pc.row(y)
                                    for x in x0...x1 {
                                        let px = Float(x) + 0.5
                                        let vx = px - ax
                                        let t = vx * ux + Y * uy
                                        let n = Y * ux - vx * uy
                                        let tc = min(max(t, 0), length)
                                        let ex = vx - ux * tc, ey = Y - uy * tc
                                        let d2 = ex * ex + ey * ey
                                        if d2 > reach * reach && !(k == last && t > length) { continue }
                                        // The pixel belongs to its nearest segment (ties to the earlier one).
                                        if k > 0 && distanceSquared(k - 1, px, py) <= d2 { continue }
                                        if k < last && distanceSquared(k + 1, px, py) < d2 { continue }
                                        var along: Float, across: Float
                                        if k == 0 && t < 0 {
                                            along = t
                                            across = n
                                        } else if k == last && t > length {
                                            along = segmentStart + t
                                            across = n
                                        } else {
                                            along = segmentStart + tc
                                            across = n < 0 ? -d2.squareRoot() : d2.squareRoot()
                                        }
                                        // Ragged edges: the half-width wanders a little along the stroke, and
                                        // narrows towards the end as the brush lifts.
                                        let progress = min(max(along * inverseSpan, 0), 1)
                                        let edge = r * lookup(wobble, max(along, 0) * inverseWobble) * (1 - texture.taper * progress * progress)
                                        let inside = edge - abs(across)
                                        let lateral = min(max(inside / soft + 0.5, 0), 1)
                                        if lateral <= 0 { continue }
                                        let inverseEdge = 1 / edge
                                        let u = min(abs(across) * inverseEdge, 1)
                                        let profile = (1 - u * u).squareRoot()
                                        // Bristles: streaks across the stroke, each with its own load and length.
                                        let lane = (across * inverseEdge + 1) * 0.5 * lanes
                                        let laneIndex = min(max(Int(lane), 0), Int(lanes) - 1)
                                        let fraction = min(max(lane - Float(laneIndex), 0), 1)
                                        let b0 = bristles[laneIndex], b1 = bristles[laneIndex + 1]
                                        let blend = fraction * fraction * (3 - 2 * fraction)
                                        let bristle = b0.x + (b1.x - b0.x) * blend
                                        let reachOfBristle = fraction < 0.5 ? b0.y : b1.y
                                        // Head: rounded, slightly flattened where the brush landed.
                                        let headDistance = along + 0.6 * r * profile
                                        let head = min(max(headDistance / soft + 0.5, 0), 1)
                                        // Tail: the bristles leave one by one.
                                        let tailDistance = total + tailReach * (0.15 + 0.85 * reachOfBristle) * profile - along
                                        let tail = min(max(tailDistance / soft + 0.5, 0), 1)
                                        let alpha = lateral * head * tail * stroke.opacity
                                        if alpha <= 0.002 { continue }
                                        let v = min(max(along * inverseSpan, 0), 1)
                                        // Wet-in-wet: as the brush empties, bristles drag the paint below along.
                                        let mix = min(1, texture.pickup * v * (0.4 + 1.2 * bristle))
                                        let colourAlpha = alpha * (1 - mix)
                                        let shade = 1 + texture.bristleShade * (2 * bristle - 1)
                                        rowR[x] += (colour.x * shade - rowR[x]) * colourAlpha
                                        rowG[x] += (colour.y * shade - rowG[x]) * colourAlpha
                                        rowB[x] += (colour.z * shade - rowB[x]) * colourAlpha
                                        // Relief: a rounded bead with a ridge of pushed paint inside each edge,
                                        // bristle grooves along the stroke, thinning as the brush empties.
                                        let heightAlpha =
                                            smoothstep(inside * inverseRamp) * smoothstep(headDistance * inverseRamp) * smoothstep(tailDistance * inverseRamp)
                                            * stroke.opacity
                                        let ridgeOffset = (u - 0.72) * 6
                                        let ridge = texture.ridge * max(0, 1 - ridgeOffset * ridgeOffset)
                                        let deposit = stroke.thickness * (1 - 0.35 * v) * (0.75 + ridge + texture.bristleRelief * (2 * bristle - 1))
                                        rowH[x] += heightAlpha * (deposit - texture.flatten * min(rowH[x], deposit))
                                        rowC[x] += alpha * (1 - rowC[x])
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The direction strokes follow: tangents of the smoothed structure tensor of an image,
/// pulled towards a gently varying default direction where the image has no structure.
struct StrokeFlow {
    /// Unit tangents, possibly on a coarser grid than the canvas: one sample per `factor`
    /// pixels, the first block starting `offset` pixels before the canvas.
    let tangentX: Plane
    let tangentY: Plane
    let factor: Int
    let offset: (x: Int, y: Int)
    /// On the same grid, 0...1: the default direction's share of the structure, near 1 where
    /// the image is flat (a clear sky, a lawn) and the flow is the default's, not the image's.
    let flatness: Plane

    /// Block means of `plane`: block (i, j) covers canvas pixels from (i·factor − offset.x,
    /// j·factor − offset.y), clipped to the plane.
    static func reduce(_ plane: Plane, factor: Int, offset: (x: Int, y: Int), width: Int, height: Int) -> Plane {
        let out = Plane(width: width, height: height)
        Parallel.rows(height) { rows in
            for j in rows {
                let y0 = max(0, j * factor - offset.y), y1 = min(plane.height, (j + 1) * factor - offset.y)
                let o = out.row(j)
                for i in 0..<width {
                    let x0 = max(0, i * factor - offset.x), x1 = min(plane.width, (i + 1) * factor - offset.x)
                    var sum: Float = 0
                    for y in y0..<max(y0, y1) {
                        let r = plane.row(y)
                        for x in x0..<max(x0, x1) { sum += r[x] }
                    }
                    o[i] = sum / Float(max(1, (y1 - y0) * (x1 - x0)))
                }
            }
        }
        return out
    }

    /// The default direction where the photo is flat: broad, slowly turning diagonals (unit
    /// tangent planes), a pure function of the photo position.
    static func prior(width w: Int, height h: Int, anchor: (x: Float, y: Float), scale: Float, angle: Float, swing: Float, seed: UInt32) -> (Plane, Plane) {
        let cx = Plane(width: w, height: h), cy = Plane(width: w, height: h)
        Parallel.rows(h) { rows in
            for y in rows {
                let ox = cx.row(y), oy = cy.row(y)
                for x in 0..<w {
                    let theta = angle + swing * (Noise.value((Float(x) + anchor.x) / scale, (Float(y) + anchor.y) / scale, seed) - 0.5)
                    ox[x] = cos(theta)
                    oy[x] = sin(theta)
                }
            }
        }
        return (cx, cy)
    }

    /// The unsmoothed structure tensor (Sobel gradients summed over the planes): E, F, G,
    /// with the Sobel kernel normalised by 1/8.
    static func tensor(_ image: PlanarImage) -> PlanarImage {
        let (e, f, g) = OrientationField.raw(image, sobelScale: 0.125)
        return PlanarImage(planes: [e, f, g])
    }

    /// - Parameters:
    ///   - tensor: from `tensor(_:)`.
    ///   - sigma: smoothing of the tensor in pixels.
    ///   - prior: default unit tangent where the image is flat (see `prior(...)`).
    ///   - priorWeight: strength of the default, relative to the image's mean structure.
    ///   - anchor: canvas position of the photo's corner: the coarse grid is laid on the photo,
    ///     so two crops of one photo get the same flow where they overlap.
    static func compute(tensor: PlanarImage, sigma: Double, prior: (Plane, Plane), priorWeight: Float, anchor: (x: Float, y: Float)) -> StrokeFlow {
        // A flow smoothed over σ needs no more than a sample every σ/3 pixels.
        let factor = max(1, Int(sigma / 3))
        let offsetX = ((Int(anchor.x.rounded()) % factor) + factor) % factor, offsetY = ((Int(anchor.y.rounded()) % factor) + factor) % factor
        let w = (tensor.width + offsetX + factor - 1) / factor, h = (tensor.height + offsetY + factor - 1) / factor
        func coarse(_ plane: Plane) -> Plane {
            factor == 1 ? plane : reduce(plane, factor: factor, offset: (offsetX, offsetY), width: w, height: h)
        }
        let (e, f, g) = (coarse(tensor.planes[0]), coarse(tensor.planes[1]), coarse(tensor.planes[2]))
        let coarseSigma = sigma / Double(factor)
        let se = Blur.gaussian(e, sigma: coarseSigma), sf = Blur.gaussian(f, sigma: coarseSigma), sg = Blur.gaussian(g, sigma: coarseSigma)
        // The default direction's weight, relative to a typical photo's structure.
        let weight = priorWeight * 0.004
        let (priorX, priorY) = (coarse(prior.0), coarse(prior.1))
        let tx = Plane(width: w, height: h), ty = Plane(width: w, height: h), flatness = Plane(width: w, height: h)
        Parallel.rows(h) { rows in
            for y in rows {
                let re = se.row(y), rf = sf.row(y), rg = sg.row(y), px = priorX.row(y), py = priorY.row(y)
                let otx = tx.row(y), oty = ty.row(y), of = flatness.row(y)
                for x in 0..<w {
                    of[x] = weight / (weight + re[x] + rg[x])
                    // The default tangent (c, s) as the tensor of its normal (−s, c).
                    let nx = -py[x], ny = px[x]
                    let E = re[x] + weight * nx * nx, F = rf[x] + weight * nx * ny, G = rg[x] + weight * ny * ny
                    let root = ((E - G) * (E - G) + 4 * F * F).squareRoot()
                    let l2 = (E + G - root) * 0.5
                    // Eigenvector of the smaller eigenvalue (the tangent), in its stabler form.
                    var vx = F, vy = l2 - E
                    if abs(E - l2) < abs(G - l2) {
                        vx = l2 - G
                        vy = F
                    }
                    let length = (vx * vx + vy * vy).squareRoot()
                    if length > 1e-20 {
                        otx[x] = vx / length
                        oty[x] = vy / length
                    } else {
                        otx[x] = px[x]
                        oty[x] = py[x]
                    }
                }
            }
        }
        return StrokeFlow(tangentX: tx, tangentY: ty, factor: factor, offset: (offsetX, offsetY), flatness: flatness)
    }

    @inline(__always) func tangent(_ x: Float, _ y: Float) -> SIMD2<Float> {
        let (ix, iy) = cell(x, y)
        return SIMD2(tangentX[ix, iy], tangentY[ix, iy])
    }

    @inline(__always) func flatness(_ x: Float, _ y: Float) -> Float {
        let (ix, iy) = cell(x, y)
        return flatness[ix, iy]
    }

    @inline(__always) private func cell(_ x: Float, _ y: Float) -> (Int, Int) {
        (
            min(max((Int(x.rounded(.down)) + offset.x) / factor, 0), tangentX.width - 1),
            min(max((Int(y.rounded(.down)) + offset.y) / factor, 0), tangentX.height - 1)
        )
    }
}

/// One pass of Hertzmann's painter (SIGGRAPH 1998): a brush size and where it may paint.
struct StrokeLayer: Sendable {
    var radius: Float
    /// Grid cell size in pixels; one stroke at most per cell.
    var spacing: Float
    /// Mean colour error (RGB distance) in a cell above which the cell gets a stroke.
    var threshold: Float
    /// Paint every cell, whatever the error (the first layer on a bare canvas).
    var cover: Bool
    /// Stroke length in steps: at least `minSteps`, at most `maxSteps`.
    var minSteps: Int
    var maxSteps: Int
    /// Step length in pixels.
    var step: Float
    /// Weight of the previous direction at each step (0: follow the flow exactly).
    var inertia: Float
    /// Colour distance from the stroke's colour at which a stroke stops (an edge).
    var edgeStop: Float
    var thickness: Float
    /// Largest angle (radians) by which a stroke leans off the flow.
    var angleJitter: Float = 0
    /// Largest further lean where the image is flat (`StrokeFlow.flatness`): there strokes
    /// cross every way, as a painter lays in a sky. Following the faint gradients of a sky or
    /// a lawn they drew concentric arcs (blind round 49: "mechanical sky swirls").
    var flatJitter: Float = 0
}

enum StrokePlacer {
    /// The strokes of one layer, decided in parallel from the canvas as it was before the
    /// layer (as in Hertzmann's paper).
    /// - Parameters:
    ///   - reference: the photo blurred to this layer's scale (RGB 0...1).
    ///   - anchor: canvas position of the photo's corner, so cells stay on the same photo points.
    ///   - importance: optional, 0...1 at any resolution: the error threshold is divided by it, so
    ///     fine strokes gather on the subject and the background stays broad.
    static func place(
        _ layer: StrokeLayer, index: Int, reference: PlanarImage, flow: StrokeFlow, canvas: PlanarImage,
        anchor: (x: Float, y: Float), seed: UInt64, importance: CellMap? = nil
    ) -> [BrushStroke] {
        let w = reference.width, h = reference.height
        let error = Plane(width: w, height: h)
        if !layer.cover {
            Parallel.rows(h) { rows in
                for y in rows {
                    let o = error.row(y)
                    let r0 = reference.planes[0].row(y), r1 = reference.planes[1].row(y), r2 = reference.planes[2].row(y)
                    let c0 = canvas.planes[0].row(y), c1 = canvas.planes[1].row(y), c2 = canvas.planes[2].row(y)
                    for x in 0..<w {
                        let d0 = r0[x] - c0[x], d1 = r1[x] - c1[x], d2 = r2[x] - c2[x]
                        o[x] = (d0 * d0 + d1 * d1 + d2 * d2).squareRoot()
                    }
                }
            }
        }
        let spacing = layer.spacing
        let firstColumn = Int((anchor.x / spacing).rounded(.down)), lastColumn = Int(((anchor.x + Float(w)) / spacing).rounded(.up))
        let firstRow = Int((anchor.y / spacing).rounded(.down)), lastRow = Int(((anchor.y + Float(h)) / spacing).rounded(.up))
        let columns = lastColumn - firstColumn + 1, rows = lastRow - firstRow + 1
        let cells = UnsafeMutableBufferPointer<BrushStroke?>.allocate(capacity: columns * rows)
        cells.initialize(repeating: nil)
        defer {
            _ = cells.deinitialize()
            cells.deallocate()
        }
        let storage = UncheckedSendable(cells)
        Parallel.rows(rows, minimumChunk: 1) { range in
            for row in range {
                for column in 0..<columns {
                    let gx = column + firstColumn, gy = row + firstRow
                    let x0 = max(0, Int((Float(gx) * spacing - anchor.x).rounded(.down)))
                    let y0 = max(0, Int((Float(gy) * spacing - anchor.y).rounded(.down)))
                    let x1 = min(w, Int((Float(gx + 1) * spacing - anchor.x).rounded(.down)))
                    let y1 = min(h, Int((Float(gy + 1) * spacing - anchor.y).rounded(.down)))
                    guard x0 < x1, y0 < y1 else { continue }
                    let key = markKey(index, gx, gy, seed: seed)
                    var start: SIMD2<Float>
                    if layer.cover {
                        start = SIMD2(
                            Float(x0) + keyUnit(key, 1) * Float(x1 - x0),
                            Float(y0) + keyUnit(key, 2) * Float(y1 - y0))
                    } else {
                        var sum: Float = 0, worst: Float = -1
                        var at = (x0, y0)
                        for y in y0..<y1 {
                            let e = error.row(y)
                            for x in x0..<x1 {
                                sum += e[x]
                                if e[x] > worst {
                                    worst = e[x]
                                    at = (x, y)
                                }
                            }
                        }
                        var threshold = layer.threshold
                        if let importance {
                            threshold /= max(importance.value(at: SIMD2(Float(x0 + x1) / 2, Float(y0 + y1) / 2)), 0.2)
                        }
                        guard sum / Float((x1 - x0) * (y1 - y0)) > threshold else { continue }
                        start = SIMD2(Float(at.0) + 0.5, Float(at.1) + 0.5)
                    }
                    storage.value[row * columns + column] = stroke(from: start, layer: layer, reference: reference, flow: flow, canvas: canvas, key: key)
                }
            }
        }
        return cells.compactMap { $0 }
    }

    /// Grows a stroke both ways from `start` along the flow until it reaches an edge, the canvas
    /// there already matches the photo better than the stroke's colour would, or the length limit.
    static func stroke(
        from start: SIMD2<Float>, layer: StrokeLayer, reference: PlanarImage, flow: StrokeFlow, canvas: PlanarImage, key: UInt64
    ) -> BrushStroke {
        let w = reference.width, h = reference.height
        @inline(__always) func sample(_ image: PlanarImage, _ p: SIMD2<Float>) -> SIMD3<Float> {
            let x = min(max(Int(p.x), 0), w - 1), y = min(max(Int(p.y), 0), h - 1)
            return SIMD3(image.planes[0][x, y], image.planes[1][x, y], image.planes[2][x, y])
        }
        @inline(__always) func distance(_ a: SIMD3<Float>, _ b: SIMD3<Float>) -> Float {
            let d = a - b
            return (d * d).sum().squareRoot()
        }
        let colour = sample(reference, start)
        var halves: [[SIMD2<Float>]] = [[], []]
        // Split the length budget between the two directions, at random.
        let forwardShare = 0.3 + 0.4 * keyUnit(key, 6)
        // Lengths vary from stroke to stroke (a wall of equal strokes reads as brickwork).
        let maxSteps = max(layer.minSteps, Int((Float(layer.maxSteps) * (0.55 + 0.6 * keyUnit(key, 5))).rounded()))
        let forward = Int((Float(maxSteps) * forwardShare).rounded())
        var steps = [forward, maxSteps - forward]
        let minimum = [Int((Float(layer.minSteps) * forwardShare).rounded(.up)), layer.minSteps - Int((Float(layer.minSteps) * forwardShare).rounded(.up))]
        steps[1] = max(steps[1], 0)
        // Each stroke leans a little off the flow, so neighbours cross rather than stack.
        let lean = (keyUnit(key, 4) - 0.5) * 2 * (layer.angleJitter + layer.flatJitter * flow.flatness(start.x, start.y))
        let (cosLean, sinLean) = (cos(lean), sin(lean))
        @inline(__always) func heading(at p: SIMD2<Float>) -> SIMD2<Float> {
            let t = flow.tangent(p.x, p.y)
            return SIMD2(t.x * cosLean - t.y * sinLean, t.x * sinLean + t.y * cosLean)
        }
        for direction in 0..<2 {
            var p = start
            var last = heading(at: p)
            if direction == 1 { last = -last }
            for step in 0..<steps[direction] {
                var d = heading(at: p)
                if (d * last).sum() < 0 { d = -d }
                d = d * (1 - layer.inertia) + last * layer.inertia
                let length = (d * d).sum().squareRoot()
                guard length > 1e-4 else { break }
                d /= length
                let next = p + d * layer.step
                if next.x < -layer.radius || next.y < -layer.radius || next.x > Float(w) + layer.radius || next.y > Float(h) + layer.radius { break }
                if step >= minimum[direction] {
                    let r = sample(reference, next)
                    if distance(r, colour) > layer.edgeStop { break }
                    if !layer.cover && distance(r, sample(canvas, next)) < distance(r, colour) { break }
                }
                halves[direction].append(next)
                p = next
                last = d
            }
        }
        var points = Array(halves[1].reversed()) + [start] + halves[0]
        if points.count == 1 { points.append(start + flow.tangent(start.x, start.y) * 0.5) }
        return BrushStroke(points: points, radius: layer.radius, colour: colour, key: key, thickness: layer.thickness)
    }
}
