import Foundation
import GRDB

/// `WebhookOutbox` on the embedded SQLite database (one process per data directory; the lease
/// still guards against two deliverers in that process).
public struct SQLiteWebhookOutbox: WebhookOutbox {
    let database: SQLiteDatabase

    public init(database: SQLiteDatabase) {
        self.database = database
    }

    public func claimDue(now: Date, limit: Int, worker: String, lease: Duration) async throws -> [WebhookDelivery] {
        let time = now.timeIntervalSince1970
        return try await database.pool.write { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    UPDATE webhook_deliveries SET attempts = attempts + 1, lease_owner = ?, lease_expires_at = ?
                    WHERE id IN (SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= ?
                                 AND (lease_expires_at IS NULL OR lease_expires_at < ?) ORDER BY next_attempt_at LIMIT ?)
                    RETURNING *
                    """,
                arguments: [worker, time + lease.seconds, time, time, limit])
            return rows.map(Self.delivery).sorted { $0.nextAttemptAt < $1.nextAttemptAt }
        }
    }

    public func markDelivered(_ delivery: WebhookDelivery, worker: String, at date: Date) async throws -> Bool {
        try await finish(delivery, worker: worker, sql: "status = 'delivered', finished_at = ?, last_error = NULL", [date.timeIntervalSince1970])
    }

    public func scheduleRetry(_ delivery: WebhookDelivery, worker: String, next: Date, error: String) async throws -> Bool {
        try await finish(delivery, worker: worker, sql: "next_attempt_at = ?, last_error = ?", [next.timeIntervalSince1970, error])
    }

    public func markFailed(_ delivery: WebhookDelivery, worker: String, error: String, at date: Date) async throws -> Bool {
        try await finish(delivery, worker: worker, sql: "status = 'failed', finished_at = ?, last_error = ?", [date.timeIntervalSince1970, error])
    }

    /// Records an attempt's outcome and releases the lease, only for the claimant of that attempt.
    private func finish(_ delivery: WebhookDelivery, worker: String, sql: String, _ values: [(any DatabaseValueConvertible)?]) async throws -> Bool {
        let arguments = StatementArguments(values + [delivery.id.lowercased, worker, delivery.attempts])
        return try await database.pool.write { db in
            try db.execute(
                sql: """
                    UPDATE webhook_deliveries SET \(sql), lease_owner = NULL, lease_expires_at = NULL
                    WHERE id = ? AND status = 'pending' AND lease_owner = ? AND attempts = ?
                    """,
                arguments: arguments)
            return db.changesCount == 1
        }
    }

    public func deliveries(renderID: UUID) async throws -> [WebhookDelivery] {
        try await database.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM webhook_deliveries WHERE render_id = ? ORDER BY created_at", arguments: [renderID.lowercased])
                .map(Self.delivery)
        }
    }

    public func pending() async throws -> (count: Int, oldest: Date?, nextAttempt: Date?) {
        try await database.pool.read { db in
            let row = try Row.fetchOne(
                db,
                sql: """
                    SELECT COUNT(*) AS n, MIN(created_at) AS oldest, MIN(MAX(next_attempt_at, COALESCE(lease_expires_at, 0))) AS next
                    FROM webhook_deliveries WHERE status = 'pending'
                    """)
            let count: Int = row?["n"] ?? 0
            let oldest: Double? = row?["oldest"], next: Double? = row?["next"]
            return (count, oldest.map(Date.init(timeIntervalSince1970:)), next.map(Date.init(timeIntervalSince1970:)))
        }
    }

    static func delivery(_ row: Row) -> WebhookDelivery {
        WebhookDelivery(
            id: UUID(uuidString: row["id"])!, renderID: UUID(uuidString: row["render_id"])!, event: row["event"], url: row["url"],
            owner: row["owner"], status: WebhookDelivery.Status(rawValue: row["status"]) ?? .pending, attempts: row["attempts"],
            nextAttemptAt: Date(timeIntervalSince1970: row["next_attempt_at"]), lastError: row["last_error"],
            createdAt: Date(timeIntervalSince1970: row["created_at"]),
            finishedAt: (row["finished_at"] as Double?).map(Date.init(timeIntervalSince1970:)))
    }
}
