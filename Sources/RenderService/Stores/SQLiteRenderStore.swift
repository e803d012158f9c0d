import Foundation
import GRDB
import RenderEngine

/// `RenderStore` on the embedded SQLite database.
public struct SQLiteRenderStore: RenderStore {
    let database: SQLiteDatabase

    public init(database: SQLiteDatabase) {
        self.database = database
    }

    public func create(_ render: RenderRecord, asset: AssetRecord?, idempotency: IdempotencyKey?) async throws -> IdempotentRequest? {
        try await database.pool.write { db in
            if let idempotency {
                if let earlier = try Self.idempotentRequest(db, owner: idempotency.owner, key: idempotency.key, validAfter: idempotency.validAfter) {
                    return earlier
                }
                // An expired use of the key frees it.
                try db.execute(
                    sql: "DELETE FROM idempotency_keys WHERE owner = ? AND key = ?", arguments: [idempotency.owner, idempotency.key])
            }
            if let asset { try Self.insert(asset, db) }
            try db.execute(
                sql: """
                    INSERT INTO renders (id, asset_id, style_id, size_preset_id, status, orientation, fit, style_params, seed, created_at, owner, print_options, webhook_url)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    render.id.lowercased, render.assetID.lowercased, render.styleID.lowercased,
                    render.customSize == nil ? render.presetID.lowercased : nil,
                    render.status.rawValue, render.orientation.rawValue, render.fit.rawValue,
                    StyleParametersJSON.encode(render.styleParameters), render.seed.map(String.init),
                    Self.storedTime(render.createdAt), render.owner,
                    PrintOptionsJSON.encode(render.print, custom: render.customSize), render.webhookURL,
                ])
            if let idempotency {
                try db.execute(
                    sql: "INSERT INTO idempotency_keys (owner, key, request_hash, render_id, created_at) VALUES (?, ?, ?, ?, ?)",
                    arguments: [idempotency.owner, idempotency.key, idempotency.requestHash, render.id.lowercased, render.createdAt.timeIntervalSince1970])
            }
            return nil
        }
    }

    public func createAsset(_ asset: AssetRecord) async throws {
        try await database.pool.write { db in try Self.insert(asset, db) }
    }

    private static func insert(_ asset: AssetRecord, _ db: Database) throws {
        try db.execute(
            sql: """
                INSERT INTO assets (id, storage_key, content_type, size_bytes, width, height, format, created_at, owner)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                asset.id.lowercased, asset.storageKey, asset.contentType, asset.sizeBytes, asset.width, asset.height, asset.format,
                asset.createdAt.timeIntervalSince1970, asset.owner,
            ])
    }

    public func idempotentRequest(owner: String, key: String, validAfter: Date) async throws -> IdempotentRequest? {
        try await database.pool.read { db in try Self.idempotentRequest(db, owner: owner, key: key, validAfter: validAfter) }
    }

    private static func idempotentRequest(_ db: Database, owner: String, key: String, validAfter: Date) throws -> IdempotentRequest? {
        try Row.fetchOne(
            db, sql: "SELECT render_id, request_hash, created_at FROM idempotency_keys WHERE owner = ? AND key = ? AND created_at > ?",
            arguments: [owner, key, validAfter.timeIntervalSince1970]
        ).map { row in
            IdempotentRequest(
                renderID: UUID(uuidString: row["render_id"])!, requestHash: row["request_hash"], createdAt: Date(timeIntervalSince1970: row["created_at"]))
        }
    }

    public func deleteIdempotencyKeys(before date: Date) async throws -> Int {
        try await database.pool.write { db in
            try db.execute(sql: "DELETE FROM idempotency_keys WHERE created_at <= ?", arguments: [date.timeIntervalSince1970])
            return db.changesCount
        }
    }

    public func originalsToExpire(uploadedBefore date: Date, limit: Int) async throws -> [AssetRecord] {
        try await database.pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM assets a WHERE a.deleted_at IS NULL AND a.created_at < ?
                    AND NOT EXISTS (SELECT 1 FROM renders r WHERE r.asset_id = a.id AND r.status IN ('queued', 'processing'))
                    ORDER BY a.created_at LIMIT ?
                    """,
                arguments: [date.timeIntervalSince1970, limit]
            ).map(Self.asset)
        }
    }

    public func markOriginalDeleted(assetID: UUID, at date: Date) async throws {
        try await database.pool.write { db in
            try db.execute(
                sql: "UPDATE assets SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL", arguments: [date.timeIntervalSince1970, assetID.lowercased])
        }
    }

    public func outputsToExpire(completedBefore date: Date, limit: Int) async throws -> [RenderRecord] {
        try await database.pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM renders WHERE outputs_deleted_at IS NULL AND output_key IS NOT NULL AND status = 'completed'
                    AND completed_at < ? ORDER BY completed_at LIMIT ?
                    """,
                arguments: [date.timeIntervalSince1970, limit]
            ).map(Self.record)
        }
    }

    public func markOutputsDeleted(renderID: UUID, at date: Date) async throws {
        try await update(render: renderID) { db in
            try db.execute(
                sql: "UPDATE renders SET outputs_deleted_at = ? WHERE id = ? AND outputs_deleted_at IS NULL",
                arguments: [date.timeIntervalSince1970, renderID.lowercased])
        }
    }

    public func render(id: UUID) async throws -> RenderRecord? {
        let (cached, generation) = database.renderCache.lookup(id)
        if let cached { return cached }
        // One SELECT needs no transaction.
        let record = try await database.pool.unsafeRead { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM renders WHERE id = ?"), arguments: [id.lowercased]).map(Self.record)
        }
        if let record { database.renderCache.store(record, readAt: generation) }
        return record
    }

    /// Every change to an existing render goes through here, so the record cache forgets it in
    /// one place.
    private func update<T: Sendable>(render id: UUID, _ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        defer { database.renderCache.invalidate(id) }
        return try await database.pool.write(body)
    }

    public func listRenders(_ query: RenderListQuery) async throws -> RenderListPage {
        // Each record with its created_at as stored, for the position.
        let rows = try await database.pool.read { db in
            try Self.listRows(db, query).map { row in (Self.record(row), row["created_at"] as Double) }
        }
        let records = rows.prefix(query.limit).map(\.0)
        guard rows.count > query.limit, let last = records.last else { return RenderListPage(renders: records, next: nil) }
        let micros = Int64((rows[query.limit - 1].1 * 1_000_000).rounded())
        return RenderListPage(renders: records, next: RenderListPosition(createdAtMicroseconds: micros, id: last.id))
    }

    /// The page plus one row (whether more follow). Only the conditions the query has are
    /// written, so SQLite picks the index that fits them.
    private static func listRows(_ db: Database, _ query: RenderListQuery) throws -> [Row] {
        var conditions: [String] = []
        var values: [(any DatabaseValueConvertible)?] = []
        func condition(_ sql: String, _ bound: any DatabaseValueConvertible...) {
            conditions.append(sql)
            values += bound.map { $0 }
        }
        if case .owner(let owner) = query.scope { condition("owner = ?", owner) }
        if let status = query.status { condition("status = ?", status.rawValue) }
        if let style = query.styleID { condition("style_id = ?", style.lowercased) }
        if let from = query.createdFrom { condition("created_at >= ?", from.timeIntervalSince1970) }
        if let before = query.createdBefore { condition("created_at < ?", before.timeIntervalSince1970) }
        if let after = query.after {
            condition("(created_at, id) < (?, ?)", storedTime(microseconds: after.boundedMicroseconds), after.id.lowercased)
        }
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        return try Row.fetchAll(
            db, sql: "SELECT * FROM renders \(filter) ORDER BY created_at DESC, id DESC LIMIT ?",
            arguments: StatementArguments(values + [query.limit + 1]))
    }

    /// `created_at` as stored: Unix seconds (REAL) of a whole number of microseconds, so a
    /// listing position (exact microseconds) converts to the stored value and back exactly:
    /// distinct microseconds give distinct doubles (until about 2240) and `x * 1e6` is within a
    /// quarter of a microsecond of the integer it came from.
    static func storedTime(_ date: Date) -> Double {
        storedTime(microseconds: Int64((date.timeIntervalSince1970 * 1_000_000).rounded()))
    }

    static func storedTime(microseconds: Int64) -> Double { Double(microseconds) / 1_000_000 }

    public func asset(id: UUID) async throws -> AssetRecord? {
        try await database.pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM assets WHERE id = ?", arguments: [id.lowercased]).map(Self.asset)
        }
    }

    static func asset(_ row: Row) -> AssetRecord {
        AssetRecord(
            id: UUID(uuidString: row["id"])!, storageKey: row["storage_key"], contentType: row["content_type"],
            sizeBytes: row["size_bytes"], width: row["width"], height: row["height"], format: row["format"],
            createdAt: Date(timeIntervalSince1970: row["created_at"]), owner: row["owner"],
            deletedAt: (row["deleted_at"] as Double?).map(Date.init(timeIntervalSince1970:)))
    }

    public func markProcessing(id: UUID, at date: Date) async throws -> RenderRecord? {
        return try await update(render: id) { db in
            try db.execute(
                sql: "UPDATE renders SET status = 'processing', started_at = ? WHERE id = ? AND status IN ('queued', 'processing')",
                arguments: [date.timeIntervalSince1970, id.lowercased])
            guard db.changesCount == 1 else { return nil }
            return try Row.fetchOne(db, sql: "SELECT * FROM renders WHERE id = ?", arguments: [id.lowercased]).map(Self.record)
        }
    }

    public func markQueued(id: UUID) async throws {
        try await update(render: id) { db in
            try db.execute(
                sql: "UPDATE renders SET status = 'queued', started_at = NULL WHERE id = ? AND status IN ('queued', 'processing')",
                arguments: [id.lowercased])
        }
    }

    public func markCompleted(id: UUID, _ result: CompletedRender) async throws -> Bool {
        return try await update(render: id) { db in
            try db.execute(
                sql: """
                    UPDATE renders SET status = 'completed', output_key = ?, preview_key = ?, completed_at = ?, duration_ms = ?,
                        effective_dpi = ?, warnings = ?, seed = COALESCE(seed, ?), error_message = NULL
                    WHERE id = ? AND status IN ('queued', 'processing')
                    """,
                arguments: [
                    result.outputKey, result.previewKey, result.completedAt.timeIntervalSince1970, result.durationMs,
                    result.effectiveDPI, WarningsJSON.encode(result.warnings), result.seed.map(String.init), id.lowercased,
                ])
            guard db.changesCount == 1 else { return false }
            try Self.enqueueWebhook(db, renderID: id, status: .completed, at: result.completedAt)
            return true
        }
    }

    public func markFailed(id: UUID, message: String, at date: Date) async throws -> Bool {
        return try await update(render: id) { db in
            try db.execute(
                sql: """
                    UPDATE renders SET status = 'failed', error_message = ?, completed_at = ?,
                        duration_ms = CASE WHEN started_at IS NULL THEN NULL ELSE CAST(ROUND((? - started_at) * 1000) AS INTEGER) END
                    WHERE id = ? AND status IN ('queued', 'processing')
                    """,
                arguments: [message, date.timeIntervalSince1970, date.timeIntervalSince1970, id.lowercased])
            guard db.changesCount == 1 else { return false }
            try Self.enqueueWebhook(db, renderID: id, status: .failed, at: date)
            return true
        }
    }

    public func markCanceled(id: UUID, at date: Date) async throws -> Bool {
        return try await update(render: id) { db in
            try db.execute(
                sql: """
                    UPDATE renders SET status = 'canceled', completed_at = ?,
                        duration_ms = CASE WHEN started_at IS NULL THEN NULL ELSE CAST(ROUND((? - started_at) * 1000) AS INTEGER) END
                    WHERE id = ? AND status IN ('queued', 'processing')
                    """,
                arguments: [date.timeIntervalSince1970, date.timeIntervalSince1970, id.lowercased])
            guard db.changesCount == 1 else { return false }
            try Self.enqueueWebhook(db, renderID: id, status: .canceled, at: date)
            return true
        }
    }

    /// The webhook delivery of a render that just reached a terminal status, in the transaction
    /// that wrote the status (nothing when the render names no webhook URL).
    private static func enqueueWebhook(_ db: Database, renderID: UUID, status: RenderStatus, at date: Date) throws {
        try db.execute(
            sql: """
                INSERT INTO webhook_deliveries (id, render_id, event, url, owner, next_attempt_at, created_at)
                SELECT ?, id, ?, webhook_url, owner, ?, ? FROM renders WHERE id = ? AND webhook_url IS NOT NULL
                """,
            arguments: [
                UUID().lowercased, WebhookEvent(status)?.rawValue ?? "", date.timeIntervalSince1970, date.timeIntervalSince1970, renderID.lowercased,
            ])
    }

    public func renderIDs(status: RenderStatus, limit: Int) async throws -> [UUID] {
        try await database.pool.read { db in
            try String.fetchAll(db, sql: "SELECT id FROM renders WHERE status = ? ORDER BY created_at LIMIT ?", arguments: [status.rawValue, limit])
                .compactMap(UUID.init(uuidString:))
        }
    }

    public func count(status: RenderStatus) async throws -> Int {
        try await database.pool.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM renders WHERE status = ?", arguments: [status.rawValue]) ?? 0
        }
    }

    public func ping() async throws {
        _ = try await database.pool.read { db in try Int.fetchOne(db, sql: "SELECT 1") }
    }

    public func openConnections() async throws -> Int { 1 + database.pool.configuration.maximumReaderCount }

    static func record(_ row: Row) -> RenderRecord {
        func date(_ column: String) -> Date? { (row[column] as Double?).map(Date.init(timeIntervalSince1970:)) }
        let (options, custom) = PrintOptionsJSON.decode(row["print_options"])
        return RenderRecord(
            id: UUID(uuidString: row["id"])!,
            assetID: UUID(uuidString: row["asset_id"])!,
            styleID: UUID(uuidString: row["style_id"])!,
            presetID: (row["size_preset_id"] as String?).flatMap(UUID.init(uuidString:)) ?? SizePreset.customID,
            status: RenderStatus(rawValue: row["status"]) ?? .failed,
            orientation: OrientationPolicy(rawValue: row["orientation"]) ?? .auto,
            fit: FitPolicy(rawValue: row["fit"]) ?? .cover,
            customSize: custom,
            print: options,
            styleParameters: StyleParametersJSON.decode(row["style_params"]),
            seed: (row["seed"] as String?).flatMap { UInt64($0) },
            outputKey: row["output_key"],
            previewKey: row["preview_key"],
            errorMessage: row["error_message"],
            effectiveDPI: row["effective_dpi"],
            warnings: WarningsJSON.decode(row["warnings"]),
            createdAt: date("created_at") ?? Date(timeIntervalSince1970: 0),
            startedAt: date("started_at"),
            completedAt: date("completed_at"),
            durationMs: row["duration_ms"],
            owner: row["owner"],
            outputsDeletedAt: date("outputs_deleted_at"),
            webhookURL: row["webhook_url"])
    }
}

/// Style parameters as stored: a JSON object of numbers, keys sorted (stable bytes).
enum StyleParametersJSON {
    static func encode(_ values: [String: Double]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return (try? String(decoding: encoder.encode(values), as: UTF8.self)) ?? "{}"
    }

    static func decode(_ text: String?) -> [String: Double] {
        // The usual value, without a JSONDecoder (a page of GET /v1/renders decodes 100).
        guard let text, text != "{}", let data = text.data(using: .utf8) else { return [:] }
        return (try? JSONDecoder().decode([String: Double].self, from: data)) ?? [:]
    }
}

enum WarningsJSON {
    static func encode(_ values: [String]) -> String {
        (try? String(decoding: JSONEncoder().encode(values), as: UTF8.self)) ?? "[]"
    }

    static func decode(_ text: String?) -> [String] {
        guard let text, text != "[]", let data = text.data(using: .utf8) else { return [] }
        return (try? JSONDecoder().decode([String].self, from: data)) ?? []
    }
}
