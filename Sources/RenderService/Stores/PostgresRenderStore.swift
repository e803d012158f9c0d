import Foundation
import Logging
import PostgresNIO
import RenderEngine

/// `RenderStore` on PostgreSQL through postgres-nio's connection pool (`PostgresClient`, which
/// runs as a lifecycle service). Queries bind every value; nothing is spliced into SQL text.
public struct PostgresRenderStore: RenderStore {
    let client: PostgresClient
    let logger: Logger
    /// The `application_name` this process's connections carry, to count them.
    let applicationName: String

    public init(client: PostgresClient, logger: Logger, applicationName: String = "aso-render") {
        self.client = client
        self.logger = logger
        self.applicationName = applicationName
    }

    public func create(_ render: RenderRecord, asset: AssetRecord?, idempotency: IdempotencyKey?) async throws -> IdempotentRequest? {
        try await client.withTransaction(logger: logger) { connection in
            if let idempotency {
                // Claims the key first: a concurrent request with the same key waits on the row
                // lock, then finds this use. An expired use is removed so the key is free again.
                try await connection.query(
                    """
                    DELETE FROM idempotency_keys
                    WHERE owner = \(idempotency.owner) AND key = \(idempotency.key) AND created_at <= \(idempotency.validAfter)
                    """, logger: logger)
                let claimed = try await connection.query(
                    """
                    INSERT INTO idempotency_keys (owner, key, request_hash, render_id, created_at)
                    VALUES (\(idempotency.owner), \(idempotency.key), \(idempotency.requestHash), \(render.id), \(render.createdAt))
                    ON CONFLICT (owner, key) DO NOTHING RETURNING key
                    """, logger: logger)
                var inserted = false
                for try await _ in claimed { inserted = true }
                if !inserted,
                    let earlier = try await Self.idempotentRequest(
                        connection, owner: idempotency.owner, key: idempotency.key, validAfter: idempotency.validAfter, logger: logger)
                {
                    return earlier
                }
            }
            if let asset { try await Self.insert(asset, connection, logger: logger) }
            let parameters = StyleParametersJSON.encode(render.styleParameters)
            let options = PrintOptionsJSON.encode(render.print, custom: render.customSize)
            let preset: UUID? = render.customSize == nil ? render.presetID : nil
            try await connection.query(
                """
                INSERT INTO renders (id, asset_id, style_id, size_preset_id, status, orientation, fit, style_params, seed, created_at, owner, print_options,
                                     webhook_url)
                VALUES (\(render.id), \(render.assetID), \(render.styleID), \(preset), \(render.status.rawValue), \(render.orientation.rawValue),
                        \(render.fit.rawValue), \(parameters)::jsonb, \(render.seed.map(String.init)), \(render.createdAt), \(render.owner),
                        \(options)::jsonb, \(render.webhookURL))
                """, logger: logger)
            return nil
        }
    }

    public func createAsset(_ asset: AssetRecord) async throws {
        try await client.withConnection { connection in try await Self.insert(asset, connection, logger: logger) }
    }

    private static func insert(_ asset: AssetRecord, _ connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query(
            """
            INSERT INTO assets (id, storage_key, content_type, size_bytes, width, height, format, created_at, owner)
            VALUES (\(asset.id), \(asset.storageKey), \(asset.contentType), \(Int64(asset.sizeBytes)), \(asset.width), \(asset.height),
                    \(asset.format), \(asset.createdAt), \(asset.owner))
            """, logger: logger)
    }

    public func idempotentRequest(owner: String, key: String, validAfter: Date) async throws -> IdempotentRequest? {
        try await client.withConnection { connection in
            try await Self.idempotentRequest(connection, owner: owner, key: key, validAfter: validAfter, logger: logger)
        }
    }

    private static func idempotentRequest(
        _ connection: PostgresConnection, owner: String, key: String, validAfter: Date, logger: Logger
    ) async throws -> IdempotentRequest? {
        let rows = try await connection.query(
            """
            SELECT render_id, request_hash, created_at FROM idempotency_keys
            WHERE owner = \(owner) AND key = \(key) AND created_at > \(validAfter)
            """, logger: logger)
        for try await (renderID, hash, created) in rows.decode((UUID, String, Date).self) {
            return IdempotentRequest(renderID: renderID, requestHash: hash, createdAt: created)
        }
        return nil
    }

    public func deleteIdempotencyKeys(before date: Date) async throws -> Int {
        let rows = try await client.query("DELETE FROM idempotency_keys WHERE created_at <= \(date) RETURNING key", logger: logger)
        var count = 0
        for try await _ in rows { count += 1 }
        return count
    }

    public func originalsToExpire(uploadedBefore date: Date, limit: Int) async throws -> [AssetRecord] {
        let rows = try await client.query(
            """
            SELECT a.id, a.storage_key, a.content_type, a.size_bytes, a.width, a.height, a.format, a.created_at FROM assets a
            WHERE a.deleted_at IS NULL AND a.created_at < \(date)
            AND NOT EXISTS (SELECT 1 FROM renders r WHERE r.asset_id = a.id AND r.status IN ('queued', 'processing'))
            ORDER BY a.created_at LIMIT \(limit)
            """, logger: logger)
        var assets: [AssetRecord] = []
        for try await (id, key, type, size, width, height, format, created) in rows.decode((UUID, String, String, Int64, Int, Int, String, Date).self) {
            assets.append(
                AssetRecord(id: id, storageKey: key, contentType: type, sizeBytes: Int(size), width: width, height: height, format: format, createdAt: created))
        }
        return assets
    }

    public func markOriginalDeleted(assetID: UUID, at date: Date) async throws {
        try await client.query("UPDATE assets SET deleted_at = \(date) WHERE id = \(assetID) AND deleted_at IS NULL", logger: logger)
    }

    public func outputsToExpire(completedBefore date: Date, limit: Int) async throws -> [RenderRecord] {
        let rows = try await client.query(
            """
            SELECT \(unescaped: Self.columns) FROM renders
            WHERE outputs_deleted_at IS NULL AND output_key IS NOT NULL AND status = 'completed' AND completed_at < \(date)
            ORDER BY completed_at LIMIT \(limit)
            """, logger: logger)
        var records: [RenderRecord] = []
        for try await row in rows { records.append(try Self.record(row)) }
        return records
    }

    public func markOutputsDeleted(renderID: UUID, at date: Date) async throws {
        try await client.query(
            "UPDATE renders SET outputs_deleted_at = \(date) WHERE id = \(renderID) AND outputs_deleted_at IS NULL", logger: logger)
    }

    static let columns = """
        id, asset_id, style_id, size_preset_id, status, orientation, fit, style_params::text, seed, output_key, preview_key,
        error_message, effective_dpi, warnings::text, created_at, started_at, completed_at, duration_ms, owner, outputs_deleted_at,
        print_options::text, webhook_url
        """

    public func render(id: UUID) async throws -> RenderRecord? {
        let rows = try await client.query("SELECT \(unescaped: Self.columns) FROM renders WHERE id = \(id)", logger: logger)
        for try await row in rows { return try Self.record(row) }
        return nil
    }

    public func asset(id: UUID) async throws -> AssetRecord? {
        let rows = try await client.query(
            "SELECT id, storage_key, content_type, size_bytes, width, height, format, created_at, owner, deleted_at FROM assets WHERE id = \(id)",
            logger: logger)
        for try await (assetID, key, type, size, width, height, format, created, owner, deleted)
            in rows.decode((UUID, String, String, Int64, Int, Int, String, Date, String?, Date?).self)
        {
            return AssetRecord(
                id: assetID, storageKey: key, contentType: type, sizeBytes: Int(size), width: width, height: height, format: format,
                createdAt: created, owner: owner, deletedAt: deleted)
        }
        return nil
    }

    public func listRenders(_ query: RenderListQuery) async throws -> RenderListPage {
        var records: [RenderRecord] = []
        var positions: [RenderListPosition] = []
        for try await row in try await client.query(Self.listQuery(query), logger: logger) {
            let record = try Self.record(row)
            records.append(record)
            // The position is the column after the record's (`listQuery`).
            let columns = row.makeRandomAccess()
            positions.append(RenderListPosition(createdAtMicroseconds: try columns[columns.count - 1].decode(Int64.self), id: record.id))
        }
        guard records.count > query.limit else { return RenderListPage(renders: records, next: nil) }
        return RenderListPage(renders: Array(records.prefix(query.limit)), next: positions[query.limit - 1])
    }

    /// The page plus one row (whether more follow), with each row's `created_at` as exact
    /// microseconds for its position. Only the conditions the query has are written, so the
    /// planner sees the index that fits them (`db/migrations/007_render_listing.sql`).
    static func listQuery(_ query: RenderListQuery) -> PostgresQuery {
        var binds = PostgresBindings()
        func bind(_ value: some PostgresDynamicTypeEncodable) -> String {
            binds.append(value)
            return "$\(binds.count)"
        }
        var conditions: [String] = []
        if case .owner(let owner) = query.scope { conditions.append("owner = \(bind(owner))") }
        if let status = query.status { conditions.append("status = \(bind(status.rawValue))") }
        if let style = query.styleID { conditions.append("style_id = \(bind(style))") }
        if let from = query.createdFrom { conditions.append("created_at >= \(bind(from))") }
        if let before = query.createdBefore { conditions.append("created_at < \(bind(before))") }
        if let after = query.after {
            // From integer microseconds, exactly (a bound Date would be truncated to them).
            conditions.append("(created_at, id) < (TIMESTAMPTZ 'epoch' + \(bind(after.boundedMicroseconds)) * INTERVAL '1 microsecond', \(bind(after.id)))")
        }
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let sql = """
            SELECT \(columns), (EXTRACT(EPOCH FROM created_at) * 1000000)::bigint FROM renders \(filter)
            ORDER BY created_at DESC, id DESC LIMIT \(bind(Int64(query.limit) + 1))
            """
        return PostgresQuery(unsafeSQL: sql, binds: binds)
    }

    public func markProcessing(id: UUID, at date: Date) async throws -> RenderRecord? {
        let rows = try await client.query(
            """
            UPDATE renders SET status = 'processing', started_at = \(date) WHERE id = \(id) AND status IN ('queued', 'processing')
            RETURNING \(unescaped: Self.columns)
            """, logger: logger)
        for try await row in rows { return try Self.record(row) }
        return nil
    }

    public func markQueued(id: UUID) async throws {
        try await client.query(
            "UPDATE renders SET status = 'queued', started_at = NULL WHERE id = \(id) AND status IN ('queued', 'processing')", logger: logger)
    }

    public func markCompleted(id: UUID, _ result: CompletedRender) async throws -> Bool {
        let rows = try await client.query(
            """
            WITH ended AS (UPDATE renders SET status = 'completed', output_key = \(result.outputKey), preview_key = \(result.previewKey),
                completed_at = \(result.completedAt), duration_ms = \(Int64(result.durationMs)), effective_dpi = \(result.effectiveDPI),
                warnings = \(WarningsJSON.encode(result.warnings))::jsonb, seed = COALESCE(seed, \(result.seed.map(String.init))),
                error_message = NULL
            WHERE id = \(id) AND status IN ('queued', 'processing') RETURNING id, webhook_url, owner, completed_at)
            \(unescaped: Self.enqueueWebhook(.completed))
            """, logger: logger)
        for try await _ in rows { return true }
        return false
    }

    public func markFailed(id: UUID, message: String, at date: Date) async throws -> Bool {
        let rows = try await client.query(
            """
            WITH ended AS (UPDATE renders SET status = 'failed', error_message = \(message), completed_at = \(date),
                duration_ms = CASE WHEN started_at IS NULL THEN NULL ELSE (EXTRACT(EPOCH FROM (\(date)::timestamptz - started_at)) * 1000)::bigint END
            WHERE id = \(id) AND status IN ('queued', 'processing') RETURNING id, webhook_url, owner, completed_at)
            \(unescaped: Self.enqueueWebhook(.failed))
            """, logger: logger)
        for try await _ in rows { return true }
        return false
    }

    public func markCanceled(id: UUID, at date: Date) async throws -> Bool {
        let rows = try await client.query(
            """
            WITH ended AS (UPDATE renders SET status = 'canceled', completed_at = \(date),
                duration_ms = CASE WHEN started_at IS NULL THEN NULL ELSE (EXTRACT(EPOCH FROM (\(date)::timestamptz - started_at)) * 1000)::bigint END
            WHERE id = \(id) AND status IN ('queued', 'processing') RETURNING id, webhook_url, owner, completed_at)
            \(unescaped: Self.enqueueWebhook(.canceled))
            """, logger: logger)
        for try await _ in rows { return true }
        return false
    }

    /// The rest of a terminal status change (`WITH ended AS (UPDATE renders … RETURNING id,
    /// webhook_url, owner)`): the webhook delivery goes into the outbox in the same statement, so
    /// the status and its delivery are written together or not at all. Answers the render's id.
    private static func enqueueWebhook(_ event: WebhookEvent) -> String {
        """
        , outbox AS (INSERT INTO webhook_deliveries (id, render_id, event, url, owner, next_attempt_at, created_at)
            SELECT gen_random_uuid(), id, '\(event.rawValue)', webhook_url, owner, completed_at, completed_at FROM ended WHERE webhook_url IS NOT NULL)
        SELECT id FROM ended
        """
    }

    public func renderIDs(status: RenderStatus, limit: Int) async throws -> [UUID] {
        let rows = try await client.query(
            "SELECT id FROM renders WHERE status = \(status.rawValue) ORDER BY created_at LIMIT \(limit)", logger: logger)
        var ids: [UUID] = []
        for try await id in rows.decode(UUID.self) { ids.append(id) }
        return ids
    }

    public func count(status: RenderStatus) async throws -> Int {
        let rows = try await client.query("SELECT COUNT(*) FROM renders WHERE status = \(status.rawValue)", logger: logger)
        for try await count in rows.decode(Int64.self) { return Int(count) }
        return 0
    }

    public func ping() async throws {
        try await client.query("SELECT 1", logger: logger)
    }

    public func openConnections() async throws -> Int {
        let rows = try await client.query("SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = \(applicationName)", logger: logger)
        for try await count in rows.decode(Int64.self) { return Int(count) }
        return 0
    }

    static func record(_ row: PostgresRow) throws -> RenderRecord {
        let (id, assetID, styleID, presetID, status, orientation, fit, parameters, seed) = try row.decode(
            (UUID, UUID, UUID, UUID?, String, String, String, String, String?).self, context: .default)
        let columns = row.makeRandomAccess()
        let (options, custom) = PrintOptionsJSON.decode(try columns[20].decode(String?.self))
        return RenderRecord(
            id: id, assetID: assetID, styleID: styleID, presetID: presetID ?? SizePreset.customID, status: RenderStatus(rawValue: status) ?? .failed,
            orientation: OrientationPolicy(rawValue: orientation) ?? .auto, fit: FitPolicy(rawValue: fit) ?? .cover,
            customSize: custom, print: options,
            styleParameters: StyleParametersJSON.decode(parameters), seed: seed.flatMap { UInt64($0) },
            outputKey: try columns[9].decode(String?.self), previewKey: try columns[10].decode(String?.self),
            errorMessage: try columns[11].decode(String?.self), effectiveDPI: try columns[12].decode(Double?.self),
            warnings: WarningsJSON.decode(try columns[13].decode(String?.self)),
            createdAt: try columns[14].decode(Date.self), startedAt: try columns[15].decode(Date?.self),
            completedAt: try columns[16].decode(Date?.self), durationMs: try columns[17].decode(Int64?.self).map(Int.init),
            owner: try columns[18].decode(String?.self), outputsDeletedAt: try columns[19].decode(Date?.self),
            webhookURL: try columns[21].decode(String?.self))
    }
}

/// Applies `db/migrations/*.sql` in order, once each, recorded in `schema_migrations`;
/// concurrent starts (several API replicas) serialise on an advisory lock.
public struct PostgresMigrator: Sendable {
    let client: PostgresClient
    let directory: String
    let logger: Logger

    public init(client: PostgresClient, directory: String, logger: Logger) {
        self.client = client
        self.directory = directory
        self.logger = logger
    }

    /// The migration files in order.
    public func files() throws -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
            throw ConfigurationError("cannot read the migrations directory '\(directory)': run from the repository root or set MIGRATIONS_DIR")
        }
        return names.filter { $0.hasSuffix(".sql") }.sorted()
    }

    /// Applies what is missing; returns the names applied now.
    @discardableResult
    public func migrate() async throws -> [String] {
        let files = try files()
        guard !files.isEmpty else { throw ConfigurationError("no migrations found in \(directory)") }
        return try await client.withConnection { connection in
            try await connection.query("SELECT pg_advisory_lock(\(Int64(0x4153_4F52)))", logger: logger)
            do {
                // Only when missing: PostgreSQL checks the right to create in the schema even
                // for IF NOT EXISTS, and the application's role (deploy/postgres/roles.sql)
                // rightly has none. An up-to-date database then needs no DDL at start.
                var exists = false
                for try await found in try await connection.query("SELECT to_regclass('schema_migrations') IS NOT NULL", logger: logger)
                    .decode(Bool.self)
                { exists = found }
                if !exists {
                    try await connection.query(
                        "CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
                        logger: logger)
                }
                var applied = Set<String>()
                for try await name in try await connection.query("SELECT name FROM schema_migrations", logger: logger).decode(String.self) {
                    applied.insert(name)
                }
                var now: [String] = []
                for file in files where !applied.contains(file) {
                    let sql = try String(contentsOfFile: "\(directory)/\(file)", encoding: .utf8)
                    try await connection.query("BEGIN", logger: logger)
                    for statement in Self.statements(sql) {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    try await connection.query("INSERT INTO schema_migrations (name) VALUES (\(file))", logger: logger)
                    try await connection.query("COMMIT", logger: logger)
                    now.append(file)
                    logger.info("Applied migration", metadata: ["migration": "\(file)"])
                }
                try await connection.query("SELECT pg_advisory_unlock(\(Int64(0x4153_4F52)))", logger: logger)
                return now
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(Int64(0x4153_4F52)))", logger: logger)
                if let error = error as? PSQLError, let reason = error.serverInfo?[.message] {
                    // postgres-nio's description hides the server's reason; it is what an operator needs.
                    throw ConfigurationError(
                        "Migrations could not be applied: \(reason) (pending migrations need the database owner's role: run aso-render migrate as it)")
                }
                throw error
            }
        }
    }

    /// The statements of a migration file: split at semicolons that end a line, comment lines
    /// dropped. Migrations are plain DDL and data; procedural code would need another splitter.
    static func statements(_ sql: String) -> [String] {
        var statements: [String] = []
        var current = ""
        for line in sql.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("--") || trimmed.isEmpty { continue }
            current += line + "\n"
            if trimmed.hasSuffix(";") {
                statements.append(current.trimmingCharacters(in: .whitespacesAndNewlines))
                current = ""
            }
        }
        let rest = current.trimmingCharacters(in: .whitespacesAndNewlines)
        if !rest.isEmpty { statements.append(rest) }
        return statements
    }

    /// Every migration file has been applied (readiness).
    public func isMigrated() async throws -> Bool {
        let files = try files()
        var applied = Set<String>()
        let rows = try await client.query("SELECT name FROM schema_migrations", logger: logger)
        for try await name in rows.decode(String.self) { applied.insert(name) }
        return files.allSatisfy(applied.contains)
    }

    /// Upserts the engine's styles and size presets, as SQLite's seed does on every open: a
    /// style or preset added in a release then exists in a database that earlier releases
    /// migrated (the seed migrations run once per database, and `renders.style_id` and
    /// `size_preset_id` reference these rows). Names and descriptions follow the catalogue;
    /// needs only row rights, so the API's role can do it at every start.
    public func seedCatalogue() async throws {
        for style in StyleCatalog.all.map(\.info) {
            try await client.query(
                """
                INSERT INTO styles (id, slug, name, description) VALUES (\(style.id), \(style.slug), \(style.name), \(style.description))
                ON CONFLICT (id) DO UPDATE SET slug = excluded.slug, name = excluded.name, description = excluded.description
                WHERE (styles.slug, styles.name, styles.description) IS DISTINCT FROM (excluded.slug, excluded.name, excluded.description)
                """, logger: logger)
        }
        for preset in SizePreset.all where !preset.isCustom {
            try await client.query(
                """
                INSERT INTO size_presets (id, name, width_inches, height_inches, dpi, width_px, height_px)
                VALUES (\(preset.id), \(preset.name), \(preset.widthInches), \(preset.heightInches), \(preset.dpi), \(preset.widthPixels), \(preset.heightPixels))
                ON CONFLICT (id) DO NOTHING
                """, logger: logger)
        }
    }
}
