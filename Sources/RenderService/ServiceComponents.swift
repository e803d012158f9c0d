import Foundation
import Logging
import RenderEngine

/// Everything the HTTP layer and the workers share, built once per service instance by
/// `Deployment.embedded` or `Deployment.production`.
/// Nothing here knows whether it runs embedded or against the production stack: the store,
/// queue and object store are protocols.
public struct ServiceComponents: Sendable {
    public let configuration: ServiceConfiguration
    public let engine: RenderEngine
    public let store: MeasuredRenderStore
    public let queue: any JobQueue
    public let objects: any ObjectStore
    public let metrics: ServiceMetrics
    /// Counts `/v1` requests against `RATE_LIMIT_*` (used only when they are set): in process
    /// (embedded) or shared through Redis (production).
    public let rateLimiter: any RateLimiter
    /// Webhook deliveries waiting to be made, in the render database.
    public let webhookOutbox: any WebhookOutbox
    /// Embedded mode's file server, when objects are local.
    public let localFiles: (store: LocalObjectStore, signer: URLSigner)?
    /// Where uploads are received before they are accepted.
    public let uploadDirectory: String
    public let workDirectory: String
    /// The studio's style previews (their own threads and cache).
    let previews: StylePreviews
    let migrationCheck: @Sendable () async throws -> Bool

    /// Takes in renders and photos for the API, the CLI and the tests.
    public var intake: RenderIntake {
        RenderIntake(store: store, queue: queue, objects: objects, engine: engine, metrics: metrics, policy: .init(configuration))
    }

    /// The service that delivers this deployment's webhooks (one in every serve and worker process).
    public func webhookDeliverer(logger: Logger) -> WebhookDeliverer {
        WebhookDeliverer(
            outbox: webhookOutbox, store: store, settings: configuration.webhooks, metrics: metrics, logger: logger, wake: store.deliveries)
    }

    /// The service that deletes what outlived its retention period (in every serve process).
    public func retentionSweeper(logger: Logger) -> RetentionSweeper {
        RetentionSweeper(store: store, objects: objects, metrics: metrics, configuration: configuration, logger: logger)
    }

    /// Render workers, `concurrency` at once (`WORKER_CONCURRENCY` in `serve`, `WORKER_COUNT`
    /// in a worker process); `adjust` tunes their settings (tests shorten the retry delay).
    public func workers(concurrency: Int, logger: Logger, adjust: (inout RenderWorkers.Settings) -> Void = { _ in }) -> RenderWorkers {
        var settings = RenderWorkers.Settings(
            concurrency: concurrency, maxAttempts: configuration.maxAttempts, lease: configuration.leaseDuration,
            gracePeriod: configuration.shutdownGracePeriod, workDirectory: workDirectory)
        adjust(&settings)
        return RenderWorkers(
            engine: engine, store: store, changes: store.changes, queue: queue, objects: objects, metrics: metrics, settings: settings, logger: logger)
    }
}

/// An exclusive `flock` on `DATA_DIR/.lock`, released when the process exits.
public final class DataDirectoryLock: Sendable {
    let descriptor: Int32

    public init(directory: String) throws {
        let path = "\(directory)/.lock"
        let fd = open(path, O_CREAT | O_RDWR, 0o600)
        guard fd >= 0 else { throw ConfigurationError("cannot open \(path): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw ConfigurationError("another aso-render process is using DATA_DIR \(directory)")
        }
        descriptor = fd
    }

    deinit {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
