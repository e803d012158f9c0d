import Foundation

/// Flow-guided helpers for the drawn styles (pencil, charcoal, comic): smoothing along the
/// local edge direction and a slowly varying hatching direction.
enum SketchFlow {
    /// Line integral convolution: the Gaussian-weighted mean of `plane` along the streamline of
    /// the tangent field through each pixel (Cabral and Leedom 1993; the flow part of Kang's
    /// FDoG, 2007). Edge responses become long coherent lines; specks across the flow vanish.
    /// - Parameter halfLength: streamline length on each side, in pixels (σ of the weights is
    ///   half of it), traced in at most 6 steps of at least a pixel.
    static func alongFlow(_ plane: Plane, tangentX: Plane, tangentY: Plane, halfLength: Double) -> Plane {
        let w = plane.width, h = plane.height
        let stride = Float(max(1, halfLength / 6))
        let steps = max(1, Int((halfLength / Double(stride)).rounded()))
        let sigma = Float(max(halfLength, 1)) / 2
        let weights = (0...steps).map { k in exp(-Float(k * k) * stride * stride / (2 * sigma * sigma)) }
        let out = Plane(width: w, height: h)
        let maxX = Float(w - 1), maxY = Float(h - 1)
        let values = plane.pointer, tx0 = tangentX.pointer, ty0 = tangentY.pointer
        Parallel.rows(h) { rows in
            for y in rows {
                let o = out.row(y)
                for x in 0..<w {
                    let centre = y * w + x
                    var sum = values[centre] * weights[0], total = weights[0]
                    for side in 0..<2 {
                        let direction: Float = side == 0 ? 1 : -1
                        var px = Float(x), py = Float(y)
                        var tx = tx0[centre] * direction, ty = ty0[centre] * direction
                        for k in 1...steps {
                            px += tx * stride
                            py += ty * stride
                            guard px >= 0, py >= 0, px <= maxX, py <= maxY else { break }
                            // Bilinear sample; the tangent is taken at the nearest pixel.
                            let fx = px.rounded(.down), fy = py.rounded(.down)
                            let ix = Int(fx), iy = Int(fy)
                            let ax = px - fx, ay = py - fy
                            let i00 = iy * w + ix
                            let i01 = ix < w - 1 ? i00 + 1 : i00, i10 = iy < h - 1 ? i00 + w : i00
                            let i11 = ix < w - 1 ? i10 + 1 : i10
                            let top = values[i00] + (values[i01] - values[i00]) * ax
                            let bottom = values[i10] + (values[i11] - values[i10]) * ax
                            sum += weights[k] * (top + (bottom - top) * ay)
                            total += weights[k]
                            let nearest = (ay < 0.5 ? (ax < 0.5 ? i00 : i01) : (ax < 0.5 ? i10 : i11))
                            var nx = tx0[nearest], ny = ty0[nearest]
                            if nx * tx + ny * ty < 0 {
                                nx = -nx
                                ny = -ny
                            }
                            tx = nx
                            ty = ny
                        }
                    }
                    o[x] = sum / total
                }
            }
        }
        return out
    }

    /// A smooth direction field for hatching, as a doubled angle (cos 2θ, sin 2θ) so it can be
    /// interpolated: the tangent of the structure tensor of `plane` at scale `sigma` where the
    /// tone has a clear direction, turning to `preferred` (radians) where it has none (flat
    /// areas are hatched the way a hand does by default).
    static func hatchDirection(_ plane: Plane, sigma: Double, preferred: Float, bias: Float) -> (c2: Plane, s2: Plane) {
        let w = plane.width, h = plane.height
        let e = Plane(width: w, height: h), f = Plane(width: w, height: h), g = Plane(width: w, height: h)
        Parallel.rows(h) { rows in
            for y in rows {
                let up = plane.row(max(y - 1, 0)), down = plane.row(min(y + 1, h - 1)), mid = plane.row(y)
                let re = e.row(y), rf = f.row(y), rg = g.row(y)
                for x in 0..<w {
                    let gx = (mid[min(x + 1, w - 1)] - mid[max(x - 1, 0)]) * 0.5
                    let gy = (down[x] - up[x]) * 0.5
                    re[x] = gx * gx
                    rf[x] = gx * gy
                    rg[x] = gy * gy
                }
            }
        }
        let se = Blur.gaussian(e, sigma: sigma), sf = Blur.gaussian(f, sigma: sigma), sg = Blur.gaussian(g, sigma: sigma)
        // Coherent energy √((E−G)² + 4F²), relative to the picture's strong directions.
        let coherence = Plane(width: w, height: h)
        Parallel.rows(h) { rows in
            for y in rows {
                let re = se.row(y), rf = sf.row(y), rg = sg.row(y), o = coherence.row(y)
                for x in 0..<w { o[x] = ((re[x] - rg[x]) * (re[x] - rg[x]) + 4 * rf[x] * rf[x]).squareRoot() }
            }
        }
        let reference = max(Sketch.percentile(coherence, 0.75), 1e-9)
        let c2 = Plane(width: w, height: h), s2 = Plane(width: w, height: h)
        let pc = cos(2 * preferred) * bias, ps = sin(2 * preferred) * bias
        Parallel.rows(h) { rows in
            for y in rows {
                let re = se.row(y), rf = sf.row(y), rg = sg.row(y), oc = c2.row(y), os = s2.row(y)
                for x in 0..<w {
                    // The gradient's doubled angle is (E − G, 2F); the tangent's is its opposite.
                    let vx = -(re[x] - rg[x]) / reference + pc, vy = -2 * rf[x] / reference + ps
                    let length = max((vx * vx + vy * vy).squareRoot(), 1e-9)
                    oc[x] = vx / length
                    os[x] = vy / length
                }
            }
        }
        return (c2, s2)
    }

    /// D = G_σ − G_1.6σ: negative on the dark side of an edge, about as wide as σ.
    static func differenceOfGaussians(_ plane: Plane, sigma: Double) -> Plane {
        let narrow = gaussian(plane, sigma: sigma)
        let wide = gaussian(plane, sigma: sigma * 1.6)
        let out = Plane(width: plane.width, height: plane.height)
        let w = plane.width
        Parallel.rows(plane.height) { rows in
            for y in rows {
                let n = narrow.row(y), v = wide.row(y), o = out.row(y)
                for x in 0..<w { o[x] = n[x] - v[x] }
            }
        }
        return out
    }

    /// Gaussian blur exact at small σ, where the three-box approximation rounds every σ below
    /// about 1 px to the same boxes (a DoG of two such blurs is zero).
    static func gaussian(_ plane: Plane, sigma: Double) -> Plane {
        guard sigma < 3 else { return Blur.gaussian(plane, sigma: sigma) }
        let radius = max(1, Int((3 * sigma).rounded(.up)))
        var kernel = (-radius...radius).map { k in Float(exp(-Double(k * k) / (2 * sigma * sigma))) }
        let total = kernel.reduce(0, +)
        kernel = kernel.map { $0 / total }
        let w = plane.width, h = plane.height
        let horizontal = Plane(width: w, height: h)
        Parallel.rows(h) { rows in
            for y in rows {
                let src = plane.row(y), dst = horizontal.row(y)
                for x in 0..<w {
                    var sum: Float = 0
                    for k in -radius...radius { sum += kernel[k + radius] * src[min(max(x + k, 0), w - 1)] }
                    dst[x] = sum
                }
            }
        }
        let out = Plane(width: w, height: h)
        Parallel.rows(h) { rows in
            for y in rows {
                let dst = out.row(y)
                for k in -radius...radius {
                    let src = horizontal.row(min(max(y + k, 0), h - 1)), weight = kernel[k + radius]
                    for x in 0..<w { dst[x] += weight * src[x] }
                }
            }
        }
        return out
    }

    /// Maximum over a (2r+1)² square, edges clamped (separable, O(r) per pixel; r is small).
    static func maximum(_ plane: Plane, radius r: Int) -> Plane {
        guard r > 0 else { return plane.copy() }
        let w = plane.width, h = plane.height
        let horizontal = Plane(width: w, height: h)
        Parallel.rows(h) { rows in
            for y in rows {
                let src = plane.row(y), dst = horizontal.row(y)
                for x in 0..<w {
                    var m = src[x]
                    for k in max(0, x - r)...min(w - 1, x + r) { m = max(m, src[k]) }
                    dst[x] = m
                }
            }
        }
        let out = Plane(width: w, height: h)
        Parallel.rows(h) { rows in
            for y in rows {
                let dst = out.row(y)
                dst.update(from: horizontal.row(y), count: w)
                for k in max(0, y - r)...min(h - 1, y + r) {
                    let src = horizontal.row(k)
                    for x in 0..<w { dst[x] = max(dst[x], src[x]) }
                }
            }
        }
        return out
    }

    /// Splits an edge field into a line shape and its strength: `shape` is the field over its
    /// local maximum (1 on the ridge, falling off across it), so thresholding it near 1 draws
    /// lines of one width whatever the edge contrast; `strength` is that local maximum over
    /// `reference`, the pressure of the line.
    static func ridges(_ field: Plane, radius: Int, reference: Float) -> (shape: Plane, strength: Plane) {
        let peak = gaussian(maximum(field, radius: radius), sigma: Double(radius) * 0.5)
        let w = field.width
        let shape = Plane(width: w, height: field.height), strength = Plane(width: w, height: field.height)
        let floor = reference * 0.02
        Parallel.rows(field.height) { rows in
            for y in rows {
                let f = field.row(y), p = peak.row(y), sh = shape.row(y), st = strength.row(y)
                for x in 0..<w {
                    sh[x] = f[x] / (p[x] + floor)
                    st[x] = p[x] / reference
                }
            }
        }
        return (shape, strength)
    }
}
