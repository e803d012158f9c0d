import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import RenderService

/// Attacks from the security review, over a real socket with curl sending paths exactly as
/// written (`--path-as-is`): the router ignores empty segments and a trailing slash, so
/// access must be decided from the matched route, and refusals must not depend on spelling.
@Suite("Security: path variants", .serialized, .timeLimit(.minutes(10)))
struct SecurityTests {
    static let key = "security-key-0123456789abcdef-KEY"
    static let metricsToken = "security-metrics-token-0123456789"

    /// Every spelling of a protected path an attacker might try.
    static func variants(of path: String) -> [String] {
        let rest = String(path.dropFirst())  // "v1/renders/…"
        let segments = rest.split(separator: "/").map(String.init)
        var out = ["/\(rest)", "//\(rest)", "/./\(rest)", "/\(rest)/", "/\(rest)//", "///\(rest)", "/%2F\(rest)", "/\(rest)%2F"]
        if segments.count > 1 {
            let tail = segments.dropFirst().joined(separator: "/")
            out += ["/\(segments[0])//\(tail)", "/\(segments[0])%2F\(tail)", "/\(segments[0])/./\(tail)", "/\(segments[0])/%2e/\(tail)"]
        }
        return out
    }

    /// `curl --path-as-is`: status code of one request.
    static func status(_ method: String, _ base: String, _ path: String, headers: [String] = []) async throws -> Int {
        let extra = headers.map { "-H '\($0)'" }.joined(separator: " ")
        let output = try await Shell.run("curl -s --path-as-is -o /dev/null -w '%{http_code}' -X \(method) \(extra) '\(base)\(path)'")
        return Int(output) ?? -1
    }

    @Test(.tags(.reliability)) func everySpellingOfAProtectedRouteNeedsItsCredential() async throws {
        let service = try await EmbeddedTestService.make(["API_KEYS": Self.key, "METRICS_TOKEN": Self.metricsToken])
        defer { service.cleanUp() }
        let upload = try MultipartBody.render()
        let renderID = try await service.app.test(.router) { client in
            try await client.execute(
                uri: "/v1/renders", method: .post, headers: [.contentType: upload.contentType, .authorization: "Bearer \(Self.key)"],
                body: ByteBuffer(data: upload.finished())
            ).json["render_id"] as! String
        }
        let port = PortBox()
        let app = service.deployment.api(workers: nil, logger: service.logger) { port.set($0) }
        try await app.test(.live) { _ in
            let base = "http://127.0.0.1:\(try await port.wait())"
            let protected: [(String, String)] = [
                ("GET", "/v1/size-presets"), ("GET", "/v1/styles"), ("POST", "/v1/renders"), ("GET", "/v1/renders/\(renderID)"),
                ("GET", "/v1/renders/\(renderID)/download"), ("GET", "/v1/renders/\(renderID)/preview"), ("POST", "/v1/renders/\(renderID)/cancel"),
            ]
            var reached = 0, refused = 0
            for (method, path) in protected {
                for variant in Self.variants(of: path) {
                    #expect(try await Self.status(method, base, variant) == 401, "\(method) \(variant) without a key")
                    refused += 1
                    // With the key the same spelling reaches the route (or is unknown): the
                    // variant is a real path to the handler, not a typo the router refuses.
                    let authorized = try await Self.status(method, base, variant, headers: ["Authorization: Bearer \(Self.key)"])
                    if authorized != 404 { reached += 1 }
                }
            }
            #expect(reached >= protected.count * 3, "empty segments and trailing slashes reach the handlers (\(reached))")
            for variant in Self.variants(of: "/metrics") {
                #expect(try await Self.status("GET", base, variant) == 401, "GET \(variant) without the metrics token")
                refused += 1
            }
            #expect(try await Self.status("GET", base, "//metrics", headers: ["Authorization: Bearer \(Self.metricsToken)"]) == 200)
            // Open routes stay open in every spelling that reaches them.
            for path in ["/health", "//health/liveness", "/v1/openapi.json/"] {
                #expect(try await Self.status("GET", base, path) == 200, "\(path)")
            }
            try ReliabilityReport.record(
                .accessControl, part: 2,
                [
                    ReliabilityRow(
                        fault: "path variants (//v1/…, /v1//…, /./v1/…, %2F, trailing slashes) × every protected route and /metrics, embedded",
                        tries: refused, result: "401 for every spelling without the credential; with it the same spellings reach the route")
                ])
        }
    }

    @Test func workerMetricsPortNeedsTheTokenInEverySpelling() async throws {
        let service = try await EmbeddedTestService.make(["METRICS_TOKEN": Self.metricsToken])
        defer { service.cleanUp() }
        let port = PortBox()
        let app = service.deployment.workerProcess(workers: service.workers(), logger: service.logger) {
            port.set($0)
        }
        try await app.test(.live) { _ in
            let base = "http://127.0.0.1:\(try await port.wait())"
            // No API keys here, so a spelling that matches no route is a plain 404; every
            // spelling that reaches the metrics (200 with the token) is 401 without it.
            var reached = 0
            for variant in Self.variants(of: "/metrics") {
                let withToken = try await Self.status("GET", base, variant, headers: ["Authorization: Bearer \(Self.metricsToken)"])
                let without = try await Self.status("GET", base, variant)
                #expect(without == (withToken == 200 ? 401 : 404), "worker GET \(variant): \(without) without the token, \(withToken) with it")
                if withToken == 200 { reached += 1 }
            }
            #expect(reached >= 4)
            #expect(try await Self.status("GET", base, "//health/liveness") == 200)
        }
    }

    @Test func productionAPIIsClosedUnlessOpenedOnPurpose() throws {
        let production = [
            "ASO_MODE": "production", "DB_PASSWORD": "pw", "MINIO_ENDPOINT": "localhost:9000", "MINIO_ACCESS_KEY": "a", "MINIO_SECRET_KEY": "s",
        ]
        let closed = try ServiceConfiguration(environment: production)
        #expect(throws: ConfigurationError.self) { try closed.checkProductionAPI() }
        try ServiceConfiguration(environment: production.merging(["ALLOW_ANONYMOUS": "true"]) { $1 }).checkProductionAPI()
        // Keys need the secret that keys their owner ids, the same on every replica.
        let keysOnly = try ServiceConfiguration(environment: production.merging(["API_KEYS": Self.key]) { $1 })
        #expect(throws: ConfigurationError.self) { try keysOnly.checkProductionAPI() }
        try ServiceConfiguration(environment: production.merging(["API_KEYS": Self.key, "URL_SIGNING_SECRET": String(repeating: "s", count: 32)]) { $1 })
            .checkProductionAPI()
        // Embedded mode stays open for the walkthrough, on loopback unless asked.
        let embedded = try ServiceConfiguration(environment: [:])
        try embedded.checkProductionAPI()
        #expect(embedded.host == "127.0.0.1" && closed.host == "0.0.0.0")
        #expect(try ServiceConfiguration(environment: ["API_HOST": "0.0.0.0"]).host == "0.0.0.0")
        #expect(throws: ConfigurationError.self) { try ServiceConfiguration(environment: ["URL_SIGNING_SECRET": "short"]) }
    }

    @Test func secretsCanComeFromFiles() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/redis-password"
        try "from-a-file\n".write(toFile: path, atomically: true, encoding: .utf8)
        // Embedded mode, so that only the secret's source is under test (any REDIS_* selects production).
        #expect(try ServiceConfiguration(environment: ["ASO_MODE": "embedded", "REDIS_PASSWORD_FILE": path]).redis.password == "from-a-file")
        #expect(throws: ConfigurationError.self) {
            try ServiceConfiguration(environment: ["ASO_MODE": "embedded", "REDIS_PASSWORD_FILE": path, "REDIS_PASSWORD": "x"])
        }
        #expect(throws: ConfigurationError.self) {
            try ServiceConfiguration(environment: ["ASO_MODE": "embedded", "DB_PASSWORD_FILE": "\(directory)/missing"])
        }
    }
}
