import Foundation
import RenderEngine
import Testing

@testable import RenderService

/// Every implementation of each protocol, for the conformance suites. The production
/// implementations join these lists when their servers are configured (see scripts/).
struct StoreUnderTest: Sendable, CustomTestStringConvertible {
    let name: String
    let make: @Sendable () async throws -> (store: any RenderStore, cleanUp: @Sendable () async -> Void)
    var testDescription: String { name }
}

/// A queue plus the store that records the renders it carries: the table queue shares the
/// store's database; a Redis queue gets an SQLite store of its own, so every queue is checked
/// against the same store rules (only the store writes a render's status).
struct QueueUnderTest: Sendable, CustomTestStringConvertible {
    let name: String
    let make: @Sendable () async throws -> (queue: any JobQueue, store: any RenderStore, cleanUp: @Sendable () async -> Void)
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
    static let stores: [StoreUnderTest] =
        [
            StoreUnderTest(name: "SQLite") {
                let (database, cleanUp) = try temporaryDatabase("sqlite-store")
                return (SQLiteRenderStore(database: database), cleanUp)
            }
        ]
        + (TestServers.hasPostgres
            ? [
                StoreUnderTest(name: "PostgreSQL") {
                    let (client, cleanUp) = try await TestServers.postgresDatabase()
                    return (PostgresRenderStore(client: client, logger: TestServers.logger), cleanUp)
                }
            ] : [])

    static let queues: [QueueUnderTest] =
        [
            QueueUnderTest(name: "table (SQLite)") {
                let (database, cleanUp) = try temporaryDatabase("table-queue")
                return (TableJobQueue(database: database), SQLiteRenderStore(database: database), cleanUp)
            }
        ]
        + (TestServers.hasRedis
            ? [
                QueueUnderTest(name: "Redis") {
                    let client = RedisClient(configuration: TestServers.redisConfiguration)
                    let (database, cleanUp) = try temporaryDatabase("redis-queue")
                    // A queue name of its own per test: tests share one Redis.
                    let queue = RedisJobQueue(client: client, name: "test-\(UUID().uuidString.prefix(8))")
                    return (
                        queue, SQLiteRenderStore(database: database),
                        {
                            await client.close()
                            await cleanUp()
                        }
                    )
                },
                QueueUnderTest(name: "Redis over TLS") {
                    let client = RedisClient(configuration: TestServers.redisTLSConfiguration)
                    let (database, cleanUp) = try temporaryDatabase("redis-tls-queue")
                    let queue = RedisJobQueue(client: client, name: "test-tls-\(UUID().uuidString.prefix(8))")
                    return (
                        queue, SQLiteRenderStore(database: database),
                        {
                            await client.close()
                            await cleanUp()
                        }
                    )
                },
            ] : [])

    /// An embedded database in a directory of its own, removed by the clean-up.
    private static func temporaryDatabase(_ name: String) throws -> (SQLiteDatabase, @Sendable () async -> Void) {
        let directory = temporaryDirectory(name)
        return (try SQLiteDatabase(path: "\(directory)/test.sqlite"), { try? FileManager.default.removeItem(atPath: directory) })
    }

    static let rateLimiters: [RateLimiterUnderTest] =
        [
            RateLimiterUnderTest(name: "in process") { (InProcessRateLimiter(), {}) }
        ]
        + (TestServers.hasRedis
            ? [
                RateLimiterUnderTest(name: "Redis") {
                    let client = RedisClient(configuration: TestServers.redisConfiguration)
                    // A key prefix of its own per test: tests share one Redis.
                    return (RedisRateLimiter(client: client, prefix: "test-rate-\(UUID().uuidString.prefix(8))"), { await client.close() })
                }
            ] : [])

    static let objectStores: [ObjectStoreUnderTest] =
        [
            ObjectStoreUnderTest(name: "local directory") {
                let directory = temporaryDirectory("local-objects")
                let store = try LocalObjectStore(
                    root: directory, signer: URLSigner(secret: Data("secret".utf8)), publicBaseURL: URL(string: "http://localhost:8089")!)
                return (store, { try? FileManager.default.removeItem(atPath: directory) })
            }
        ]
        + (TestServers.hasS3
            ? [
                ObjectStoreUnderTest(name: "S3 (SeaweedFS)") {
                    let store = S3ObjectStore(configuration: TestServers.s3Configuration(bucket: "test-\(UUID().uuidString.prefix(8).lowercased())"))
                    try await store.ensureBucket()
                    return (store, {})
                }
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
