import ArgumentParser
import Foundation
import Hummingbird
import Logging
import RenderService
import ServiceLifecycle

/// `aso-render serve`: the HTTP API. Embedded mode also renders in-process; production mode
/// leaves rendering to `aso-render worker` processes unless `RENDER_IN_API=true`.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the HTTP API (port API_PORT, default 8089). Embedded mode also renders in-process.",
        discussion: "Configuration comes from the environment; `aso-render config` shows the effective values."
    )

    @Option(help: "Override API_PORT.")
    var port: Int?

    func run() async throws {
        ProcessFiles.restrict()
        let configuration = try ServiceConfiguration(overrides: port.map { [.port($0)] } ?? [])
        let logger = Logging.bootstrapJSON(level: configuration.logLevel)
        logger.info("Mode chosen", metadata: ["mode": "\(configuration.mode.rawValue)", "reason": "\(configuration.modeReason)"])
        do {
            try configuration.checkProductionAPI()
            let deployment = try await Deployment.open(configuration: configuration, logger: logger)
            let app = deployment.api(workers: deployment.apiWorkers(logger: logger), logger: logger) { port in
                var metadata: Logger.Metadata = ["port": "\(port)", "mode": "\(configuration.mode.rawValue)"]
                switch configuration.mode {
                case .embedded:
                    metadata["data_dir"] = "\(configuration.dataDirectory)"
                    metadata["workers"] = "\(configuration.workerConcurrency)"
                case .production:
                    metadata["renders_here"] = "\(configuration.renderInAPI)"
                }
                logger.info("Listening", metadata: metadata)
            }
            try await app.runService()
            withExtendedLifetime(deployment) {}
        } catch let error as ConfigurationError {
            logger.critical("\(error.description)")
            throw ExitCode(78)
        }
    }
}

/// `aso-render worker`: render workers only (the spec's `rq worker render-queue --url redis://…`).
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run render workers (WORKER_COUNT per process) against PostgreSQL, Redis and S3 (ASO_MODE=production)."
    )

    @Argument(help: "Queue name (the spec's spelling; only render-queue exists).")
    var queue: String = "render-queue"

    @Option(
        help:
            "Redis URL, e.g. redis://localhost:6379/0, or rediss:// for TLS (overrides REDIS_HOST, REDIS_PORT, REDIS_DB, REDIS_TLS). The password comes from REDIS_PASSWORD or REDIS_PASSWORD_FILE, never the command line."
    )
    var url: String?

    func run() async throws {
        ProcessFiles.restrict()
        var overrides = [SettingOverride.defaultMode(.production, command: "worker")]
        if let url {
            do throws(ConfigurationError) {
                overrides += SettingOverride.redis(try RedisURL(url))
            } catch {
                throw ValidationError(error.description)
            }
        }
        guard queue == "render-queue" else { throw ValidationError("Unknown queue '\(queue)': workers serve render-queue") }
        let configuration = try ServiceConfiguration(overrides: overrides)
        let logger = Logging.bootstrapJSON(level: configuration.logLevel)
        guard configuration.mode == .production else {
            logger.critical("aso-render worker needs ASO_MODE=production; in embedded mode `serve` renders in-process")
            throw ExitCode(64)
        }
        logger.info("Mode chosen", metadata: ["mode": "\(configuration.mode.rawValue)", "reason": "\(configuration.modeReason)"])
        do {
            let deployment = try Deployment.production(configuration: configuration, logger: logger)
            let workers = deployment.components.workers(concurrency: configuration.workerCount, logger: logger)
            let app = deployment.workerProcess(workers: workers, logger: logger) { port in
                logger.info("Worker started", metadata: ["queue": "\(queue)", "workers": "\(configuration.workerCount)", "port": "\(port)"])
            }
            try await app.runService()
        } catch let error as ConfigurationError {
            logger.critical("\(error.description)")
            throw ExitCode(78)
        }
    }
}

/// `aso-render migrate`: apply db/migrations in order (production), or create/upgrade the
/// embedded SQLite database.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "migrate", abstract: "Apply database migrations and seed data (idempotent).")

    func run() async throws {
        let configuration = try ServiceConfiguration()
        let logger = Logging.bootstrapJSON(level: configuration.logLevel)
        let applied = try await Deployment.migrate(configuration: configuration, logger: logger)
        switch configuration.mode {
        case .embedded: logger.info("Embedded database is up to date", metadata: ["data_dir": "\(configuration.dataDirectory)"])
        case .production: logger.info("Migrations applied", metadata: ["applied": "\(applied.joined(separator: ","))"])
        }
    }
}

/// `aso-render config`: the effective configuration, secrets masked.
struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "config", abstract: "Print the effective configuration (secrets masked).")

    func run() throws {
        let configuration = try ServiceConfiguration()
        let settings = configuration.describe()
        let width = settings.map(\.0.count).max() ?? 0
        for (name, value) in settings {
            print("\(name.padding(toLength: width, withPad: " ", startingAt: 0))  \(value)")
        }
    }
}

struct APIKeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api-key",
        abstract: "Make a new API key: give the key to the client, put the sha256: entry in API_KEYS.")

    func run() {
        let made = APIKeys.generate()
        print("key:      \(made.key)")
        print("API_KEYS: \(made.entry)")
    }
}

struct WebhookSecretCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "webhook-secret",
        abstract: "Make a new webhook signing secret (whsec_…) for WEBHOOK_SECRET or a WEBHOOK_KEYS entry; give it to the receiver too.")

    func run() {
        print(WebhookSecret.generate())
    }
}

enum ProcessFiles {
    /// Customers' photos and prints, the database and the signing key are this user's alone:
    /// everything the service creates is 0600 (files) or 0700 (directories).
    static func restrict() { umask(0o077) }
}

enum Logging {
    /// JSON lines on stderr for every logger in the process (ours, Hummingbird's, NIO's).
    static func bootstrapJSON(level: Logger.Level) -> Logger {
        LoggingSystem.bootstrap { label in JSONLogHandler(label: "aso-render", level: level) }
        return Logger(label: "aso-render")
    }
}
