import Foundation
import Logging
import PostgresNIO

/// `WebhookOutbox` on PostgreSQL: any API or worker process claims due deliveries with
/// `FOR UPDATE SKIP LOCKED`, so concurrent deliverers take different rows without waiting.
public struct PostgresWebhookOutbox: WebhookOutbox {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    static let columns = "id, render_id, event, url, owner, status, attempts, next_attempt_at, last_error, created_at, finished_at"

    public func claimDue(now: Date, limit: Int, worker: String, lease: Duration) async throws -> [WebhookDelivery] {
        let expires = now.addingTimeInterval(lease.seconds)
        let rows = try await client.query(
            """
            UPDATE webhook_deliveries SET attempts = attempts + 1, lease_owner = \(worker), lease_expires_at = \(expires)
            WHERE id IN (SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= \(now)
                         AND (lease_expires_at IS NULL OR lease_expires_at < \(now))
                         ORDER BY next_attempt_at LIMIT \(limit) FOR UPDATE SKIP LOCKED)
            RETURNING \(unescaped: Self.columns)
            """, logger: logger)
        var deliveries: [WebhookDelivery] = []
        for try await row in rows { deliveries.append(try Self.delivery(row)) }
        return deliveries.sorted { $0.nextAttemptAt < $1.nextAttemptAt }
    }

    public func markDelivered(_ delivery: WebhookDelivery, worker: String, at date: Date) async throws -> Bool {
        try await changed(
            client.query(
                """
                UPDATE webhook_deliveries SET status = 'delivered', finished_at = \(date), last_error = NULL, lease_owner = NULL, lease_expires_at = NULL
                WHERE id = \(delivery.id) AND status = 'pending' AND lease_owner = \(worker) AND attempts = \(delivery.attempts) RETURNING id
                """, logger: logger))
    }

    public func scheduleRetry(_ delivery: WebhookDelivery, worker: String, next: Date, error: String) async throws -> Bool {
        try await changed(
            client.query(
                """
                UPDATE webhook_deliveries SET next_attempt_at = \(next), last_error = \(error), lease_owner = NULL, lease_expires_at = NULL
                WHERE id = \(delivery.id) AND status = 'pending' AND lease_owner = \(worker) AND attempts = \(delivery.attempts) RETURNING id
                """, logger: logger))
    }

    public func markFailed(_ delivery: WebhookDelivery, worker: String, error: String, at date: Date) async throws -> Bool {
        try await changed(
            client.query(
                """
                UPDATE webhook_deliveries SET status = 'failed', finished_at = \(date), last_error = \(error), lease_owner = NULL, lease_expires_at = NULL
                WHERE id = \(delivery.id) AND status = 'pending' AND lease_owner = \(worker) AND attempts = \(delivery.attempts) RETURNING id
                """, logger: logger))
    }

    private func changed(_ rows: PostgresRowSequence) async throws -> Bool {
        for try await _ in rows { return true }
        return false
    }

    public func deliveries(renderID: UUID) async throws -> [WebhookDelivery] {
        let rows = try await client.query(
            "SELECT \(unescaped: Self.columns) FROM webhook_deliveries WHERE render_id = \(renderID) ORDER BY created_at", logger: logger)
        var deliveries: [WebhookDelivery] = []
        for try await row in rows { deliveries.append(try Self.delivery(row)) }
        return deliveries
    }

    public func pending() async throws -> (count: Int, oldest: Date?, nextAttempt: Date?) {
        let rows = try await client.query(
            """
            SELECT COUNT(*), MIN(created_at), MIN(GREATEST(next_attempt_at, lease_expires_at)) FROM webhook_deliveries WHERE status = 'pending'
            """, logger: logger)
        for try await (count, oldest, next) in rows.decode((Int64, Date?, Date?).self) { return (Int(count), oldest, next) }
        return (0, nil, nil)
    }

    static func delivery(_ row: PostgresRow) throws -> WebhookDelivery {
        let (id, renderID, event, url, owner, status, attempts, next, error, created, finished) = try row.decode(
            (UUID, UUID, String, String, String?, String, Int32, Date, String?, Date, Date?).self, context: .default)
        return WebhookDelivery(
            id: id, renderID: renderID, event: event, url: url, owner: owner, status: WebhookDelivery.Status(rawValue: status) ?? .pending,
            attempts: Int(attempts), nextAttemptAt: next, lastError: error, createdAt: created, finishedAt: finished)
    }
}
