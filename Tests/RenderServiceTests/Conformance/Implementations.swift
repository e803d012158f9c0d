import Foundation
import RenderEngine
@testable import RenderService
import Testing

/// Every implementation of each protocol, for the conformance suites. The production
/// implementations join these lists when their servers are configured (see scripts/).
struct StoreUnderTest: Sendable, CustomTestStringConvertible {
    let name: String
    let make: @Sendable () async throws -> (store: any RenderStore, cleanUp: @Sendable () async -> Void)
    var testDescription: String { name }
}

/// A queue plus what it needs before an id can be enqueued: the table queue works on render
/// rows, so its harness creates one; Redis needs nothing.
struct QueueUnderTest: Sendable, CustomTestStringConvertible {
    let name: String
    let make: @Sendable () async throws -> (queue: any JobQueue, prepare: @Sendable (UUID) async throws -> Void, cleanUp: @Sendable () async -> Void)
    var testDescription: String { name }
}

struct ObjectStoreUnderTest: Sendable, CustomTestStringConvertible {
    let name: String
    let make: @Sendable () async throws -> (store: any ObjectStore, cleanUp: @Sendable () async -> Void)
    var testDescription: String { name }
}

struct RateLimiterUnderTest: Sendable, CustomTestStringConvertible {
    let name: String
    let make: @Sendable () async throws -> (limiter: any RateLimiter, cleanUp: @Sendable () async -> Void)
    var testDescription: String { name }
}

enum Implementations {
    static let stores: [StoreUnderTest] = [
        StoreUnderTest(name: "SQLite") {
            let directory = temporaryDirectory("sqlite-store")
            let database = try SQLiteDatabase(path: "\(directory)/test.sqlite")
            return (SQLiteRenderStore(database: database), { try? FileManager.default.removeItem(atPath: directory) })
        },
    ] + (TestServers.hasPostgres ? [
        StoreUnderTest(name: "PostgreSQL") {
            let (client, cleanUp) = try await TestServers.postgresDatabase()
            return (PostgresRenderStore(client: client, logger: TestServers.logger), cleanUp)
        },
    ] : [])

    static let queues: [QueueUnderTest] = [
        QueueUnderTest(name: "table (SQLite)") {
            let directory = temporaryDirectory("table-queue")
            let database = try SQLiteDatabase(path: "\(directory)/test.sqlite")
            let store = SQLiteRenderStore(database: database)
            return (TableJobQueue(database: database), { id in
                let asset = Fixtures.asset(for: id)
                try await store.create(Fixtures.render(id: id, assetID: asset.id), asset: asset)
            },
                    { try? FileManager.default.removeItem(atPath: directory) })
        },
    ] + (TestServers.hasRedis ? [
        QueueUnderTest(name: "Redis") {
            let client = RedisClient(configuration: TestServers.redisConfiguration)
            // A queue name of its own per test: tests share one Redis.
            let queue = RedisJobQueue(client: client, name: "test-\(UUID().uuidString.prefix(8))")
            return (queue, { _ in }, { await client.close() })
        },
        QueueUnderTest(name: "Redis over TLS") {
            let client = RedisClient(configuration: TestServers.redisTLSConfiguration)
            let queue = RedisJobQueue(client: client, name: "test-tls-\(UUID().uuidString.prefix(8))")
            return (queue, { _ in }, { await client.close() })
        },
    ] : [])

    static let rateLimiters: [RateLimiterUnderTest] = [
        RateLimiterUnderTest(name: "in process") { (InProcessRateLimiter(), {}) },
    ] + (TestServers.hasRedis ? [
        RateLimiterUnderTest(name: "Redis") {
            let client = RedisClient(configuration: TestServers.redisConfiguration)
            // A key prefix of its own per test: tests share one Redis.
            return (RedisRateLimiter(client: client, prefix: "test-rate-\(UUID().uuidString.prefix(8))"), { await client.close() })
        },
    ] : [])

    static let objectStores: [ObjectStoreUnderTest] = [
        ObjectStoreUnderTest(name: "local directory") {
            let directory = temporaryDirectory("local-objects")
            let store = try LocalObjectStore(
                root: directory, signer: URLSigner(secret: Data("secret".utf8)), publicBaseURL: URL(string: "http://localhost:8089")!)
            return (store, { try? FileManager.default.removeItem(atPath: directory) })
        },
    ] + (TestServers.hasS3 ? [
        ObjectStoreUnderTest(name: "S3 (SeaweedFS)") {
            let store = S3ObjectStore(configuration: TestServers.s3Configuration(bucket: "test-\(UUID().uuidString.prefix(8).lowercased())"))
            try await store.ensureBucket()
            return (store, {})
        },
    ] : [])
}

/// Records for store and queue tests.
enum Fixtures {
    static func asset(for render: UUID, id: UUID = UUID()) -> AssetRecord {
        AssetRecord(
            id: id, storageKey: ObjectKeys.original(render: render, format: .jpeg), contentType: "image/jpeg", sizeBytes: 1234,
            width: 1680, height: 1050, format: "jpeg", createdAt: Date(timeIntervalSince1970: 1_700_000_000))
    }

    static func render(id: UUID = UUID(), assetID: UUID? = nil, createdAt: Date = Date()) -> RenderRecord {
        RenderRecord(
            id: id, assetID: assetID ?? UUID(), styleID: WatercolorStyle().info.id, presetID: SizePreset.all[0].id,
            orientation: .landscape, fit: .contain, styleParameters: ["paper_texture": 0.25], seed: 18_446_744_073_709_551_615,
            createdAt: createdAt)
    }

    /// A render and its asset, linked.
    static func pair(createdAt: Date = Date()) -> (RenderRecord, AssetRecord) {
        let id = UUID()
        let asset = asset(for: id)
        return (render(id: id, assetID: asset.id, createdAt: createdAt), asset)
    }
}
