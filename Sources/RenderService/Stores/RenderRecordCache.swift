import Foundation
import Synchronization

/// Recently read render records, for the status polling that dominates API traffic.
///
/// Only valid where this process makes every write (embedded mode: the data directory is
/// locked to one process) and only `SQLiteRenderStore` writes renders; its `update(render:)`
/// invalidates each. A read that raced a write does not store what it read (a generation
/// counter detects the race), so no stale entry survives.
final class RenderRecordCache: Sendable {
    private struct State {
        var entries: [UUID: RenderRecord] = [:]
        var generation: UInt64 = 0
    }
    private let state = Mutex(State())
    private let capacity: Int

    init(capacity: Int = 20_000) {
        self.capacity = capacity
    }

    /// The cached record, or nil plus the generation to hand back to `store`.
    func lookup(_ id: UUID) -> (RenderRecord?, UInt64) {
        state.withLock { ($0.entries[id], $0.generation) }
    }

    func store(_ record: RenderRecord, readAt generation: UInt64) {
        state.withLock { state in
            guard state.generation == generation else { return }
            if state.entries.count >= capacity { state.entries.removeAll(keepingCapacity: true) }
            state.entries[record.id] = record
        }
    }

    func invalidate(_ id: UUID) {
        state.withLock { state in
            state.generation &+= 1
            state.entries.removeValue(forKey: id)
        }
    }
}
