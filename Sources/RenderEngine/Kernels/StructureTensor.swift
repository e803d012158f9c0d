import Foundation

/// Local orientation of an image: the smoothed structure tensor of its colour gradients
/// (Brox et al.; as used by Kyprianidis et al. for flow-guided filters).
struct OrientationField {
    /// Unit tangent (along edges, the direction strokes should follow).
    let tangentX: Plane
    let tangentY: Plane
    /// (λ1 − λ2) / (λ1 + λ2) in 0...1: 0 isotropic, 1 a clear edge or stroke direction.
    let anisotropy: Plane

    /// - Parameter sigma: smoothing of the tensor in pixels (scale of the orientation field).
    /// The unsmoothed structure tensor (Sobel gradients summed over the planes) as E, F, G
    /// planes; `sobelScale` normalises the Sobel kernel (0.25: per-pixel slope units).
    static func raw(_ image: PlanarImage, sobelScale: Float = 0.25) -> (e: Plane, f: Plane, g: Plane) {
        let w = image.width, h = image.height
        let e = Plane(width: w, height: h), f = Plane(width: w, height: h), g = Plane(width: w, height: h)
        let planes = image.planes
        Parallel.rows(h) { rows in
            for y in rows {
                let ym = max(y - 1, 0), yp = min(y + 1, h - 1)
                let re = e.row(y), rf = f.row(y), rg = g.row(y)
                for x in 0..<w {
                    let xm = max(x - 1, 0), xp = min(x + 1, w - 1)
                    var exx: Float = 0, exy: Float = 0, eyy: Float = 0
                    for p in planes {
                        let up = p.row(ym), mid = p.row(y), down = p.row(yp)
                        let gx = (up[xp] + 2 * mid[xp] + down[xp] - up[xm] - 2 * mid[xm] - down[xm]) * sobelScale
                        let gy = (down[xm] + 2 * down[x] + down[xp] - up[xm] - 2 * up[x] - up[xp]) * sobelScale
                        exx += gx * gx
                        exy += gx * gy
                        eyy += gy * gy
                    }
                    re[x] = exx
                    rf[x] = exy
                    rg[x] = eyy
                }
            }
        }
        return (e, f, g)
    }

    static func compute(_ image: PlanarImage, sigma: Double) -> OrientationField {
        let w = image.width, h = image.height
        let (e, f, g) = raw(image)
        let se = Blur.gaussian(e, sigma: sigma), sf = Blur.gaussian(f, sigma: sigma), sg = Blur.gaussian(g, sigma: sigma)
        let tx = Plane(width: w, height: h), ty = Plane(width: w, height: h), a = Plane(width: w, height: h)
        Parallel.rows(h) { rows in
            for y in rows {
                let re = se.row(y), rf = sf.row(y), rg = sg.row(y)
                let otx = tx.row(y), oty = ty.row(y), oa = a.row(y)
                for x in 0..<w {
                    let E = re[x], F = rf[x], G = rg[x]
                    let root = ((E - G) * (E - G) + 4 * F * F).squareRoot()
                    let l1 = (E + G + root) * 0.5, l2 = (E + G - root) * 0.5
                    // Eigenvector of the smaller eigenvalue: the tangent.
                    var vx = l1 - E, vy = -F
                    let length = (vx * vx + vy * vy).squareRoot()
                    if length > 1e-12 {
                        vx /= length
                        vy /= length
                    } else {
                        vx = 0
                        vy = 1
                    }
                    otx[x] = vx
                    oty[x] = vy
                    oa[x] = l1 + l2 > 1e-12 ? (l1 - l2) / (l1 + l2) : 0
                }
            }
        }
        return OrientationField(tangentX: tx, tangentY: ty, anisotropy: a)
    }
}

/// Difference of Gaussians, the core of XDoG line drawings (Winnemöller et al. 2012).
enum DifferenceOfGaussians {
    /// S = (1 + p)·G_σ − p·G_kσ of `luminance` (values 0...1).
    static func sharpened(_ luminance: Plane, sigma: Double, k: Double = 1.6, p: Float = 20) -> Plane {
        let narrow = Blur.gaussian(luminance, sigma: sigma)
        let wide = Blur.gaussian(luminance, sigma: sigma * k)
        let out = Plane(width: luminance.width, height: luminance.height)
        let w = luminance.width
        Parallel.rows(luminance.height) { rows in
            for y in rows {
                let n = narrow.row(y), v = wide.row(y), o = out.row(y)
                for x in 0..<w { o[x] = (1 + p) * n[x] - p * v[x] }
            }
        }
        return out
    }

    /// XDoG thresholding: 1 (paper) where S ≥ ε, falling smoothly to 0 (ink) below it.
    @inline(__always) static func threshold(_ s: Float, epsilon: Float, phi: Float) -> Float {
        s >= epsilon ? 1 : max(0, 1 + tanh(phi * (s - epsilon)))
    }
}

/// Point operations on planes.
enum PlaneMath {
    /// Winnemöller's soft quantisation of a value range into `levels` steps, smooth inside
    /// each step (`sharpness` is φq in the step's own units).
    static func softQuantise(_ plane: Plane, range: Float, levels: Int, sharpness: Float) {
        let step = range / Float(levels)
        let w = plane.width
        Parallel.rows(plane.height) { rows in
            for y in rows {
                let l = plane.row(y)
                for x in 0..<w {
                    let nearest = (l[x] / step).rounded() * step
                    l[x] = nearest + step / 2 * tanh(sharpness * (l[x] - nearest))
                }
            }
        }
    }

    /// Applies `transform` to every sample.
    static func map(_ plane: Plane, _ transform: (Float) -> Float) -> Plane {
        let out = Plane(width: plane.width, height: plane.height)
        let w = plane.width
        withoutActuallyEscaping(transform) { transform in
            let box = UncheckedSendable(transform)
            Parallel.rows(plane.height) { rows in
                for y in rows {
                    let s = plane.row(y), o = out.row(y)
                    for x in 0..<w { o[x] = box.value(s[x]) }
                }
            }
        }
        return out
    }

    /// Applies `transform` to every pair of samples of two planes of one size.
    static func combine(_ a: Plane, _ b: Plane, _ transform: (Float, Float) -> Float) -> Plane {
        let out = Plane(width: a.width, height: a.height)
        let w = a.width
        withoutActuallyEscaping(transform) { transform in
            let box = UncheckedSendable(transform)
            Parallel.rows(a.height) { rows in
                for y in rows {
                    let p = a.row(y), q = b.row(y), o = out.row(y)
                    for x in 0..<w { o[x] = box.value(p[x], q[x]) }
                }
            }
        }
        return out
    }

    /// 3x3 median, edges clamped: removes speckle before gradients (pencil strokes).
    static func median3(_ plane: Plane) -> Plane {
        let w = plane.width, h = plane.height
        let out = Plane(width: w, height: h)
        Parallel.rows(h) { rows in
            var v = [Float](repeating: 0, count: 9)
            for y in rows {
                let o = out.row(y)
                for x in 0..<w {
                    var i = 0
                    for dy in -1...1 {
                        let r = plane.row(min(max(y + dy, 0), h - 1))
                        for dx in -1...1 {
                            v[i] = r[min(max(x + dx, 0), w - 1)]
                            i += 1
                        }
                    }
                    // Partial selection sort up to the median.
                    for a in 0..<5 {
                        var m = a
                        for b in (a + 1)..<9 where v[b] < v[m] { m = b }
                        v.swapAt(a, m)
                    }
                    o[x] = v[4]
                }
            }
        }
        return out
    }
}
