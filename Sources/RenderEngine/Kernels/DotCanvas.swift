import Foundation

/// One round dab of paint on a lattice cell, in photo-anchored working pixels.
struct PaintDot: Sendable {
    var x: Float
    var y: Float
    /// Radius of the dab's outline before its wobble, working pixels. 0: no dab in this cell.
    var radius: Float = 0
    /// The outline is the ellipse `xx·dx² + 2·xy·dx·dy + yy·dy² = radius²` (determinant 1).
    var xx: Float = 1
    var xy: Float = 0
    var yy: Float = 1
    var colour: (Float, Float, Float) = (0, 0, 0)
    /// Direction of the brush's bristle marks across the dab (unit vector) and their phase.
    var bristle: (Float, Float) = (1, 0)
    var phase: Float = 0
    /// Paint order within the lattice (a hash, so overlaps do not follow the grid).
    var order: UInt32 = 0
}

/// Dabs on a jittered brick lattice laid over the whole photo: cell (column, row) has its
/// nominal centre at ((column + 0.5 + row parity / 2) · pitch, (row + 0.5) · pitch) in photo
/// coordinates (working pixels plus `StyleContext.workingAnchor`), so the dabs sit on the same
/// photo points whatever the crop and the print size.
struct DotLattice: Sendable {
    let pitch: Float
    let firstColumn: Int
    let firstRow: Int
    let columns: Int
    let rows: Int
    var dots: [PaintDot]

    /// The cells covering a working image of `width`×`height` at `anchor`, with one cell to spare.
    init(pitch: Float, width: Int, height: Int, anchor: (x: Float, y: Float)) {
        self.pitch = pitch
        firstColumn = Int((anchor.x / pitch).rounded(.down)) - 2
        firstRow = Int((anchor.y / pitch).rounded(.down)) - 1
        columns = Int(((anchor.x + Float(width)) / pitch).rounded(.up)) + 2 - firstColumn
        rows = Int(((anchor.y + Float(height)) / pitch).rounded(.up)) + 1 - firstRow
        dots = [PaintDot](repeating: PaintDot(x: 0, y: 0), count: columns * rows)
    }

    /// Nominal centre of a cell in photo coordinates.
    @inline(__always) func centre(column: Int, row: Int) -> (x: Float, y: Float) {
        let shift: Float = row & 1 == 0 ? 0.5 : 1
        return ((Float(column) + shift) * pitch, (Float(row) + 0.5) * pitch)
    }

    @inline(__always) func index(column: Int, row: Int) -> Int? {
        let c = column - firstColumn, r = row - firstRow
        guard c >= 0, r >= 0, c < columns, r < rows else { return nil }
        return r * columns + c
    }
}

/// Prints dab lattices over a ground at print resolution. Each print row gathers the dabs whose
/// cells lie within a row of it, clips each to the span of the row it covers and composites
/// them in paint order, so dabs stay round and crisp at any print size, the print is a pure
/// function of position (seamless in strips), and nothing but the dab list is held in memory.
///
/// Input planes: the ground colour (sRGB 0...1, three bands), upsampled by the engine.
struct DotPrint: PrintFinish {
    /// Painted bottom to top.
    let lattices: [DotLattice]
    /// Working pixels per print pixel, per axis.
    let scale: (x: Float, y: Float)
    /// Canvas position of the content's corner, print pixels.
    let contentOrigin: (x: Int, y: Int)
    /// Photo position of the working image's corner, working pixels.
    let anchor: (x: Float, y: Float)
    let seed: UInt32
    /// Outline wobble as a share of the radius.
    let wobble: Float
    /// Brightness difference between the lit and the shaded side of a dab.
    let relief: Float
    /// Brightness swing of the bristle marks inside a dab.
    let bristles: Float
    /// Darkening at a dab's rim.
    let rimShade: Float
    /// Strength of the canvas grain on the ground.
    let grain: Float
    /// Print pixels per reference pixel (grain scale).
    let printScale: Float

    /// A dab that touches the row: its paint order, lattice, cell and pixel span.
    private struct Span {
        var order: UInt64
        var layer: Int32
        var index: Int32
        var first: Int32
        var last: Int32
    }

    func finish(row input: UnsafePointer<Float>, bands: Int, output: UnsafeMutablePointer<UInt8>, x: Int, y: Int, count: Int) {
        let py = (Float(y - contentOrigin.y) + 0.5) * scale.y - 0.5 + anchor.y
        let pixel = max(scale.x, scale.y)
        let inversePixel = 1 / pixel
        // Photo x of pixel i is px0 + i * scale.x.
        let px0 = (Float(x - contentOrigin.x) + 0.5) * scale.x - 0.5 + anchor.x
        let pxEnd = px0 + Float(count - 1) * scale.x

        // The ground, with a soft canvas tooth.
        let colour = UnsafeMutablePointer<Float>.allocate(capacity: 3 * count)
        defer { colour.deallocate() }
        let grainV = Float(y - contentOrigin.y) / printScale
        for i in 0..<count {
            let p = input + i * bands
            let gu = Float(x + i - contentOrigin.x) / printScale
            let tooth = Noise.value(gu * 0.7, grainV * 0.7, seed &+ 7) - 0.5
            let shade = 1 + grain * tooth
            colour[3 * i] = p[0] * shade
            colour[3 * i + 1] = p[1] * shade
            colour[3 * i + 2] = p[2] * shade
        }

        // The dabs that reach this row, clipped to their spans.
        var spans: [Span] = []
        spans.reserveCapacity(256)
        for (layer, lattice) in lattices.enumerated() {
            let pitch = lattice.pitch, inversePitch = 1 / pitch
            let row0 = Int((py * inversePitch).rounded(.down))
            for row in (row0 - 1)...(row0 + 1) {
                let shift: Float = row & 1 == 0 ? 0.5 : 1
                let firstColumn = Int((px0 * inversePitch - shift).rounded(.down)) - 1
                let lastColumn = Int((pxEnd * inversePitch - shift).rounded(.up)) + 1
                for column in firstColumn...lastColumn {
                    guard let index = lattice.index(column: column, row: row) else { continue }
                    let dot = lattice.dots[index]
                    if dot.radius <= 0 { continue }
                    // Where the outline (at its widest wobble) crosses this row.
                    let dy = py - dot.y
                    let reach = dot.radius * (1 + wobble) + pixel
                    let discriminant = dot.xy * dot.xy * dy * dy - dot.xx * (dot.yy * dy * dy - reach * reach)
                    if discriminant <= 0 { continue }
                    let root = discriminant.squareRoot()
                    let left = dot.x + (-dot.xy * dy - root) / dot.xx, right = dot.x + (-dot.xy * dy + root) / dot.xx
                    let first = max(0, Int(((left - px0) / scale.x).rounded(.down)))
                    let last = min(count - 1, Int(((right - px0) / scale.x).rounded(.up)))
                    if first > last { continue }
                    spans.append(
                        Span(order: UInt64(layer) << 32 | UInt64(dot.order), layer: Int32(layer), index: Int32(index), first: Int32(first), last: Int32(last)))
                }
            }
        }
        spans.sort { ($0.order, $0.index) < ($1.order, $1.index) }

        for span in spans {
            let lattice = lattices[Int(span.layer)]
            let dot = lattice.dots[Int(span.index)]
            let dy = py - dot.y
            let band = dot.radius * wobble * 1.2 + pixel
            let f = 2.2 / lattice.pitch
            let noiseSeed = seed &+ UInt32(span.layer)
            let inverseRadius = 1 / dot.radius
            for i in Int(span.first)...Int(span.last) {
                let dx = px0 + Float(i) * scale.x - dot.x
                let q = (dot.xx * dx * dx + 2 * dot.xy * dx * dy + dot.yy * dy * dy).squareRoot()
                var edge = dot.radius
                if abs(q - edge) < band {
                    let px = dot.x + dx
                    edge *= 1 + wobble * (Noise.value(px * f, py * f, noiseSeed) * 2 - 1)
                }
                let coverage = min(max((edge - q) * inversePixel + 0.5, 0), 1)
                if coverage <= 0 { continue }
                // A dab is a low dome of paint lit from the upper left, combed by the bristles,
                // a little thicker (darker) at its rim, which keeps touching dabs of one
                // colour apart.
                let across = (dx * dot.bristle.1 - dy * dot.bristle.0) * inverseRadius
                let streak = Self.wave(across * 4.6 + dot.phase)
                let rim = min(max((q - edge * 0.82) / (edge * 0.18), 0), 1)
                let light = 1 - relief * (dx + dy) * 0.7071 * inverseRadius + bristles * streak - rimShade * rim * rim
                let o = colour + 3 * i
                o[0] += (dot.colour.0 * light - o[0]) * coverage
                o[1] += (dot.colour.1 * light - o[1]) * coverage
                o[2] += (dot.colour.2 * light - o[2]) * coverage
            }
        }
        for i in 0..<(3 * count) { output[i] = Self.byte(colour[i]) }
    }

    @inline(__always) private static func byte(_ v: Float) -> UInt8 {
        UInt8(min(max(v * 255 + 0.5, 0), 255))
    }

    /// A cheap periodic ridge in -1...1 with period 2π (a parabolic approximation of sine).
    @inline(__always) static func wave(_ t: Float) -> Float {
        let u = t * (1 / (2 * .pi))
        let f = u - u.rounded(.down)  // 0..<1
        let s = f < 0.5 ? f * 4 - 1 : 3 - f * 4  // triangle -1...1
        return s * (2 - abs(s)) * 0.999
    }
}

/// Single colours between sRGB (0...1) and CIE L*a*b* (D65).
enum LabColour {
    @inline(__always) private static func f(_ t: Float) -> Float {
        t > 216 / 24389 ? cbrt(t) : (24389 / 27 * t + 16) / 116
    }

    static func fromSrgb(_ rgb: (Float, Float, Float)) -> (Float, Float, Float) {
        let r = Colour.linear(rgb.0), g = Colour.linear(rgb.1), b = Colour.linear(rgb.2)
        let X = (0.4124564 * r + 0.3575761 * g + 0.1804375 * b) / 0.95047
        let Y = 0.2126729 * r + 0.7151522 * g + 0.0721750 * b
        let Z = (0.0193339 * r + 0.1191920 * g + 0.9503041 * b) / 1.08883
        let fx = f(X), fy = f(Y), fz = f(Z)
        return (116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz))
    }

    static func toSrgb(_ lab: (Float, Float, Float)) -> (Float, Float, Float) {
        Colour.labToSrgb(lightness: lab.0, a: lab.1, b: lab.2)
    }
}

extension LabColour {
    /// The largest chroma at `lightness` and `hue` (degrees) that sRGB can show.
    static func maximumChroma(lightness: Float, hue: Float) -> Float {
        let angle = hue * .pi / 180
        var low: Float = 0, high: Float = 160
        for _ in 0..<24 {
            let chroma = (low + high) / 2
            if inGamut((lightness, chroma * cos(angle), chroma * sin(angle))) { low = chroma } else { high = chroma }
        }
        return low
    }

    static func inGamut(_ lab: (Float, Float, Float)) -> Bool {
        let fy = (lab.0 + 16) / 116
        let fx = fy + lab.1 / 500, fz = fy - lab.2 / 200
        func inverse(_ t: Float) -> Float { t * t * t > 216 / 24389 ? t * t * t : (116 * t - 16) / (24389 / 27) }
        let X = inverse(fx) * 0.95047, Y = inverse(fy), Z = inverse(fz) * 1.08883
        let r = 3.2404542 * X - 1.5371385 * Y - 0.4985314 * Z
        let g = -0.9692660 * X + 1.8760108 * Y + 0.0415560 * Z
        let b = 0.0556434 * X - 0.2040259 * Y + 1.0572252 * Z
        let tolerance: Float = 1e-4
        return r >= -tolerance && r <= 1 + tolerance && g >= -tolerance && g <= 1 + tolerance && b >= -tolerance && b <= 1 + tolerance
    }
}

/// A plane kept at 1/`factor` of the working size (blurred fields need no more), sampled in
/// working coordinates.
struct ReducedPlane: Sendable {
    let plane: Plane
    let factor: Int

    /// `source` averaged over `factor`×`factor` blocks (partial blocks at the edges).
    init(_ source: Plane, factor: Int) {
        self.factor = factor
        guard factor > 1 else {
            plane = source
            return
        }
        let w = (source.width + factor - 1) / factor, h = (source.height + factor - 1) / factor
        let out = Plane(width: w, height: h)
        Parallel.rows(h) { rows in
            for y in rows {
                let o = out.row(y)
                let y0 = y * factor, y1 = min(y0 + factor, source.height)
                for x in 0..<w {
                    let x0 = x * factor, x1 = min(x0 + factor, source.width)
                    var sum: Float = 0
                    for sy in y0..<y1 {
                        let r = source.row(sy)
                        for sx in x0..<x1 { sum += r[sx] }
                    }
                    o[x] = sum / Float((y1 - y0) * (x1 - x0))
                }
            }
        }
        plane = out
    }

    init(reduced: Plane, factor: Int) {
        plane = reduced
        self.factor = factor
    }

    /// The value at working position (x, y), bilinear.
    @inline(__always) func sample(_ x: Float, _ y: Float) -> Float {
        let f = Float(factor)
        return plane.bilinear((x + 0.5) / f - 0.5, (y + 0.5) / f - 0.5)
    }

    /// The same plane Gaussian-blurred by `sigma` working pixels.
    func blurred(_ sigma: Double) -> ReducedPlane {
        ReducedPlane(reduced: Blur.gaussian(plane, sigma: sigma / Double(factor)), factor: factor)
    }
}
