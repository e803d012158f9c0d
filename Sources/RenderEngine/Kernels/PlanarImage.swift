import Foundation

/// One channel of float samples, rows contiguous. Owns its memory.
///
/// A class so a large buffer is never copied by accident; `@unchecked Sendable` because
/// kernels write disjoint rows from several threads, which the type system cannot express.
public final class Plane: @unchecked Sendable {
    public let width: Int
    public let height: Int
    public let pointer: UnsafeMutablePointer<Float>

    public init(width: Int, height: Int, fill: Float = 0) {
        precondition(width > 0 && height > 0, "empty plane")
        self.width = width
        self.height = height
        pointer = .allocate(capacity: width * height)
        pointer.initialize(repeating: fill, count: width * height)
    }

    deinit { pointer.deallocate() }

    public var count: Int { width * height }

    @inline(__always) public func row(_ y: Int) -> UnsafeMutablePointer<Float> { pointer + y * width }

    @inline(__always) public subscript(x: Int, y: Int) -> Float {
        get { pointer[y * width + x] }
        set { pointer[y * width + x] = newValue }
    }

    /// Sample with coordinates clamped to the plane (edge pixels repeat).
    @inline(__always) public func clamped(_ x: Int, _ y: Int) -> Float {
        pointer[min(max(y, 0), height - 1) * width + min(max(x, 0), width - 1)]
    }

    /// Bilinear sample at a fractional position, edges clamped.
    @inline(__always) public func bilinear(_ x: Float, _ y: Float) -> Float {
        let fx = x.rounded(.down), fy = y.rounded(.down)
        let x0 = Int(fx), y0 = Int(fy)
        let tx = x - fx, ty = y - fy
        let a = clamped(x0, y0), b = clamped(x0 + 1, y0)
        let c = clamped(x0, y0 + 1), d = clamped(x0 + 1, y0 + 1)
        let top = a + (b - a) * tx
        let bottom = c + (d - c) * tx
        return top + (bottom - top) * ty
    }

    public func copy() -> Plane {
        let plane = Plane(width: width, height: height)
        plane.pointer.update(from: pointer, count: count)
        return plane
    }

    /// Mean of all samples (for tests and statistics).
    public var mean: Double {
        var sum = 0.0
        for y in 0..<height {
            var rowSum: Float = 0
            let r = row(y)
            for x in 0..<width { rowSum += r[x] }
            sum += Double(rowSum)
        }
        return sum / Double(count)
    }
}

/// Several planes of the same size: an image in float, one plane per channel.
public struct PlanarImage: Sendable {
    public let width: Int
    public let height: Int
    public var planes: [Plane]

    public init(planes: [Plane]) {
        precondition(!planes.isEmpty, "an image needs at least one plane")
        let (w, h) = (planes[0].width, planes[0].height)
        precondition(planes.allSatisfy { $0.width == w && $0.height == h }, "plane sizes differ")
        width = w
        height = h
        self.planes = planes
    }

    public init(width: Int, height: Int, channels: Int, fill: Float = 0) {
        self.init(planes: (0..<channels).map { _ in Plane(width: width, height: height, fill: fill) })
    }

    public var channels: Int { planes.count }
    public var size: PixelSize { PixelSize(width: width, height: height) }

    /// Planes from interleaved 8-bit samples, scaled to 0...1.
    public init(interleavedBytes bytes: UnsafeRawBufferPointer, width: Int, height: Int, channels: Int) {
        precondition(bytes.count >= width * height * channels, "buffer too small")
        let planes = (0..<channels).map { _ in Plane(width: width, height: height) }
        let source = bytes.bindMemory(to: UInt8.self)
        let scale: Float = 1 / 255
        Parallel.rows(height) { rows in
            for y in rows {
                let src = source.baseAddress! + y * width * channels
                for c in 0..<channels {
                    let dst = planes[c].row(y)
                    for x in 0..<width { dst[x] = Float(src[x * channels + c]) * scale }
                }
            }
        }
        self.init(planes: planes)
    }

    /// Interleaves the planes into one buffer (the layout libvips reads).
    public func interleaved() -> InterleavedFloats {
        let buffer = InterleavedFloats(width: width, height: height, channels: channels)
        let planes = self.planes
        let channels = self.channels, width = self.width
        let base = buffer.pointer
        Parallel.rows(height) { rows in
            for y in rows {
                let dst = base + y * width * channels
                for c in 0..<channels {
                    let src = planes[c].row(y)
                    for x in 0..<width { dst[x * channels + c] = src[x] }
                }
            }
        }
        return buffer
    }
}

/// Float samples with channels interleaved per pixel, owned; handed to libvips without a copy.
public final class InterleavedFloats: @unchecked Sendable {
    public let width: Int
    public let height: Int
    public let channels: Int
    public let pointer: UnsafeMutablePointer<Float>

    init(width: Int, height: Int, channels: Int) {
        self.width = width
        self.height = height
        self.channels = channels
        pointer = .allocate(capacity: width * height * channels)
    }

    deinit { pointer.deallocate() }

    public var byteCount: Int { width * height * channels * MemoryLayout<Float>.size }
}
