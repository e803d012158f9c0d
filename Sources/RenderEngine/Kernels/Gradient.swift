import Foundation

/// Image derivatives.
enum Gradient {
    /// Sobel gradient magnitude (per pixel, in the plane's units per pixel), edges clamped.
    static func sobelMagnitude(_ plane: Plane) -> Plane {
        let w = plane.width, h = plane.height
        let out = Plane(width: w, height: h)
        Parallel.rows(h) { rows in
            for y in rows {
                let up = plane.row(max(y - 1, 0)), mid = plane.row(y), down = plane.row(min(y + 1, h - 1))
                let o = out.row(y)
                for x in 0..<w {
                    let l = max(x - 1, 0), r = min(x + 1, w - 1)
                    let gx = (up[r] + 2 * mid[r] + down[r]) - (up[l] + 2 * mid[l] + down[l])
                    let gy = (down[l] + 2 * down[x] + down[r]) - (up[l] + 2 * up[x] + up[r])
                    o[x] = (gx * gx + gy * gy).squareRoot() * 0.125
                }
            }
        }
        return out
    }
}
