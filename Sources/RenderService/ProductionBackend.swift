import Foundation
import Logging
import NIOSSL
import PostgresNIO
import RenderEngine
import ServiceLifecycle

/// The production deployment: PostgreSQL for records, Redis for the queue, S3/MinIO for
/// objects, shared by any number of API replicas and worker processes.
public struct ProductionBackend: Sendable {
    public let components: ServiceComponents
    public let postgres: PostgresClient
    public let redis: RedisClient
    public let objects: S3ObjectStore
    public let migrator: PostgresMigrator
    /// Wakes this process's idle workers (see `RedisJobQueue`).
    let arrivals: WorkSignal

    public static func open(configuration: ServiceConfiguration, logger: Logger) throws -> ProductionBackend {
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
        let migrator = PostgresMigrator(client: postgres, directory: configuration.migrationsDirectory, logger: logger)
        let root = configuration.dataDirectory
        for directory in ["\(root)/tmp", "\(root)/work"] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        // Idle workers sleep until an enqueue anywhere is announced through PostgreSQL.
        let arrivals = WorkSignal()
        let queue = RedisJobQueue(client: redis, arrivals: arrivals) { await PostgresRenderChangeListener.announceWork(postgres, logger: logger) }
        let metrics = ServiceMetrics(queueName: queue.name)
        let engine = try RenderEngine(limits: InputLimits(maxPixels: configuration.maxInputPixels), threads: configuration.renderThreads)
        let components = ServiceComponents(
            configuration: configuration,
            engine: engine,
            store: MeasuredRenderStore(PostgresRenderStore(client: postgres, logger: logger, applicationName: applicationName), metrics: metrics),
            queue: queue,
            objects: objects,
            metrics: metrics,
            rateLimiter: FailoverRateLimiter(primary: RedisRateLimiter(client: rateLimitRedis), metrics: metrics, logger: logger),
            webhookOutbox: PostgresWebhookOutbox(client: postgres, logger: logger),
            localFiles: nil,
            uploadDirectory: "\(root)/tmp",
            workDirectory: "\(root)/work",
            previews: StylePreviews(
                engine: engine, objects: objects, metrics: metrics, workDirectory: "\(root)/work", concurrency: configuration.previewConcurrency),
            migrationCheck: { try await migrator.isMigrated() })
        return ProductionBackend(components: components, postgres: postgres, redis: redis, objects: objects, migrator: migrator, arrivals: arrivals)
    }

    /// Schema up to date and bucket present; run once the PostgreSQL client is running.
    public func prepare(migrate: Bool, logger: Logger) async throws {
        try await checkDatabase(logger: logger)
        if migrate {
            try await migrator.migrate()
            try await migrator.seedCatalogue()
        }
        do {
            try await objects.ensureBucket()
        } catch {
            throw ConfigurationError("Failed to initialize storage client: \(error)")
        }
        // A queue left in the keys of the layout before Redis Cluster safety: moved once.
        // Redis trouble is not fatal here: the queue retries, and /health reports it.
        do {
            let moved = try await RedisJobQueue(client: redis).upgradeLegacyKeys()
            if moved > 0 { logger.warning("Moved queued renders to the current Redis key layout", metadata: ["count": "\(moved)"]) }
        } catch {
            logger.error("Could not check the Redis queue for the old key layout", metadata: ["error": "\(error)"])
        }
    }
}

extension ProductionBackend {
    /// Wakes this process's long-polls, cancel watches and idle workers on any process's render
    /// changes and enqueues; runs after `postgres` in the same service group.
    public func changeListener(logger: Logger) -> PostgresRenderChangeListener {
        PostgresRenderChangeListener(client: postgres, changes: components.store.changes, arrivals: arrivals, logger: logger)
    }

    /// One direct connection, so a wrong host, user or password fails at once with the
    /// server's reason (the pool would retry for a minute and report only a tripped circuit
    /// breaker). The reason never contains the password.
    public func checkDatabase(logger: Logger) async throws {
        try await components.configuration.database.checkConnection(logger: logger)
    }
}

/// Runs a closure once the other services of a group are up (PostgreSQL's pool must be
/// running before migrations), then waits for shutdown.
public struct StartupService: Service {
    let work: @Sendable () async throws -> Void

    public init(_ work: @escaping @Sendable () async throws -> Void) {
        self.work = work
    }

    public func run() async throws {
        try await work()
        try? await gracefulShutdown()
    }
}

extension DatabaseSettings {
    /// TLS for `DB_SSLMODE`: `prefer` and `require` encrypt without checking the certificate
    /// (libpq does the same without a root certificate); `verify-full` checks the chain against
    /// `DB_SSLROOTCERT` and the host name.
    func tlsConfiguration() -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        if sslMode == .verifyFull {
            tls.certificateVerification = .fullVerification
            if let sslRootCert { tls.trustRoots = .file(sslRootCert) }
        } else {
            tls.certificateVerification = .none
        }
        return tls
    }

    /// The pool's settings (`DB_*`, `DB_POOL_*`, `DB_SSLMODE`).
    public func clientConfiguration(password: String) -> PostgresClient.Configuration {
        let tls: PostgresClient.Configuration.TLS =
            switch sslMode {
            case .disable: .disable
            case .prefer: .prefer(tlsConfiguration())
            case .require, .verifyFull: .require(tlsConfiguration())
            }
        var configuration = PostgresClient.Configuration(host: host, port: port, username: user, password: password, database: name, tls: tls)
        configuration.options.minimumConnections = poolMinimum
        configuration.options.maximumConnections = poolMaximum
        return configuration
    }

    /// One direct connection with these settings; see `ProductionBackend.checkDatabase`.
    /// Returns whether it was encrypted.
    @discardableResult
    public func checkConnection(logger: Logger) async throws -> Bool {
        do {
            let connection = try await PostgresConnection.connect(configuration: try connectionConfiguration(), id: 0, logger: logger)
            var encrypted = false
            for try await ssl in try await connection.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", logger: logger).decode(Bool.self) {
                encrypted = ssl
            }
            try await connection.close()
            return encrypted
        } catch let error as PSQLError {
            var reason = error.serverInfo?[.message] ?? error.underlying.map { "\($0)" } ?? "\(error.code)"
            if error.underlying is NIOSSLError || error.code == .sslUnsupported {
                reason = "TLS failed (DB_SSLMODE=\(sslMode.rawValue)\(sslRootCert.map { ", DB_SSLROOTCERT=\($0)" } ?? "")): \(reason)"
            }
            throw ConfigurationError("Cannot connect to PostgreSQL at \(host):\(port) as \(user): \(reason)")
        }
    }

    func connectionConfiguration() throws -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS =
            switch sslMode {
            case .disable: .disable
            case .prefer: .prefer(try NIOSSLContext(configuration: tlsConfiguration()))
            case .require, .verifyFull: .require(try NIOSSLContext(configuration: tlsConfiguration()))
            }
        return PostgresConnection.Configuration(host: host, port: port, username: user, password: password ?? "", database: name, tls: tls)
    }
}
