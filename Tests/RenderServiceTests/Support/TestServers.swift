import Foundation
import Logging
import PostgresNIO

@testable import RenderService

/// The real PostgreSQL, Redis and S3 servers `scripts/test-servers.sh` starts (their addresses
/// come from the environment `make test` sets). Production implementations join the
/// conformance suites only when these are present.
enum TestServers {
    static let environment = ProcessInfo.processInfo.environment
    static let logger = Logger(label: "tests")
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static var migrations: String { root.appendingPathComponent("db/migrations").path }

    /// `make test` sets `ASO_REQUIRE_SERVERS=1`: the production cases then always run, and
    /// fail rather than vanish when a server is missing. Without it (a plain `swift test` on a
    /// developer's machine) they join only when their server is configured.
    static var required: Bool { environment["ASO_REQUIRE_SERVERS"] == "1" }
    static var hasPostgres: Bool { environment["TEST_PG_HOST"] != nil || required }
    static var hasRedis: Bool { environment["TEST_REDIS_HOST"] != nil || required }
    static var hasS3: Bool { environment["TEST_S3_ENDPOINT"] != nil || required }

    static func postgresConfiguration(database: String) -> PostgresClient.Configuration {
        PostgresClient.Configuration(
            host: environment["TEST_PG_HOST"] ?? "127.0.0.1", port: Int(environment["TEST_PG_PORT"] ?? "") ?? 5432,
            username: environment["TEST_PG_USER"] ?? "aso", password: environment["TEST_PG_PASSWORD"], database: database, tls: .disable)
    }

    /// A fresh database for one test, migrated unless the test migrates it, dropped by `cleanUp`.
    static func postgresDatabase(migrated: Bool = true) async throws -> (client: PostgresClient, cleanUp: @Sendable () async -> Void) {
        let name = "t_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased())"
        let admin = PostgresClient(configuration: postgresConfiguration(database: environment["TEST_PG_DATABASE"] ?? "aso_test"), backgroundLogger: logger)
        let adminTask = Task { await admin.run() }
        try await admin.query("CREATE DATABASE \(unescaped: name)", logger: logger)
        let client = PostgresClient(configuration: postgresConfiguration(database: name), backgroundLogger: logger)
        let task = Task { await client.run() }
        if migrated { try await PostgresMigrator(client: client, directory: migrations, logger: logger).migrate() }
        return (
            client,
            {
                task.cancel()
                try? await Task.sleep(for: .milliseconds(50))
                _ = try? await admin.query("DROP DATABASE IF EXISTS \(unescaped: name) WITH (FORCE)", logger: logger)
                adminTask.cancel()
            }
        )
    }

    static var redisConfiguration: RedisConfiguration {
        RedisConfiguration(
            host: environment["TEST_REDIS_HOST"] ?? "127.0.0.1", port: Int(environment["TEST_REDIS_PORT"] ?? "") ?? 6379,
            database: 1, password: environment["TEST_REDIS_PASSWORD"])
    }

    /// The test Redis's TLS port, with the test CA and the client certificate it requires
    /// (its certificate names localhost, not the address).
    static var redisTLSConfiguration: RedisConfiguration {
        var configuration = redisConfiguration
        configuration.port = Int(environment["TEST_REDIS_TLS_PORT"] ?? "") ?? 6380
        configuration.tls = RedisTLS(
            caCertificate: environment["TEST_REDIS_TLS_CA_CERT"], certificate: environment["TEST_REDIS_TLS_CERT"],
            privateKey: environment["TEST_REDIS_TLS_KEY"], serverName: "localhost")
        return configuration
    }

    /// The keys the test S3 server (SeaweedFS, authentication on) knows.
    static var s3AccessKey: String { environment["TEST_S3_ACCESS_KEY"] ?? "aso-test-access" }
    static var s3SecretKey: String { environment["TEST_S3_SECRET_KEY"] ?? "s3-test-secret-8b2e71c4" }

    static func s3Configuration(bucket: String) -> S3Configuration {
        var configuration = S3Configuration(
            endpoint: URL(string: environment["TEST_S3_ENDPOINT"] ?? "http://127.0.0.1:55900")!, bucket: bucket, region: "us-east-1",
            accessKey: s3AccessKey, secretKey: s3SecretKey)
        // Small parts so multipart uploads are exercised with small files.
        configuration.multipartThreshold = 6 * 1024 * 1024
        configuration.partSize = 5 * 1024 * 1024
        return configuration
    }
}
