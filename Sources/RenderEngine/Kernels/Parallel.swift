import Dispatch
import Foundation

/// Splits row-oriented work across the cores.
///
/// Kernels run on the render thread (never on the Swift cooperative pool or an event loop),
/// so blocking `concurrentPerform` is the right tool: no task hops per row band.
enum Parallel {
    static let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// Calls `body` with disjoint ranges covering `0..<count`, concurrently.
    /// Results must not depend on how the range is split (determinism).
    static func rows(_ count: Int, minimumChunk: Int = 8, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let chunks = min(max(1, count / minimumChunk), cores * 4)
        if chunks == 1 {
            body(0..<count)
            return
        }
        withoutActuallyEscaping(body) { body in
            let box = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                let start = count * chunk / chunks
                let end = count * (chunk + 1) / chunks
                if start < end { box.value(start..<end) }
            }
        }
    }
}

/// Carries a value across a concurrency boundary the compiler cannot check (kernels that
/// write disjoint rows of shared buffers).
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
