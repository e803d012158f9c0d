import Foundation

/// Building blocks of the watercolor glazes: optical densities, smooth noise fields, a subject
/// map, and the thresholds that turn smooth fields into washes with hard edges.
///
/// Transparent washes combine subtractively: light passing through two glazes is multiplied by
/// both transmittances, so the optical densities (−ln of the reflectance, per channel) add.
/// Every layer is therefore handled as a density vector and the layers are summed.
enum WatercolorWash {
    /// Per-channel optical density of Lab colours: −γ·ln of the linear reflectance, with the
    /// spread between the channels (the colour) scaled by `chroma`. γ < 1 lightens the picture
    /// the way a transparent medium does (it never reaches the photo's deepest blacks).
    static func density(_ lab: PlanarImage, gamma: Float, chroma: Float) -> PlanarImage {
        let rgb = Colour.labToSrgb(lab)
        let out = PlanarImage(width: lab.width, height: lab.height, channels: 3)
        let w = lab.width
        let src = rgb.planes, dst = out.planes
        Parallel.rows(lab.height) { rows in
            for y in rows {
                let r = src[0].row(y), g = src[1].row(y), b = src[2].row(y)
                let dr = dst[0].row(y), dg = dst[1].row(y), db = dst[2].row(y)
                for x in 0..<w {
                    let d0 = -gamma * log(max(Colour.linear(r[x]), 0.004))
                    let d1 = -gamma * log(max(Colour.linear(g[x]), 0.004))
                    let d2 = -gamma * log(max(Colour.linear(b[x]), 0.004))
                    let mean = (d0 + d1 + d2) / 3
                    dr[x] = max(0, mean + chroma * (d0 - mean))
                    dg[x] = max(0, mean + chroma * (d1 - mean))
                    db[x] = max(0, mean + chroma * (d2 - mean))
                }
            }
        }
        return out
    }

    /// A plane read by bilinear interpolation in a hot loop: a bare pointer, so copying it
    /// costs no reference counting. The plane must outlive it.
    struct Sampler: @unchecked Sendable {
        let base: UnsafeMutablePointer<Float>
        let width: Int
        let height: Int
        let maxX: Float
        let maxY: Float

        init(_ plane: Plane) {
            base = plane.pointer
            width = plane.width
            height = plane.height
            maxX = Float(plane.width - 1)
            maxY = Float(plane.height - 1)
        }

        /// Bilinear sample at a fractional position, clamped to the plane.
        @inline(__always) func callAsFunction(_ x: Float, _ y: Float) -> Float {
            let cx = min(max(x, 0), maxX), cy = min(max(y, 0), maxY)
            let x0 = Int(cx), y0 = Int(cy)
            let x1 = min(x0 + 1, width - 1), y1 = min(y0 + 1, height - 1)
            let tx = cx - Float(x0), ty = cy - Float(y0)
            let r0 = base + y0 * width, r1 = base + y1 * width
            let top = r0[x0] + (r0[x1] - r0[x0]) * tx
            let bottom = r1[x0] + (r1[x1] - r1[x0]) * tx
            return top + (bottom - top) * ty
        }
    }

    /// Up to eight planes of one size interleaved per pixel, so a hot loop reads all of them
    /// with one bilinear lookup.
    final class Packed: @unchecked Sendable {
        let width: Int
        let height: Int
        let pointer: UnsafeMutablePointer<SIMD8<Float>>

        init(_ planes: [Plane]) {
            precondition(!planes.isEmpty && planes.count <= 8, "1...8 planes")
            let w = planes[0].width, h = planes[0].height
            width = w
            height = h
            let pointer = UnsafeMutablePointer<SIMD8<Float>>.allocate(capacity: w * h)
            pointer.initialize(repeating: .zero, count: w * h)
            self.pointer = pointer
            let target = UncheckedSendable(pointer)
            Parallel.rows(h) { rows in
                for y in rows {
                    let o = target.value + y * w
                    for (c, plane) in planes.enumerated() {
                        let r = plane.row(y)
                        for x in 0..<w { o[x][c] = r[x] }
                    }
                }
            }
        }

        deinit { pointer.deallocate() }

        /// A reader for hot loops; this object must outlive it.
        var sampler: PackedSampler { PackedSampler(base: pointer, width: width, height: height) }
    }

    struct PackedSampler: @unchecked Sendable {
        let base: UnsafeMutablePointer<SIMD8<Float>>
        let width: Int
        let height: Int

        /// Bilinear sample of all planes at a fractional position, clamped to the planes.
        @inline(__always) func callAsFunction(_ x: Float, _ y: Float) -> SIMD8<Float> {
            let cx = min(max(x, 0), Float(width - 1)), cy = min(max(y, 0), Float(height - 1))
            let x0 = Int(cx), y0 = Int(cy)
            let x1 = min(x0 + 1, width - 1), y1 = min(y0 + 1, height - 1)
            let tx = cx - Float(x0), ty = cy - Float(y0)
            let r0 = base + y0 * width, r1 = base + y1 * width
            let top = r0[x0] + (r0[x1] - r0[x0]) * tx
            let bottom = r1[x0] + (r1[x1] - r1[x0]) * tx
            return top + (bottom - top) * ty
        }
    }

    /// Linear light (0...1) to sRGB through a table: the composite's last step, per pixel.
    private static let encodeTable: [Float] = (0...8192).map { Colour.encode(Float($0) / 8192) }

    @inline(__always) static func encode(_ v: Float) -> Float {
        encodeTable.withUnsafeBufferPointer { t in
            let f = min(max(v, 0), 1) * 8192
            let i = min(Int(f), 8191)
            return t[i] + (t[i + 1] - t[i]) * (f - Float(i))
        }
    }

    /// Density of the luminance that a density vector lets through.
    @inline(__always) static func luminanceDensity(_ r: Float, _ g: Float, _ b: Float) -> Float {
        -log(max(0.2126 * exp(-r) + 0.7152 * exp(-g) + 0.0722 * exp(-b), 1e-4))
    }

    /// 0...1: how abruptly the colour (a*, b*) changes, per reference pixel.
    static func colourEdges(_ lab: PlanarImage, perReference: Float) -> Plane {
        let a = Gradient.sobelMagnitude(lab.planes[1]), b = Gradient.sobelMagnitude(lab.planes[2])
        let out = Plane(width: lab.width, height: lab.height)
        let w = lab.width
        Parallel.rows(lab.height) { rows in
            for y in rows {
                let ar = a.row(y), br = b.row(y), o = out.row(y)
                for x in 0..<w {
                    o[x] = smoothstep(1.2, 3, (ar[x] * ar[x] + br[x] * br[x]).squareRoot() * perReference)
                }
            }
        }
        return out
    }

    /// Hermite step from 0 (at `edge0`) to 1 (at `edge1`).
    @inline(__always) static func smoothstep(_ edge0: Float, _ edge1: Float, _ x: Float) -> Float {
        let t = min(max((x - edge0) / (edge1 - edge0), 0), 1)
        return t * t * (3 - 2 * t)
    }

    /// The threshold within `near ± within` that the fewest values lie close to (a valley of
    /// the histogram, weighted towards the subject), so that wash borders fall between the
    /// picture's tones instead of cutting through one.
    /// - Parameter grid: `weight`'s pixels per `value` pixel.
    static func valley(_ value: Plane, near: Float, within: Float, weight: Plane, grid: (x: Float, y: Float)) -> Float {
        let bins = 64
        var histogram = [Float](repeating: 0, count: bins)
        let low = near - within - 0.1, span = 2 * within + 0.2
        let step = max(1, min(value.width, value.height) / 300)
        for y in stride(from: 0, to: value.height, by: step) {
            let r = value.row(y)
            let qy = (Float(y) + 0.5) * grid.y - 0.5
            for x in stride(from: 0, to: value.width, by: step) {
                let bin = Int((r[x] - low) / span * Float(bins))
                guard bin >= 0, bin < bins else { continue }
                histogram[bin] += 0.3 + weight.bilinear((Float(x) + 0.5) * grid.x - 0.5, qy)
            }
        }
        var best = near, bestScore = Float.infinity
        for candidate in stride(from: near - within, through: near + within + 1e-4, by: 0.01) {
            var score: Float = 0
            for bin in 0..<bins {
                let centre = low + (Float(bin) + 0.5) / Float(bins) * span
                let d = (centre - candidate) / 0.035
                score += histogram[bin] * exp(-d * d / 2)
            }
            // A slight pull towards the nominal threshold keeps flat histograms stable.
            score *= 1 + 0.5 * abs(candidate - near) / within
            if score < bestScore {
                bestScore = score
                best = candidate
            }
        }
        return best
    }

    /// The value below which `fraction` of the plane's samples lie (from a sparse sample).
    static func quantile(_ plane: Plane, _ fraction: Float) -> Float {
        let step = max(1, min(plane.width, plane.height) / 200)
        var values: [Float] = []
        values.reserveCapacity((plane.width / step + 1) * (plane.height / step + 1))
        for y in stride(from: 0, to: plane.height, by: step) {
            let r = plane.row(y)
            for x in stride(from: 0, to: plane.width, by: step) { values.append(r[x]) }
        }
        values.sort()
        return values[min(values.count - 1, Int(Float(values.count - 1) * fraction))]
    }

    /// A plane of fractal value noise anchored to the photo.
    /// - Parameters:
    ///   - toReference: reference pixels per plane pixel (x and y).
    ///   - origin: the plane's top-left pixel centre in reference pixels of the whole photo.
    ///   - period: feature size of the first octave, in reference pixels.
    static func noise(width: Int, height: Int, toReference: (x: Float, y: Float), origin: (x: Float, y: Float), period: Float, octaves: Int, seed: UInt32)
        -> Plane
    {
        let out = Plane(width: width, height: height)
        let inverse = 1 / period
        Parallel.rows(height) { rows in
            for y in rows {
                let o = out.row(y)
                let v = (origin.y + Float(y) * toReference.y) * inverse
                for x in 0..<width {
                    let u = (origin.x + Float(x) * toReference.x) * inverse
                    o[x] = Noise.fractal(u, v, octaves: octaves, seed)
                }
            }
        }
        return out
    }

    /// Where the subject is, 0...1 and smooth: colours that stand out from the picture's mean
    /// (Achanta et al. 2009, frequency-tuned saliency), the structure of the simplified picture
    /// (object borders, not texture), skin and fur, and a centre prior. Also returns where skin
    /// and fur are, which the washes treat softly.
    /// - Parameters:
    ///   - lab: the photo in Lab; `simplified`: the same, smoothed edge-aware (texture gone).
    ///   - sigma: smoothing of the map in pixels (a few percent of the picture).
    static func subject(_ lab: PlanarImage, simplified: PlanarImage, sigma: Double) -> (subject: Plane, skin: Plane) {
        let w = lab.width, h = lab.height
        let blurred = lab.planes.map { Blur.gaussian($0, sigma: max(1, sigma * 0.15)) }
        let means = blurred.map { Float($0.mean) }
        let structure = Blur.gaussian(Gradient.sobelMagnitude(simplified.planes[0]), sigma: sigma * 0.5)
        let structureMean = max(Float(structure.mean), 1e-3)
        let raw = Plane(width: w, height: h), skinRaw = Plane(width: w, height: h)
        Parallel.rows(h) { rows in
            for y in rows {
                let l = blurred[0].row(y), a = blurred[1].row(y), b = blurred[2].row(y), d = structure.row(y)
                let o = raw.row(y), sk = skinRaw.row(y)
                let cy = (Float(y) + 0.5) / Float(h) - 0.5
                for x in 0..<w {
                    let cx = (Float(x) + 0.5) / Float(w) - 0.5
                    let dl = 0.5 * (l[x] - means[0]), da = a[x] - means[1], db = b[x] - means[2]
                    let distinct = min((dl * dl + da * da + db * db).squareRoot() / 40, 1.5)
                    let busy = min(d[x] / (2 * structureMean), 1.5)
                    let centre = exp(-(cx * cx + cy * cy) / (2 * 0.3 * 0.3))
                    // Skin and fur: warm hues of moderate chroma and lightness (faces, pets).
                    let chroma = (a[x] * a[x] + b[x] * b[x]).squareRoot()
                    let hue = atan2(b[x], a[x]) * (180 / Float.pi)
                    let warm =
                        exp(-(hue - 55) * (hue - 55) / (2 * 18 * 18)) * smoothstep(6, 12, chroma) * (1 - smoothstep(32, 45, chroma))
                        * smoothstep(25, 45, l[x]) * (1 - smoothstep(82, 92, l[x]))
                    let lit = smoothstep(10, 35, l[x])
                    sk[x] = warm
                    o[x] = (0.35 * distinct * lit + 0.45 * busy + 0.4 * warm) * (0.35 + 0.65 * centre)
                }
            }
        }
        let smooth = Blur.gaussian(raw, sigma: sigma)
        let skin = Blur.gaussian(skinRaw, sigma: sigma * 0.3)
        // Normalise by the picture's own range so every photo has a subject.
        var values: [Float] = []
        for y in stride(from: 0, to: h, by: 4) {
            let r = smooth.row(y)
            for x in stride(from: 0, to: w, by: 4) { values.append(r[x]) }
        }
        values.sort()
        let low = values[Int(Float(values.count - 1) * 0.35)], high = max(values[Int(Float(values.count - 1) * 0.97)], low + 1e-3)
        return (PlaneMath.map(smooth) { smoothstep(low, high, $0) }, skin)
    }
}
