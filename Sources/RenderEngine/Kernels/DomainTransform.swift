import Foundation

/// Edge-aware smoothing with the recursive-filter domain transform (Gastal & Oliveira,
/// SIGGRAPH 2011): O(1) per pixel for any σ, which a bilateral filter on a 10 Mpx working
/// image is not.
enum DomainTransform {
    /// Smooths all planes together; an edge is where the planes jointly change by much
    /// relative to σr.
    /// - Parameters:
    ///   - sigmaSpatial: σs in pixels.
    ///   - sigmaRange: σr in the planes' units.
    ///   - iterations: N, usually 3.
    static func smooth(_ image: PlanarImage, sigmaSpatial: Double, sigmaRange: Double, iterations: Int = 3) -> PlanarImage {
        let w = image.width, h = image.height
        let ratio = Float(sigmaSpatial / sigmaRange)
        // Derivatives of the transformed domain, from the input image only (as in the paper).
        let dx = Plane(width: w, height: h)
        let dy = Plane(width: w, height: h)
        let planes = image.planes
        Parallel.rows(h) { rows in
            for y in rows {
                let ox = dx.row(y), oy = dy.row(y)
                for x in 0..<w {
                    ox[x] = 0
                    oy[x] = 0
                }
                for p in planes {
                    let r = p.row(y)
                    for x in 1..<max(w, 1) { ox[x] += abs(r[x] - r[x - 1]) }
                    if y > 0 {
                        let up = p.row(y - 1)
                        for x in 0..<w { oy[x] += abs(r[x] - up[x]) }
                    }
                }
                for x in 0..<w {
                    ox[x] = 1 + ratio * ox[x]
                    oy[x] = 1 + ratio * oy[x]
                }
            }
        }
        let out = image.planes.map { $0.copy() }
        let feedbackX = Plane(width: w, height: h)
        let feedbackY = Plane(width: w, height: h)
        let n = Double(iterations)
        for i in 0..<iterations {
            let sigmaH = sigmaSpatial * 3.0.squareRoot() * pow(2, n - Double(i + 1)) / (pow(4, n) - 1).squareRoot()
            let logA = Float(-2.0.squareRoot() / sigmaH)
            // a^d, shared by every plane in this iteration.
            Parallel.rows(h) { rows in
                for y in rows {
                    let sx = dx.row(y), sy = dy.row(y), fx = feedbackX.row(y), fy = feedbackY.row(y)
                    for x in 0..<w {
                        fx[x] = exp(logA * sx[x])
                        fy[x] = exp(logA * sy[x])
                    }
                }
            }
            for plane in out {
                filterHorizontal(plane, feedback: feedbackX)
                filterVertical(plane, feedback: feedbackY)
            }
        }
        return PlanarImage(planes: out)
    }

    /// In-place recursive filter along rows: forward, then backward.
    private static func filterHorizontal(_ plane: Plane, feedback: Plane) {
        let w = plane.width
        Parallel.rows(plane.height) { rows in
            for y in rows {
                let v = feedback.row(y), p = plane.row(y)
                var previous = p[0]
                for x in stride(from: 1, to: w, by: 1) {
                    previous = p[x] + v[x] * (previous - p[x])
                    p[x] = previous
                }
                var next = p[w - 1]
                for x in stride(from: w - 2, through: 0, by: -1) {
                    next = p[x] + v[x + 1] * (next - p[x])
                    p[x] = next
                }
            }
        }
    }

    /// In-place recursive filter down columns, a row at a time over bands of columns so memory
    /// is read contiguously and the inner loop vectorises.
    private static func filterVertical(_ plane: Plane, feedback: Plane) {
        let h = plane.height
        Parallel.rows(plane.width, minimumChunk: 64) { columns in
            let x0 = columns.lowerBound, n = columns.count
            for y in stride(from: 1, to: h, by: 1) {
                let v = feedback.row(y) + x0, p = plane.row(y) + x0, up = plane.row(y - 1) + x0
                for i in 0..<n { p[i] += v[i] * (up[i] - p[i]) }
            }
            for y in stride(from: h - 2, through: 0, by: -1) {
                let v = feedback.row(y + 1) + x0, p = plane.row(y) + x0, down = plane.row(y + 1) + x0
                for i in 0..<n { p[i] += v[i] * (down[i] - p[i]) }
            }
        }
    }
}
