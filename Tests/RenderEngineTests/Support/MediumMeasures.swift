import Foundation
import RenderEngine

/// An image as float planes for measuring: RGB in 0...1, rows contiguous.
struct MeasuredImage {
    let width: Int
    let height: Int
    var red: [Float], green: [Float], blue: [Float]

    init(_ image: RasterImage) {
        width = image.width
        height = image.height
        let count = width * height
        red = [Float](repeating: 0, count: count)
        green = red
        blue = red
        for i in 0..<count {
            red[i] = Float(image.pixels[3 * i]) / 255
            green[i] = Float(image.pixels[3 * i + 1]) / 255
            blue[i] = Float(image.pixels[3 * i + 2]) / 255
        }
    }

    init(width: Int, height: Int, red: [Float], green: [Float], blue: [Float]) {
        self.width = width
        self.height = height
        self.red = red
        self.green = green
        self.blue = blue
    }

    func mapped(_ transform: (Float, Float, Float) -> (Float, Float, Float)) -> MeasuredImage {
        var out = self
        for i in red.indices {
            let (r, g, b) = transform(red[i], green[i], blue[i])
            out.red[i] = min(max(r, 0), 1)
            out.green[i] = min(max(g, 0), 1)
            out.blue[i] = min(max(b, 0), 1)
        }
        return out
    }

    /// Luma in 0...255 (Rec. 709 weights on the sRGB values).
    var luma: [Float] { red.indices.map { 255 * (0.2126 * red[$0] + 0.7152 * green[$0] + 0.0722 * blue[$0]) } }

    /// CIELAB planes (D65).
    var lab: (l: [Float], a: [Float], b: [Float]) {
        var l = red, a = red, b = red
        func linear(_ c: Float) -> Float { c <= 0.04045 ? c / 12.92 : powf((c + 0.055) / 1.055, 2.4) }
        func f(_ t: Float) -> Float { t > 0.008856 ? cbrtf(t) : 7.787 * t + 16 / 116 }
        for i in red.indices {
            let (r, g, bl) = (linear(red[i]), linear(green[i]), linear(blue[i]))
            let x = (0.4124 * r + 0.3576 * g + 0.1805 * bl) / 0.95047
            let y = 0.2126 * r + 0.7152 * g + 0.0722 * bl
            let z = (0.0193 * r + 0.1192 * g + 0.9505 * bl) / 1.08883
            let (fx, fy, fz) = (f(x), f(y), f(z))
            l[i] = 116 * fy - 16
            a[i] = 500 * (fx - fy)
            b[i] = 200 * (fy - fz)
        }
        return (l, a, b)
    }

    func blurred(_ sigma: Float) -> MeasuredImage {
        MeasuredImage(
            width: width, height: height, red: Planes.gaussian(red, width, height, sigma), green: Planes.gaussian(green, width, height, sigma),
            blue: Planes.gaussian(blue, width, height, sigma))
    }
}

/// The cheap imitations a style must beat on its medium's measure: what a lazy filter would
/// print instead of art. Made from the photo style's preview of the same photo and crop.
enum Fakes {
    static func all(of photo: MeasuredImage) -> [(String, MeasuredImage)] {
        [
            ("the photo", photo),
            (
                "greyscale",
                photo.mapped { r, g, b in
                    let y = 0.2126 * r + 0.7152 * g + 0.0722 * b
                    return (y, y, y)
                }
            ),
            ("a Gaussian blur", photo.blurred(2)),
            ("photo + noise", noisy(photo)),
            ("posterised, 4 levels", photo.mapped { r, g, b in (posterise(r, 4), posterise(g, 4), posterise(b, 4)) }),
            ("posterised, 8 levels", photo.mapped { r, g, b in (posterise(r, 8), posterise(g, 8), posterise(b, 8)) }),
            ("brighter", photo.mapped { r, g, b in (r + 30 / 255, g + 30 / 255, b + 30 / 255) }),
        ]
    }

    static func posterise(_ value: Float, _ levels: Float) -> Float { (value * (levels - 1)).rounded() / (levels - 1) }

    /// Per-pixel noise of σ ≈ 10/255 per channel (a hash, so the fake is the same every run).
    static func noisy(_ image: MeasuredImage) -> MeasuredImage {
        var out = image
        for i in image.red.indices {
            func n(_ lane: UInt64) -> Float {
                var h = UInt64(i) &* 0x9E37_79B9_7F4A_7C15 &+ lane
                h = (h ^ (h >> 30)) &* 0xBF58_476D_1CE4_E5B9
                h = (h ^ (h >> 27)) &* 0x94D0_49BB_1331_11EB
                h ^= h >> 31
                return (Float(h >> 40) / Float(1 << 24) - 0.5) * 0.12
            }
            out.red[i] = min(max(image.red[i] + n(1), 0), 1)
            out.green[i] = min(max(image.green[i] + n(2), 0), 1)
            out.blue[i] = min(max(image.blue[i] + n(3), 0), 1)
        }
        return out
    }
}

/// Measures of a medium on a 1200 px preview.
enum Medium {
    /// Brush marks (oil, impressionist): what the picture has at the scale of a brush stroke
    /// (difference of Gaussians σ 1.5 → 4.5 px) that the photo does not, with the photo's own
    /// band removed by least squares, so a faithful or tone-shifted copy scores zero.
    /// `texture`: rms of that new luma texture (0–255). `brokenColour`: rms of the new a*b*
    /// texture over `texture` — dabs of different hue side by side score high, lit impasto of
    /// one mixed colour low, noise very high.
    static func marks(_ image: MeasuredImage, photo: MeasuredImage) -> (texture: Double, brokenColour: Double) {
        let w = image.width, h = image.height
        func newTexture(_ a: [Float], _ b: [Float]) -> [Float] {
            let bi = Planes.differenceOfGaussians(a, w, h, 1.5, 4.5), bp = Planes.differenceOfGaussians(b, w, h, 1.5, 4.5)
            var dot = 0.0, norm = 0.0
            for i in bi.indices {
                dot += Double(bi[i] * bp[i])
                norm += Double(bp[i] * bp[i])
            }
            let beta = Float(dot / max(norm, 1e-12))
            return bi.indices.map { bi[$0] - beta * bp[$0] }
        }
        let luma = newTexture(image.luma, photo.luma)
        let texture = (luma.reduce(0.0) { $0 + Double($1 * $1) } / Double(luma.count)).squareRoot()
        let labImage = image.lab, labPhoto = photo.lab
        let a = newTexture(labImage.a, labPhoto.a), b = newTexture(labImage.b, labPhoto.b)
        var colour = 0.0
        for i in a.indices { colour += Double(a[i] * a[i] + b[i] * b[i]) }
        return (texture, (colour / Double(a.count)).squareRoot() / max(texture, 1e-6))
    }

    /// How parallel the brush marks lie: the orientation coherence, (λ1 − λ2) / (λ1 + λ2), of
    /// the structure tensor (σ 16 px) of the luma's stroke-scale texture (difference of
    /// Gaussians σ 1.5 → 4.5 px), averaged inside a 32 px margin. Strokes laid side by side
    /// along one direction score near 1, strokes crossing every way near 0.
    static func strokeCoherence(_ image: MeasuredImage) -> Double {
        let w = image.width, h = image.height
        let band = Planes.differenceOfGaussians(image.luma, w, h, 1.5, 4.5)
        var xx = [Float](repeating: 0, count: band.count), yy = xx, xy = xx
        for y in 1..<(h - 1) {
            for x in 1..<(w - 1) {
                let i = y * w + x
                let gx = (band[i + 1] - band[i - 1]) / 2, gy = (band[i + w] - band[i - w]) / 2
                xx[i] = gx * gx
                yy[i] = gy * gy
                xy[i] = gx * gy
            }
        }
        let sxx = Planes.gaussian(xx, w, h, 16), syy = Planes.gaussian(yy, w, h, 16), sxy = Planes.gaussian(xy, w, h, 16)
        var total = 0.0, count = 0
        for y in 32..<(h - 32) {
            for x in 32..<(w - 32) {
                let i = y * w + x
                let trace = sxx[i] + syy[i]
                guard trace > 1e-9 else { continue }
                total += Double(((sxx[i] - syy[i]) * (sxx[i] - syy[i]) + 4 * sxy[i] * sxy[i]).squareRoot() / trace)
                count += 1
            }
        }
        return total / Double(max(count, 1))
    }

    /// Streak-scale texture across the picture against along it: the mean horizontal over
    /// the mean vertical gradient of the lightness band-passed at 5–15 px. Low when every
    /// mark runs horizontally.
    static func acrossOverAlong(_ image: MeasuredImage) -> Double {
        let w = image.width, h = image.height
        let band = Planes.differenceOfGaussians(image.luma, w, h, 5, 15)
        var across = 0.0, along = 0.0
        for y in 1..<(h - 1) {
            for x in 1..<(w - 1) {
                let i = y * w + x
                across += Double(abs(band[i + 1] - band[i - 1]))
                along += Double(abs(band[i + w] - band[i - w]))
            }
        }
        return across / max(along, 1e-9)
    }

    /// Broken colour at the dot scale (pointillism): mean Lab distance between the picture
    /// blurred at σ 1.5 px (dots kept, pixel noise gone) and at σ 8 px (the colour the eye
    /// mixes), in chroma and in lightness.
    static func dotContrast(_ image: MeasuredImage) -> (chroma: Double, lightness: Double) {
        let fine = image.blurred(1.5).lab, mixed = image.blurred(8).lab
        var chroma = 0.0, lightness = 0.0
        for i in fine.l.indices {
            chroma += Double(hypotf(fine.a[i] - mixed.a[i], fine.b[i] - mixed.b[i]))
            lightness += Double(abs(fine.l[i] - mixed.l[i]))
        }
        let n = Double(fine.l.count)
        return (chroma / n, lightness / n)
    }

    /// A halftone screen (pop art): correlation of the picture's fine detail with itself one
    /// screen period along a row (a 45° screen of pitch P repeats every P·√2 px along a row),
    /// minus the correlation half a period away. A screen scores high; anything else near 0.
    static func screen(_ image: MeasuredImage, period: Double) -> Double {
        let w = image.width, h = image.height
        let luma = image.luma
        let detail = Planes.differenceOfGaussians(luma, w, h, 0.8, Float(period))
        func correlation(_ lag: Int) -> Double {
            var sxy = 0.0, sxx = 0.0, syy = 0.0
            for y in stride(from: 0, to: h, by: 2) {
                for x in 0..<(w - lag) {
                    let a = Double(detail[y * w + x]), b = Double(detail[y * w + x + lag])
                    sxy += a * b
                    sxx += a * a
                    syy += b * b
                }
            }
            return sxy / max((sxx * syy).squareRoot(), 1e-12)
        }
        return correlation(Int(period.rounded())) - correlation(Int((period / 2).rounded()))
    }

    /// Whether the subject survives a flat-ink style: rank correlation of the picture's
    /// lightness with the photo's once both are blurred past the dots (σ 10 px).
    static func subjectSurvival(_ image: MeasuredImage, photo: MeasuredImage) -> Double {
        let w = image.width, h = image.height
        let a = Planes.gaussian(image.lab.l, w, h, 10), b = Planes.gaussian(photo.lab.l, w, h, 10)
        func ranks(_ values: [Float]) -> [Double] {
            var r = [Double](repeating: 0, count: values.count)
            for (rank, index) in values.indices.sorted(by: { values[$0] < values[$1] }).enumerated() { r[index] = Double(rank) }
            return r
        }
        let ra = ranks(a), rb = ranks(b)
        let mean = Double(ra.count - 1) / 2
        var sab = 0.0, saa = 0.0
        for i in ra.indices {
            sab += (ra[i] - mean) * (rb[i] - mean)
            saa += (ra[i] - mean) * (ra[i] - mean)
        }
        return sab / saa
    }

    /// Share of the picture whose dot-averaged lightness is below L* 20: a black sheet.
    static func blackShare(_ image: MeasuredImage) -> Double {
        let l = Planes.gaussian(image.lab.l, image.width, image.height, 10)
        return Double(l.filter { $0 < 20 }.count) / Double(l.count)
    }
}

/// Separable Gaussian blurs on planes (clamped edges), enough for measuring.
enum Planes {
    static func gaussian(_ plane: [Float], _ w: Int, _ h: Int, _ sigma: Float) -> [Float] {
        let radius = max(1, Int((3 * sigma).rounded(.up)))
        var kernel = (-radius...radius).map { expf(-Float($0 * $0) / (2 * sigma * sigma)) }
        let total = kernel.reduce(0, +)
        kernel = kernel.map { $0 / total }
        var rows = [Float](repeating: 0, count: plane.count)
        for y in 0..<h {
            for x in 0..<w {
                var sum: Float = 0
                for k in -radius...radius { sum += kernel[k + radius] * plane[y * w + min(max(x + k, 0), w - 1)] }
                rows[y * w + x] = sum
            }
        }
        var out = rows
        for y in 0..<h {
            for x in 0..<w {
                var sum: Float = 0
                for k in -radius...radius { sum += kernel[k + radius] * rows[min(max(y + k, 0), h - 1) * w + x] }
                out[y * w + x] = sum
            }
        }
        return out
    }

    static func differenceOfGaussians(_ plane: [Float], _ w: Int, _ h: Int, _ s1: Float, _ s2: Float) -> [Float] {
        let a = gaussian(plane, w, h, s1), b = gaussian(plane, w, h, s2)
        return a.indices.map { a[$0] - b[$0] }
    }
}

extension Medium {
    /// Pigment rims where a wash dried (watercolor). Edges are the local maxima of the L*
    /// gradient (σ 1 px, Sobel, non-maximum suppression along the gradient, at least 1.5 L*
    /// per px). From each edge point the profile is read along the gradient: on the dark side
    /// a dried wash pools pigment at its border, so the darkest of 1–3 px inside is at least
    /// 1.5 L* darker than the mean 6–9 px inside, the wash behind it is flat (L* spread over
    /// 5–10 px inside below 1.5), and the light side has no overshoot (brightest of 1–3 px
    /// outside at most 0.5 above the mean 6–9 px outside). `rims`: the share of edge points
    /// with such a rim, in %. `purity`: `rims` over the share with a light-side overshoot
    /// (a sharpening halo or texture, which photos and their fakes show on both sides).
    /// A posterised photo has steps without rims; a blur or the photo has no flat washes.
    static func rims(_ image: MeasuredImage) -> (rims: Double, purity: Double) {
        let w = image.width, h = image.height
        let l = image.lab.l
        let smooth = Planes.gaussian(l, w, h, 1)
        var gx = [Float](repeating: 0, count: w * h), gy = gx, magnitude = gx
        for y in 1..<(h - 1) {
            for x in 1..<(w - 1) {
                func s(_ dx: Int, _ dy: Int) -> Float { smooth[(y + dy) * w + x + dx] }
                let ax = (s(1, -1) + 2 * s(1, 0) + s(1, 1) - s(-1, -1) - 2 * s(-1, 0) - s(-1, 1)) / 8
                let ay = (s(-1, 1) + 2 * s(0, 1) + s(1, 1) - s(-1, -1) - 2 * s(0, -1) - s(1, -1)) / 8
                gx[y * w + x] = ax
                gy[y * w + x] = ay
                magnitude[y * w + x] = hypotf(ax, ay)
            }
        }
        func sample(_ x: Float, _ y: Float) -> Float {
            let cx = min(max(x, 0), Float(w - 1)), cy = min(max(y, 0), Float(h - 1))
            let x0 = min(Int(cx), w - 2), y0 = min(Int(cy), h - 2)
            let fx = cx - Float(x0), fy = cy - Float(y0)
            let top = l[y0 * w + x0] * (1 - fx) + l[y0 * w + x0 + 1] * fx
            let bottom = l[(y0 + 1) * w + x0] * (1 - fx) + l[(y0 + 1) * w + x0 + 1] * fx
            return top * (1 - fy) + bottom * fy
        }
        let neighbours = [(1, 0), (1, 1), (0, 1), (-1, 1)]
        var edges = 0, rims = 0, halos = 0
        let border = 12
        for y in border..<(h - border) {
            for x in border..<(w - border) {
                let i = y * w + x, m = magnitude[i]
                guard m > 1.5 else { continue }
                let octant = Int((atan2f(gy[i], gx[i]) / (Float.pi / 4)).rounded())
                let (dx, dy) = neighbours[((octant % 4) + 4) % 4]
                guard m >= magnitude[i + dy * w + dx], m >= magnitude[i - dy * w - dx] else { continue }
                // Unit step towards the light side.
                let nx = gx[i] / m, ny = gy[i] / m
                func at(_ t: Float) -> Float { sample(Float(x) + nx * t, Float(y) + ny * t) }
                let darkNear = min(at(-1), at(-2), at(-3)), lightNear = max(at(1), at(2), at(3))
                let darkFar = (at(-6) + at(-7) + at(-8) + at(-9)) / 4, lightFar = (at(6) + at(7) + at(8) + at(9)) / 4
                let inside = (5...10).map { at(-Float($0)) }
                let mean = inside.reduce(0, +) / 6
                let spread = (inside.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / 6).squareRoot()
                let dip = darkFar - darkNear, overshoot = lightNear - lightFar
                edges += 1
                if dip > 1.5 && overshoot < 0.5 && spread < 1.5 { rims += 1 }
                if overshoot > 1.5 { halos += 1 }
            }
        }
        let share = 100 * Double(rims) / Double(max(edges, 1)), haloShare = 100 * Double(halos) / Double(max(edges, 1))
        return (share, share / max(haloShare, 1))
    }
}

extension Fakes {
    /// Greyscale stretched so 1 % of the pixels clip at each end (an "auto contrast" filter):
    /// the cheapest imitation of a drawing, with paper-white highlights and real blacks.
    static func greyscaleStretched(_ image: MeasuredImage) -> MeasuredImage {
        let luma = image.luma.map { $0 / 255 }
        let sorted = luma.sorted()
        let low = sorted[sorted.count / 100], high = max(sorted[sorted.count * 99 / 100], low + 1e-3)
        let grey = luma.map { min(max(($0 - low) / (high - low), 0), 1) }
        return MeasuredImage(width: image.width, height: image.height, red: grey, green: grey, blue: grey)
    }
}

extension Medium {
    /// A drawing on paper (pencil, charcoal): its dark is made of marks, not of dark areas.
    /// `lines`: share of the drawn pixels (luma < 170) that are darker than their σ 4 px
    /// surroundings by more than 12 — a line, a hatch, a drag of the stick; a photo's (or
    /// greyscale's) dark is mostly broad shadow and scores low. `paper`: share of paper white
    /// (luma ≥ 215). `black`: share of deep black (luma < 45).
    static func drawing(_ image: MeasuredImage) -> (lines: Double, paper: Double, black: Double) {
        let luma = image.luma
        let surroundings = Planes.gaussian(luma, image.width, image.height, 4)
        var drawn = 0, marks = 0, paper = 0, black = 0
        for i in luma.indices {
            if luma[i] >= 215 { paper += 1 }
            if luma[i] < 45 { black += 1 }
            guard luma[i] < 170 else { continue }
            drawn += 1
            if luma[i] < surroundings[i] - 12 { marks += 1 }
        }
        let n = Double(luma.count)
        return (Double(marks) / Double(max(drawn, 1)), Double(paper) / n, Double(black) / n)
    }

    /// Comic ink on flat colour. `flat`: share of pixels whose 3x3 neighbourhood varies by
    /// less than 16 levels in every channel. `ink`: share of pixels that are an ink line —
    /// near black (luma < 50), thin (the pixels 4 px to either side, across the line, brighter
    /// by > 40) and with flat colour on both sides (8 px away). Posterising makes flat areas
    /// but no lines between them; a photo's thin dark lines run through texture.
    static func inkOnFlatColour(_ image: MeasuredImage) -> (ink: Double, flat: Double) {
        let w = image.width, h = image.height
        let luma = image.luma
        var isFlat = [Bool](repeating: false, count: w * h)
        for y in 0..<h {
            for x in 0..<w {
                var flat = true
                for channel in [image.red, image.green, image.blue] where flat {
                    var low = Float.infinity, high = -Float.infinity
                    for dy in -1...1 {
                        for dx in -1...1 {
                            let v = channel[min(max(y + dy, 0), h - 1) * w + min(max(x + dx, 0), w - 1)]
                            low = min(low, v)
                            high = max(high, v)
                        }
                    }
                    flat = high - low < 16.0 / 255
                }
                isFlat[y * w + x] = flat
            }
        }
        func at(_ x: Int, _ y: Int) -> Int { min(max(y, 0), h - 1) * w + min(max(x, 0), w - 1) }
        var ink = 0
        for y in 0..<h {
            for x in 0..<w {
                let v = luma[y * w + x]
                guard v < 50 else { continue }
                let across = min(luma[at(x - 4, y)], luma[at(x + 4, y)]) - v > 40 && isFlat[at(x - 8, y)] && isFlat[at(x + 8, y)]
                let down = min(luma[at(x, y - 4)], luma[at(x, y + 4)]) - v > 40 && isFlat[at(x, y - 8)] && isFlat[at(x, y + 8)]
                if across || down { ink += 1 }
            }
        }
        let n = Double(w * h)
        return (Double(ink) / n, Double(isFlat.filter { $0 }.count) / n)
    }
}

extension Medium {
    /// For every ink pixel (luma below 60): how often the next pixel down-left is ink too
    /// (`along` a line drawn at 45°, as comic's hatching is) and how often the next pixel
    /// down-right is (`across` it).
    static func inkContinuation(_ image: MeasuredImage) -> (along: Double, across: Double) {
        let w = image.width, h = image.height
        let luma = image.luma
        var inked = 0, along = 0, across = 0
        for y in 0..<(h - 1) {
            for x in 1..<(w - 1) where luma[y * w + x] < 60 {
                inked += 1
                if luma[(y + 1) * w + x - 1] < 60 { along += 1 }
                if luma[(y + 1) * w + x + 1] < 60 { across += 1 }
            }
        }
        return (Double(along) / Double(max(inked, 1)), Double(across) / Double(max(inked, 1)))
    }
}
