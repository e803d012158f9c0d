import Foundation

/// sRGB (D65) ↔ CIE L*a*b* on planes. L in 0...100, a/b roughly −100...100.
enum Colour {
    private static let linearLUT: [Float] = (0..<4096).map { i in
        let v = Double(i) / 4095
        return Float(v <= 0.04045 ? v / 12.92 : pow((v + 0.055) / 1.055, 2.4))
    }

    @inline(__always) static func linear(_ v: Float) -> Float {
        linearLUT.withUnsafeBufferPointer { lut in
            lut[Int(min(max(v, 0), 1) * 4095 + 0.5)]
        }
    }

    @inline(__always) static func encode(_ v: Float) -> Float {
        let c = min(max(v, 0), 1)
        return c <= 0.0031308 ? c * 12.92 : 1.055 * pow(c, 1 / 2.4) - 0.055
    }

    @inline(__always) private static func f(_ t: Float) -> Float {
        t > 216 / 24389 ? cbrt(t) : (24389 / 27 * t + 16) / 116
    }

    @inline(__always) private static func fInverse(_ t: Float) -> Float {
        let t3 = t * t * t
        return t3 > 216 / 24389 ? t3 : (116 * t - 16) / (24389 / 27)
    }

    static func srgbToLab(_ rgb: PlanarImage) -> PlanarImage {
        let lab = PlanarImage(width: rgb.width, height: rgb.height, channels: 3)
        let w = rgb.width
        let (r, g, b) = (rgb.planes[0], rgb.planes[1], rgb.planes[2])
        let (pl, pa, pb) = (lab.planes[0], lab.planes[1], lab.planes[2])
        Parallel.rows(rgb.height) { rows in
            for y in rows {
                let rr = r.row(y), gr = g.row(y), br = b.row(y)
                let lr = pl.row(y), ar = pa.row(y), bb = pb.row(y)
                for x in 0..<w {
                    let lr_ = linear(rr[x]), lg = linear(gr[x]), lb = linear(br[x])
                    let X = (0.4124564 * lr_ + 0.3575761 * lg + 0.1804375 * lb) / 0.95047
                    let Y = 0.2126729 * lr_ + 0.7151522 * lg + 0.0721750 * lb
                    let Z = (0.0193339 * lr_ + 0.1191920 * lg + 0.9503041 * lb) / 1.08883
                    let fx = f(X), fy = f(Y), fz = f(Z)
                    lr[x] = 116 * fy - 16
                    ar[x] = 500 * (fx - fy)
                    bb[x] = 200 * (fy - fz)
                }
            }
        }
        return lab
    }

    static func labToSrgb(_ lab: PlanarImage) -> PlanarImage {
        let rgb = PlanarImage(width: lab.width, height: lab.height, channels: 3)
        let w = lab.width
        let (pl, pa, pb) = (lab.planes[0], lab.planes[1], lab.planes[2])
        let (r, g, b) = (rgb.planes[0], rgb.planes[1], rgb.planes[2])
        Parallel.rows(lab.height) { rows in
            for y in rows {
                let lr = pl.row(y), ar = pa.row(y), bb = pb.row(y)
                let rr = r.row(y), gr = g.row(y), br = b.row(y)
                for x in 0..<w {
                    let fy = (lr[x] + 16) / 116
                    let fx = fy + ar[x] / 500
                    let fz = fy - bb[x] / 200
                    let X = fInverse(fx) * 0.95047, Y = fInverse(fy), Z = fInverse(fz) * 1.08883
                    let lr_ = 3.2404542 * X - 1.5371385 * Y - 0.4985314 * Z
                    let lg = -0.9692660 * X + 1.8760108 * Y + 0.0415560 * Z
                    let lb = 0.0556434 * X - 0.2040259 * Y + 1.0572252 * Z
                    rr[x] = encode(lr_)
                    gr[x] = encode(lg)
                    br[x] = encode(lb)
                }
            }
        }
        return rgb
    }

    /// One Lab colour to sRGB (0...1).
    static func labToSrgb(lightness: Float, a: Float, b: Float) -> (Float, Float, Float) {
        let fy = (lightness + 16) / 116
        let fx = fy + a / 500
        let fz = fy - b / 200
        let X = fInverse(fx) * 0.95047, Y = fInverse(fy), Z = fInverse(fz) * 1.08883
        return (
            encode(3.2404542 * X - 1.5371385 * Y - 0.4985314 * Z),
            encode(-0.9692660 * X + 1.8760108 * Y + 0.0415560 * Z),
            encode(0.0556434 * X - 0.2040259 * Y + 1.0572252 * Z)
        )
    }

    /// Rec. 709 luma of sRGB planes (gamma-encoded), 0...1.
    static func luma(_ rgb: PlanarImage) -> Plane {
        let out = Plane(width: rgb.width, height: rgb.height)
        let w = rgb.width
        let (r, g, b) = (rgb.planes[0], rgb.planes[1], rgb.planes[2])
        Parallel.rows(rgb.height) { rows in
            for y in rows {
                let rr = r.row(y), gr = g.row(y), br = b.row(y), o = out.row(y)
                for x in 0..<w { o[x] = 0.2126 * rr[x] + 0.7152 * gr[x] + 0.0722 * br[x] }
            }
        }
        return out
    }
}
