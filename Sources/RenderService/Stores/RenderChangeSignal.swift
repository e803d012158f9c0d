import Foundation
import Synchronization

/// Wakes the requests of this process that wait for a render to change (`Prefer: wait=N`),
/// without polling: `MeasuredRenderStore` signals every status change it makes. Changes made by
/// other processes (workers on other hosts, other API replicas) are not seen here; waiters
/// also re-read the store at a slow interval for those.
public final class RenderChangeSignal: Sendable {
    private let waiters = Mutex<[UUID: [UUID: CheckedContinuation<Void, Never>]]>([:])

    public init() {}

    /// Wakes everyone waiting on `id`.
    public func signal(_ id: UUID) {
        let woken = waiters.withLock { $0.removeValue(forKey: id) } ?? [:]
        for continuation in woken.values { continuation.resume() }
    }

    /// Returns when `id` is signalled, after `timeout`, or when the task is cancelled.
    public func wait(for id: UUID, timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.signalled(id) }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
    }

    /// Waiters on `id` right now (tests).
    func waiting(on id: UUID) -> Int { waiters.withLock { $0[id]?.count ?? 0 } }

    private func signalled(_ id: UUID) async {
        let token = UUID()
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                // Checked under the lock: a cancellation either comes before (nothing is
                // registered) or finds the continuation registered and resumes it.
                let cancelled = waiters.withLock { state -> Bool in
                    if Task.isCancelled { return true }
                    state[id, default: [:]][token] = continuation
                    return false
                }
                if cancelled { continuation.resume() }
            }
        } onCancel: {
            let continuation = waiters.withLock { state -> CheckedContinuation<Void, Never>? in
                let removed = state[id]?.removeValue(forKey: token)
                if state[id]?.isEmpty == true { state[id] = nil }
                return removed
            }
            continuation?.resume()
        }
    }
}
