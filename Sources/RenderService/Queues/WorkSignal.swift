import Foundation

/// Wakes this process's idle workers when work arrives, so an upload starts rendering at once
/// instead of at the next poll.
public actor WorkSignal {
    public init() {}

    private var waiters: [UUID: CheckedContinuation<Void, Never>] = [:]

    public func notify() {
        let woken = waiters
        waiters.removeAll()
        for continuation in woken.values { continuation.resume() }
    }

    /// Returns on the next `notify` or after `timeout`, whichever comes first.
    public func wait(timeout: Duration) async {
        let id = UUID()
        let timer = Task { [weak self] in
            try? await Task.sleep(for: timeout)
            await self?.fire(id)
        }
        // The continuation is registered before this actor can run `fire` or `notify`.
        await withCheckedContinuation { waiters[id] = $0 }
        timer.cancel()
    }

    private func fire(_ id: UUID) {
        waiters.removeValue(forKey: id)?.resume()
    }
}
