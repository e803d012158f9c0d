import Foundation
import Logging

/// Everything the service reads from its environment, with the spec's names and defaults.
/// Built from a dictionary so tests configure the service without touching the process.
public struct ServiceConfiguration: Sendable {
    /// `embedded` (default): SQLite, local files, in-process workers, nothing to install.
    /// `production`: PostgreSQL (`DB_*`), Redis (`REDIS_*`) and S3/MinIO (`MINIO_*`).
    public enum Mode: String, Sendable {
        case embedded, production
    }

    public var mode: Mode
    /// Why `mode` was chosen (logged at start): `ASO_MODE`, or the production variables set.
    public var modeReason: String
    public var database: DatabaseSettings
    public var redis: RedisConfiguration
    public var storage: StorageSettings
    /// Render workers per `aso-render worker` process (the spec's `WORKER_COUNT`).
    public var workerCount: Int
    /// Port of a worker process's own `/metrics` and `/health` (0: any free port).
    public var workerMetricsPort: Int
    /// Production mode: whether `serve` also renders (normally separate `worker` processes do).
    public var renderInAPI: Bool
    public var migrationsDirectory: String
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
    /// Everything of an upload that is not the file (form fields, part headers, boundaries).
    /// Small and fixed: the fields are a few ids and a JSON object of style parameters.
    public var maxFormBytes = 256 * 1024
    /// The most a `POST /v1/renders` body may hold, declared or chunked.
    public var maxRequestBytes: Int { maxUploadBytes + maxFormBytes }
    public var maxInputPixels: Int
    /// Lifetime of download URLs (the spec's 7 days; S3's maximum).
    public var downloadURLExpiry: Int
    /// Attempts per render before it is `failed`.
    public var maxAttempts: Int
    /// How long a claimed render may go without a heartbeat before it is re-queued.
    public var leaseDuration: Duration
    /// How long SIGTERM waits for in-flight renders before handing them back to the queue.
    public var shutdownGracePeriod: Duration
    /// `API_KEYS`: when any are set, `/v1/*` requires one and renders belong to their key.
    public var apiKeys: APIKeys
    /// `METRICS_TOKEN`: when set, `/metrics` requires it as a bearer token.
    public var metricsToken: String?
    /// `ALLOW_ANONYMOUS=true`: production mode without `API_KEYS`, chosen deliberately.
    public var allowAnonymous: Bool
    /// Renders waiting in the queue beyond which uploads are refused with 503 + Retry-After.
    public var maxQueuedRenders: Int
    /// The Retry-After of those 503s.
    public var overloadRetryAfterSeconds: Int
    /// How long uploaded originals and rendered outputs are kept (nil: forever).
    public var originalRetention: Duration?
    public var outputRetention: Duration?
    /// How often the retention sweep runs.
    public var retentionSweepInterval: Duration
    /// `STUDIO_ENABLED`: the studio page (`/`, `/studio`) and the API reference (`/docs`);
    /// false for API-only deployments.
    public var studioEnabled: Bool
    /// `PREVIEW_CONCURRENCY`: style previews rendered at once, on their own threads, so
    /// previews and print renders never wait for each other.
    public var previewConcurrency: Int
    /// `RATE_LIMIT_PER_HOUR`, `RATE_LIMIT_UPLOADS_PER_HOUR`, `TRUSTED_PROXIES`: off by default.
    public var rateLimits: RateLimitSettings
    /// `WEBHOOK_*`: signed webhooks on a render's terminal status.
    public var webhooks = WebhookSettings()
    /// How long an `Idempotency-Key` is remembered.
    public var idempotencyKeyLifetime: Duration = .seconds(24 * 3600)

    public static let defaultPort = 8089

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigurationError) {
        func string(_ name: String) -> String? {
            guard let value = environment[name]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
            return value
        }
        /// A secret from `NAME`, or from the file `NAME_FILE` names (container secrets), so it
        /// need not sit in the environment or on a command line.
        func secret(_ name: String) throws(ConfigurationError) -> String? {
            guard let path = string("\(name)_FILE") else { return string(name) }
            guard string(name) == nil else { throw ConfigurationError("Set \(name) or \(name)_FILE, not both") }
            guard let contents = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ConfigurationError("\(name)_FILE: cannot read \(path)")
            }
            let value = contents.trimmingCharacters(in: .whitespacesAndNewlines)
            return value.isEmpty ? nil : value
        }
        func integer(_ name: String, default value: Int, range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
            guard let text = string(name) else { return value }
            guard let number = Int(text), range.contains(number) else {
                throw ConfigurationError("\(name) must be a whole number between \(range.lowerBound) and \(range.upperBound), got '\(text)'")
            }
            return number
        }

        // A team that sets the spec's variables and nothing else means the spec's stack: any
        // DB_*, REDIS_* or MINIO_* variable selects production unless ASO_MODE says otherwise.
        let productionVariables = environment.keys.filter { name in
            ["DB_", "REDIS_", "MINIO_"].contains { name.hasPrefix($0) } && string(name) != nil
        }.sorted()
        if let modeText = string("ASO_MODE") {
            guard let mode = Mode(rawValue: modeText.lowercased()) else { throw ConfigurationError("ASO_MODE must be embedded or production, got '\(modeText)'") }
            self.mode = mode
            modeReason = "ASO_MODE=\(mode.rawValue)"
        } else if !productionVariables.isEmpty {
            mode = .production
            modeReason = "ASO_MODE is unset and \(productionVariables.joined(separator: ", ")) \(productionVariables.count == 1 ? "is" : "are") set"
        } else {
            mode = .embedded
            modeReason = "ASO_MODE is unset and no DB_*, REDIS_* or MINIO_* variable is set"
        }
        database = DatabaseSettings(
            host: string("DB_HOST") ?? "localhost", port: try integer("DB_PORT", default: 5432, range: 1...65535),
            name: string("DB_NAME") ?? "aso_render", user: string("DB_USER") ?? "postgres", password: try secret("DB_PASSWORD"),
            poolMinimum: try integer("DB_POOL_MIN", default: 2, range: 0...100), poolMaximum: try integer("DB_POOL_MAX", default: 10, range: 1...200))
        let sslMode = string("DB_SSLMODE")?.lowercased() ?? "prefer"
        guard let parsedSSLMode = DatabaseSettings.SSLMode(rawValue: sslMode) else {
            throw ConfigurationError("DB_SSLMODE must be disable, prefer, require or verify-full, got '\(sslMode)'")
        }
        database.sslMode = parsedSSLMode
        database.sslRootCert = string("DB_SSLROOTCERT")
        if let root = database.sslRootCert, !FileManager.default.isReadableFile(atPath: root) {
            throw ConfigurationError("DB_SSLROOTCERT: cannot read \(root)")
        }
        redis = RedisConfiguration(
            host: string("REDIS_HOST") ?? "localhost", port: try integer("REDIS_PORT", default: 6379, range: 1...65535),
            database: try integer("REDIS_DB", default: 0, range: 0...15), password: try secret("REDIS_PASSWORD"))
        redis.username = string("REDIS_USERNAME")
        redis.tls = try Self.redisTLS(string)
        let useSSL = ["1", "true", "yes"].contains(string("MINIO_USE_SSL")?.lowercased() ?? "false")
        storage = StorageSettings(
            endpoint: string("MINIO_ENDPOINT"), publicEndpoint: string("MINIO_PUBLIC_ENDPOINT"), accessKey: string("MINIO_ACCESS_KEY"),
            secretKey: try secret("MINIO_SECRET_KEY"), bucket: string("MINIO_BUCKET") ?? "render-assets", region: string("MINIO_REGION") ?? "us-east-1",
            useSSL: useSSL, uploadsBucket: string("MINIO_BUCKET_UPLOADS"), rendersBucket: string("MINIO_BUCKET_RENDERS"),
            previewsBucket: string("MINIO_BUCKET_PREVIEWS"))
        workerCount = try integer("WORKER_COUNT", default: 2, range: 1...256)
        workerMetricsPort = try integer("WORKER_METRICS_PORT", default: 9091, range: 0...65535)
        renderInAPI = ["1", "true", "yes"].contains(string("RENDER_IN_API")?.lowercased() ?? "false")
        migrationsDirectory = string("MIGRATIONS_DIR") ?? "db/migrations"
        if mode == .production {
            // Chosen from the variables rather than ASO_MODE: say how to get the other mode.
            let why = string("ASO_MODE") == nil ? " (production mode, because \(modeReason); set ASO_MODE=embedded for SQLite and local files)" : ""
            guard database.password != nil else { throw ConfigurationError("DB_PASSWORD is required\(why)") }
            guard storage.endpoint != nil, storage.accessKey != nil, storage.secretKey != nil else {
                throw ConfigurationError("Failed to initialize storage client: MINIO_ENDPOINT, MINIO_ACCESS_KEY and MINIO_SECRET_KEY are required\(why)")
            }
        }
        // Embedded mode is open by default (no API keys, for the walkthrough), so it listens on
        // loopback unless told otherwise; production runs in containers behind API keys.
        host = string("API_HOST") ?? (mode == .embedded ? "127.0.0.1" : "0.0.0.0")
        port = try integer("API_PORT", default: Self.defaultPort, range: 0...65535)
        dataDirectory = string("DATA_DIR") ?? "./data"
        let base = string("PUBLIC_BASE_URL") ?? "http://localhost:\(port == 0 ? Self.defaultPort : port)"
        guard let url = URL(string: base.hasSuffix("/") ? String(base.dropLast()) : base), url.scheme == "http" || url.scheme == "https", url.host != nil else {
            throw ConfigurationError("PUBLIC_BASE_URL must be an http(s) URL, got '\(base)'")
        }
        publicBaseURL = url
        let cores = ProcessInfo.processInfo.activeProcessorCount
        workerConcurrency = try integer("WORKER_CONCURRENCY", default: max(1, cores / 2), range: 0...256)
        // Half the cores, as for renders: on a shared 2-core machine 2 threads measured no better
        // than 1 (bench/results/studio.md), and the other half stays free for print renders.
        previewConcurrency = try integer("PREVIEW_CONCURRENCY", default: max(1, cores / 2), range: 1...64)
        let studio = string("STUDIO_ENABLED")?.lowercased() ?? "true"
        guard ["true", "false", "1", "0", "yes", "no"].contains(studio) else {
            throw ConfigurationError("STUDIO_ENABLED must be true or false, got '\(studio)'")
        }
        studioEnabled = ["true", "1", "yes"].contains(studio)
        renderThreads = string("RENDER_THREADS") == nil ? nil : try integer("RENDER_THREADS", default: cores, range: 1...256)
        let level = string("LOG_LEVEL")?.uppercased() ?? "INFO"
        guard let parsed = Self.logLevels[level] else {
            throw ConfigurationError("LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got '\(level)'")
        }
        logLevel = parsed
        corsAllowedOrigins = (string("CORS_ALLOWED_ORIGINS") ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        urlSigningSecret = try secret("URL_SIGNING_SECRET")
        if let urlSigningSecret, urlSigningSecret.utf8.count < 32 {
            throw ConfigurationError("URL_SIGNING_SECRET must be at least 32 bytes (e.g. `openssl rand -base64 48`)")
        }
        maxUploadBytes = 50 * 1024 * 1024
        maxInputPixels = try integer("MAX_INPUT_PIXELS", default: 100_000_000, range: 1...1_000_000_000)
        downloadURLExpiry = 604_800
        maxAttempts = try integer("RENDER_MAX_ATTEMPTS", default: 3, range: 1...20)
        leaseDuration = .seconds(try integer("RENDER_LEASE_SECONDS", default: 60, range: 5...3600))
        shutdownGracePeriod = .seconds(try integer("SHUTDOWN_GRACE_SECONDS", default: 30, range: 0...3600))
        apiKeys = try APIKeys(try secret("API_KEYS") ?? "")
        metricsToken = try secret("METRICS_TOKEN")
        allowAnonymous = ["1", "true", "yes"].contains(string("ALLOW_ANONYMOUS")?.lowercased() ?? "false")

        maxQueuedRenders = try integer("MAX_QUEUED_RENDERS", default: 1000, range: 1...10_000_000)
        overloadRetryAfterSeconds = try integer("OVERLOAD_RETRY_AFTER_SECONDS", default: 30, range: 1...86_400)
        func period(_ name: String, default value: String) throws(ConfigurationError) -> Duration? {
            let text = string(name) ?? value
            guard let parsed = RetentionPeriod.parse(text) else {
                throw ConfigurationError("\(name) must be a period like 30d, 12h, 15m or 45s (0 keeps forever), got '\(text)'")
            }
            return parsed == .zero ? nil : parsed
        }
        // Customers' files are kept unless retention is asked for: the spec keeps outputs and
        // lets clients re-request their URLs at any time.
        originalRetention = try period("ORIGINAL_RETENTION", default: "0")
        outputRetention = try period("OUTPUT_RETENTION", default: "0")
        retentionSweepInterval = try period("RETENTION_SWEEP_INTERVAL", default: "1h") ?? .seconds(3600)

        // Off unless asked for, so the walkthrough is unchanged. Uploads default to a tenth of
        // the general limit: each one is a render's worth of CPU, a GET is a row read.
        let perHour = try integer("RATE_LIMIT_PER_HOUR", default: 0, range: 0...100_000_000)
        let uploadsPerHour = try integer("RATE_LIMIT_UPLOADS_PER_HOUR", default: max(1, perHour / 10), range: 0...100_000_000)
        if perHour == 0, string("RATE_LIMIT_UPLOADS_PER_HOUR") != nil, uploadsPerHour > 0 {
            throw ConfigurationError("RATE_LIMIT_UPLOADS_PER_HOUR needs RATE_LIMIT_PER_HOUR: uploads count against both limits")
        }
        if perHour > 0, uploadsPerHour > perHour {
            throw ConfigurationError(
                "RATE_LIMIT_UPLOADS_PER_HOUR (\(uploadsPerHour)) must not exceed RATE_LIMIT_PER_HOUR (\(perHour)): an upload counts against both")
        }
        var trustedProxies: [IPNetwork] = []
        for entry in (string("TRUSTED_PROXIES") ?? "").split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !entry.isEmpty {
            guard let network = IPNetwork(entry) else {
                throw ConfigurationError("TRUSTED_PROXIES: '\(entry)' is not an IP address or CIDR block (e.g. 10.0.0.0/8, 2001:db8::/32)")
            }
            trustedProxies.append(network)
        }
        rateLimits = RateLimitSettings(requestsPerHour: perHour, uploadsPerHour: perHour == 0 ? 0 : uploadsPerHour, trustedProxies: trustedProxies)
        if let text = try secret("WEBHOOK_SECRET") { webhooks.secret = try WebhookSecret(text) }
        webhooks.keysByDigest = try WebhookSettings.parseKeys(try secret("WEBHOOK_KEYS") ?? "")
        let allowPrivate = string("WEBHOOK_ALLOW_PRIVATE")?.lowercased() ?? "false"
        guard ["true", "false", "1", "0", "yes", "no"].contains(allowPrivate) else {
            throw ConfigurationError("WEBHOOK_ALLOW_PRIVATE must be true or false, got '\(allowPrivate)'")
        }
        webhooks.allowPrivate = ["true", "1", "yes"].contains(allowPrivate)
        webhooks.timeout = .seconds(try integer("WEBHOOK_TIMEOUT_SECONDS", default: 10, range: 1...60))
        webhooks.retryBase = .seconds(try integer("WEBHOOK_RETRY_BASE_SECONDS", default: 5, range: 1...3600))
        webhooks.retryWindow = try period("WEBHOOK_RETRY_WINDOW", default: "25h") ?? .seconds(25 * 3600)
    }

    /// What serving the API in production mode needs beyond what workers need: it is closed
    /// by default, so API keys are required unless anonymous access is chosen deliberately.
    public func checkProductionAPI() throws(ConfigurationError) {
        guard mode == .production else { return }
        guard apiKeys.isEnabled || allowAnonymous else {
            throw ConfigurationError(
                "API_KEYS is required in production mode (aso-render api-key makes one); set ALLOW_ANONYMOUS=true to serve without authentication on purpose")
        }
        guard !apiKeys.isEnabled || urlSigningSecret != nil else {
            throw ConfigurationError(
                "URL_SIGNING_SECRET is required with API_KEYS in production mode: it keys the owner ids logged and stored for each API key (32+ bytes, the same on every replica)")
        }
    }

    /// Every setting with its effective value, secrets masked (`aso-render config`).
    public func describe() -> [(String, String)] {
        func mask(_ value: String?) -> String { value == nil ? "(not set)" : "********" }
        return [
            ("ASO_MODE", "\(mode.rawValue) (\(modeReason))"), ("API_HOST", host), ("API_PORT", String(port)), ("LOG_LEVEL", Self.levelName(logLevel)),
            ("PUBLIC_BASE_URL", publicBaseURL.absoluteString), ("DATA_DIR", dataDirectory), ("WORKER_CONCURRENCY", String(workerConcurrency)),
            ("WORKER_COUNT", String(workerCount)), ("WORKER_METRICS_PORT", String(workerMetricsPort)), ("RENDER_IN_API", String(renderInAPI)), ("RENDER_THREADS", renderThreads.map(String.init) ?? "(cores)"),
            ("PREVIEW_CONCURRENCY", String(previewConcurrency)), ("STUDIO_ENABLED", String(studioEnabled)),
            ("MAX_INPUT_PIXELS", String(maxInputPixels)), ("RENDER_MAX_ATTEMPTS", String(maxAttempts)),
            ("RENDER_LEASE_SECONDS", String(Int(leaseDuration.seconds))), ("SHUTDOWN_GRACE_SECONDS", String(Int(shutdownGracePeriod.seconds))),
            ("CORS_ALLOWED_ORIGINS", corsAllowedOrigins.joined(separator: ",")), ("URL_SIGNING_SECRET", mask(urlSigningSecret)),
            ("API_KEYS", apiKeys.isEnabled ? "(\(apiKeys.count) keys, hidden)" : "(not set: no authentication)"), ("METRICS_TOKEN", mask(metricsToken)),
            ("ALLOW_ANONYMOUS", String(allowAnonymous)),
            ("MAX_QUEUED_RENDERS", String(maxQueuedRenders)), ("OVERLOAD_RETRY_AFTER_SECONDS", String(overloadRetryAfterSeconds)),
            ("ORIGINAL_RETENTION", RetentionPeriod.format(originalRetention)), ("OUTPUT_RETENTION", RetentionPeriod.format(outputRetention)),
            ("RETENTION_SWEEP_INTERVAL", RetentionPeriod.format(retentionSweepInterval)),
            ("RATE_LIMIT_PER_HOUR", rateLimits.isEnabled ? String(rateLimits.requestsPerHour) : "0 (off)"),
            ("RATE_LIMIT_UPLOADS_PER_HOUR", rateLimits.uploadsPerHour > 0 ? String(rateLimits.uploadsPerHour) : rateLimits.isEnabled ? "0 (no separate limit)" : "0 (off)"),
            ("TRUSTED_PROXIES", rateLimits.trustedProxies.isEmpty ? "(none: X-Forwarded-For is ignored)" : rateLimits.trustedProxies.map(\.description).joined(separator: ",")),
            ("WEBHOOK_SECRET", webhooks.secret == nil ? "(not set)" : "********"),
            ("WEBHOOK_KEYS", webhooks.keysByDigest.isEmpty ? "(not set)" : "(\(webhooks.keysByDigest.count) keys, hidden)"),
            ("WEBHOOK_ALLOW_PRIVATE", String(webhooks.allowPrivate)), ("WEBHOOK_TIMEOUT_SECONDS", String(Int(webhooks.timeout.seconds))),
            ("WEBHOOK_RETRY_BASE_SECONDS", String(Int(webhooks.retryBase.seconds))), ("WEBHOOK_RETRY_WINDOW", RetentionPeriod.format(webhooks.retryWindow)),
            ("DB_HOST", database.host), ("DB_PORT", String(database.port)), ("DB_NAME", database.name), ("DB_USER", database.user),
            ("DB_PASSWORD", mask(database.password)), ("DB_POOL_MIN", String(database.poolMinimum)), ("DB_POOL_MAX", String(database.poolMaximum)),
            ("DB_SSLMODE", database.sslMode.rawValue), ("DB_SSLROOTCERT", database.sslRootCert ?? "(system roots)"),
            ("REDIS_HOST", redis.host), ("REDIS_PORT", String(redis.port)), ("REDIS_DB", String(redis.database)),
            ("REDIS_USERNAME", redis.username ?? "(default)"), ("REDIS_PASSWORD", mask(redis.password)),
            ("REDIS_TLS", String(redis.tls != nil)), ("REDIS_TLS_CA_CERT", redis.tls.map { $0.caCertificate ?? "(system roots)" } ?? "-"),
            ("REDIS_TLS_CERT", redis.tls?.certificate ?? "(none)"), ("REDIS_TLS_KEY", redis.tls?.privateKey ?? "(none)"),
            ("REDIS_TLS_SERVER_NAME", redis.tls.map { $0.serverName ?? "(REDIS_HOST)" } ?? "-"),
            ("MINIO_ENDPOINT", storage.endpoint ?? "(not set)"), ("MINIO_PUBLIC_ENDPOINT", storage.publicEndpoint ?? "(MINIO_ENDPOINT)"),
            ("MINIO_ACCESS_KEY", storage.accessKey ?? "(not set)"), ("MINIO_SECRET_KEY", mask(storage.secretKey)), ("MINIO_BUCKET", storage.bucket),
            ("MINIO_BUCKET_UPLOADS", storage.uploadsBucket ?? "(MINIO_BUCKET)"), ("MINIO_BUCKET_RENDERS", storage.rendersBucket ?? "(MINIO_BUCKET)"),
            ("MINIO_BUCKET_PREVIEWS", storage.previewsBucket ?? "(MINIO_BUCKET)"),
            ("MINIO_REGION", storage.region), ("MINIO_USE_SSL", String(storage.useSSL)), ("MIGRATIONS_DIR", migrationsDirectory),
        ]
    }

    /// `REDIS_TLS` and the files beside it. A TLS setting without `REDIS_TLS=true` is refused
    /// rather than ignored, so a typo never means a plain-text connection.
    static func redisTLS(_ string: (String) -> String?) throws(ConfigurationError) -> RedisTLS? {
        let names = ["REDIS_TLS_CA_CERT", "REDIS_TLS_CERT", "REDIS_TLS_KEY", "REDIS_TLS_SERVER_NAME"]
        let text = string("REDIS_TLS")?.lowercased() ?? "false"
        guard ["true", "false", "1", "0", "yes", "no"].contains(text) else {
            throw ConfigurationError("REDIS_TLS must be true or false, got '\(text)'")
        }
        guard ["true", "1", "yes"].contains(text) else {
            if let set = names.first(where: { string($0) != nil }) { throw ConfigurationError("\(set) is set but REDIS_TLS is not true") }
            return nil
        }
        for name in names.prefix(3) {
            if let path = string(name), !FileManager.default.isReadableFile(atPath: path) { throw ConfigurationError("\(name): cannot read \(path)") }
        }
        guard (string("REDIS_TLS_CERT") == nil) == (string("REDIS_TLS_KEY") == nil) else {
            throw ConfigurationError("REDIS_TLS_CERT and REDIS_TLS_KEY go together (a client certificate and its key)")
        }
        return RedisTLS(
            caCertificate: string("REDIS_TLS_CA_CERT"), certificate: string("REDIS_TLS_CERT"), privateKey: string("REDIS_TLS_KEY"),
            serverName: string("REDIS_TLS_SERVER_NAME"))
    }

    static func levelName(_ level: Logger.Level) -> String { JSONLogHandler.levelName(level) }

    static let logLevels: [String: Logger.Level] = [
        "TRACE": .trace, "DEBUG": .debug, "INFO": .info, "WARNING": .warning, "WARN": .warning,
        "ERROR": .error, "CRITICAL": .critical,
    ]
}

/// Rate limits per API key (or per client address when keys are off), per hour.
public struct RateLimitSettings: Sendable {
    /// Requests to `/v1` per client per hour; 0: rate limiting off.
    public var requestsPerHour: Int
    /// `POST /v1/renders` and `POST /v1/assets` per client per hour, on top of the general
    /// limit; 0: no separate limit.
    public var uploadsPerHour: Int
    /// Peers whose `X-Forwarded-For` is believed (load balancers, ingress controllers).
    public var trustedProxies: [IPNetwork]

    public var isEnabled: Bool { requestsPerHour > 0 }

    public init(requestsPerHour: Int = 0, uploadsPerHour: Int = 0, trustedProxies: [IPNetwork] = []) {
        self.requestsPerHour = requestsPerHour
        self.uploadsPerHour = uploadsPerHour
        self.trustedProxies = trustedProxies
    }

    /// The limits charged to one request (the upload limit only for uploads).
    func limits(upload: Bool) -> [RateLimit] {
        guard isEnabled else { return [] }
        var limits = [RateLimit(name: "requests", limit: requestsPerHour)]
        if upload, uploadsPerHour > 0 { limits.append(RateLimit(name: "uploads", limit: uploadsPerHour)) }
        return limits
    }
}

/// PostgreSQL connection settings (the spec's `DB_*`).
public struct DatabaseSettings: Sendable {
    public var host: String
    public var port: Int
    public var name: String
    public var user: String
    public var password: String?
    public var poolMinimum: Int
    public var poolMaximum: Int
    /// libpq's `sslmode`, as far as it applies here.
    public enum SSLMode: String, Sendable {
        case disable, prefer, require
        case verifyFull = "verify-full"
    }
    public var sslMode: SSLMode = .prefer
    /// CA certificates (PEM) that `verify-full` trusts; the system's when unset.
    public var sslRootCert: String?
}

/// S3/MinIO settings (the spec's `MINIO_*` plus the public endpoint, region and TLS).
public struct StorageSettings: Sendable {
    public var endpoint: String?
    public var publicEndpoint: String?
    public var accessKey: String?
    public var secretKey: String?
    public var bucket: String
    public var region: String
    public var useSSL: Bool
    /// `MINIO_BUCKET_UPLOADS`, `_RENDERS`, `_PREVIEWS`: `bucket` when unset.
    public var uploadsBucket: String?
    public var rendersBucket: String?
    public var previewsBucket: String?

    /// `localhost:9000` (the spec's form) or a full URL.
    static func url(_ value: String, ssl: Bool) -> URL? {
        let text = value.contains("://") ? value : "\(ssl ? "https" : "http")://\(value)"
        guard let url = URL(string: text), url.host != nil else { return nil }
        return url
    }

    public func s3Configuration() throws(ConfigurationError) -> S3Configuration {
        guard let endpoint, let accessKey, let secretKey else {
            throw ConfigurationError("Failed to initialize storage client: MINIO_ENDPOINT, MINIO_ACCESS_KEY and MINIO_SECRET_KEY are required")
        }
        guard let internalURL = Self.url(endpoint, ssl: useSSL) else {
            throw ConfigurationError("Failed to initialize storage client: MINIO_ENDPOINT '\(endpoint)' is not a host:port or URL")
        }
        var publicURL = internalURL
        if let publicEndpoint {
            guard let parsed = Self.url(publicEndpoint, ssl: useSSL) else {
                throw ConfigurationError("Failed to initialize storage client: MINIO_PUBLIC_ENDPOINT '\(publicEndpoint)' is not a host:port or URL")
            }
            publicURL = parsed
        }
        var configuration = S3Configuration(endpoint: internalURL, publicEndpoint: publicURL, bucket: bucket, region: region, accessKey: accessKey, secretKey: secretKey)
        configuration.uploadsBucket = uploadsBucket ?? bucket
        configuration.rendersBucket = rendersBucket ?? bucket
        configuration.previewsBucket = previewsBucket ?? bucket
        return configuration
    }
}

public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Periods such as `30d`, `12h`, `15m`, `45s`; `0` means never.
enum RetentionPeriod {
    static func parse(_ text: String) -> Duration? {
        let value = text.trimmingCharacters(in: .whitespaces).lowercased()
        if value == "0" { return .zero }
        guard let unit = value.last, let number = Int(value.dropLast()), number >= 0 else { return nil }
        let seconds: [Character: Int] = ["d": 86_400, "h": 3600, "m": 60, "s": 1]
        guard let scale = seconds[unit] else { return nil }
        let (total, overflow) = number.multipliedReportingOverflow(by: scale)
        return overflow ? nil : .seconds(total)
    }

    static func format(_ period: Duration?) -> String {
        guard let period, period > .zero else { return "0 (forever)" }
        let seconds = Int(period.seconds)
        for (unit, scale) in [("d", 86_400), ("h", 3600), ("m", 60)] where seconds % scale == 0 { return "\(seconds / scale)\(unit)" }
        return "\(seconds)s"
    }
}
