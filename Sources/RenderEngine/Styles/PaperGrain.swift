import Foundation

/// Paper or canvas grain at print resolution for the painted styles.
struct PaperGrain: PrintFinish {
    let printScale: Float
    let origin: (x: Float, y: Float)
    let seed: UInt32
    let strength: Float

    func finish(row input: UnsafePointer<Float>, bands: Int, output: UnsafeMutablePointer<UInt8>, x: Int, y: Int, count: Int) {
        let inverse = 1 / printScale
        let v = (Float(y) + origin.y) * inverse
        for i in 0..<count {
            let p = input + i * bands
            let u = (Float(x + i) + origin.x) * inverse
            let grain = Noise.value(u * 0.5, v * 0.5, seed) * 0.6 + Noise.value(u * 1.3, v * 1.3, seed &+ 1) * 0.4
            let shade = 1 - strength * (grain - 0.5) * 2
            output[3 * i] = byte(p[0] * shade)
            output[3 * i + 1] = byte(p[1] * shade)
            output[3 * i + 2] = byte(p[2] * shade)
        }
    }
}
