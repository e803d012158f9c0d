import Foundation
import GRDB

/// The embedded queue: a `render_jobs` table in the embedded database, one row per render id
/// waiting or in flight, holding only the queue's bookkeeping (when it may be claimed, how
/// many claims so far, the lease). It never reads or writes a render's status: the store owns
/// that, as with the Redis queue. A claim is one atomic `UPDATE … RETURNING`.
public struct TableJobQueue: JobQueue {
    public let name = "render-queue"
    let database: SQLiteDatabase
    let signal: WorkSignal

    public init(database: SQLiteDatabase) {
        self.database = database
        self.signal = WorkSignal()
    }

    public func enqueue(_ renderID: UUID) async throws {
        try await database.pool.write { db in
            try db.execute(
                sql: "INSERT INTO render_jobs (render_id, available_at) VALUES (?, ?) ON CONFLICT (render_id) DO NOTHING",
                arguments: [renderID.lowercased, Date().timeIntervalSince1970])
        }
        signal.notify()
    }

    public func claim(owner: String, lease: Duration) async throws -> JobLease? {
        let now = Date().timeIntervalSince1970
        return try await database.pool.write { db in
            let row = try Row.fetchOne(
                db,
                sql: """
                    UPDATE render_jobs SET attempts = attempts + 1, lease_owner = ?, lease_expires_at = ?
                    WHERE rowid = (SELECT rowid FROM render_jobs WHERE lease_owner IS NULL AND available_at <= ?
                                   ORDER BY available_at, rowid LIMIT 1)
                    RETURNING render_id, attempts
                    """,
                arguments: [owner, now + lease.seconds, now])
            return row.flatMap { row in
                UUID(uuidString: row["render_id"]).map { JobLease(renderID: $0, attempt: row["attempts"], owner: owner) }
            }
        }
    }

    public func extend(_ lease: JobLease, by duration: Duration) async throws -> Bool {
        try await database.pool.write { db in
            try db.execute(
                sql: "UPDATE render_jobs SET lease_expires_at = ? WHERE render_id = ? AND lease_owner = ?",
                arguments: [Date().timeIntervalSince1970 + duration.seconds, lease.renderID.lowercased, lease.owner])
            return db.changesCount == 1
        }
    }

    public func complete(_ lease: JobLease) async throws {
        try await database.pool.write { db in
            try db.execute(
                sql: "DELETE FROM render_jobs WHERE render_id = ? AND lease_owner = ?", arguments: [lease.renderID.lowercased, lease.owner])
        }
    }

    public func retry(_ lease: JobLease, after delay: Duration) async throws {
        try await database.pool.write { db in
            try db.execute(
                sql: "UPDATE render_jobs SET available_at = ?, lease_owner = NULL, lease_expires_at = NULL WHERE render_id = ? AND lease_owner = ?",
                arguments: [Date().timeIntervalSince1970 + delay.seconds, lease.renderID.lowercased, lease.owner])
        }
        // Claimable now, or the next due time changed: idle workers claim or re-read it.
        signal.notify()
    }

    public func reapExpired() async throws -> [UUID] {
        try await releaseLeases(expiredBefore: Date().timeIntervalSince1970)
    }

    /// Releases every lease taken by a previous run of this process. Only valid while nothing
    /// else uses the database: the embedded mode holds a lock on the data directory.
    public func recoverAbandoned() async throws -> [UUID] {
        try await releaseLeases(expiredBefore: .infinity)
    }

    /// Jobs whose lease expires before a time (Unix seconds) become claimable now; returns their ids.
    private func releaseLeases(expiredBefore time: Double) async throws -> [UUID] {
        let released = try await database.pool.write { db in
            try String.fetchAll(
                db,
                sql: """
                    UPDATE render_jobs SET lease_owner = NULL, lease_expires_at = NULL, available_at = ?
                    WHERE lease_owner IS NOT NULL AND lease_expires_at < ? RETURNING render_id
                    """,
                arguments: [Date().timeIntervalSince1970, time])
        }.compactMap(UUID.init(uuidString:))
        if !released.isEmpty { signal.notify() }
        return released
    }

    public func contains(_ renderID: UUID) async throws -> Bool {
        try await database.pool.read { db in
            try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM render_jobs WHERE render_id = ?)", arguments: [renderID.lowercased]) ?? false
        }
    }

    public func depth() async throws -> Int {
        try await database.pool.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM render_jobs WHERE lease_owner IS NULL") ?? 0
        }
    }

    public func nextDue() async throws -> Date? {
        try await database.pool.read { db in
            try Double.fetchOne(db, sql: "SELECT MIN(available_at) FROM render_jobs WHERE lease_owner IS NULL")
        }.map(Date.init(timeIntervalSince1970:))
    }

    public func waitForWork(timeout: Duration) async {
        await signal.wait(timeout: timeout)
    }

    public func ping() async throws {
        _ = try await database.pool.read { db in try Int.fetchOne(db, sql: "SELECT 1") }
    }
}

extension Duration {
    /// Seconds as a floating-point number.
    public var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }
}
