import Foundation
import Logging
import NIOSSL
import PostgresNIO
import RenderEngine
import ServiceLifecycle

/// The production deployment's own clients beside its components (`Deployment.production`):
/// the PostgreSQL pool, Redis, S3 and the migrations, for start-up work and the change feed.
struct ProductionBackend: Sendable {
    let postgres: PostgresClient
    let redis: RedisClient
    let objects: S3ObjectStore
    let migrator: PostgresMigrator
    let database: DatabaseSettings
    /// The store's change signal, which the listener feeds with other processes' changes.
    let changes: RenderChangeSignal
    /// Wakes this process's idle workers (see `RedisJobQueue`).
    let arrivals: WorkSignal
    /// The store's signal of written webhook deliveries, fed with other processes' too.
    let deliveries: WorkSignal

    /// Schema up to date and bucket present; run once the PostgreSQL client is running.
    func prepare(migrate: Bool, logger: Logger) async throws {
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
            if moved > 0 {
                logger.warning("Moved queued renders to the current Redis key layout", metadata: ["count": "\(moved)"])
                // Jobs no idle worker was told of: wake them here and in the other processes.
                arrivals.notify()
                await PostgresRenderChangeListener.announceWork(postgres, logger: logger)
            }
        } catch {
            logger.error("Could not check the Redis queue for the old key layout", metadata: ["error": "\(error)"])
        }
    }
}

extension ProductionBackend {
    /// Wakes this process's long-polls, cancel watches, idle workers and webhook deliverer on
    /// any process's render changes, enqueues and deliveries; runs after `postgres` in the same
    /// service group.
    func changeListener(logger: Logger) -> PostgresRenderChangeListener {
        PostgresRenderChangeListener(client: postgres, changes: changes, arrivals: arrivals, deliveries: deliveries, logger: logger)
    }

    /// One direct connection, so a wrong host, user or password fails at once with the
    /// server's reason (the pool would retry for a minute and report only a tripped circuit
    /// breaker). The reason never contains the password.
    func checkDatabase(logger: Logger) async throws {
        try await database.checkConnection(logger: logger)
    }
}

/// Runs a closure once the other services of a group are up (PostgreSQL's pool must be
/// running before migrations), then waits for shutdown.
struct StartupService: Service {
    let work: @Sendable () async throws -> Void

    init(_ work: @escaping @Sendable () async throws -> Void) {
        self.work = work
    }

    func run() async throws {
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
