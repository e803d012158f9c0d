import Foundation
import GRDB
import Logging
import RenderEngine
import Testing

@testable import RenderService

@Suite("Schema, seed and configuration")
struct SchemaAndConfigurationTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The data migrations (`*_seed*.sql`): the spec's seed and the lab sizes added later.
    static let seedFiles = ["002_seed.sql", "004_seed_print_sizes.sql"]

    /// The README's settings tables list exactly the variables of `ServiceConfiguration.settings`
    /// (which `aso-render config` shows), its secrets paragraph names exactly the ones read
    /// from `_FILE`, and every field `POST /v1/renders` accepts and every key of a render is
    /// in the OpenAPI document.
    @Test func settingsAndFieldsAreDocumented() throws {
        let readme = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        func variables(_ text: Substring) -> Set<String> {
            Set(text.matches(of: /`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)`/).map { String($0.1) })
        }
        // A settings row names its variables in the first cell: `NAME`, or `A`, `B` for a group.
        let documented = readme.split(separator: "\n").filter { $0.hasPrefix("| `") }
            .reduce(into: Set<String>()) { names, row in names.formUnion(variables(row.split(separator: "|").first ?? "")) }
        let settings = ServiceConfiguration.settings
        #expect(documented == Set(settings.map(\.name)), "README rows without a setting, settings without a README row")
        let secrets = try #require(readme.firstRange(of: "- **Secrets**"))
        let fileSuffix = try #require(readme[secrets.upperBound...].firstRange(of: "_FILE"))
        #expect(
            variables(readme[secrets.upperBound..<fileSuffix.lowerBound]) == Set(settings.filter(\.isSecret).map(\.name)),
            "the variables the README says are read from _FILE")
        let document = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: Self.root.appendingPathComponent("Sources/RenderService/Resources/openapi.json")))
                as? [String: Any])
        let paths = try #require(document["paths"] as? [String: Any])
        let post = try #require((paths["/v1/renders"] as? [String: Any])?["post"] as? [String: Any])
        let body = try #require(((post["requestBody"] as? [String: Any])?["content"] as? [String: Any])?["multipart/form-data"] as? [String: Any])
        let fields = try #require((body["schema"] as? [String: Any])?["properties"] as? [String: Any])
        #expect(Set(fields.keys) == RenderForm.fields.union(["file"]))
        let schemas = try #require((document["components"] as? [String: Any])?["schemas"] as? [String: Any])
        let render = try #require((schemas["Render"] as? [String: Any])?["properties"] as? [String: Any])
        guard case .object(let members) = RenderJSON.object(Fixtures.render()) else {
            Issue.record("a render is an object")
            return
        }
        #expect(Set(render.keys) == Set(members.map(\.0)))
    }

    /// `db/schema.sql` and `db/seed.sql` (the spec's psql path) run the migration files.
    @Test func specSQLFilesIncludeTheMigrations() throws {
        let schema = try String(contentsOf: Self.root.appendingPathComponent("db/schema.sql"), encoding: .utf8)
        let seed = try String(contentsOf: Self.root.appendingPathComponent("db/seed.sql"), encoding: .utf8)
        for migration in try FileManager.default.contentsOfDirectory(atPath: Self.root.appendingPathComponent("db/migrations").path).sorted() {
            #expect((Self.seedFiles.contains(migration) ? seed : schema).contains("\\ir migrations/\(migration)"), "\(migration)")
        }
    }

    /// The spec's five presets in 002, every other preset in 004 (so databases migrated before
    /// they existed get them), each with its id, name, inches as the API states them and pixels.
    @Test func seedSQLHasExactlyTheCataloguesStylesAndPresets() throws {
        func read(_ name: String) throws -> String {
            try String(contentsOf: Self.root.appendingPathComponent("db/migrations/\(name)"), encoding: .utf8)
        }
        func ids(_ text: String) -> Set<String> {
            Set(text.matches(of: /'([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})'/).map { String($0.1) })
        }
        let seed = try read("002_seed.sql"), sizes = try read("004_seed_print_sizes.sql")
        #expect(ids(seed) == Set(StyleCatalog.all.map(\.info.id.lowercased) + SizePreset.specification.map(\.id.lowercased)))
        #expect(ids(sizes) == Set(SizePreset.international.map(\.id.lowercased)))
        for style in StyleCatalog.all.map(\.info) {
            #expect(seed.contains("('\(style.id.lowercased)', '\(style.slug)', '\(style.name)'"), "\(style.slug) seeded with its slug and name")
        }
        for preset in SizePreset.all {
            let inches = { (value: Double) in (value * 100).rounded() / 100 }
            #expect(
                (seed + sizes).contains(
                    "('\(preset.id.lowercased)', '\(preset.name)', \(inches(preset.widthInches)), \(inches(preset.heightInches)), 300, \(preset.widthPixels), \(preset.heightPixels))"
                ),
                "\(preset.name)")
        }
    }

    /// An embedded database from before print options keeps its renders through the table
    /// rebuild that makes size_preset_id optional, foreign keys and all.
    @Test func embeddedDatabaseFromBeforePrintOptionsMigratesWithItsRenders() async throws {
        let temporary = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: temporary) }
        let path = "\(temporary)/old.sqlite"
        let (render, asset) = Fixtures.pair()
        do {
            let old = try DatabasePool(path: path)
            try SQLiteDatabase.migrator.migrate(old, upTo: "003_reliability")
            try await old.write { db in try SQLiteDatabase.seed(db) }
            try await old.write { db in
                try db.execute(
                    sql:
                        "INSERT INTO assets (id, storage_key, content_type, size_bytes, width, height, format, created_at) VALUES (?, 'k', 'image/jpeg', 1, 1, 1, 'jpeg', 0)",
                    arguments: [asset.id.lowercased])
                try db.execute(
                    sql: "INSERT INTO renders (id, asset_id, style_id, size_preset_id, status, seed, created_at) VALUES (?, ?, ?, ?, 'queued', '7', 0)",
                    arguments: [render.id.lowercased, asset.id.lowercased, render.styleID.lowercased, render.presetID.lowercased])
            }
        }
        let database = try SQLiteDatabase(path: path)
        let read = try #require(try await SQLiteRenderStore(database: database).render(id: render.id))
        #expect(read.presetID == render.presetID && read.print == PrintOptions() && read.customSize == nil && read.seed == 7)
        #expect(try await database.isMigrated())
        let violations = try database.pool.read { db in try Row.fetchAll(db, sql: "PRAGMA foreign_key_check") }
        #expect(violations.isEmpty)
    }

    /// An embedded database from before `render_jobs` keeps its renders in flight in the queue,
    /// with their attempts and leases, and its finished renders out of it.
    @Test func embeddedDatabaseFromBeforeRenderJobsKeepsItsQueue() async throws {
        let temporary = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: temporary) }
        let path = "\(temporary)/old.sqlite"
        let renders = (0..<3).map { _ in Fixtures.pair() }
        do {
            let old = try DatabasePool(path: path)
            try SQLiteDatabase.migrator.migrate(old, upTo: "008_webhooks")
            try await old.write { db in try SQLiteDatabase.seed(db) }
            try await old.write { db in
                let states: [(status: String, lease: String?)] = [("queued", nil), ("processing", "w1"), ("completed", nil)]
                for ((render, asset), (status, lease)) in zip(renders, states) {
                    try db.execute(
                        sql:
                            "INSERT INTO assets (id, storage_key, content_type, size_bytes, width, height, format, created_at) VALUES (?, 'k', 'image/jpeg', 1, 1, 1, 'jpeg', 0)",
                        arguments: [asset.id.lowercased])
                    try db.execute(
                        sql: """
                            INSERT INTO renders (id, asset_id, style_id, size_preset_id, status, created_at, available_at, attempts, lease_owner, lease_expires_at)
                            VALUES (?, ?, ?, ?, ?, 0, 5, 2, ?, ?)
                            """,
                        arguments: [
                            render.id.lowercased, asset.id.lowercased, render.styleID.lowercased, render.presetID.lowercased, status, lease,
                            lease.map { _ in Date().timeIntervalSince1970 + 600 },
                        ])
                }
            }
        }
        let database = try SQLiteDatabase(path: path)
        let queue = TableJobQueue(database: database)
        for (index, inFlight) in [true, true, false].enumerated() {
            #expect(try await queue.contains(renders[index].0.id) == inFlight, "render \(index)")
        }
        #expect(try await queue.recoverAbandoned() == [renders[1].0.id], "the old lease carried over")
        #expect(try await queue.claim(owner: "w2", lease: .seconds(30)).map { [$0.renderID: $0.attempt] } == [renders[0].0.id: 3])
        #expect(try await SQLiteRenderStore(database: database).render(id: renders[2].0.id)?.status == .completed)
        let columns = try await database.pool.read { db in try db.columns(in: "renders").map(\.name) }
        #expect(!columns.contains("available_at") && !columns.contains("lease_owner"))
    }

    @Test func postgresSchemaAndEmbeddedSchemaHaveTheSameTablesAndColumns() throws {
        let directory = Self.root.appendingPathComponent("db/migrations")
        let schema = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted().filter { !Self.seedFiles.contains($0) }
            .map { try String(contentsOf: directory.appendingPathComponent($0), encoding: .utf8) }.joined(separator: "\n")
        var postgres: [String: [String]] = [:]
        for table in schema.matches(of: /CREATE TABLE IF NOT EXISTS (\w+) \(([^;]+)\);/) {
            postgres[String(table.1)] = table.2.split(separator: "\n").compactMap { line in
                let word = line.trimmingCharacters(in: .whitespaces).split(separator: " ").first.map(String.init)
                return word.flatMap { $0.first?.isLowercase == true ? $0 : nil }
            }
        }
        for added in schema.matches(of: /ALTER TABLE (\w+) ADD COLUMN IF NOT EXISTS (\w+)/) {
            postgres[String(added.1), default: []].append(String(added.2))
        }
        for change in schema.matches(of: /ALTER TABLE (\w+)\s+((?:DROP COLUMN IF EXISTS \w+,?\s*)+);/) {
            let dropped = change.2.matches(of: /DROP COLUMN IF EXISTS (\w+)/).map { String($0.1) }
            postgres[String(change.1)]?.removeAll { dropped.contains($0) }
        }
        let temporary = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: temporary) }
        let database = try SQLiteDatabase(path: "\(temporary)/schema.sqlite")
        let sqlite = try database.pool.read { db in
            try ["styles", "size_presets", "assets", "renders", "idempotency_keys", "webhook_deliveries"].reduce(into: [String: [String]]()) { result, table in
                result[table] = try db.columns(in: table).map(\.name)
            }
        }
        #expect(postgres.keys.sorted() == sqlite.keys.sorted())
        for (table, columns) in sqlite { #expect(postgres[table] == columns, "\(table)") }
        #expect(schema.contains("renders_status_idx ON renders (status"))
    }

    @Test func defaultsAreTheSpecs() throws {
        let configuration = try ServiceConfiguration(environment: [:])
        #expect(configuration.port == 8089)
        #expect(configuration.dataDirectory == "./data")
        #expect(configuration.publicBaseURL.absoluteString == "http://localhost:8089")
        #expect(configuration.logLevel == .info)
        #expect(configuration.corsAllowedOrigins.isEmpty)
        #expect(configuration.maxUploadBytes == 50 * 1024 * 1024)
        #expect(configuration.downloadURLExpiry == 604_800)
        #expect(configuration.workerConcurrency >= 1)
    }

    /// The spec's variables alone select the spec's stack; ASO_MODE still decides when set,
    /// and the reason is said.
    @Test func productionVariablesSelectProductionModeUnlessASOModeSaysOtherwise() throws {
        let spec = ["DB_PASSWORD": "pw", "MINIO_ENDPOINT": "localhost:9000", "MINIO_ACCESS_KEY": "minioadmin", "MINIO_SECRET_KEY": "minioadmin"]
        let chosen = try ServiceConfiguration(environment: spec)
        #expect(chosen.mode == .production)
        #expect(chosen.modeReason == "ASO_MODE is unset and DB_PASSWORD, MINIO_ACCESS_KEY, MINIO_ENDPOINT, MINIO_SECRET_KEY are set")
        #expect(!chosen.modeReason.contains("minioadmin") && !chosen.modeReason.contains("pw,"), "names, never values")
        #expect(try ServiceConfiguration(environment: ["REDIS_HOST": "redis-service", "ASO_MODE": "embedded"]).mode == .embedded)
        #expect(try ServiceConfiguration(environment: [:]).modeReason == "ASO_MODE is unset and no DB_*, REDIS_* or MINIO_* variable is set")
        // Half the spec's variables: refused, saying what is missing and how to stay embedded.
        #expect {
            try ServiceConfiguration(environment: ["MINIO_ENDPOINT": "localhost:9000"])
        } throws: { error in
            let text = "\(error)"
            return text.hasPrefix("DB_PASSWORD is required") && text.contains("MINIO_ENDPOINT is set") && text.contains("ASO_MODE=embedded")
        }
    }

    /// `serve --port` and `worker`'s production default are typed overrides read in their
    /// variables' places: what depends on them follows, and a variable they replace is ignored.
    @Test func commandLineOverridesTakeTheirVariablesPlace() throws {
        let served = try ServiceConfiguration(environment: ["API_PORT": "7000"], overrides: [.port(9000)])
        #expect(served.port == 9000 && served.publicBaseURL.absoluteString == "http://localhost:9000")
        #expect(throws: ConfigurationError.self) { try ServiceConfiguration(environment: [:], overrides: [.port(70_000)]) }
        let worker = SettingOverride.defaultMode(.production, command: "worker")
        #expect(try ServiceConfiguration(environment: ["ASO_MODE": "embedded"], overrides: [worker]).mode == .embedded)
        // Production by default: the missing password is named, without advice to go embedded.
        #expect {
            try ServiceConfiguration(environment: [:], overrides: [worker])
        } throws: { error in
            "\(error)" == "DB_PASSWORD is required"
        }
        let spec = ["DB_PASSWORD": "pw", "MINIO_ENDPOINT": "localhost:9000", "MINIO_ACCESS_KEY": "minioadmin", "MINIO_SECRET_KEY": "minioadmin"]
        let chosen = try ServiceConfiguration(environment: spec, overrides: [worker])
        #expect(chosen.mode == .production && chosen.modeReason == "ASO_MODE is unset and aso-render worker runs in production mode")
    }

    @Test func valuesAreParsedAndBadOnesRefusedWithTheVariablesName() throws {
        let configuration = try ServiceConfiguration(environment: [
            "API_PORT": "9000", "LOG_LEVEL": "warning", "CORS_ALLOWED_ORIGINS": "https://a.example, https://b.example",
            "PUBLIC_BASE_URL": "https://render.example.com/", "WORKER_CONCURRENCY": "3",
        ])
        #expect(configuration.port == 9000 && configuration.logLevel == .warning && configuration.workerConcurrency == 3)
        #expect(configuration.corsAllowedOrigins == ["https://a.example", "https://b.example"])
        #expect(configuration.publicBaseURL.absoluteString == "https://render.example.com")
        for (name, value) in [
            ("API_PORT", "eighty"), ("API_PORT", "70000"), ("LOG_LEVEL", "LOUD"), ("PUBLIC_BASE_URL", "ftp://x"), ("WORKER_CONCURRENCY", "-1"),
        ] {
            do {
                _ = try ServiceConfiguration(environment: [name: value])
                Issue.record("\(name)=\(value) accepted")
            } catch {
                #expect(error.description.contains(name))
            }
        }
    }

    @Test func logLevelIsHonouredAndSecretsAreRedacted() {
        let sink = LogSink.capturing()
        var logger = Logger(label: "aso-render") { label in JSONLogHandler(label: label, level: .warning, sink: sink) }
        logger.info("hidden")
        logger.warning("shown", metadata: ["db_password": "hunter2", "render_id": "abc", "duration_ms": .stringConvertible(12)])
        logger[metadataKey: "authorization"] = "Bearer s3cr3t"
        logger.error("also shown")
        #expect(sink.lines.count == 2)
        let joined = sink.lines.joined()
        #expect(!joined.contains("hunter2") && !joined.contains("s3cr3t") && !joined.contains("hidden"))
        let first = try? JSONSerialization.jsonObject(with: Data(sink.lines[0].utf8)) as? [String: Any]
        #expect(first?["level"] as? String == "WARNING")
        #expect(first?["duration_ms"] as? Int == 12)
        #expect(first?["db_password"] as? String == "[redacted]")
    }
}

/// Values holding credentials never print them, however they are printed: swift-service-lifecycle
/// logs its services (and everything they hold) at DEBUG.
@Suite("Secrets in descriptions")
struct SecretDescriptionTests {
    @Test func configurationsPrintNoSecret() throws {
        let secrets = [
            "pw-db-31f9", "pw-redis-8a2c", "s3-secret-77d0", "metrics-token-0b1e", "signing-secret-5c4d-0123456789abcdefghijk", "api-key-0123456789abcdefghij",
        ]
        let configuration = try ServiceConfiguration(environment: [
            "DB_PASSWORD": secrets[0], "REDIS_PASSWORD": secrets[1], "MINIO_ENDPOINT": "localhost:9000", "MINIO_ACCESS_KEY": "access",
            "MINIO_SECRET_KEY": secrets[2], "METRICS_TOKEN": secrets[3], "URL_SIGNING_SECRET": secrets[4], "API_KEYS": secrets[5],
        ])
        struct Holder {
            let configuration: ServiceConfiguration
            let s3: S3Configuration
            let signer: URLSigner
            let redis: RedisConfiguration
        }
        let holder = Holder(
            configuration: configuration, s3: try configuration.storage.s3Configuration(), signer: URLSigner(secret: Data(secrets[4].utf8)),
            redis: configuration.redis)
        var dumped = ""
        dump(holder, to: &dumped)
        let texts = [String(describing: holder), String(reflecting: holder), dumped, "\(configuration.database)", "\(configuration.storage)"]
        for text in texts {
            for secret in secrets { #expect(!text.contains(secret), "\(text)") }
        }
        #expect(String(describing: holder).contains("S3Configuration(endpoint: http://localhost:9000"))
    }
}
