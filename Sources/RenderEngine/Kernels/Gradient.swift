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

    /// How crisp the picture's edges are, from 1 (out of focus) up to about `coarse / fine`
    /// (a sharp edge): the energy of the gradient at a fine scale over that at a coarse one,
    /// both averaged over `window` (after Zhuo & Sim's defocus map, 2011). An edge blurred by
    /// σ gives √(coarse² + σ²) / √(fine² + σ²), whatever its contrast. Where there is no edge
    /// at all the ratio tends to 1, so flat areas read as soft. `plane` is a lightness in L*
    /// units (0...100): the energies' floor stands for a contrast of about one L*.
    static func crispness(_ plane: Plane, fine: Double, coarse: Double, window: Double) -> Plane {
        func energy(_ sigma: Double) -> Plane {
            Blur.gaussian(PlaneMath.map(sobelMagnitude(Blur.gaussian(plane, sigma: sigma))) { $0 * $0 }, sigma: window)
        }
        // A floor of a small contrast's energy keeps noise in flat areas from reading as edges.
        return PlaneMath.combine(energy(fine), energy(coarse)) { f, c in (f + 1e-3) / (c + 1e-3) }
    }
}
