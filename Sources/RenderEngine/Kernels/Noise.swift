import Foundation

/// Deterministic noise: pure functions of integer or real position and a seed.
///
/// No texture assets and no global random state: any pixel of any tile can be computed on
/// its own, so prints are seamless across tiles and identical for identical seeds.
enum Noise {
    /// A well-mixed 32-bit hash of a lattice point (lowbias32 finaliser over a combined key).
    @inline(__always) static func hash(_ x: Int32, _ y: Int32, _ seed: UInt32) -> UInt32 {
        var h = UInt32(bitPattern: x) &* 0x8DA6_B343 ^ UInt32(bitPattern: y) &* 0xD816_3841 ^ seed &* 0xCB1A_B31F
        h ^= h >> 16
        h = h &* 0x7FEB_352D
        h ^= h >> 15
        h = h &* 0x846C_A68B
        h ^= h >> 16
        return h
    }

    /// Uniform value in 0..<1 for a lattice point.
    @inline(__always) static func unit(_ x: Int32, _ y: Int32, _ seed: UInt32) -> Float {
        Float(hash(x, y, seed) >> 8) * (1 / 16_777_216)
    }

    /// Smooth value noise in 0...1 with quintic interpolation between lattice values;
    /// features about one unit across.
    @inline(__always) static func value(_ x: Float, _ y: Float, _ seed: UInt32) -> Float {
        let fx = x.rounded(.down), fy = y.rounded(.down)
        let ix = Int32(truncatingIfNeeded: Int(fx)), iy = Int32(truncatingIfNeeded: Int(fy))
        let tx = x - fx, ty = y - fy
        let ux = tx * tx * tx * (tx * (tx * 6 - 15) + 10)
        let uy = ty * ty * ty * (ty * (ty * 6 - 15) + 10)
        let a = unit(ix, iy, seed), b = unit(ix &+ 1, iy, seed)
        let c = unit(ix, iy &+ 1, seed), d = unit(ix &+ 1, iy &+ 1, seed)
        let top = a + (b - a) * ux
        let bottom = c + (d - c) * ux
        return top + (bottom - top) * uy
    }

    /// Fractal sum of value-noise octaves, normalised to 0...1 (mean 0.5).
    @inline(__always) static func fractal(_ x: Float, _ y: Float, octaves: Int, _ seed: UInt32) -> Float {
        var sum: Float = 0, amplitude: Float = 1, total: Float = 0, frequency: Float = 1
        for octave in 0..<octaves {
            sum += amplitude * value(x * frequency, y * frequency, seed &+ UInt32(octave) &* 0x9E37_79B9)
            total += amplitude
            amplitude *= 0.5
            frequency *= 2.03
        }
        return sum / total
    }

    /// Seed halves for independent noise fields derived from one render seed.
    static func stream(_ seed: UInt64, _ index: UInt32) -> UInt32 {
        var h = UInt64(index) &* 0x9E37_79B9_7F4A_7C15 ^ seed
        h ^= h >> 33
        h = h &* 0xFF51_AFD7_ED55_8CCD
        h ^= h >> 33
        return UInt32(truncatingIfNeeded: h)
    }
}
