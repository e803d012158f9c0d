import Foundation
import GRDB
import RenderEngine

/// The embedded database: one SQLite file in WAL mode (concurrent readers, one writer),
/// shared by the render store (its tables) and the table queue (`render_jobs`).
public final class SQLiteDatabase: Sendable {
    let pool: DatabasePool
    public let path: String
    /// The render store's: one per database, however many stores are opened on it.
    let renderCache = RenderRecordCache()

    public init(path: String) throws {
        self.path = path
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.maximumReaderCount = 8
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            try db.execute(sql: "PRAGMA foreign_keys = ON")
        }
        pool = try DatabasePool(path: path, configuration: configuration)
        try Self.migrator.migrate(pool)
        try pool.write { db in try Self.seed(db) }
    }

    /// Whether every migration has been applied (readiness).
    public func isMigrated() async throws -> Bool {
        try await pool.read { db in try Self.migrator.hasCompletedMigrations(db) }
    }

    /// The SQLite form of `db/migrations/*.sql` (PostgreSQL). Same tables, columns and indexes;
    /// times are Unix seconds (REAL) and ids lower-case text. Except the queue: here it is its
    /// own table, `render_jobs`; production queues in Redis.
    static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("001_initial") { db in
            try db.execute(
                sql: """
                    CREATE TABLE styles (
                        id TEXT PRIMARY KEY,
                        slug TEXT NOT NULL UNIQUE,
                        name TEXT NOT NULL,
                        description TEXT NOT NULL
                    );
                    CREATE TABLE size_presets (
                        id TEXT PRIMARY KEY,
                        name TEXT NOT NULL UNIQUE,
                        width_inches REAL NOT NULL,
                        height_inches REAL NOT NULL,
                        dpi INTEGER NOT NULL,
                        width_px INTEGER NOT NULL,
                        height_px INTEGER NOT NULL
                    );
                    CREATE TABLE assets (
                        id TEXT PRIMARY KEY,
                        storage_key TEXT NOT NULL,
                        content_type TEXT NOT NULL,
                        size_bytes INTEGER NOT NULL,
                        width INTEGER NOT NULL,
                        height INTEGER NOT NULL,
                        format TEXT NOT NULL,
                        created_at REAL NOT NULL
                    );
                    CREATE TABLE renders (
                        id TEXT PRIMARY KEY,
                        asset_id TEXT NOT NULL REFERENCES assets(id),
                        style_id TEXT NOT NULL REFERENCES styles(id),
                        size_preset_id TEXT NOT NULL REFERENCES size_presets(id),
                        status TEXT NOT NULL CHECK (status IN ('queued', 'processing', 'completed', 'failed', 'canceled')),
                        orientation TEXT NOT NULL DEFAULT 'auto',
                        fit TEXT NOT NULL DEFAULT 'cover',
                        style_params TEXT NOT NULL DEFAULT '{}',
                        seed TEXT,
                        output_key TEXT,
                        preview_key TEXT,
                        error_message TEXT,
                        effective_dpi REAL,
                        warnings TEXT NOT NULL DEFAULT '[]',
                        attempts INTEGER NOT NULL DEFAULT 0,
                        available_at REAL NOT NULL DEFAULT 0,
                        lease_owner TEXT,
                        lease_expires_at REAL,
                        created_at REAL NOT NULL,
                        started_at REAL,
                        completed_at REAL,
                        duration_ms INTEGER
                    );
                    CREATE INDEX renders_status_idx ON renders (status, available_at, created_at);
                    CREATE INDEX renders_asset_idx ON renders (asset_id);
                    """)
        }
        migrator.registerMigration("003_reliability") { db in
            try db.execute(
                sql: """
                    ALTER TABLE renders ADD COLUMN owner TEXT;
                    ALTER TABLE renders ADD COLUMN outputs_deleted_at REAL;
                    ALTER TABLE assets ADD COLUMN deleted_at REAL;
                    CREATE TABLE idempotency_keys (
                        owner TEXT NOT NULL,
                        key TEXT NOT NULL,
                        request_hash TEXT NOT NULL,
                        render_id TEXT NOT NULL REFERENCES renders(id) ON DELETE CASCADE,
                        created_at REAL NOT NULL,
                        PRIMARY KEY (owner, key)
                    );
                    CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
                    CREATE INDEX renders_outputs_retention_idx ON renders (completed_at) WHERE outputs_deleted_at IS NULL AND output_key IS NOT NULL;
                    CREATE INDEX assets_retention_idx ON assets (created_at) WHERE deleted_at IS NULL;
                    """)
        }
        // A custom size has no preset: size_preset_id becomes optional, which SQLite can only
        // do by rebuilding the table (GRDB runs migrations with foreign keys checked at the end).
        migrator.registerMigration("005_print_options") { db in
            try db.execute(
                sql: """
                    CREATE TABLE renders_new (
                        id TEXT PRIMARY KEY,
                        asset_id TEXT NOT NULL REFERENCES assets(id),
                        style_id TEXT NOT NULL REFERENCES styles(id),
                        size_preset_id TEXT REFERENCES size_presets(id),
                        status TEXT NOT NULL CHECK (status IN ('queued', 'processing', 'completed', 'failed', 'canceled')),
                        orientation TEXT NOT NULL DEFAULT 'auto',
                        fit TEXT NOT NULL DEFAULT 'cover',
                        style_params TEXT NOT NULL DEFAULT '{}',
                        seed TEXT,
                        output_key TEXT,
                        preview_key TEXT,
                        error_message TEXT,
                        effective_dpi REAL,
                        warnings TEXT NOT NULL DEFAULT '[]',
                        attempts INTEGER NOT NULL DEFAULT 0,
                        available_at REAL NOT NULL DEFAULT 0,
                        lease_owner TEXT,
                        lease_expires_at REAL,
                        created_at REAL NOT NULL,
                        started_at REAL,
                        completed_at REAL,
                        duration_ms INTEGER,
                        owner TEXT,
                        outputs_deleted_at REAL,
                        print_options TEXT NOT NULL DEFAULT '{}'
                    );
                    INSERT INTO renders_new SELECT *, '{}' FROM renders;
                    DROP TABLE renders;
                    ALTER TABLE renders_new RENAME TO renders;
                    CREATE INDEX renders_status_idx ON renders (status, available_at, created_at);
                    CREATE INDEX renders_asset_idx ON renders (asset_id);
                    CREATE INDEX renders_outputs_retention_idx ON renders (completed_at) WHERE outputs_deleted_at IS NULL AND output_key IS NOT NULL;
                    """)
        }
        migrator.registerMigration("006_asset_owner") { db in
            try db.execute(sql: "ALTER TABLE assets ADD COLUMN owner TEXT")
        }
        // `GET /v1/renders`: the listing's indexes (db/migrations/007_render_listing.sql), and
        // times of earlier renders rounded to whole microseconds as they are now stored
        // (`SQLiteRenderStore.storedTime`), so keyset positions compare exactly.
        migrator.registerMigration("007_render_listing") { db in
            try db.execute(
                sql: """
                    UPDATE renders SET created_at = round(created_at * 1000000) / 1000000.0;
                    CREATE INDEX renders_owner_list_idx ON renders (owner, created_at DESC, id DESC);
                    CREATE INDEX renders_owner_status_list_idx ON renders (owner, status, created_at DESC, id DESC);
                    CREATE INDEX renders_owner_style_list_idx ON renders (owner, style_id, created_at DESC, id DESC);
                    CREATE INDEX renders_list_idx ON renders (created_at DESC, id DESC);
                    CREATE INDEX renders_status_list_idx ON renders (status, created_at DESC, id DESC);
                    CREATE INDEX renders_style_list_idx ON renders (style_id, created_at DESC, id DESC);
                    """)
        }
        migrator.registerMigration("008_webhooks") { db in
            try db.execute(
                sql: """
                    ALTER TABLE renders ADD COLUMN webhook_url TEXT;
                    CREATE TABLE webhook_deliveries (
                        id TEXT PRIMARY KEY,
                        render_id TEXT NOT NULL REFERENCES renders(id) ON DELETE CASCADE,
                        event TEXT NOT NULL,
                        url TEXT NOT NULL,
                        owner TEXT,
                        status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
                        attempts INTEGER NOT NULL DEFAULT 0,
                        next_attempt_at REAL NOT NULL,
                        lease_owner TEXT,
                        lease_expires_at REAL,
                        last_error TEXT,
                        created_at REAL NOT NULL,
                        finished_at REAL
                    );
                    CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
                    CREATE INDEX webhook_deliveries_render_idx ON webhook_deliveries (render_id);
                    """)
        }
        // The table queue's bookkeeping moves out of renders into its own table, so the queue
        // never writes a render's status (the store is its only writer). Renders still in flight
        // keep their place, attempts and lease.
        migrator.registerMigration("010_render_jobs") { db in
            try db.execute(
                sql: """
                    CREATE TABLE render_jobs (
                        render_id TEXT PRIMARY KEY REFERENCES renders(id) ON DELETE CASCADE,
                        available_at REAL NOT NULL,
                        attempts INTEGER NOT NULL DEFAULT 0,
                        lease_owner TEXT,
                        lease_expires_at REAL
                    );
                    INSERT INTO render_jobs (render_id, available_at, attempts, lease_owner, lease_expires_at)
                        SELECT id, available_at, attempts, lease_owner, lease_expires_at FROM renders WHERE status IN ('queued', 'processing');
                    DROP INDEX renders_status_idx;
                    ALTER TABLE renders DROP COLUMN attempts;
                    ALTER TABLE renders DROP COLUMN available_at;
                    ALTER TABLE renders DROP COLUMN lease_owner;
                    ALTER TABLE renders DROP COLUMN lease_expires_at;
                    CREATE INDEX renders_status_idx ON renders (status, created_at);
                    """)
        }
        return migrator
    }()

    /// The catalogue's styles and presets with their permanent ids (`db/seed.sql`).
    static func seed(_ db: Database) throws {
        for style in StyleCatalog.all.map(\.info) {
            try db.execute(
                sql: """
                    INSERT INTO styles (id, slug, name, description) VALUES (?, ?, ?, ?)
                    ON CONFLICT (id) DO UPDATE SET slug = excluded.slug, name = excluded.name, description = excluded.description
                    """,
                arguments: [style.id.lowercased, style.slug, style.name, style.description])
        }
        for preset in SizePreset.all {
            try db.execute(
                sql: """
                    INSERT INTO size_presets (id, name, width_inches, height_inches, dpi, width_px, height_px)
                    VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING
                    """,
                arguments: [preset.id.lowercased, preset.name, preset.widthInches, preset.heightInches, preset.dpi, preset.widthPixels, preset.heightPixels])
        }
    }
}
