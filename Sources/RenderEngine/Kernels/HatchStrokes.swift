import Foundation

/// Hand-drawn hatching as a pure function of print position, for pencil and charcoal.
///
/// A hatching direction is one of `HatchStrokes.bins` fixed angles; for each, the plane is cut
/// into parallel bands `spacing` apart and every band into cells `length` long, each cell holding
/// at most one stroke with its own offset, bow, tilt, width, pressure and gate (a random number
/// the caller compares with the tone to decide whether the stroke is drawn, so shadows fill in
/// stroke by stroke). Straight strokes in fixed directions, chosen per region from a smooth
/// direction field, look like a hand hatching patch after patch; rotating a pattern with the
/// field would bend and tear it.
enum HatchStrokes {
    static let bins = 6

    /// Stroke geometry in reference pixels.
    struct Pen: Sendable {
        var spacing: Float
        var length: Float
        var width: Float
        /// Half-width of the anti-aliasing ramp (about half a print pixel).
        var feather: Float
        /// Sideways bow of a stroke, as a fraction of the spacing.
        var bow: Float
        /// Evaluate the neighbouring band too (strokes wider than about half the spacing).
        var overlapping: Bool
    }

    struct Mark {
        var cover: Float
        var pressure: Float
        var gate: Float
    }

    private static let unitDirections: [(Float, Float)] = (0..<bins).map { k in
        let angle = Float(k) * .pi / Float(bins)
        return (cos(angle), sin(angle))
    }

    /// Unit direction of bin `k` (any integer, taken modulo `bins`).
    @inline(__always) static func direction(_ k: Int) -> (Float, Float) {
        unitDirections[((k % bins) + bins) % bins]
    }

    /// The stroke of bin direction `(c, s)` covering reference position (u, v), if any.
    /// `phase` shifts the bands sideways by a fraction of the spacing (a second pass of the
    /// same direction between the first one's strokes).
    @inline(__always) static func mark(u: Float, v: Float, c: Float, s: Float, pen: Pen, phase: Float = 0, seed: UInt32) -> Mark {
        let along = u * c + v * s, across = v * c - u * s - phase * pen.spacing
        let bandPosition = across / pen.spacing
        let band = bandPosition.rounded(.down)
        var best = cell(along: along, across: across, band: band, pen: pen, seed: seed)
        if pen.overlapping {
            let neighbour = bandPosition - band < 0.5 ? band - 1 : band + 1
            let other = cell(along: along, across: across, band: neighbour, pen: pen, seed: seed)
            if other.cover * other.pressure > best.cover * best.pressure { best = other }
        }
        return best
    }

    @inline(__always) private static func cell(along: Float, across: Float, band: Float, pen: Pen, seed: UInt32) -> Mark {
        let j = Int32(truncatingIfNeeded: Int(band))
        let shifted = along + Noise.unit(j, 0x51, seed) * pen.length
        let cellPosition = shifted / pen.length
        let m = cellPosition.rounded(.down)
        let key = Noise.hash(j, Int32(truncatingIfNeeded: Int(m)), seed)
        @inline(__always) func unit(_ lane: UInt32) -> Float {
            Float(Noise.hash(Int32(bitPattern: key), Int32(bitPattern: lane), seed &+ 0x2F) >> 8) * (1 / 16_777_216)
        }
        // Where in its cell the stroke starts and ends: gaps between strokes along a band.
        let start = 0.14 * unit(1), end = 1 - 0.14 * unit(2)
        let t = (cellPosition - m - start) / (end - start)
        guard t > 0, t < 1 else { return Mark(cover: 0, pressure: 0, gate: 1) }
        let offset = (unit(3) - 0.5) * 0.3
        let bow = pen.bow * (unit(4) - 0.5) * 2 * (4 * (t - 0.5) * (t - 0.5) - 1 / 3)
        let tilt = (unit(5) - 0.5) * 0.25 * (t - 0.5)
        let centre = (band + 0.5 + offset + bow + tilt) * pen.spacing
        // Pointed ends: the width tapers over the first and last fifth of the stroke.
        let taper = min(1, min(t, 1 - t) * 5)
        let halfWidth = 0.5 * pen.width * (0.8 + 0.4 * unit(6)) * (0.35 + 0.65 * taper)
        let distance = abs(across - centre)
        let cover = min(max((halfWidth - distance) / (2 * pen.feather) + 0.5, 0), 1)
        // Pressure: a firm start, a lighter flick at the end.
        let pressure = (0.7 + 0.3 * unit(7)) * (1 - 0.35 * t * t)
        return Mark(cover: cover, pressure: pressure, gate: unit(8))
    }
}
