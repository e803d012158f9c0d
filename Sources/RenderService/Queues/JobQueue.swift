import Foundation

/// A claimed job: the render to work on, which attempt this is, and the claim's identity
/// (so a worker whose lease expired cannot complete someone else's claim).
public struct JobLease: Sendable, Equatable {
    public let renderID: UUID
    public let attempt: Int
    public let owner: String

    public init(renderID: UUID, attempt: Int, owner: String) {
        self.renderID = renderID
        self.attempt = attempt
        self.owner = owner
    }
}

/// Delivers render ids to workers at least once: the table queue (embedded) or Redis.
///
/// A claim is a lease: the worker extends it while it works (heartbeat); if the worker dies,
/// `reapExpired` puts the job back for another worker. `complete` and `retry` only act on a
/// lease that is still held.
///
/// A queue keeps only this bookkeeping. It never reads or writes a render's status: the
/// `RenderStore` is its only writer, so the caller records each move there (`markProcessing`
/// after a claim, `markQueued` after a retry or a rescue).
public protocol JobQueue: Sendable {
    /// The queue's name (the spec's `render-queue`), used in metrics.
    var name: String { get }
    func enqueue(_ renderID: UUID) async throws
    /// Takes the next job, or returns nil when there is none ready.
    func claim(owner: String, lease: Duration) async throws -> JobLease?
    /// Heartbeat. Returns false when the lease was lost (expired and reaped).
    func extend(_ lease: JobLease, by: Duration) async throws -> Bool
    /// The job is done (completed or terminally failed); forget it.
    func complete(_ lease: JobLease) async throws
    /// Put the job back, to be claimed again no earlier than `after` from now.
    func retry(_ lease: JobLease, after: Duration) async throws
    /// Re-queues jobs whose lease expired; returns their ids ("rescued").
    func reapExpired() async throws -> [UUID]
    /// Whether a render id is waiting or in flight (the reconciler re-enqueues the rest).
    func contains(_ renderID: UUID) async throws -> Bool
    /// Jobs waiting to be claimed.
    func depth() async throws -> Int
    /// When the earliest job waiting can be claimed (now or in the past when one already can),
    /// nil when none waits: an idle worker sleeps until then, since no notice marks the moment
    /// a job put off by `retry` falls due.
    func nextDue() async throws -> Date?
    /// Suspends until a job may be ready or `timeout` passes, or the task is cancelled.
    /// Everything that makes a job claimable at once (`enqueue`, `retry`, `reapExpired`) wakes
    /// it, in production in every process.
    func waitForWork(timeout: Duration) async
    func ping() async throws
}
