import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Hears every process's render status changes, new work and webhook deliveries in production:
/// one pooled connection per process `LISTEN`s on `render_changes` (sent by the triggers of
/// `db/migrations/009_render_change_notify.sql` and `011_webhook_delivery_notify.sql`) and
/// signals `changes`, so a long-poll on one API replica wakes when a worker on another host
/// finishes, a worker's cancel watch wakes when any replica takes the cancel, and the webhook
/// deliverer wakes when any process writes a delivery. While the connection is down waiters fall
/// back on their slow re-reads; once it is back everyone re-reads, in case a change was missed
/// meanwhile.
public struct PostgresRenderChangeListener: Service {
    public static let channel = "render_changes"
    /// The payload that says a job was queued (sent by the queue after an enqueue).
    public static let workPayload = "work"
    /// The payload that says a webhook delivery was written; every other payload is a render's id.
    public static let webhookPayload = "webhook"

    let client: PostgresClient
    let changes: RenderChangeSignal
    /// Wakes this process's idle workers.
    let arrivals: WorkSignal
    /// Wakes this process's webhook deliverer.
    let deliveries: WorkSignal
    let logger: Logger
    /// Longest pause between attempts to listen again.
    var maxRetryDelay: Duration = .seconds(30)

    public init(client: PostgresClient, changes: RenderChangeSignal, arrivals: WorkSignal, deliveries: WorkSignal, logger: Logger) {
        self.client = client
        self.changes = changes
        self.arrivals = arrivals
        self.deliveries = deliveries
        self.logger = logger
    }

    /// Tells every process's listener that a job is ready to claim, or that the earliest
    /// delayed one falls due at another time (idle workers re-read it).
    public static func announceWork(_ client: PostgresClient, logger: Logger) async {
        do {
            try await client.query("SELECT pg_notify('render_changes', 'work')", logger: logger)
        } catch {
            // Idle workers find the job at their next timeout instead.
            logger.debug("Could not announce new work", metadata: ["error": "\(String(reflecting: error))"])
        }
    }

    public func run() async throws {
        var delay: Duration = .milliseconds(250)
        var failedSince: ContinuousClock.Instant?
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            let attempt = Attempt(afterFailure: failedSince != nil)
            do {
                try await cancelWhenGracefulShutdown { [client, changes, arrivals, deliveries, logger] in
                    try await client.withConnection { connection in
                        try await connection.listen(on: Self.channel) { notifications in
                            if attempt.listening.exchange(true, ordering: .relaxed) == false, attempt.afterFailure {
                                logger.info("Listening for render changes again")
                            }
                            changes.signalAll()
                            arrivals.notify()
                            deliveries.notify()
                            for try await notification in notifications {
                                switch notification.payload {
                                case Self.workPayload: arrivals.notify()
                                case Self.webhookPayload: deliveries.notify()
                                default: if let id = UUID(uuidString: notification.payload) { changes.signal(id) }
                                }
                            }
                        }
                    }
                }
            } catch {
                if Task.isShuttingDownGracefully || Task.isCancelled { break }
                if attempt.listening.load(ordering: .relaxed) {
                    failedSince = nil
                    delay = .milliseconds(250)
                }
                // The first failure of an outage is a warning; later ones only every minute.
                let now = ContinuousClock.now
                if failedSince.map({ now - $0 > .seconds(60) }) ?? true {
                    logger.warning(
                        "Not listening for render changes; waits fall back on slow re-reads",
                        metadata: ["error": "\(String(reflecting: error))"])
                    failedSince = now
                }
            }
            try? await Task.sleep(for: delay)
            delay = min(delay * 2, maxRetryDelay)
        }
    }

    /// Whether one attempt got as far as listening.
    private final class Attempt: Sendable {
        let listening = Atomic<Bool>(false)
        let afterFailure: Bool
        init(afterFailure: Bool = false) { self.afterFailure = afterFailure }
    }
}
