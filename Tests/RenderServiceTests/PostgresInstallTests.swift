import Foundation
import PostgresNIO
import RenderEngine
import Testing

@testable import RenderService

/// The spec installs the schema with `psql -f db/schema.sql` and `psql -f db/seed.sql`;
/// `aso-render migrate` applies db/migrations. Both paths must give the same database and
/// may follow each other in either order.
@Suite("PostgreSQL install paths", .enabled(if: TestServers.hasPostgres))
struct PostgresInstallTests {
    @Test func specPsqlStepsThenMigrateAgreeAndRepeatSafely() async throws {
        let environment = TestServers.environment
        let name = "t_psql_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased())"
        let admin = PostgresClient(
            configuration: TestServers.postgresConfiguration(database: environment["TEST_PG_DATABASE"] ?? "aso_test"), backgroundLogger: TestServers.logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await admin.run() }
            try await admin.query("CREATE DATABASE \(unescaped: name)", logger: TestServers.logger)
            let client = PostgresClient(configuration: TestServers.postgresConfiguration(database: name), backgroundLogger: TestServers.logger)
            group.addTask { await client.run() }
            do {
                // Twice each: the spec's steps are safe to repeat.
                for file in ["db/schema.sql", "db/seed.sql", "db/schema.sql", "db/seed.sql"] {
                    let status = try await ChildProcess.run(
                        "/usr/bin/psql",
                        [
                            "-h", environment["TEST_PG_HOST"]!, "-p", environment["TEST_PG_PORT"]!, "-U", environment["TEST_PG_USER"]!, "-d", name,
                            "-v", "ON_ERROR_STOP=1", "-q", "-f", TestServers.root.appendingPathComponent(file).path,
                        ],
                        environment: ["PGPASSWORD": environment["TEST_PG_PASSWORD"]!])
                    #expect(status == 0, "psql -f \(file)")
                }
                func count(_ table: String) async throws -> Int {
                    for try await n in try await client.query("SELECT COUNT(*) FROM \(unescaped: table)", logger: TestServers.logger).decode(Int64.self) {
                        return Int(n)
                    }
                    return -1
                }
                #expect(try await count("styles") == 9)
                #expect(try await count("size_presets") == SizePreset.all.count)
                // `migrate` afterwards records the migrations without tripping over what psql made.
                let migrator = PostgresMigrator(client: client, directory: TestServers.migrations, logger: TestServers.logger)
                #expect(try await migrator.migrate() == (try migrator.files()))
                #expect(try await migrator.migrate() == [])
                #expect(try await migrator.isMigrated())
                #expect(try await count("styles") == 9)
            } catch {
                Issue.record(error)
            }
            _ = try? await admin.query("DROP DATABASE IF EXISTS \(unescaped: name) WITH (FORCE)", logger: TestServers.logger)
            group.cancelAll()
        }
    }
    /// A database made by 001–009, with renders queued, leased and finished, loses the table
    /// queue's columns of 001 (nothing uses them since production queues on Redis) and keeps
    /// every render as it was; the status index no longer names them.
    @Test func theQueueColumnsAreDroppedFromADatabaseWithRenders() async throws {
        let (client, cleanUp) = try await TestServers.postgresDatabase(migrated: false)
        defer { Task { await cleanUp() } }
        let logger = TestServers.logger
        let earlier = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: earlier) }
        let migrator = PostgresMigrator(client: client, directory: TestServers.migrations, logger: logger)
        for file in try migrator.files() where file < "010" {
            try FileManager.default.copyItem(atPath: "\(TestServers.migrations)/\(file)", toPath: "\(earlier)/\(file)")
        }
        try await PostgresMigrator(client: client, directory: earlier, logger: logger).migrate()
        // The status index as 001 made it before 010.
        try await client.query("DROP INDEX renders_status_idx", logger: logger)
        try await client.query("CREATE INDEX renders_status_idx ON renders (status, available_at, created_at)", logger: logger)
        let store = PostgresRenderStore(client: client, logger: logger)
        let pairs = (0..<3).map { _ in Fixtures.pair() }
        for (render, asset) in pairs { try await store.create(render, asset: asset) }
        try await client.query(
            "UPDATE renders SET attempts = 2, lease_owner = 'w1', lease_expires_at = now() + interval '10 minutes' WHERE id = \(pairs[1].0.id)",
            logger: logger)
        _ = try await store.markProcessing(id: pairs[1].0.id, at: Date())
        _ = try await store.markCompleted(
            id: pairs[2].0.id,
            CompletedRender(outputKey: "o", previewKey: "p", completedAt: Date(), durationMs: 5, effectiveDPI: 300, warnings: [], seed: 1))
        var before: [RenderRecord] = []
        for (render, _) in pairs { before.append(try #require(try await store.render(id: render.id))) }

        #expect(try await migrator.migrate().first == "010_drop_renders_queue_columns.sql")
        var columns: Set<String> = []
        for try await name in try await client.query(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'renders'", logger: logger
        ).decode(String.self) {
            columns.insert(name)
        }
        #expect(columns.isDisjoint(with: ["attempts", "available_at", "lease_owner", "lease_expires_at"]), "\(columns.sorted())")
        var index = ""
        for try await definition in try await client.query(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'renders_status_idx'", logger: logger
        ).decode(String.self) {
            index = definition
        }
        #expect(index.hasSuffix("(status, created_at)"), "\(index)")
        var after: [RenderRecord] = []
        for (render, _) in pairs { after.append(try #require(try await store.render(id: render.id))) }
        #expect(after == before)
        #expect(after.map(\.status) == [.queued, .processing, .completed])
    }

    /// A database migrated by an earlier release lacks the styles and presets added since (the
    /// seed migrations ran once): the API's start puts them in, and brings names up to date.
    @Test func theCatalogueIsSeededIntoADatabaseMigratedEarlier() async throws {
        let (client, cleanUp) = try await TestServers.postgresDatabase()
        defer { Task { await cleanUp() } }
        let comic = StyleCatalog.all.map(\.info).first { $0.slug == "comic" }!
        let a4 = SizePreset.all.first { $0.name == "A4" }!
        try await client.query("DELETE FROM styles WHERE id = \(comic.id)", logger: TestServers.logger)
        try await client.query("DELETE FROM size_presets WHERE id = \(a4.id)", logger: TestServers.logger)
        try await client.query("UPDATE styles SET name = 'Old name', description = 'old' WHERE slug = 'watercolor'", logger: TestServers.logger)
        func styles() async throws -> [String: String] {
            var found: [String: String] = [:]
            for try await (slug, name) in try await client.query("SELECT slug, name FROM styles", logger: TestServers.logger).decode((String, String).self) {
                found[slug] = name
            }
            return found
        }
        #expect(try await styles()["comic"] == nil)

        let migrator = PostgresMigrator(client: client, directory: TestServers.migrations, logger: TestServers.logger)
        try await migrator.seedCatalogue()
        try await migrator.seedCatalogue()  // and again: nothing changes
        let seeded = try await styles()
        #expect(seeded == Dictionary(uniqueKeysWithValues: StyleCatalog.all.map { ($0.info.slug, $0.info.name) }))
        var presets = 0
        for try await count in try await client.query("SELECT COUNT(*) FROM size_presets WHERE id = \(a4.id) AND width_px = 2480", logger: TestServers.logger)
            .decode(Int64.self)
        {
            presets = Int(count)
        }
        #expect(presets == 1)
    }
}
