import Foundation
import GRDB
import RenderEngine

/// `RenderStore` on the embedded SQLite database.
public struct SQLiteRenderStore: RenderStore {
    let database: SQLiteDatabase

    public init(database: SQLiteDatabase) {
        self.database = database
    }

    public func create(_ render: RenderRecord, asset: AssetRecord) async throws {
        try await database.pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO assets (id, storage_key, content_type, size_bytes, width, height, format, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [asset.id.lowercased, asset.storageKey, asset.contentType, asset.sizeBytes, asset.width, asset.height, asset.format, asset.createdAt.timeIntervalSince1970])
            try db.execute(
                sql: """
                    INSERT INTO renders (id, asset_id, style_id, size_preset_id, status, orientation, fit, style_params, seed, created_at, available_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    render.id.lowercased, render.assetID.lowercased, render.styleID.lowercased, render.presetID.lowercased,
                    render.status.rawValue, render.orientation.rawValue, render.fit.rawValue,
                    StyleParametersJSON.encode(render.styleParameters), render.seed.map(String.init),
                    render.createdAt.timeIntervalSince1970, render.createdAt.timeIntervalSince1970,
                ])
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

    public func asset(id: UUID) async throws -> AssetRecord? {
        try await database.pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM assets WHERE id = ?", arguments: [id.lowercased]).map { row in
                AssetRecord(
                    id: UUID(uuidString: row["id"])!, storageKey: row["storage_key"], contentType: row["content_type"],
                    sizeBytes: row["size_bytes"], width: row["width"], height: row["height"], format: row["format"],
                    createdAt: Date(timeIntervalSince1970: row["created_at"]))
            }
        }
    }

    public func markProcessing(id: UUID, at date: Date) async throws -> RenderRecord? {
        defer { database.renderCache.invalidate(id) }
        return try await database.pool.write { db in
            try db.execute(
                sql: "UPDATE renders SET status = 'processing', started_at = ? WHERE id = ? AND status IN ('queued', 'processing')",
                arguments: [date.timeIntervalSince1970, id.lowercased])
            guard db.changesCount == 1 else { return nil }
            return try Row.fetchOne(db, sql: "SELECT * FROM renders WHERE id = ?", arguments: [id.lowercased]).map(Self.record)
        }
    }

    public func markQueued(id: UUID) async throws {
        defer { database.renderCache.invalidate(id) }
        try await database.pool.write { db in
            try db.execute(
                sql: "UPDATE renders SET status = 'queued', started_at = NULL WHERE id = ? AND status IN ('queued', 'processing')",
                arguments: [id.lowercased])
        }
    }

    public func markCompleted(id: UUID, _ result: CompletedRender) async throws -> Bool {
        defer { database.renderCache.invalidate(id) }
        return try await database.pool.write { db in
            try db.execute(
                sql: """
                    UPDATE renders SET status = 'completed', output_key = ?, preview_key = ?, completed_at = ?, duration_ms = ?,
                        effective_dpi = ?, warnings = ?, seed = COALESCE(seed, ?), error_message = NULL,
                        lease_owner = NULL, lease_expires_at = NULL
                    WHERE id = ? AND status IN ('queued', 'processing')
                    """,
                arguments: [
                    result.outputKey, result.previewKey, result.completedAt.timeIntervalSince1970, result.durationMs,
                    result.effectiveDPI, WarningsJSON.encode(result.warnings), result.seed.map(String.init), id.lowercased,
                ])
            return db.changesCount == 1
        }
    }

    public func markFailed(id: UUID, message: String, at date: Date) async throws -> Bool {
        defer { database.renderCache.invalidate(id) }
        return try await database.pool.write { db in
            try db.execute(
                sql: """
                    UPDATE renders SET status = 'failed', error_message = ?, completed_at = ?,
                        duration_ms = CASE WHEN started_at IS NULL THEN NULL ELSE CAST(ROUND((? - started_at) * 1000) AS INTEGER) END,
                        lease_owner = NULL, lease_expires_at = NULL
                    WHERE id = ? AND status IN ('queued', 'processing')
                    """,
                arguments: [message, date.timeIntervalSince1970, date.timeIntervalSince1970, id.lowercased])
            return db.changesCount == 1
        }
    }

    public func markCanceled(id: UUID, at date: Date) async throws -> Bool {
        defer { database.renderCache.invalidate(id) }
        return try await database.pool.write { db in
            try db.execute(
                sql: """
                    UPDATE renders SET status = 'canceled', completed_at = ?,
                        duration_ms = CASE WHEN started_at IS NULL THEN NULL ELSE CAST(ROUND((? - started_at) * 1000) AS INTEGER) END,
                        lease_owner = NULL, lease_expires_at = NULL
                    WHERE id = ? AND status IN ('queued', 'processing')
                    """,
                arguments: [date.timeIntervalSince1970, date.timeIntervalSince1970, id.lowercased])
            return db.changesCount == 1
        }
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

    static func record(_ row: Row) -> RenderRecord {
        func date(_ column: String) -> Date? { (row[column] as Double?).map(Date.init(timeIntervalSince1970:)) }
        return RenderRecord(
            id: UUID(uuidString: row["id"])!,
            assetID: UUID(uuidString: row["asset_id"])!,
            styleID: UUID(uuidString: row["style_id"])!,
            presetID: UUID(uuidString: row["size_preset_id"])!,
            status: RenderStatus(rawValue: row["status"]) ?? .failed,
            orientation: OrientationPolicy(rawValue: row["orientation"]) ?? .auto,
            fit: FitPolicy(rawValue: row["fit"]) ?? .cover,
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
            durationMs: row["duration_ms"])
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
        guard let text, let data = text.data(using: .utf8) else { return [:] }
        return (try? JSONDecoder().decode([String: Double].self, from: data)) ?? [:]
    }
}

enum WarningsJSON {
    static func encode(_ values: [String]) -> String {
        (try? String(decoding: JSONEncoder().encode(values), as: UTF8.self)) ?? "[]"
    }

    static func decode(_ text: String?) -> [String] {
        guard let text, let data = text.data(using: .utf8) else { return [] }
        return (try? JSONDecoder().decode([String].self, from: data)) ?? []
    }
}
