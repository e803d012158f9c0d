import Foundation

/// Convolution with straight line kernels in eight directions, O(1) per pixel whatever the
/// length: running sums along the pixel chains p, p + d, p + 2d, … for eight lattice
/// directions d (0°, 26.6°, 45°, 63.4°, 90°, and their mirrors). Used for pencil and charcoal
/// strokes (Lu, Xu and Jia, NPAR 2012), where the kernel is about 1/30 of the image.
enum LineConvolution {
    /// The directions, as integer steps.
    static let directions: [(dx: Int, dy: Int)] = [(1, 0), (2, 1), (1, 1), (1, 2), (0, 1), (-1, 2), (-1, 1), (-2, 1)]

    /// Mean of `plane` over a centred line of `length` pixels in direction `index`.
    static func along(_ plane: Plane, direction index: Int, length: Double) -> Plane {
        let (dx, dy) = directions[index]
        let w = plane.width, h = plane.height
        let step = (Double(dx * dx + dy * dy)).squareRoot()
        let half = max(1, Int((length / step / 2).rounded()))
        let out = Plane(width: w, height: h)
        // Chain starts: pixels whose predecessor p - d lies outside the image. For dy > 0 these
        // are the first dy rows plus |dx| columns at one edge of every other row.
        var starts: [(Int, Int)] = []
        for y in 0..<h {
            if y < dy {
                for x in 0..<w { starts.append((x, y)) }
            } else if dx > 0 {
                for x in 0..<min(dx, w) { starts.append((x, y)) }
            } else if dx < 0 {
                for x in max(0, w + dx)..<w { starts.append((x, y)) }
            }
        }
        let chains = starts
        let norm = 1 / Float(2 * half + 1)
        Parallel.rows(chains.count, minimumChunk: 64) { range in
            var values: [Float] = []
            var indices: [Int] = []
            for c in range {
                var (x, y) = chains[c]
                values.removeAll(keepingCapacity: true)
                indices.removeAll(keepingCapacity: true)
                while x >= 0, x < w, y >= 0, y < h {
                    values.append(plane[x, y])
                    indices.append(y * w + x)
                    x += dx
                    y += dy
                }
                let n = values.count
                guard n > 0 else { continue }
                // Sliding window sum with the chain's ends repeated.
                var sum: Float = 0
                for k in -half...half { sum += values[min(max(k, 0), n - 1)] }
                for k in 0..<n {
                    out.pointer[indices[k]] = sum * norm
                    sum += values[min(k + half + 1, n - 1)] - values[max(k - half, 0)]
                }
            }
        }
        return out
    }
}
