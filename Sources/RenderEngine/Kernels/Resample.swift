import Foundation

/// Resampling of planes by an arbitrary factor.
enum Resample {
    /// Area-average reduction to `width` x `height` (for working at a coarser scale).
    static func reduce(_ plane: Plane, width: Int, height: Int) -> Plane {
        let out = Plane(width: width, height: height)
        let sx = Float(plane.width) / Float(width), sy = Float(plane.height) / Float(height)
        Parallel.rows(height) { rows in
            for y in rows {
                let y0 = Int(Float(y) * sy), y1 = max(y0 + 1, min(plane.height, Int(Float(y + 1) * sy)))
                let o = out.row(y)
                for x in 0..<width {
                    let x0 = Int(Float(x) * sx), x1 = max(x0 + 1, min(plane.width, Int(Float(x + 1) * sx)))
                    var sum: Float = 0
                    for yy in y0..<y1 {
                        let r = plane.row(yy)
                        for xx in x0..<x1 { sum += r[xx] }
                    }
                    o[x] = sum / Float((y1 - y0) * (x1 - x0))
                }
            }
        }
        return out
    }

    /// Bilinear enlargement to `width` x `height`, pixel centres aligned.
    static func enlarge(_ plane: Plane, width: Int, height: Int) -> Plane {
        let out = Plane(width: width, height: height)
        let sx = Float(plane.width) / Float(width), sy = Float(plane.height) / Float(height)
        Parallel.rows(height) { rows in
            for y in rows {
                let fy = (Float(y) + 0.5) * sy - 0.5
                let o = out.row(y)
                for x in 0..<width { o[x] = plane.bilinear((Float(x) + 0.5) * sx - 0.5, fy) }
            }
        }
        return out
    }
}
