import Foundation

/// A paint mark: a round dab, or a thick polyline (a brush stroke) of capsules.
struct PaintMark: Sendable {
    var points: [(Float, Float)]
    var radius: Float
    var colour: (Float, Float, Float)
    /// Paint order: marks are applied in increasing key order (a hash, so no grid pattern).
    var key: UInt64
    var opacity: Float = 1

    var bounds: (minX: Float, minY: Float, maxX: Float, maxY: Float) {
        var b = (Float.infinity, Float.infinity, -Float.infinity, -Float.infinity)
        for (x, y) in points {
            b = (min(b.0, x), min(b.1, y), max(b.2, x), max(b.3, y))
        }
        return (b.0 - radius - 1, b.1 - radius - 1, b.2 + radius + 1, b.3 + radius + 1)
    }
}

/// RGB planes that marks are painted onto, anti-aliased, in parallel and deterministically:
/// the canvas is split into bands of rows, and every band paints the marks that touch it in
/// the same global order, so the result does not depend on how the work was split.
struct StrokeCanvas {
    let image: PlanarImage
    static let bandHeight = 32

    init(width: Int, height: Int, paper: (Float, Float, Float)) {
        image = PlanarImage(width: width, height: height, channels: 3)
        let planes = image.planes
        Parallel.rows(height) { rows in
            for y in rows {
                let r = planes[0].row(y), g = planes[1].row(y), b = planes[2].row(y)
                for x in 0..<width {
                    r[x] = paper.0
                    g[x] = paper.1
                    b[x] = paper.2
                }
            }
        }
    }

    /// A canvas that starts from an existing picture (an underpainting).
    init(underpainting: PlanarImage) {
        image = PlanarImage(planes: underpainting.planes.map { $0.copy() })
    }

    func paint(_ marks: [PaintMark]) {
        let w = image.width, h = image.height
        let ordered = marks.sorted { $0.key < $1.key }
        let bandCount = (h + Self.bandHeight - 1) / Self.bandHeight
        var bands = [[Int]](repeating: [], count: bandCount)
        for (index, mark) in ordered.enumerated() {
            let b = mark.bounds
            guard b.maxY >= 0, b.minY < Float(h), b.maxX >= 0, b.minX < Float(w) else { continue }
            let first = max(0, Int(b.minY) / Self.bandHeight), last = min(bandCount - 1, Int(b.maxY) / Self.bandHeight)
            for band in first...last { bands[band].append(index) }
        }
        let planes = image.planes
        Parallel.rows(bandCount, minimumChunk: 1) { range in
            for band in range {
                let y0 = band * Self.bandHeight, y1 = min(h, y0 + Self.bandHeight)
                for index in bands[band] { Self.draw(ordered[index], planes: planes, width: w, rows: y0..<y1) }
            }
        }
    }

    /// Rasterises one mark into rows `rows`: coverage from the distance to the stroke's
    /// centre line, one pixel of anti-aliasing.
    private static func draw(_ mark: PaintMark, planes: [Plane], width: Int, rows: Range<Int>) {
        let points = mark.points
        let r = mark.radius
        let segments = max(1, points.count - 1)
        for s in 0..<segments {
            let (ax, ay) = points[s]
            let (bx, by) = points[min(s + 1, points.count - 1)]
            let minX = max(0, Int((min(ax, bx) - r - 1).rounded(.down))), maxX = min(width - 1, Int((max(ax, bx) + r + 1).rounded(.up)))
            let minY = max(rows.lowerBound, Int((min(ay, by) - r - 1).rounded(.down)))
            let maxY = min(rows.upperBound - 1, Int((max(ay, by) + r + 1).rounded(.up)))
            guard minX <= maxX, minY <= maxY else { continue }
            let dx = bx - ax, dy = by - ay
            let lengthSquared = max(dx * dx + dy * dy, 1e-6)
            for y in minY...maxY {
                let pr = planes[0].row(y), pg = planes[1].row(y), pb = planes[2].row(y)
                let py = Float(y) + 0.5
                for x in minX...maxX {
                    let px = Float(x) + 0.5
                    let t = min(max(((px - ax) * dx + (py - ay) * dy) / lengthSquared, 0), 1)
                    let ex = px - (ax + t * dx), ey = py - (ay + t * dy)
                    let distance = (ex * ex + ey * ey).squareRoot()
                    let coverage = min(max(r - distance + 0.5, 0), 1) * mark.opacity
                    if coverage <= 0 { continue }
                    pr[x] += (mark.colour.0 - pr[x]) * coverage
                    pg[x] += (mark.colour.1 - pg[x]) * coverage
                    pb[x] += (mark.colour.2 - pb[x]) * coverage
                }
            }
        }
    }
}

/// A deterministic 64-bit key from integers (paint order, jitter).
@inline(__always) func markKey(_ a: Int, _ b: Int, _ c: Int, seed: UInt64) -> UInt64 {
    var h = seed ^ 0x9E37_79B9_7F4A_7C15
    for v in [a, b, c] {
        h ^= UInt64(bitPattern: Int64(v)) &+ 0x9E37_79B9_7F4A_7C15 &+ (h << 6) &+ (h >> 2)
        h = (h ^ (h >> 30)) &* 0xBF58_476D_1CE4_E5B9
        h = (h ^ (h >> 27)) &* 0x94D0_49BB_1331_11EB
        h ^= h >> 31
    }
    return h
}

/// Uniform 0..<1 from a key and a lane.
@inline(__always) func keyUnit(_ key: UInt64, _ lane: UInt64) -> Float {
    var h = key &+ lane &* 0x9E37_79B9_7F4A_7C15
    h = (h ^ (h >> 30)) &* 0xBF58_476D_1CE4_E5B9
    h = (h ^ (h >> 27)) &* 0x94D0_49BB_1331_11EB
    h ^= h >> 31
    return Float(h >> 40) / Float(1 << 24)
}
