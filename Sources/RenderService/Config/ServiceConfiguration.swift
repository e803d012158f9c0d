import Foundation
import Logging

/// Everything the service reads from its environment, with the spec's names and defaults.
/// Built from a dictionary so tests configure the service without touching the process.
///
/// The initial values below are the defaults; `settings` says which variable sets each one.
public struct ServiceConfiguration: Sendable {
    /// `embedded` (default): SQLite, local files, in-process workers, nothing to install.
    /// `production`: PostgreSQL (`DB_*`), Redis (`REDIS_*`) and S3/MinIO (`MINIO_*`).
    public enum Mode: String, Sendable {
        case embedded, production
    }

    public var mode = Mode.embedded
    /// Why `mode` was chosen (logged at start): `ASO_MODE`, or the production variables set.
    public var modeReason = ""
    /// Production chosen because production variables are set: errors say how to get embedded.
    private var modeGuessed = false
    public var database = DatabaseSettings()
    public var redis = RedisConfiguration()
    public var storage = StorageSettings()
    /// Render workers per `aso-render worker` process (the spec's `WORKER_COUNT`).
    public var workerCount = 2
    /// Port of a worker process's own `/metrics` and `/health` (0: any free port).
    public var workerMetricsPort = 9091
    /// Production mode: whether `serve` also renders (normally separate `worker` processes do).
    public var renderInAPI = false
    public var migrationsDirectory = "db/migrations"
    /// Loopback in embedded mode (open by default), every interface in production.
    public var host = "127.0.0.1"
    public var port = Self.defaultPort
    public var dataDirectory = "./data"
    /// Base of the download URLs the API hands out in embedded mode.
    public var publicBaseURL = Self.localBaseURL(port: Self.defaultPort)
    /// Renders worked on at once inside `serve` (embedded mode).
    public var workerConcurrency = Self.halfTheCores
    /// libvips threads per render (nil: the core count).
    public var renderThreads: Int?
    public var logLevel = Logger.Level.info
    public var corsAllowedOrigins: [String] = []
    /// Secret for embedded download URLs (generated and kept in the data directory if unset).
    public var urlSigningSecret: String?
    /// The spec's upload limit.
    public var maxUploadBytes = 50 * 1024 * 1024
    /// Everything of an upload that is not the file (form fields, part headers, boundaries).
    /// Small and fixed: the fields are a few ids and a JSON object of style parameters.
    public var maxFormBytes = 256 * 1024
    /// The most a `POST /v1/renders` body may hold, declared or chunked.
    public var maxRequestBytes: Int { maxUploadBytes + maxFormBytes }
    public var maxInputPixels = 100_000_000
    /// Lifetime of download URLs in seconds (the spec's 7 days; S3's maximum).
    public var downloadURLExpiry = 604_800
    /// Attempts per render before it is `failed`.
    public var maxAttempts = 3
    /// How long a claimed render may go without a heartbeat before it is re-queued.
    public var leaseDuration = Duration.seconds(60)
    /// How long SIGTERM waits for in-flight renders before handing them back to the queue.
    public var shutdownGracePeriod = Duration.seconds(30)
    /// `API_KEYS`: when any are set, `/v1/*` requires one and renders belong to their key.
    public var apiKeys = APIKeys.none
    /// `METRICS_TOKEN`: when set, `/metrics` requires it as a bearer token.
    public var metricsToken: String?
    /// `ALLOW_ANONYMOUS=true`: production mode without `API_KEYS`, chosen deliberately.
    public var allowAnonymous = false
    /// Renders waiting in the queue beyond which uploads are refused with 503 + Retry-After.
    public var maxQueuedRenders = 1000
    /// The Retry-After of those 503s.
    public var overloadRetryAfterSeconds = 30
    /// How long uploaded originals and rendered outputs are kept (nil: forever). Customers'
    /// files are kept unless retention is asked for: the spec keeps outputs and lets clients
    /// re-request their URLs at any time.
    public var originalRetention: Duration?
    public var outputRetention: Duration?
    /// How often the retention sweep runs.
    public var retentionSweepInterval = Duration.seconds(3600)
    /// `STUDIO_ENABLED`: the studio page (`/`, `/studio`) and the API reference (`/docs`);
    /// false for API-only deployments.
    public var studioEnabled = true
    /// `PREVIEW_CONCURRENCY`: style previews rendered at once, on their own threads, so
    /// previews and print renders never wait for each other. Half the cores, as for renders:
    /// on a shared 2-core machine 2 threads measured no better than 1
    /// (bench/results/studio.md), and the other half stays free for print renders.
    public var previewConcurrency = Self.halfTheCores
    /// `RATE_LIMIT_PER_HOUR`, `RATE_LIMIT_UPLOADS_PER_HOUR`, `TRUSTED_PROXIES`: off by default.
    public var rateLimits = RateLimitSettings()
    /// `WEBHOOK_*`: signed webhooks on a render's terminal status.
    public var webhooks = WebhookSettings()
    /// How long an `Idempotency-Key` is remembered.
    public var idempotencyKeyLifetime: Duration = .seconds(24 * 3600)

    public static let defaultPort = 8089
    static let halfTheCores = max(1, ProcessInfo.processInfo.activeProcessorCount / 2)

    private init() {}

    /// `overrides` replace their variables (command-line options).
    public init(environment: [String: String] = ProcessInfo.processInfo.environment, overrides: [SettingOverride] = []) throws(ConfigurationError) {
        self.init()
        for setting in Self.settings {
            let read = overrides.last { $0.name == setting.name }?.read ?? setting.read
            do {
                try read(&self, SettingInput(name: setting.name, environment: environment))
            } catch let error as ConfigurationError {
                throw error
            } catch {
                throw ConfigurationError("\(setting.name): \(error)")
            }
        }
        try checkTogether()
    }

    /// Every variable the service reads, in the order they are read (a default may depend on
    /// an earlier one) and shown by `aso-render config`.
    static let settings: [Setting] = [
        Setting("ASO_MODE", read: { configuration, input in try configuration.readMode(input) }, show: { "\($0.mode.rawValue) (\($0.modeReason))" }),
        Setting(
            "API_HOST",
            read: { configuration, input in
                configuration.host = input.text ?? (configuration.mode == .embedded ? "127.0.0.1" : "0.0.0.0")
            }, show: { $0.host }),
        .integer("API_PORT", \.port, range: 0...65535),
        Setting(
            "LOG_LEVEL",
            read: { configuration, input in
                let level = input.text?.uppercased() ?? "INFO"
                guard let parsed = Self.logLevels[level] else {
                    throw ConfigurationError("LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got '\(level)'")
                }
                configuration.logLevel = parsed
            }, show: { Self.levelName($0.logLevel) }),
        Setting(
            "PUBLIC_BASE_URL",
            read: { configuration, input in
                let base = input.text ?? Self.localBaseURL(port: configuration.port == 0 ? Self.defaultPort : configuration.port).absoluteString
                guard let url = URL(string: base.hasSuffix("/") ? String(base.dropLast()) : base), url.scheme == "http" || url.scheme == "https",
                    url.host != nil
                else {
                    throw ConfigurationError("PUBLIC_BASE_URL must be an http(s) URL, got '\(base)'")
                }
                configuration.publicBaseURL = url
            }, show: { $0.publicBaseURL.absoluteString }),
        .text("DATA_DIR", \.dataDirectory),
        .integer("WORKER_CONCURRENCY", \.workerConcurrency, range: 0...256),
        .integer("WORKER_COUNT", \.workerCount, range: 1...256),
        .integer("WORKER_METRICS_PORT", \.workerMetricsPort, range: 0...65535),
        .lenientFlag("RENDER_IN_API", \.renderInAPI),
        Setting(
            "RENDER_THREADS",
            read: { configuration, input in
                configuration.renderThreads = try input.integer(range: 1...256)
            }, show: { $0.renderThreads.map(String.init) ?? "(cores)" }),
        .integer("PREVIEW_CONCURRENCY", \.previewConcurrency, range: 1...64),
        .flag("STUDIO_ENABLED", \.studioEnabled),
        .integer("MAX_INPUT_PIXELS", \.maxInputPixels, range: 1...1_000_000_000),
        .integer("RENDER_MAX_ATTEMPTS", \.maxAttempts, range: 1...20),
        .seconds("RENDER_LEASE_SECONDS", \.leaseDuration, range: 5...3600),
        .seconds("SHUTDOWN_GRACE_SECONDS", \.shutdownGracePeriod, range: 0...3600),
        Setting(
            "CORS_ALLOWED_ORIGINS",
            read: { configuration, input in
                configuration.corsAllowedOrigins = (input.text ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter {
                    !$0.isEmpty
                }
            }, show: { $0.corsAllowedOrigins.joined(separator: ",") }),
        Setting(
            "URL_SIGNING_SECRET", secret: true,
            read: { configuration, input in
                guard let secret = try input.secret() else { return }
                guard secret.utf8.count >= URLSigner.minimumSecretBytes else {
                    throw ConfigurationError("URL_SIGNING_SECRET must be at least \(URLSigner.minimumSecretBytes) bytes (e.g. `openssl rand -base64 48`)")
                }
                configuration.urlSigningSecret = secret
            }, show: { Setting.mask($0.urlSigningSecret) }),
        Setting(
            "API_KEYS", secret: true,
            read: { configuration, input in
                configuration.apiKeys = try APIKeys(try input.secret() ?? "")
            }, show: { $0.apiKeys.isEnabled ? "(\($0.apiKeys.count) keys, hidden)" : "(not set: no authentication)" }),
        .secret("METRICS_TOKEN", \.metricsToken),
        .lenientFlag("ALLOW_ANONYMOUS", \.allowAnonymous),
        .integer("MAX_QUEUED_RENDERS", \.maxQueuedRenders, range: 1...10_000_000),
        .integer("OVERLOAD_RETRY_AFTER_SECONDS", \.overloadRetryAfterSeconds, range: 1...86_400),
        .period("ORIGINAL_RETENTION", \.originalRetention),
        .period("OUTPUT_RETENTION", \.outputRetention),
        .period("RETENTION_SWEEP_INTERVAL", \.retentionSweepInterval),
        // Off unless asked for, so the walkthrough is unchanged.
        .integer(
            "RATE_LIMIT_PER_HOUR", \.rateLimits.requestsPerHour, range: 0...100_000_000,
            show: { $0.rateLimits.isEnabled ? String($0.rateLimits.requestsPerHour) : "0 (off)" }),
        Setting(
            "RATE_LIMIT_UPLOADS_PER_HOUR",
            read: { configuration, input in
                // A tenth of the general limit by default: each upload is a render's worth of
                // CPU, a GET is a row read.
                let perHour = configuration.rateLimits.requestsPerHour
                let uploadsPerHour = try input.integer(range: 0...100_000_000) ?? max(1, perHour / 10)
                if perHour == 0, input.text != nil, uploadsPerHour > 0 {
                    throw ConfigurationError("RATE_LIMIT_UPLOADS_PER_HOUR needs RATE_LIMIT_PER_HOUR: uploads count against both limits")
                }
                if perHour > 0, uploadsPerHour > perHour {
                    throw ConfigurationError(
                        "RATE_LIMIT_UPLOADS_PER_HOUR (\(uploadsPerHour)) must not exceed RATE_LIMIT_PER_HOUR (\(perHour)): an upload counts against both")
                }
                configuration.rateLimits.uploadsPerHour = perHour == 0 ? 0 : uploadsPerHour
            },
            show: { configuration in
                let limits = configuration.rateLimits
                return limits.uploadsPerHour > 0 ? String(limits.uploadsPerHour) : limits.isEnabled ? "0 (no separate limit)" : "0 (off)"
            }),
        Setting(
            "TRUSTED_PROXIES",
            read: { configuration, input in
                for entry in (input.text ?? "").split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !entry.isEmpty {
                    guard let network = IPNetwork(entry) else {
                        throw ConfigurationError("TRUSTED_PROXIES: '\(entry)' is not an IP address or CIDR block (e.g. 10.0.0.0/8, 2001:db8::/32)")
                    }
                    configuration.rateLimits.trustedProxies.append(network)
                }
            },
            show: { configuration in
                let proxies = configuration.rateLimits.trustedProxies
                return proxies.isEmpty ? "(none: X-Forwarded-For is ignored)" : proxies.map(\.description).joined(separator: ",")
            }),
        Setting(
            "WEBHOOK_SECRET", secret: true,
            read: { configuration, input in
                if let text = try input.secret() { configuration.webhooks.secret = try WebhookSecret(text) }
            }, show: { $0.webhooks.secret == nil ? "(not set)" : "********" }),
        Setting(
            "WEBHOOK_KEYS", secret: true,
            read: { configuration, input in
                configuration.webhooks.keysByDigest = try WebhookSettings.parseKeys(try input.secret() ?? "")
            }, show: { $0.webhooks.keysByDigest.isEmpty ? "(not set)" : "(\($0.webhooks.keysByDigest.count) keys, hidden)" }),
        .flag("WEBHOOK_ALLOW_PRIVATE", \.webhooks.allowPrivate),
        .seconds("WEBHOOK_TIMEOUT_SECONDS", \.webhooks.timeout, range: 1...60),
        .seconds("WEBHOOK_RETRY_BASE_SECONDS", \.webhooks.retryBase, range: 1...3600),
        .period("WEBHOOK_RETRY_WINDOW", \.webhooks.retryWindow),
        .text("DB_HOST", \.database.host),
        .integer("DB_PORT", \.database.port, range: 1...65535),
        .text("DB_NAME", \.database.name),
        .text("DB_USER", \.database.user),
        .secret("DB_PASSWORD", \.database.password),
        .integer("DB_POOL_MIN", \.database.poolMinimum, range: 0...100),
        .integer("DB_POOL_MAX", \.database.poolMaximum, range: 1...200),
        Setting(
            "DB_SSLMODE",
            read: { configuration, input in
                guard let text = input.text?.lowercased() else { return }
                guard let mode = DatabaseSettings.SSLMode(rawValue: text) else {
                    throw ConfigurationError("DB_SSLMODE must be disable, prefer, require or verify-full, got '\(text)'")
                }
                configuration.database.sslMode = mode
            }, show: { $0.database.sslMode.rawValue }),
        Setting(
            "DB_SSLROOTCERT",
            read: { configuration, input in
                configuration.database.sslRootCert = try input.readableFile()
            }, show: { $0.database.sslRootCert ?? "(system roots)" }),
        .text("REDIS_HOST", \.redis.host),
        .integer("REDIS_PORT", \.redis.port, range: 1...65535),
        .integer("REDIS_DB", \.redis.database, range: 0...15),
        .optionalText("REDIS_USERNAME", \.redis.username, unset: "(default)"),
        .secret("REDIS_PASSWORD", \.redis.password),
        // A TLS setting without REDIS_TLS=true is refused rather than ignored, so a typo never
        // means a plain-text connection.
        Setting(
            "REDIS_TLS",
            read: { configuration, input in
                if try input.flag() == true { configuration.redis.tls = RedisTLS() }
            }, show: { String($0.redis.tls != nil) }),
        .redisTLS("REDIS_TLS_CA_CERT", \.caCertificate, isFile: true, show: { $0.map { $0.caCertificate ?? "(system roots)" } ?? "-" }),
        .redisTLS("REDIS_TLS_CERT", \.certificate, isFile: true, show: { $0?.certificate ?? "(none)" }),
        .redisTLS("REDIS_TLS_KEY", \.privateKey, isFile: true, show: { $0?.privateKey ?? "(none)" }),
        .redisTLS("REDIS_TLS_SERVER_NAME", \.serverName, isFile: false, show: { $0.map { $0.serverName ?? "(REDIS_HOST)" } ?? "-" }),
        .optionalText("MINIO_ENDPOINT", \.storage.endpoint, unset: "(not set)"),
        .optionalText("MINIO_PUBLIC_ENDPOINT", \.storage.publicEndpoint, unset: "(MINIO_ENDPOINT)"),
        .optionalText("MINIO_ACCESS_KEY", \.storage.accessKey, unset: "(not set)"),
        .secret("MINIO_SECRET_KEY", \.storage.secretKey),
        .text("MINIO_BUCKET", \.storage.bucket),
        .optionalText("MINIO_BUCKET_UPLOADS", \.storage.uploadsBucket, unset: "(MINIO_BUCKET)"),
        .optionalText("MINIO_BUCKET_RENDERS", \.storage.rendersBucket, unset: "(MINIO_BUCKET)"),
        .optionalText("MINIO_BUCKET_PREVIEWS", \.storage.previewsBucket, unset: "(MINIO_BUCKET)"),
        .text("MINIO_REGION", \.storage.region),
        .lenientFlag("MINIO_USE_SSL", \.storage.useSSL),
        .text("MIGRATIONS_DIR", \.migrationsDirectory),
    ]

    /// A team that sets the spec's variables and nothing else means the spec's stack: any
    /// DB_*, REDIS_* or MINIO_* variable selects production unless ASO_MODE says otherwise.
    mutating func readMode(_ input: SettingInput) throws(ConfigurationError) {
        if let text = input.text {
            guard let chosen = Mode(rawValue: text.lowercased()) else { throw ConfigurationError("ASO_MODE must be embedded or production, got '\(text)'") }
            mode = chosen
            modeReason = "ASO_MODE=\(chosen.rawValue)"
            return
        }
        let productionVariables = input.environment.keys.filter { name in
            ["DB_", "REDIS_", "MINIO_"].contains { name.hasPrefix($0) } && SettingInput.value(of: name, in: input.environment) != nil
        }.sorted()
        if productionVariables.isEmpty {
            mode = .embedded
            modeReason = "ASO_MODE is unset and no DB_*, REDIS_* or MINIO_* variable is set"
        } else {
            mode = .production
            modeGuessed = true
            modeReason = "ASO_MODE is unset and \(productionVariables.joined(separator: ", ")) \(productionVariables.count == 1 ? "is" : "are") set"
        }
    }

    /// What no single variable can check alone.
    private func checkTogether() throws(ConfigurationError) {
        if let tls = redis.tls, (tls.certificate == nil) != (tls.privateKey == nil) {
            throw ConfigurationError("REDIS_TLS_CERT and REDIS_TLS_KEY go together (a client certificate and its key)")
        }
        guard mode == .production else { return }
        // Chosen from the variables rather than ASO_MODE: say how to get the other mode.
        let why = modeGuessed ? " (production mode, because \(modeReason); set ASO_MODE=embedded for SQLite and local files)" : ""
        guard database.password != nil else { throw ConfigurationError("DB_PASSWORD is required\(why)") }
        guard storage.endpoint != nil, storage.accessKey != nil, storage.secretKey != nil else {
            throw ConfigurationError("Failed to initialize storage client: MINIO_ENDPOINT, MINIO_ACCESS_KEY and MINIO_SECRET_KEY are required\(why)")
        }
    }

    static func localBaseURL(port: Int) -> URL {
        URL(string: "http://localhost:\(port)") ?? URL(fileURLWithPath: "/")
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
                "URL_SIGNING_SECRET is required with API_KEYS in production mode: it keys the owner ids logged and stored for each API key (32+ bytes, the same on every replica)"
            )
        }
    }

    /// Every setting with its effective value, secrets masked (`aso-render config`).
    public func describe() -> [(String, String)] {
        Self.settings.map { ($0.name, $0.show(self)) }
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
    public var host = "localhost"
    public var port = 5432
    public var name = "aso_render"
    public var user = "postgres"
    public var password: String?
    public var poolMinimum = 2
    public var poolMaximum = 10
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
    public var bucket = "render-assets"
    public var region = "us-east-1"
    public var useSSL = false
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
        var configuration = S3Configuration(
            endpoint: internalURL, publicEndpoint: publicURL, bucket: bucket, region: region, accessKey: accessKey, secretKey: secretKey)
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
