import ArgumentParser
import Foundation
import Hummingbird
import Logging
import RenderService
import ServiceLifecycle

/// `aso-render serve`: the HTTP API; in embedded mode also the render workers, in-process.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the HTTP API (port API_PORT, default 8089). Embedded mode also renders in-process.",
        discussion: "Configuration comes from the environment; `aso-render config` shows the effective values."
    )

    @Option(help: "Override API_PORT.")
    var port: Int?

    func run() async throws {
        var environment = ProcessInfo.processInfo.environment
        if let port { environment["API_PORT"] = String(port) }
        let configuration = try ServiceConfiguration(environment: environment)
        let logger = Logging.bootstrapJSON(level: configuration.logLevel)
        let (services, lock) = try await EmbeddedBackend.open(configuration: configuration, logger: logger)
        let workers = configuration.workerConcurrency > 0 ? RenderServiceApplication.workers(services, logger: logger) : nil
        let app = RenderServiceApplication.build(services, workers: workers, logger: logger) { port in
            logger.info("Listening", metadata: ["port": "\(port)", "data_dir": "\(configuration.dataDirectory)", "workers": "\(configuration.workerConcurrency)"])
        }
        try await app.runService()
        withExtendedLifetime(lock) {}
    }
}

enum Logging {
    /// JSON lines on stderr for every logger in the process (ours, Hummingbird's, NIO's).
    static func bootstrapJSON(level: Logger.Level) -> Logger {
        LoggingSystem.bootstrap { label in JSONLogHandler(label: "aso-render", level: level) }
        return Logger(label: "aso-render")
    }
}
