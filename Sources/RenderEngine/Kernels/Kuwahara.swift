import Foundation

/// Anisotropic Kuwahara filtering (Kyprianidis, Kang and Döllner 2009) with the polynomial
/// sector weights of Kyprianidis et al. (2010): each pixel takes the mean of the most uniform
/// of eight sectors of an ellipse aligned with the local flow, which flattens texture into
/// brush-like patches while keeping (and directing) edges.
enum AnisotropicKuwahara {
    /// - Parameters:
    ///   - radius: ellipse radius in pixels (the brush size).
    ///   - q: sharpness of the sector selection (8 in the paper).
    static func filter(_ rgb: PlanarImage, orientation: OrientationField, radius: Float, q: Float = 8) -> PlanarImage {
        let w = rgb.width, h = rgb.height
        let interleaved = rgb.interleaved()
        let source = UnsafePointer(interleaved.pointer)
        let out = PlanarImage(width: w, height: h, channels: 3)
        let zeta = 2 / radius
        let zeroCross = Float.pi * 3 / 8
        let eta = (zeta + cos(zeroCross)) / (sin(zeroCross) * sin(zeroCross))
        let alpha: Float = 1
        let halfQ = q / 2
        Parallel.rows(h) { rows in
            // Per-sector weighted sums (r, g, b, weight) and squares, reused for every pixel.
            let m = UnsafeMutablePointer<SIMD4<Float>>.allocate(capacity: 8)
            let sq = UnsafeMutablePointer<SIMD4<Float>>.allocate(capacity: 8)
            defer {
                m.deallocate()
                sq.deallocate()
            }
            for y in rows {
                let tx = orientation.tangentX.row(y), ty = orientation.tangentY.row(y), an = orientation.anisotropy.row(y)
                let o0 = out.planes[0].row(y), o1 = out.planes[1].row(y), o2 = out.planes[2].row(y)
                for x in 0..<w {
                    let a = radius * (alpha + an[x]) / alpha
                    let b = radius * alpha / (alpha + an[x])
                    let c = tx[x], s = ty[x]
                    // Offsets → unit disk: rotate onto the flow, scale by the ellipse axes.
                    let m00 = c / a, m01 = s / a, m10 = -s / b, m11 = c / b
                    let extentX = Int((a * a * c * c + b * b * s * s).squareRoot().rounded(.up))
                    let extentY = Int((a * a * s * s + b * b * c * c).squareRoot().rounded(.up))
                    m.initialize(repeating: .zero, count: 8)
                    sq.initialize(repeating: .zero, count: 8)
                    do {
                        do {
                            for dy in -extentY...extentY {
                                let sy = min(max(y + dy, 0), h - 1)
                                let rowBase = source + sy * w * 3
                                let fdy = Float(dy)
                                for dx in -extentX...extentX {
                                    let fdx = Float(dx)
                                    let vx = m00 * fdx + m01 * fdy, vy = m10 * fdx + m11 * fdy
                                    let r2 = vx * vx + vy * vy
                                    if r2 > 1 { continue }
                                    let sx = min(max(x + dx, 0), w - 1)
                                    let p = rowBase + sx * 3
                                    let colour = SIMD4<Float>(p[0], p[1], p[2], 1)
                                    let colourSquared = colour * colour
                                    // Eight sector weights: four axis-aligned, four rotated by 45°.
                                    var wk = SIMD8<Float>()
                                    let vxx = zeta - eta * vx * vx, vyy = zeta - eta * vy * vy
                                    wk[0] = max(0, vy + vxx)
                                    wk[2] = max(0, -vx + vyy)
                                    wk[4] = max(0, -vy + vxx)
                                    wk[6] = max(0, vx + vyy)
                                    let rx = 0.70710678 * (vx - vy), ry = 0.70710678 * (vx + vy)
                                    let rxx = zeta - eta * rx * rx, ryy = zeta - eta * ry * ry
                                    wk[1] = max(0, ry + rxx)
                                    wk[3] = max(0, -rx + ryy)
                                    wk[5] = max(0, -ry + rxx)
                                    wk[7] = max(0, rx + ryy)
                                    wk = wk * wk
                                    let total = wk.sum()
                                    if total <= 0 { continue }
                                    let falloff = (1 - r2) * (1 - r2)
                                    wk *= falloff / total
                                    for k in 0..<8 {
                                        let weight = wk[k]
                                        if weight == 0 { continue }
                                        m[k] += weight * colour
                                        sq[k] += weight * colourSquared
                                    }
                                }
                            }
                        }
                    }
                    var result = SIMD4<Float>.zero
                    var totalAlpha: Float = 0
                    for k in 0..<8 where m[k][3] > 0 {
                        let mean = m[k] / m[k][3]
                        let variance = sq[k] / m[k][3] - mean * mean
                        let sigma2 = abs(variance[0]) + abs(variance[1]) + abs(variance[2])
                        let weight = 1 / (1 + pow(1000 * sigma2, halfQ))
                        result += weight * mean
                        totalAlpha += weight
                    }
                    if totalAlpha > 0 {
                        o0[x] = result[0] / totalAlpha
                        o1[x] = result[1] / totalAlpha
                        o2[x] = result[2] / totalAlpha
                    } else {
                        let p = source + (y * w + x) * 3
                        o0[x] = p[0]
                        o1[x] = p[1]
                        o2[x] = p[2]
                    }
                }
            }
        }
        withExtendedLifetime(interleaved) {}
        return out
    }
}

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

/// He, Sun and Tang's guided filter (ECCV 2010) with a grey guide: transfers the structure of
/// `guide` to `input`, O(1) per pixel. Used to bring a filter computed at a coarse scale back
/// to full resolution with sharp edges.
enum GuidedFilter {
    static func apply(_ input: Plane, guide: Plane, radius: Int, epsilon: Float) -> Plane {
        let w = input.width, h = input.height
        let meanI = Blur.box(guide, radius: radius)
        let meanP = Blur.box(input, radius: radius)
        let ip = Plane(width: w, height: h), ii = Plane(width: w, height: h)
        Parallel.rows(h) { rows in
            for y in rows {
                let g = guide.row(y), p = input.row(y), a = ip.row(y), b = ii.row(y)
                for x in 0..<w {
                    a[x] = g[x] * p[x]
                    b[x] = g[x] * g[x]
                }
            }
        }
        let meanIP = Blur.box(ip, radius: radius), meanII = Blur.box(ii, radius: radius)
        let a = Plane(width: w, height: h), b = Plane(width: w, height: h)
        Parallel.rows(h) { rows in
            for y in rows {
                let mi = meanI.row(y), mp = meanP.row(y), mip = meanIP.row(y), mii = meanII.row(y), ra = a.row(y), rb = b.row(y)
                for x in 0..<w {
                    let covariance = mip[x] - mi[x] * mp[x]
                    let variance = mii[x] - mi[x] * mi[x]
                    ra[x] = covariance / (variance + epsilon)
                    rb[x] = mp[x] - ra[x] * mi[x]
                }
            }
        }
        let meanA = Blur.box(a, radius: radius), meanB = Blur.box(b, radius: radius)
        let out = Plane(width: w, height: h)
        Parallel.rows(h) { rows in
            for y in rows {
                let g = guide.row(y), ma = meanA.row(y), mb = meanB.row(y), o = out.row(y)
                for x in 0..<w { o[x] = ma[x] * g[x] + mb[x] }
            }
        }
        return out
    }
}
