import Foundation

/// The event a webhook announces: a render reached a terminal status.
public enum WebhookEvent: String, Sendable, CaseIterable {
    case completed = "render.completed"
    case failed = "render.failed"
    case canceled = "render.canceled"

    public init?(_ status: RenderStatus) {
        switch status {
        case .completed: self = .completed
        case .failed: self = .failed
        case .canceled: self = .canceled
        case .queued, .processing: return nil
        }
    }
}

/// One webhook event to deliver, as the outbox keeps it.
public struct WebhookDelivery: Sendable, Equatable {
    public enum Status: String, Sendable {
        case pending, delivered, failed
    }

    /// Sent as `webhook-id`: the same on every attempt, so receivers can drop duplicates.
    public var id: UUID
    public var renderID: UUID
    public var event: String
    public var url: String
    /// The API key that created the render (picks the key's secret, if it has its own).
    public var owner: String?
    public var status: Status
    /// Attempts claimed so far; a claimed delivery carries the number of the attempt it is on.
    public var attempts: Int
    public var nextAttemptAt: Date
    public var lastError: String?
    /// When the render reached its terminal status (the lag is measured from here).
    public var createdAt: Date
    public var finishedAt: Date?

    public init(
        id: UUID, renderID: UUID, event: String, url: String, owner: String?, status: Status, attempts: Int, nextAttemptAt: Date,
        lastError: String?, createdAt: Date, finishedAt: Date?
    ) {
        self.id = id
        self.renderID = renderID
        self.event = event
        self.url = url
        self.owner = owner
        self.status = status
        self.attempts = attempts
        self.nextAttemptAt = nextAttemptAt
        self.lastError = lastError
        self.createdAt = createdAt
        self.finishedAt = finishedAt
    }
}

/// Webhook deliveries waiting to be made, in the render database (SQLite or PostgreSQL).
///
/// The render store writes a delivery in the same transaction as the terminal status, so none is
/// lost. Any process may deliver: `claimDue` takes due deliveries under a lease and counts the
/// attempt; the outcome is recorded only by the claimant of that attempt (the same `worker` and
/// attempt number), so two deliverers never make the same attempt, and a deliverer that died
/// mid-attempt leaves the delivery to be claimed again once its lease runs out.
public protocol WebhookOutbox: Sendable {
    /// Pending deliveries due at `now` whose lease (if any) has run out, oldest first, now
    /// leased to `worker` until `now + lease` with `attempts` counting this attempt.
    func claimDue(now: Date, limit: Int, worker: String, lease: Duration) async throws -> [WebhookDelivery]
    /// The attempt succeeded. False when `worker` no longer holds that attempt.
    @discardableResult
    func markDelivered(_ delivery: WebhookDelivery, worker: String, at: Date) async throws -> Bool
    /// The attempt failed; the next one is due at `next`.
    @discardableResult
    func scheduleRetry(_ delivery: WebhookDelivery, worker: String, next: Date, error: String) async throws -> Bool
    /// The delivery is given up (its retry window is over, or its URL is refused).
    @discardableResult
    func markFailed(_ delivery: WebhookDelivery, worker: String, error: String, at: Date) async throws -> Bool
    /// A render's deliveries, oldest first.
    func deliveries(renderID: UUID) async throws -> [WebhookDelivery]
    /// Deliveries still pending, when the oldest of them was created, and the earliest time one
    /// of them can be claimed (its next attempt's time, or when the lease of an attempt in
    /// flight runs out).
    func pending() async throws -> (count: Int, oldest: Date?, nextAttempt: Date?)
}
