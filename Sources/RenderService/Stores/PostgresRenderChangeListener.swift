import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Hears every process's render status changes in production: one pooled connection per
/// process `LISTEN`s on `render_changes` (sent by the trigger of
/// `db/migrations/009_render_change_notify.sql`) and signals `changes`, so a long-poll on one
/// API replica wakes when a worker on another host finishes, and a worker's cancel watch wakes
/// when any replica takes the cancel. While the connection is down waiters fall back on their
/// slow re-reads; once it is back everyone re-reads, in case a change was missed meanwhile.
public struct PostgresRenderChangeListener: Service {
    public static let channel = "render_changes"

    let client: PostgresClient
    let changes: RenderChangeSignal
    let logger: Logger
    /// Longest pause between attempts to listen again.
    var maxRetryDelay: Duration = .seconds(30)

    public init(client: PostgresClient, changes: RenderChangeSignal, logger: Logger) {
        self.client = client
        self.changes = changes
        self.logger = logger
    }

    public func run() async throws {
        var delay: Duration = .milliseconds(250)
        var failedSince: ContinuousClock.Instant?
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            let attempt = Attempt(afterFailure: failedSince != nil)
            do {
                try await cancelWhenGracefulShutdown { [client, changes, logger] in
                    try await client.withConnection { connection in
                        try await connection.listen(on: Self.channel) { notifications in
                            if attempt.listening.exchange(true, ordering: .relaxed) == false, attempt.afterFailure {
                                logger.info("Listening for render changes again")
                            }
                            changes.signalAll()
                            for try await notification in notifications {
                                if let id = UUID(uuidString: notification.payload) { changes.signal(id) }
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
