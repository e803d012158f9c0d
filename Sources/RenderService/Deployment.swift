import Foundation
import Hummingbird
import Logging
import PostgresNIO
import RenderEngine
import ServiceLifecycle

/// One deployment, assembled in one place for `serve`, `worker`, `migrate`, `submit` and the
/// tests: its components, the services that run beside them, and its start-up work. `embedded`
/// and `production` are the only places that know which column of the architecture's table
/// the process runs in.
public struct Deployment: Sendable {
    public let components: ServiceComponents
    /// Production's own clients (the pool, migrations, bucket); nil embedded.
    let production: ProductionBackend?
    /// Embedded: the exclusive lock on `DATA_DIR`, held as long as the deployment.
    let lock: DataDirectoryLock?

    /// The deployment `configuration.mode` names.
    public static func open(configuration: ServiceConfiguration, logger: Logger) async throws -> Deployment {
        switch configuration.mode {
        case .embedded: try await embedded(configuration: configuration, logger: logger)
        case .production: try production(configuration: configuration, logger: logger)
        }
    }

    /// SQLite, local files and the table queue under `DATA_DIR`, created if needed and locked
    /// for the life of the deployment: the table queue and crash recovery assume one process
    /// per directory.
    public static func embedded(configuration: ServiceConfiguration, logger: Logger) async throws -> Deployment {
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
        let database = try SQLiteDatabase(path: databasePath(configuration))
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
            metrics.jobsRescued(recovered.count)
        }
        let engine = try RenderEngine(limits: InputLimits(maxPixels: configuration.maxInputPixels), threads: configuration.renderThreads)
        let components = ServiceComponents(
            configuration: configuration, engine: engine, store: store, queue: queue, objects: objects, metrics: metrics,
            rateLimiter: InProcessRateLimiter(), webhookOutbox: SQLiteWebhookOutbox(database: database), localFiles: (objects, signer),
            uploadDirectory: "\(root)/tmp", workDirectory: "\(root)/work",
            previews: StylePreviews(
                engine: engine, objects: objects, metrics: metrics, workDirectory: "\(root)/work", concurrency: configuration.previewConcurrency),
            migrationCheck: { try await database.isMigrated() })
        return Deployment(components: components, production: nil, lock: lock)
    }

    /// PostgreSQL for records, Redis for the queue, S3/MinIO for objects, shared by any number
    /// of API replicas and worker processes. Nothing connects until the dependencies run.
    public static func production(configuration: ServiceConfiguration, logger: Logger) throws -> Deployment {
        var configuration = configuration
        if let secret = configuration.urlSigningSecret {
            configuration.apiKeys = configuration.apiKeys.keyed(with: Data(secret.utf8))
            configuration.webhooks = configuration.webhooks.keyed(with: Data(secret.utf8))
        }
        guard let password = configuration.database.password else { throw ConfigurationError("DB_PASSWORD is required") }
        var pg = configuration.database.clientConfiguration(password: password)
        // Names this process's sessions, so db_connections_* count them and no other replica's.
        let applicationName = "aso-render-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString.prefix(8).lowercased())"
        pg.options.additionalStartupParameters = [("application_name", applicationName)]
        let postgres = PostgresClient(configuration: pg, backgroundLogger: logger)
        let redis = RedisClient(configuration: configuration.redis)
        // A connection of its own with short deadlines: a rate-limit check is on every
        // request's path, so a stalled Redis must cost it half a second at most (then the
        // process limits on its own), and never queue behind the render queue's commands.
        var rateLimitRedisConfiguration = configuration.redis
        rateLimitRedisConfiguration.commandTimeout = RedisRateLimiter.commandTimeout
        rateLimitRedisConfiguration.connectTimeout = RedisRateLimiter.connectTimeout
        let rateLimitRedis = RedisClient(configuration: rateLimitRedisConfiguration)
        let objects = S3ObjectStore(configuration: try configuration.storage.s3Configuration())
        let root = configuration.dataDirectory
        for directory in ["\(root)/tmp", "\(root)/work"] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        // Idle workers sleep until an enqueue anywhere is announced through PostgreSQL.
        let arrivals = WorkSignal()
        let queue = RedisJobQueue(client: redis, arrivals: arrivals) { await PostgresRenderChangeListener.announceWork(postgres, logger: logger) }
        let metrics = ServiceMetrics(queueName: queue.name)
        let engine = try RenderEngine(limits: InputLimits(maxPixels: configuration.maxInputPixels), threads: configuration.renderThreads)
        let migrator = PostgresMigrator(client: postgres, directory: configuration.migrationsDirectory, logger: logger)
        let store = MeasuredRenderStore(PostgresRenderStore(client: postgres, logger: logger, applicationName: applicationName), metrics: metrics)
        let components = ServiceComponents(
            configuration: configuration, engine: engine, store: store, queue: queue, objects: objects, metrics: metrics,
            rateLimiter: FailoverRateLimiter(primary: RedisRateLimiter(client: rateLimitRedis), metrics: metrics, logger: logger),
            webhookOutbox: PostgresWebhookOutbox(client: postgres, logger: logger), localFiles: nil, uploadDirectory: "\(root)/tmp",
            workDirectory: "\(root)/work",
            previews: StylePreviews(
                engine: engine, objects: objects, metrics: metrics, workDirectory: "\(root)/work", concurrency: configuration.previewConcurrency),
            migrationCheck: { try await migrator.isMigrated() })
        let backend = ProductionBackend(
            postgres: postgres, redis: redis, objects: objects, migrator: migrator, database: configuration.database, changes: store.changes,
            arrivals: arrivals, deliveries: store.deliveries)
        return Deployment(components: components, production: backend, lock: nil)
    }

    /// `aso-render migrate`. Embedded, opening the database migrates it, without the
    /// deployment's lock (a running `serve` holds it). Returns the migrations applied in
    /// production.
    public static func migrate(configuration: ServiceConfiguration, logger: Logger) async throws -> [String] {
        switch configuration.mode {
        case .embedded:
            _ = try SQLiteDatabase(path: databasePath(configuration))
            return []
        case .production:
            let deployment = try production(configuration: configuration, logger: logger)
            return try await deployment.run { _ in
                try await deployment.production?.checkDatabase(logger: logger)
                return try await deployment.production?.migrator.migrate() ?? []
            }
        }
    }

    private static func databasePath(_ configuration: ServiceConfiguration) -> String { "\(configuration.dataDirectory)/aso-render.sqlite" }

    /// What must run while the components are used: the PostgreSQL pool, and the listener that
    /// wakes this process's long-polls, cancel watches and idle workers on any process's
    /// changes (production).
    func dependencies(logger: Logger) -> [any Service] {
        guard let production else { return [] }
        return [production.postgres, production.changeListener(logger: logger)]
    }

    /// `body` with the PostgreSQL pool running (one-shot commands: `submit`, `migrate`).
    public func run<T: Sendable>(_ body: @Sendable (ServiceComponents) async throws -> T) async throws -> T {
        guard let postgres = production?.postgres else { return try await body(components) }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await postgres.run() }
            defer { group.cancelAll() }
            return try await body(components)
        }
    }

    /// The render workers `serve` runs beside the API: `WORKER_CONCURRENCY` of them embedded
    /// (none at 0); in production only with `RENDER_IN_API`.
    public func apiWorkers(logger: Logger) -> RenderWorkers? {
        let configuration = components.configuration
        let renders = production == nil ? configuration.workerConcurrency > 0 : configuration.renderInAPI
        return renders ? components.workers(concurrency: configuration.workerConcurrency, logger: logger) : nil
    }

    /// `aso-render serve`: the API with the retention sweep, webhook delivery, `workers` and
    /// the dependencies. Production migrates before the server accepts requests.
    public func api(workers: RenderWorkers?, logger: Logger, onServerRunning: (@Sendable (Int) async -> Void)? = nil) -> some ApplicationProtocol {
        let prepare = production.map { production in { @Sendable in try await production.prepare(migrate: true, logger: logger) } }
        return RenderServiceApplication.build(
            components, workers: workers, dependencies: dependencies(logger: logger), prepare: prepare, logger: logger, onServerRunning: onServerRunning)
    }

    /// `aso-render worker`: `workers`, webhook delivery and the dependencies, with `/health`
    /// and `/metrics` on `WORKER_METRICS_PORT`. Storage or schema trouble at start is logged,
    /// not fatal: renders retry until the dependency is back, and `/health` shows it meanwhile.
    public func workerProcess(workers: RenderWorkers, logger: Logger, onServerRunning: (@Sendable (Int) async -> Void)? = nil) -> some ApplicationProtocol {
        var services = dependencies(logger: logger)
        if let production {
            services.append(
                StartupService {
                    do {
                        try await production.prepare(migrate: false, logger: logger)
                    } catch {
                        logger.error("Start-up check failed; workers will retry", metadata: ["error": "\(error)"])
                    }
                })
        }
        return RenderServiceApplication.workerProcess(components, workers: workers, dependencies: services, logger: logger, onServerRunning: onServerRunning)
    }
}
