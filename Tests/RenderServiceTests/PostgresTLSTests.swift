import Foundation
import PostgresNIO
import Testing

@testable import RenderService

/// `DB_SSLMODE` against the test PostgreSQL, which serves TLS with a self-signed certificate.
@Suite("PostgreSQL TLS", .enabled(if: TestServers.hasPostgres))
struct PostgresTLSTests {
    static func settings(_ mode: String, rootCert: String? = nil) throws -> DatabaseSettings {
        let environment = TestServers.environment
        var variables = [
            "ASO_MODE": "embedded", "DB_HOST": environment["TEST_PG_HOST"] ?? "127.0.0.1", "DB_PORT": environment["TEST_PG_PORT"] ?? "5432",
            "DB_USER": environment["TEST_PG_USER"] ?? "aso", "DB_PASSWORD": environment["TEST_PG_PASSWORD"] ?? "",
            "DB_NAME": environment["TEST_PG_DATABASE"] ?? "aso_test", "DB_SSLMODE": mode,
        ]
        variables["DB_SSLROOTCERT"] = rootCert
        return try ServiceConfiguration(environment: variables).database
    }

    /// Each mode connects as it says: disable in clear, prefer, require and verify-full (with the
    /// server's certificate as root) encrypted, as PostgreSQL itself reports (`pg_stat_ssl`).
    @Test(arguments: [("disable", false), ("prefer", true), ("require", true), ("verify-full", true)])
    func sslModesConnectAsTheySay(_ mode: String, encrypted: Bool) async throws {
        let settings = try Self.settings(mode, rootCert: TestServers.environment["TEST_PG_SSLROOTCERT"])
        #expect(try await settings.checkConnection(logger: TestServers.logger) == encrypted)
        // The pool gets the same TLS: a query through it runs on an encrypted session.
        let client = PostgresClient(configuration: settings.clientConfiguration(password: settings.password ?? ""), backgroundLogger: TestServers.logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            var ssl: Bool?
            for try await value in try await client.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", logger: TestServers.logger).decode(
                Bool.self)
            {
                ssl = value
            }
            #expect(ssl == encrypted)
            group.cancelAll()
        }
    }

    /// verify-full with a root that did not sign the server's certificate is refused, saying it
    /// is TLS and with which settings.
    @Test func verifyFullWithTheWrongCAFailsClearly() async throws {
        let wrong = try #require(TestServers.environment["TEST_PG_WRONG_SSLROOTCERT"])
        let settings = try Self.settings("verify-full", rootCert: wrong)
        await #expect {
            try await settings.checkConnection(logger: TestServers.logger)
        } throws: { error in
            let text = "\(error)"
            return text.contains("TLS failed (DB_SSLMODE=verify-full, DB_SSLROOTCERT=\(wrong))") && text.contains("Cannot connect to PostgreSQL")
        }
    }

    @Test func badSSLSettingsAreRefusedByName() {
        #expect(throws: ConfigurationError.self) { try Self.settings("verify-ca") }
        #expect(throws: ConfigurationError.self) { try Self.settings("require", rootCert: "/nonexistent/root.crt") }
        #expect((try? Self.settings("prefer"))?.sslMode == .prefer)
    }
}
