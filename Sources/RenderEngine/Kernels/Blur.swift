import Foundation

/// Separable blurs on planes, O(1) per pixel whatever the radius (running sums).
enum Blur {
    /// Gaussian approximated by three box blurs (Wells 1986; widths from Kovesi's
    /// "boxes for Gauss"): within a few percent of a true Gaussian, at a fixed cost per pixel.
    static func gaussian(_ plane: Plane, sigma: Double) -> Plane {
        guard sigma > 0.3 else { return plane.copy() }
        var out = plane
        for radius in boxRadii(sigma: sigma, passes: 3) {
            out = box(out, radius: radius)
        }
        return out
    }

    /// Radii of `passes` box filters whose cascade has standard deviation `sigma`.
    static func boxRadii(sigma: Double, passes: Int) -> [Int] {
        let n = Double(passes)
        let ideal = (12 * sigma * sigma / n + 1).squareRoot()
        var lower = Int(ideal.rounded(.down))
        if lower % 2 == 0 { lower -= 1 }
        let upper = lower + 2
        let l = Double(lower)
        let m = ((12 * sigma * sigma - n * l * l - 4 * n * l - 3 * n) / (-4 * l - 4)).rounded()
        return (0..<passes).map { i in ((Double(i) < m ? lower : upper) - 1) / 2 }
    }

    /// Mean over a (2r+1)² window, edges clamped.
    static func box(_ plane: Plane, radius r: Int) -> Plane {
        guard r > 0 else { return plane.copy() }
        let horizontal = Plane(width: plane.width, height: plane.height)
        boxHorizontal(plane, into: horizontal, radius: r)
        let out = Plane(width: plane.width, height: plane.height)
        boxVertical(horizontal, into: out, radius: r)
        return out
    }

    static func boxHorizontal(_ src: Plane, into dst: Plane, radius r: Int) {
        let w = src.width
        let norm = 1 / Float(2 * r + 1)
        Parallel.rows(src.height) { rows in
            for y in rows {
                let s = src.row(y), d = dst.row(y)
                var sum: Float = 0
                for k in -r...r { sum += s[min(max(k, 0), w - 1)] }
                for x in 0..<w {
                    d[x] = sum * norm
                    sum += s[min(x + r + 1, w - 1)] - s[max(x - r, 0)]
                }
            }
        }
    }

    /// Rows processed top to bottom with a running sum per column: contiguous and vectorisable.
    static func boxVertical(_ src: Plane, into dst: Plane, radius r: Int) {
        let w = src.width, h = src.height
        let norm = 1 / Float(2 * r + 1)
        Parallel.rows(w, minimumChunk: 64) { columns in
            let x0 = columns.lowerBound, n = columns.count
            let sum = UnsafeMutablePointer<Float>.allocate(capacity: n)
            defer { sum.deallocate() }
            sum.initialize(repeating: 0, count: n)
            for k in -r...r {
                let s = src.row(min(max(k, 0), h - 1)) + x0
                for i in 0..<n { sum[i] += s[i] }
            }
            for y in 0..<h {
                let d = dst.row(y) + x0
                for i in 0..<n { d[i] = sum[i] * norm }
                let add = src.row(min(y + r + 1, h - 1)) + x0
                let sub = src.row(max(y - r, 0)) + x0
                for i in 0..<n { sum[i] += add[i] - sub[i] }
            }
        }
    }
}
