import Foundation
import Logging
import RenderEngine

/// Everything the HTTP layer and the workers share, built once per service instance.
/// Nothing here knows whether it runs embedded or against the production stack: the store,
/// queue and object store are protocols.
public struct ServiceComponents: Sendable {
    public private(set) var configuration: ServiceConfiguration
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
        WebhookDeliverer(outbox: webhookOutbox, store: store, settings: configuration.webhooks, metrics: metrics, logger: logger)
    }

    /// The service that deletes what outlived its retention period (in every serve process).
    public func retentionSweeper(logger: Logger) -> RetentionSweeper {
        RetentionSweeper(store: store, objects: objects, metrics: metrics, configuration: configuration, logger: logger)
    }

    /// Worker processes render `WORKER_COUNT` at once rather than `WORKER_CONCURRENCY`.
    public mutating func overrideWorkerConcurrency(_ count: Int) {
        configuration.workerConcurrency = count
    }
}

/// The embedded deployment: SQLite, local files and the table queue under `DATA_DIR`.
public enum EmbeddedBackend {
    /// Opens (creating if needed) the data directory. Holds an exclusive lock on it for the
    /// life of the process: the table queue and crash recovery assume one process per directory.
    public static func open(configuration: ServiceConfiguration, logger: Logger) async throws -> (ServiceComponents, DataDirectoryLock) {
        let root = configuration.dataDirectory
        for directory in [root, "\(root)/objects", "\(root)/tmp", "\(root)/work"] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        let lock = try DataDirectoryLock(directory: root)
        // Leftovers from a process that died mid-upload or mid-render.
        for directory in ["\(root)/tmp", "\(root)/work"] {
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
                try? FileManager.default.removeItem(atPath: "\(directory)/\(entry)")
            }
        }
        let database = try SQLiteDatabase(path: "\(root)/aso-render.sqlite")
        let secret = try URLSigner.loadOrCreateSecret(configured: configuration.urlSigningSecret, directory: root)
        let signer = URLSigner(secret: secret)
        var configuration = configuration
        configuration.apiKeys = configuration.apiKeys.keyed(with: secret)
        configuration.webhooks = configuration.webhooks.keyed(with: secret)
        let objects = try LocalObjectStore(root: "\(root)/objects", signer: signer, publicBaseURL: configuration.publicBaseURL)
        let queue = TableJobQueue(database: database)
        let metrics = ServiceMetrics(queueName: queue.name)
        let store = MeasuredRenderStore(SQLiteRenderStore(database: database), metrics: metrics)
        let recovered = try await queue.recoverAbandoned()
        if !recovered.isEmpty {
            for id in recovered { try await store.markQueued(id: id) }
            logger.warning("Re-queued renders interrupted by the last shutdown", metadata: ["count": "\(recovered.count)"])
        }
        let engine = try RenderEngine(limits: InputLimits(maxPixels: configuration.maxInputPixels), threads: configuration.renderThreads)
        let components = ServiceComponents(
            configuration: configuration,
            engine: engine,
            store: store,
            queue: queue,
            objects: objects,
            metrics: metrics,
            rateLimiter: InProcessRateLimiter(),
            webhookOutbox: SQLiteWebhookOutbox(database: database),
            localFiles: (objects, signer),
            uploadDirectory: "\(root)/tmp",
            workDirectory: "\(root)/work",
            previews: StylePreviews(
                engine: engine, objects: objects, metrics: metrics, workDirectory: "\(root)/work", concurrency: configuration.previewConcurrency),
            migrationCheck: { try await database.isMigrated() })
        if !recovered.isEmpty { components.metrics.jobsRescued(recovered.count) }
        return (components, lock)
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
