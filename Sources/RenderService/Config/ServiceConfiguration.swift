import Foundation
import Logging

/// Everything the service reads from its environment, with the spec's names and defaults.
/// Built from a dictionary so tests configure the service without touching the process.
public struct ServiceConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var dataDirectory: String
    /// Base of the download URLs the API hands out in embedded mode.
    public var publicBaseURL: URL
    /// Renders worked on at once inside `serve` (embedded mode).
    public var workerConcurrency: Int
    /// libvips threads per render.
    public var renderThreads: Int?
    public var logLevel: Logger.Level
    public var corsAllowedOrigins: [String]
    /// Secret for embedded download URLs (generated and kept in the data directory if unset).
    public var urlSigningSecret: String?
    public var maxUploadBytes: Int
    public var maxInputPixels: Int
    /// Lifetime of download URLs (the spec's 7 days; S3's maximum).
    public var downloadURLExpiry: Int
    /// Attempts per render before it is `failed`.
    public var maxAttempts: Int
    /// How long a claimed render may go without a heartbeat before it is re-queued.
    public var leaseDuration: Duration
    /// How long SIGTERM waits for in-flight renders before handing them back to the queue.
    public var shutdownGracePeriod: Duration

    public static let defaultPort = 8089

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigurationError) {
        func string(_ name: String) -> String? {
            guard let value = environment[name]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
            return value
        }
        func integer(_ name: String, default value: Int, range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
            guard let text = string(name) else { return value }
            guard let number = Int(text), range.contains(number) else {
                throw ConfigurationError("\(name) must be a whole number between \(range.lowerBound) and \(range.upperBound), got '\(text)'")
            }
            return number
        }

        host = string("API_HOST") ?? "0.0.0.0"
        port = try integer("API_PORT", default: Self.defaultPort, range: 0...65535)
        dataDirectory = string("DATA_DIR") ?? "./data"
        let base = string("PUBLIC_BASE_URL") ?? "http://localhost:\(port == 0 ? Self.defaultPort : port)"
        guard let url = URL(string: base.hasSuffix("/") ? String(base.dropLast()) : base), url.scheme == "http" || url.scheme == "https", url.host != nil else {
            throw ConfigurationError("PUBLIC_BASE_URL must be an http(s) URL, got '\(base)'")
        }
        publicBaseURL = url
        let cores = ProcessInfo.processInfo.activeProcessorCount
        workerConcurrency = try integer("WORKER_CONCURRENCY", default: max(1, cores / 2), range: 0...256)
        renderThreads = string("RENDER_THREADS") == nil ? nil : try integer("RENDER_THREADS", default: cores, range: 1...256)
        let level = string("LOG_LEVEL")?.uppercased() ?? "INFO"
        guard let parsed = Self.logLevels[level] else {
            throw ConfigurationError("LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got '\(level)'")
        }
        logLevel = parsed
        corsAllowedOrigins = (string("CORS_ALLOWED_ORIGINS") ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        urlSigningSecret = string("URL_SIGNING_SECRET")
        maxUploadBytes = 50 * 1024 * 1024
        maxInputPixels = try integer("MAX_INPUT_PIXELS", default: 100_000_000, range: 1...1_000_000_000)
        downloadURLExpiry = 604_800
        maxAttempts = try integer("RENDER_MAX_ATTEMPTS", default: 3, range: 1...20)
        leaseDuration = .seconds(try integer("RENDER_LEASE_SECONDS", default: 60, range: 5...3600))
        shutdownGracePeriod = .seconds(try integer("SHUTDOWN_GRACE_SECONDS", default: 30, range: 0...3600))
    }

    static let logLevels: [String: Logger.Level] = [
        "TRACE": .trace, "DEBUG": .debug, "INFO": .info, "WARNING": .warning, "WARN": .warning,
        "ERROR": .error, "CRITICAL": .critical,
    ]
}

public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
