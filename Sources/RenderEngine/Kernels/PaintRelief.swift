import Foundation

/// Shared preparation of the photo for the painted styles.
enum PaintPreparation {
    /// The photo at `shortSide` pixels on its short side (enlarged if smaller; a larger working
    /// image is left alone), and the canvas pixels per working pixel.
    static func canvas(_ image: PlanarImage, shortSide: Int) -> (PlanarImage, Float) {
        let short = min(image.width, image.height)
        guard short < shortSide else { return (image, 1) }
        let factor = Double(shortSide) / Double(short)
        let w = Int((Double(image.width) * factor).rounded()), h = Int((Double(image.height) * factor).rounded())
        let enlarged = PlanarImage(planes: image.planes.map { Resample.enlarge($0, width: w, height: h) })
        return (enlarged, Float(w) / Float(image.width))
    }

    /// Richer colour: saturation raised around the luma and a gentle S-curve on every channel.
    static func enrich(_ image: PlanarImage, saturation: Float, contrast: Float) -> PlanarImage {
        let out = PlanarImage(width: image.width, height: image.height, channels: 3)
        let w = image.width
        Parallel.rows(image.height) { rows in
            for y in rows {
                let r = image.planes[0].row(y), g = image.planes[1].row(y), b = image.planes[2].row(y)
                let or = out.planes[0].row(y), og = out.planes[1].row(y), ob = out.planes[2].row(y)
                for x in 0..<w {
                    let luma = 0.2126 * r[x] + 0.7152 * g[x] + 0.0722 * b[x]
                    @inline(__always) func curve(_ v: Float) -> Float {
                        let t = min(max(luma + (v - luma) * saturation, 0), 1)
                        return t + contrast * t * (1 - t) * (2 * t - 1) * 2
                    }
                    or[x] = curve(r[x])
                    og[x] = curve(g[x])
                    ob[x] = curve(b[x])
                }
            }
        }
        return out
    }
}

extension PaintPreparation {
    /// Where a painter would spend fine strokes, 0...1 on a grid of `cell` pixels laid on the
    /// photo: a centre-weighted focus, raised on skin and fur tones (faces of people and pets).
    /// - Returns: the importance, and the share of skin and fur tones.
    static func importance(_ image: PlanarImage, cell: Int, anchor: (x: Float, y: Float)) -> (importance: CellMap, skin: CellMap) {
        let step = max(1, cell)
        let offset = (((Int(anchor.x.rounded()) % step) + step) % step, ((Int(anchor.y.rounded()) % step) + step) % step)
        let w = (image.width + offset.0 + step - 1) / step, h = (image.height + offset.1 + step - 1) / step
        let skin = Plane(width: w, height: h)
        Parallel.rows(h) { rows in
            for y in rows {
                let o = skin.row(y)
                let y0 = max(0, y * step - offset.1), y1 = min(image.height, (y + 1) * step - offset.1)
                for x in 0..<w {
                    let x0 = max(0, x * step - offset.0), x1 = min(image.width, (x + 1) * step - offset.0)
                    var count: Float = 0, samples: Float = 0
                    for yy in y0..<max(y0, y1) {
                        let r = image.planes[0].row(yy), g = image.planes[1].row(yy), b = image.planes[2].row(yy)
                        for xx in x0..<max(x0, x1) {
                            let (red, green, blue) = (r[xx], g[xx], b[xx])
                            // Kovač et al.'s skin rule, with the saturation of skin and fur.
                            let purity = (red - blue) / max(red, 1e-3)
                            if red > 0.35, green > 0.15, blue > 0.08, red - green > 0.05, red > blue, purity > 0.08, purity < 0.62 {
                                count += 1
                            }
                            samples += 1
                        }
                    }
                    o[x] = count / max(samples, 1)
                }
            }
        }
        let smoothSkin = Blur.gaussian(skin, sigma: 1.5)
        let out = Plane(width: w, height: h)
        let short = Float(min(image.width, image.height))
        for y in 0..<h {
            let o = out.row(y), s = smoothSkin.row(y)
            // A focus a little above the middle of the picture.
            let dy = (Float(y * step - offset.1) + Float(step) / 2 - Float(image.height) / 2) / short + 0.05
            for x in 0..<w {
                let dx = (Float(x * step - offset.0) + Float(step) / 2 - Float(image.width) / 2) / short
                let centre = exp(-(dx * dx + dy * dy) / (2 * 0.4 * 0.4))
                o[x] = min(1, 0.3 + 0.55 * centre + 0.6 * s[x])
            }
        }
        return (CellMap(plane: out, cell: step, offset: offset), CellMap(plane: smoothSkin, cell: step, offset: offset))
    }

    /// Brighter light and purer colour: luma raised by a gamma below 1 (hue kept), then
    /// saturation raised around it.
    static func brighten(_ image: PlanarImage, saturation: Float, gamma: Float) -> PlanarImage {
        let out = PlanarImage(width: image.width, height: image.height, channels: 3)
        let w = image.width
        Parallel.rows(image.height) { rows in
            for y in rows {
                let r = image.planes[0].row(y), g = image.planes[1].row(y), b = image.planes[2].row(y)
                let or = out.planes[0].row(y), og = out.planes[1].row(y), ob = out.planes[2].row(y)
                for x in 0..<w {
                    let luma = max(0.2126 * r[x] + 0.7152 * g[x] + 0.0722 * b[x], 1e-4)
                    let lifted = pow(luma, gamma)
                    let gain = lifted / luma
                    or[x] = min(max(lifted + (r[x] * gain - lifted) * saturation, 0), 1)
                    og[x] = min(max(lifted + (g[x] * gain - lifted) * saturation, 0), 1)
                    ob[x] = min(max(lifted + (b[x] * gain - lifted) * saturation, 0), 1)
                }
            }
        }
        return out
    }
}

/// Values on a grid of square cells laid on the photo (the first cell starts `offset` pixels
/// before the canvas), looked up by canvas position.
struct CellMap: Sendable {
    let plane: Plane
    let cell: Int
    let offset: (x: Int, y: Int)

    @inline(__always) func value(at p: SIMD2<Float>) -> Float {
        let i = min(max((Int(p.x.rounded(.down)) + offset.x) / cell, 0), plane.width - 1)
        let j = min(max((Int(p.y.rounded(.down)) + offset.y) / cell, 0), plane.height - 1)
        return plane[i, j]
    }
}

/// Print-resolution paint surface: the strokes' height field (slopes in planes 3 and 4; paint
/// coverage in plane 5) lit from the upper left, with a glossy highlight on the ridges, over a canvas
/// weave that shows where the paint is thin.
struct ImpastoLight: PrintFinish {
    /// Scale of the paint's relief (0 = flat).
    let relief: Float
    let printScale: Float
    let origin: (x: Float, y: Float)
    /// Strength of the specular highlight.
    let gloss: Float
    /// Strength of the canvas weave.
    let weave: Float

    func finish(row input: UnsafePointer<Float>, bands: Int, output: UnsafeMutablePointer<UInt8>, x: Int, y: Int, count: Int) {
        CanvasWeave.slopes.withUnsafeBufferPointer { tile in
            let size = CanvasWeave.size
            let inverse = Float(size) / (printScale * CanvasWeave.period)
            let ty = (Float(y) + origin.y) * inverse
            let ty0 = Int(ty.rounded(.down)), fy = ty - ty.rounded(.down)
            let row0 = (ty0 & (size - 1)) * size, row1 = ((ty0 + 1) & (size - 1)) * size
            // Light from the upper left, 40° above the canvas; half vector for the highlight.
            let lx: Float = -0.54, ly: Float = -0.54, lz: Float = 0.645
            let hx: Float = -0.29, hy: Float = -0.29, hz: Float = 0.912
            let strength = 4.5 * relief
            let weaveSlope = 0.4 * relief * weave
            let flatSpecular = pow(hz, 20)
            for i in 0..<count {
                let p = input + i * bands
                let tx = (Float(x + i) + origin.x) * inverse
                let tx0 = Int(tx.rounded(.down)), fx = tx - tx.rounded(.down)
                let c0 = tx0 & (size - 1), c1 = (tx0 + 1) & (size - 1)
                let top = tile[row0 + c0] + (tile[row0 + c1] - tile[row0 + c0]) * fx
                let bottom = tile[row1 + c0] + (tile[row1 + c1] - tile[row1 + c0]) * fx
                let weaveSlopes = top + (bottom - top) * fy
                // The weave shows through thin paint and is buried under thick strokes.
                let thin = weaveSlope * (0.03 + 0.97 * min(max(1 - p[5], 0), 1))
                let nx = -(p[3] * strength + weaveSlopes.x * thin), ny = -(p[4] * strength + weaveSlopes.y * thin)
                let inverseLength = 1 / (nx * nx + ny * ny + 1).squareRoot()
                let diffuse = max(0, (nx * lx + ny * ly + lz) * inverseLength)
                let shade = 0.35 + 0.65 * diffuse / lz
                // A broad glossy lobe: ridges facing the light shine even in dark paint.
                var specular = max(0, (nx * hx + ny * hy + hz) * inverseLength)
                specular *= specular  // ^2
                specular *= specular  // ^4
                let s4 = specular
                specular *= specular  // ^8
                specular *= specular * s4  // ^20
                // Sheen: slopes turned to the light brighten by an amount, not a factor, so
                // the relief reads in dark paint too.
                let sheen = max(0, diffuse / lz - 1) * gloss * 0.5
                let highlight = max(0, specular - flatSpecular) * gloss * relief * 2 + sheen
                output[3 * i] = byte(p[0] * shade + highlight)
                output[3 * i + 1] = byte(p[1] * shade + highlight)
                output[3 * i + 2] = byte(p[2] * shade + highlight)
            }
        }
    }
}

/// A plain-weave canvas: warp and weft threads passing over and under each other, as a tile of
/// surface slopes two threads square, repeated.
enum CanvasWeave {
    /// Tile side in samples (a power of two).
    static let size = 64
    /// Tile side in reference pixels: two threads of about 0.75 mm at 300 DPI.
    static let period: Float = 18

    /// Slopes (∂h/∂x, ∂h/∂y) of the thread surface, per tile sample, about unit amplitude.
    static let slopes: [SIMD2<Float>] = {
        let n = size
        func height(_ i: Int, _ j: Int) -> Float {
            let s = Float((i % n + n) % n) / Float(n) * 2, t = Float((j % n + n) % n) / Float(n) * 2
            let warpProfile = sin(.pi * s) * sin(.pi * s), weftProfile = sin(.pi * t) * sin(.pi * t)
            let warpOver = 0.5 + 0.5 * cos(.pi * (t - 0.5 - s.rounded(.down)))
            let weftOver = 0.5 - 0.5 * cos(.pi * (s - 0.5 - t.rounded(.down)))
            return warpProfile * (0.3 + 0.7 * warpOver) + weftProfile * (0.3 + 0.7 * weftOver)
        }
        var out = [SIMD2<Float>](repeating: .zero, count: n * n)
        let gain = Float(n) / 8
        for j in 0..<n {
            for i in 0..<n {
                out[j * n + i] = SIMD2(height(i + 1, j) - height(i - 1, j), height(i, j + 1) - height(i, j - 1)) * gain
            }
        }
        return out
    }()
}
