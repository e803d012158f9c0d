import Foundation

/// A deterministic 64-bit key from integers (paint order, jitter).
@inline(__always) func markKey(_ a: Int, _ b: Int, _ c: Int, seed: UInt64) -> UInt64 {
    var h = seed ^ 0x9E37_79B9_7F4A_7C15
    for v in [a, b, c] {
        h ^= UInt64(bitPattern: Int64(v)) &+ 0x9E37_79B9_7F4A_7C15 &+ (h << 6) &+ (h >> 2)
        h = (h ^ (h >> 30)) &* 0xBF58_476D_1CE4_E5B9
        h = (h ^ (h >> 27)) &* 0x94D0_49BB_1331_11EB
        h ^= h >> 31
    }
    return h
}

/// Uniform 0..<1 from a key and a lane.
@inline(__always) func keyUnit(_ key: UInt64, _ lane: UInt64) -> Float {
    var h = key &+ lane &* 0x9E37_79B9_7F4A_7C15
    h = (h ^ (h >> 30)) &* 0xBF58_476D_1CE4_E5B9
    h = (h ^ (h >> 27)) &* 0x94D0_49BB_1331_11EB
    h ^= h >> 31
    return Float(h >> 40) / Float(1 << 24)
}
