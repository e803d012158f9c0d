import Foundation
import GRDB

/// The embedded queue: the renders table itself. A job is a `queued` row whose `available_at`
/// has passed; a claim is one atomic `UPDATE … RETURNING` that turns the oldest such row into
/// `processing` with a lease. No second system to install, and no way for the queue and the
/// records to disagree.
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
                sql: "UPDATE renders SET available_at = MIN(available_at, ?) WHERE id = ? AND status = 'queued'",
                arguments: [Date().timeIntervalSince1970, renderID.lowercased])
        }
        await signal.notify()
    }

    public func claim(owner: String, lease: Duration) async throws -> JobLease? {
        let now = Date().timeIntervalSince1970
        return try await database.pool.write { db in
            let row = try Row.fetchOne(
                db,
                sql: """
                    UPDATE renders SET status = 'processing', started_at = ?, attempts = attempts + 1,
                        lease_owner = ?, lease_expires_at = ?
                    WHERE id = (SELECT id FROM renders WHERE status = 'queued' AND available_at <= ?
                                ORDER BY available_at, created_at LIMIT 1)
                    RETURNING id, attempts
                    """,
                arguments: [now, owner, now + lease.seconds, now])
            return row.flatMap { row in
                UUID(uuidString: row["id"]).map { JobLease(renderID: $0, attempt: row["attempts"], owner: owner) }
            }
        }.map { lease in
            database.renderCache.invalidate(lease.renderID)
            return lease
        }
    }

    public func extend(_ lease: JobLease, by duration: Duration) async throws -> Bool {
        try await database.pool.write { db in
            try db.execute(
                sql: "UPDATE renders SET lease_expires_at = ? WHERE id = ? AND lease_owner = ? AND status = 'processing'",
                arguments: [Date().timeIntervalSince1970 + duration.seconds, lease.renderID.lowercased, lease.owner])
            return db.changesCount == 1
        }
    }

    public func complete(_ lease: JobLease) async throws {
        try await database.pool.write { db in
            try db.execute(
                sql: "UPDATE renders SET lease_owner = NULL, lease_expires_at = NULL WHERE id = ? AND lease_owner = ?",
                arguments: [lease.renderID.lowercased, lease.owner])
        }
    }

    public func retry(_ lease: JobLease, after delay: Duration) async throws {
        defer { database.renderCache.invalidate(lease.renderID) }
        try await database.pool.write { db in
            try db.execute(
                sql: """
                    UPDATE renders SET status = 'queued', started_at = NULL, available_at = ?, lease_owner = NULL, lease_expires_at = NULL
                    WHERE id = ? AND lease_owner = ? AND status = 'processing'
                    """,
                arguments: [Date().timeIntervalSince1970 + delay.seconds, lease.renderID.lowercased, lease.owner])
        }
        await signal.notify()
    }

    public func reapExpired() async throws -> [UUID] {
        let rescued = try await database.pool.write { db in
            try String.fetchAll(
                db,
                sql: """
                    UPDATE renders SET status = 'queued', started_at = NULL, lease_owner = NULL, lease_expires_at = NULL, available_at = ?
                    WHERE status = 'processing' AND lease_expires_at < ?
                    RETURNING id
                    """,
                arguments: [Date().timeIntervalSince1970, Date().timeIntervalSince1970])
        }.compactMap(UUID.init(uuidString:))
        database.renderCache.invalidate(rescued)
        if !rescued.isEmpty { await signal.notify() }
        return rescued
    }

    /// Every render left `processing` by a previous run of this process. Only valid while
    /// nothing else uses the database: the embedded mode holds a lock on the data directory.
    public func recoverAbandoned() async throws -> [UUID] {
        let rescued = try await database.pool.write { db in
            try String.fetchAll(
                db,
                sql: """
                    UPDATE renders SET status = 'queued', started_at = NULL, lease_owner = NULL, lease_expires_at = NULL
                    WHERE status = 'processing' RETURNING id
                    """)
        }.compactMap(UUID.init(uuidString:))
        database.renderCache.invalidate(rescued)
        if !rescued.isEmpty { await signal.notify() }
        return rescued
    }

    public func contains(_ renderID: UUID) async throws -> Bool {
        try await database.pool.read { db in
            try Bool.fetchOne(db, sql: "SELECT status IN ('queued', 'processing') FROM renders WHERE id = ?", arguments: [renderID.lowercased]) ?? false
        }
    }

    public func depth() async throws -> Int {
        try await database.pool.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM renders WHERE status = 'queued'") ?? 0
        }
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
