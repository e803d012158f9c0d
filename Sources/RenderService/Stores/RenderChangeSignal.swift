import Foundation
import Synchronization

/// Wakes what waits for a render to change, without polling: long-polls (`Prefer: wait=N`) and
/// a worker's watch for a customer's cancel. `MeasuredRenderStore` signals the status changes
/// this process makes; in production `PostgresRenderChangeListener` signals the ones any
/// process makes (PostgreSQL `NOTIFY` from a trigger on `renders.status`). Waiters still re-read
/// the store at a slow interval, only as a safety net.
///
/// A watch is armed before the store is read, so a change that lands between the read and the
/// wait is kept, not lost.
public final class RenderChangeSignal: Sendable {
    private enum Waiter {
        /// Watching; nothing has happened since the last wait.
        case armed
        /// Signalled while nobody waited: the next wait returns at once.
        case fired
        case waiting(CheckedContinuation<Void, Never>)
    }

    private let waiters = Mutex<[UUID: [UUID: Waiter]]>([:])

    public init() {}

    /// `id` changed: wakes its waiters, and watches not waiting right now keep the news.
    public func signal(_ id: UUID) {
        let woken = waiters.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard var watches = state[id] else { return [] }
            var woken: [CheckedContinuation<Void, Never>] = []
            for (token, waiter) in watches {
                if case .waiting(let continuation) = waiter { woken.append(continuation) }
                watches[token] = .fired
            }
            state[id] = watches
            return woken
        }
        for continuation in woken { continuation.resume() }
    }

    /// Anything may have changed (the cross-process feed was down for a while): everyone re-reads.
    public func signalAll() {
        let ids = waiters.withLock { Array($0.keys) }
        for id in ids { signal(id) }
    }

    /// Runs `body` with a watch on `id` armed for its whole duration.
    public func watching<T>(_ id: UUID, _ body: (Watch) async throws -> T) async rethrows -> T {
        let watch = Watch(signal: self, id: id, token: UUID())
        waiters.withLock { $0[id, default: [:]][watch.token] = .armed }
        defer {
            let continuation = waiters.withLock { state -> CheckedContinuation<Void, Never>? in
                let removed = state[id]?.removeValue(forKey: watch.token)
                if state[id]?.isEmpty == true { state[id] = nil }
                if case .waiting(let continuation) = removed { return continuation }
                return nil
            }
            continuation?.resume()
        }
        return try await body(watch)
    }

    /// A watch on one render, from `watching`.
    public struct Watch: Sendable {
        let signal: RenderChangeSignal
        let id: UUID
        let token: UUID

        /// Returns when the render changed since the watch was armed or last waited, after
        /// `timeout`, or when the task is cancelled.
        public func wait(timeout: Duration) async {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await signal.signalled(id, token) }
                group.addTask { try? await Task.sleep(for: timeout) }
                await group.next()
                group.cancelAll()
            }
        }
    }

    /// Watches on `id` right now (tests).
    func watches(on id: UUID) -> Int { waiters.withLock { $0[id]?.count ?? 0 } }

    private func signalled(_ id: UUID, _ token: UUID) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                // Decided under the lock: news already kept, or a cancellation that came first,
                // returns at once; otherwise the continuation is registered for `signal`.
                let now = waiters.withLock { state -> Bool in
                    guard let waiter = state[id]?[token] else { return true }
                    if case .fired = waiter {
                        state[id]?[token] = .armed
                        return true
                    }
                    if Task.isCancelled { return true }
                    state[id]?[token] = .waiting(continuation)
                    return false
                }
                if now { continuation.resume() }
            }
            // Woken by `signal`: the news is taken.
            waiters.withLock { state in
                if case .fired = state[id]?[token] { state[id]?[token] = .armed }
            }
        } onCancel: {
            let continuation = waiters.withLock { state -> CheckedContinuation<Void, Never>? in
                guard case .waiting(let continuation) = state[id]?[token] else { return nil }
                state[id]?[token] = .armed
                return continuation
            }
            continuation?.resume()
        }
    }
}
