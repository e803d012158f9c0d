import Foundation
import Testing

@testable import RenderService

#if canImport(Glibc)
import Glibc
#endif

/// `REDIS_TLS` against the test Redis's TLS port: a certificate from a test CA for localhost
/// and 127.0.0.1, client certificates required.
@Suite("Redis TLS", .enabled(if: TestServers.hasRedis))
struct RedisTLSTests {
    static var environment: [String: String] { TestServers.environment }

    /// The service's own reading of the variables, as a deployment sets them.
    static func configuration(_ changes: [String: String?] = [:]) throws -> RedisConfiguration {
        var variables = [
            "ASO_MODE": "embedded", "REDIS_HOST": "localhost", "REDIS_PORT": environment["TEST_REDIS_TLS_PORT"] ?? "6380",
            "REDIS_PASSWORD": environment["TEST_REDIS_PASSWORD"] ?? "", "REDIS_DB": "1", "REDIS_TLS": "true",
            "REDIS_TLS_CA_CERT": environment["TEST_REDIS_TLS_CA_CERT"] ?? "", "REDIS_TLS_CERT": environment["TEST_REDIS_TLS_CERT"] ?? "",
            "REDIS_TLS_KEY": environment["TEST_REDIS_TLS_KEY"] ?? "",
        ]
        for (name, value) in changes { variables[name] = value }
        return try ServiceConfiguration(environment: variables).redis
    }

    /// Connects and pings; returns the error text, or nil when it worked.
    static func failure(_ configuration: RedisConfiguration) async -> String? {
        let client = RedisClient(configuration: configuration)
        defer { Task { await client.close() } }
        do {
            try await client.checked(["PING"])
            return nil
        } catch {
            return "\(error)"
        }
    }

    /// An ACL user over TLS runs the queue (the conformance suite runs in full over TLS too),
    /// allowed only the queue's keys: Redis checks ACL key patterns on the commands a script
    /// runs, so a script touching any other key would be refused (NOPERM).
    @Test func anACLUserRunsTheQueueOverTLS() async throws {
        let admin = RedisClient(configuration: TestServers.redisConfiguration)
        let user = "aso-tls-\(UUID().uuidString.prefix(8).lowercased())"
        let name = "tls-\(UUID().uuidString.prefix(8))"
        try await admin.checked(["ACL", "SETUSER", user, "on", ">tls-acl-secret-5e17", "~\(name)", "~{\(name)}:*", "+@all"])
        defer {
            Task {
                _ = try? await admin.checked(["ACL", "DELUSER", user])
                await admin.close()
            }
        }
        let configuration = try Self.configuration(["REDIS_USERNAME": user, "REDIS_PASSWORD": "tls-acl-secret-5e17"])
        #expect(configuration.tls?.certificate == Self.environment["TEST_REDIS_TLS_CERT"])
        let client = RedisClient(configuration: configuration)
        defer { Task { await client.close() } }
        #expect(try await client.checked(["ACL", "WHOAMI"]).string == user)
        let queue = RedisJobQueue(client: client, name: name)
        let id = UUID()
        try await queue.enqueue(id)
        let lease = try #require(try await queue.claim(owner: "w1", lease: .seconds(30)))
        #expect(lease.renderID == id)
        #expect(try await queue.extend(lease, by: .seconds(30)))
        try await queue.retry(lease, after: .zero)
        let again = try #require(try await queue.claim(owner: "w2", lease: .seconds(30)))
        #expect(try await queue.reapExpired().isEmpty)
        #expect(try await queue.depth() == 0)
        #expect(try await queue.contains(id))
        try await queue.complete(again)
        try await queue.ping()
        // The user really is held to those keys.
        let refused = try await client.send(["SET", "elsewhere", "1"])
        #expect(refused == .error("NOPERM this user has no permissions to access one of the keys used as arguments"), "\(refused)")
        // Our connection is the TLS port's: Redis lists it with that local address.
        let clients = (try await admin.checked(["CLIENT", "LIST"]).string ?? "").split(separator: "\n").filter { $0.contains(" user=\(user) ") }
        #expect(!clients.isEmpty && clients.allSatisfy { $0.contains("laddr=127.0.0.1:\(configuration.port) ") }, "\(clients)")
    }

    /// The certificate names localhost: that name passes, with or without
    /// REDIS_TLS_SERVER_NAME; another name, or an address the certificate does not carry, fails.
    @Test func theServerNameIsVerified() async throws {
        #expect(await Self.failure(try Self.configuration()) == nil)
        #expect(await Self.failure(try Self.configuration(["REDIS_HOST": "127.0.0.1", "REDIS_TLS_SERVER_NAME": "localhost"])) == nil)
        let wrongName = try #require(await Self.failure(try Self.configuration(["REDIS_TLS_SERVER_NAME": "redis.example.com"])))
        #expect(wrongName.contains("TLS with Redis failed (REDIS_TLS=true") && wrongName.contains("REDIS_TLS_SERVER_NAME=redis.example.com"), "\(wrongName)")
        let address = try #require(await Self.failure(try Self.configuration(["REDIS_HOST": "127.0.0.1"])))
        #expect(
            address.contains("TLS with Redis failed (REDIS_TLS=true") && address.contains("does not carry 127.0.0.1: set REDIS_TLS_SERVER_NAME"), "\(address)")
    }

    /// A CA that did not sign the server's certificate, or the system's roots, are refused,
    /// naming TLS and the settings.
    @Test func aWrongCAFailsClearly() async throws {
        let wrong = try #require(Self.environment["TEST_REDIS_WRONG_CA_CERT"])
        let failure = try #require(await Self.failure(try Self.configuration(["REDIS_TLS_CA_CERT": wrong])))
        #expect(failure.contains("cannot connect to Redis at localhost:"), "\(failure)")
        #expect(failure.contains("TLS with Redis failed (REDIS_TLS=true, REDIS_TLS_CA_CERT=\(wrong)"), "\(failure)")
        #expect(failure.contains("CERTIFICATE_VERIFY_FAILED"), "\(failure)")
        let systemRoots = try #require(await Self.failure(try Self.configuration(["REDIS_TLS_CA_CERT": nil])))
        #expect(systemRoots.contains("CERTIFICATE_VERIFY_FAILED"), "\(systemRoots)")
    }

    /// A CA file that is not PEM is reported by name when connecting (it is only checked for
    /// being readable at start).
    @Test func aCAFileThatIsNotACertificateFailsClearly() async throws {
        let path = NSTemporaryDirectory() + "not-a-ca-\(UUID().uuidString.prefix(8)).crt"
        try Data("not a certificate\n".utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let failure = try #require(await Self.failure(try Self.configuration(["REDIS_TLS_CA_CERT": path])))
        #expect(failure.contains("cannot load the TLS files (REDIS_TLS=true, REDIS_TLS_CA_CERT=\(path)"), "\(failure)")
    }

    @Test func aMissingClientCertificateFailsClearly() async throws {
        let failure = try #require(await Self.failure(try Self.configuration(["REDIS_TLS_CERT": nil, "REDIS_TLS_KEY": nil])))
        #expect(failure.contains("TLS with Redis failed") && failure.contains("set REDIS_TLS_CERT and REDIS_TLS_KEY"), "\(failure)")
        #expect(!failure.contains("timed out"), "answered at once, not at the command timeout: \(failure)")
    }

    /// Plain TCP to the TLS port, and TLS to the plain port, each say what is wrong.
    @Test func theWrongProtocolForAPortFailsClearly() async throws {
        let plain = try #require(
            await Self.failure(try Self.configuration(["REDIS_TLS": nil, "REDIS_TLS_CA_CERT": nil, "REDIS_TLS_CERT": nil, "REDIS_TLS_KEY": nil])))
        #expect(plain.contains("if this port serves TLS, set REDIS_TLS=true"), "\(plain)")
        let tls = try #require(await Self.failure(try Self.configuration(["REDIS_PORT": Self.environment["TEST_REDIS_PORT"] ?? "6379"])))
        #expect(tls.contains("TLS with Redis failed") && tls.contains("is this port Redis's tls-port?"), "\(tls)")
        // Nothing listening: refused as any connection is.
        let listener = try ServerSocket()
        let unused = listener.port
        listener.close()
        let refused = try #require(await Self.failure(try Self.configuration(["REDIS_PORT": String(unused)])))
        #expect(refused.contains("cannot connect to Redis at localhost:\(unused)"), "\(refused)")
    }

    @Test func tlsSettingsAreCheckedAtStart() throws {
        #expect(throws: ConfigurationError.self) { try Self.configuration(["REDIS_TLS": "maybe"]) }
        #expect(throws: ConfigurationError.self) { try Self.configuration(["REDIS_TLS": "false"]) }  // files set, TLS off
        #expect(throws: ConfigurationError.self) { try Self.configuration(["REDIS_TLS_KEY": nil]) }
        #expect(throws: ConfigurationError.self) { try Self.configuration(["REDIS_TLS_CA_CERT": "/nonexistent/ca.crt"]) }
        #expect(try Self.configuration(["REDIS_TLS": nil, "REDIS_TLS_CA_CERT": nil, "REDIS_TLS_CERT": nil, "REDIS_TLS_KEY": nil]).tls == nil)
        // The description (logged by the service lifecycle) names TLS, never the password.
        let described = "\(try Self.configuration())"
        #expect(described.contains("tls: true") && !described.contains(Self.environment["TEST_REDIS_PASSWORD"] ?? "password"))
    }

    /// The worker's `--url`: `rediss://` turns TLS on; `redis://` never silently turns it off.
    @Test func rediSSURLsMeanTLS() throws {
        func redis(_ url: String, _ environment: [String: String] = [:]) throws -> RedisConfiguration {
            try ServiceConfiguration(environment: environment.merging(["ASO_MODE": "embedded"]) { $1 }, overrides: SettingOverride.redis(RedisURL(url))).redis
        }
        let tls = try redis("rediss://cache.internal:6380/2", ["REDIS_HOST": "elsewhere", "REDIS_DB": "5"])
        #expect(tls.host == "cache.internal" && tls.port == 6380 && tls.database == 2 && tls.tls != nil)
        let plain = try redis("redis://localhost")
        #expect(plain.host == "localhost" && plain.port == 6379 && plain.database == 0 && plain.tls == nil)
        #expect(throws: ConfigurationError.self) { try redis("redis://localhost", ["REDIS_TLS": "true"]) }
        #expect(throws: ConfigurationError.self) { try RedisURL("rediss://:secret@localhost") }
        #expect(throws: ConfigurationError.self) { try RedisURL("http://localhost") }
        #expect(throws: ConfigurationError.self) { try RedisURL("redis://localhost/16") }
    }
}

/// A port that was free a moment ago (bound to 0, then closed).
struct ServerSocket {
    let descriptor: Int32
    let port: Int

    init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0 }
        }
        guard bound else { throw RedisError("cannot bind a free port") }
        self.descriptor = descriptor
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    func close() { _ = Glibc.close(descriptor) }
}
