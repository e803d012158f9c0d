import Foundation
import Synchronization

/// Wakes what waits in this process for work to appear — idle render workers when a job is
/// queued, the webhook deliverer when a delivery is written — so it starts at once instead of
/// at its next timeout. A notice that finds nobody waiting is kept for the next wait: work that
/// arrives while a waiter is still looking (and about to find nothing) is not left until then.
public final class WorkSignal: Sendable {
    private struct State {
        var kept = false
        var waiters: [UUID: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    public func notify() {
        let woken = state.withLock { state in
            defer { state.waiters.removeAll() }
            state.kept = state.waiters.isEmpty
            return Array(state.waiters.values)
        }
        for continuation in woken { continuation.resume() }
    }

    /// Returns on the next `notify` (or at once for one kept), after `timeout`, or when the
    /// task is cancelled.
    public func wait(timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.notified() }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
    }

    private func notified() async {
        let id = UUID()
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                // Decided under the lock, so a notice is either taken here or finds this waiter.
                let now = state.withLock { state -> Bool in
                    if state.kept {
                        state.kept = false
                        return true
                    }
                    if Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }
}
