import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import RenderService

/// Rate limits through the HTTP API (embedded mode, in-process limiter): the spec's headers on
/// every /v1 answer, its 429, buckets per API key or client address, the upload limit.
@Suite("HTTP API: rate limits")
struct RateLimitAPITests {
    static let alice = "alice-key-0123456789abcdef-AAAA"
    static let bob = "bob-key-0123456789abcdef-BBBB"

    /// The exact body the spec documents.
    static let exceededBody = #"{"error":"Rate limit exceeded","status":429}"#

    static func expectHeaders(_ response: TestResponse, limit: Int, remaining: Int, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(response.headers[.rateLimitLimit] == String(limit), sourceLocation: sourceLocation)
        #expect(response.headers[.rateLimitRemaining] == String(remaining), "status \(response.status)", sourceLocation: sourceLocation)
        let reset = Int(response.headers[.rateLimitReset] ?? "") ?? 0
        let now = Int(Date().timeIntervalSince1970)
        #expect(reset >= now && reset <= now + 3601, "X-RateLimit-Reset is a Unix time within the hour: \(reset)", sourceLocation: sourceLocation)
    }

    @Test func offByDefaultSoResponsesCarryNoRateLimitHeaders() async throws {
        let service = try await EmbeddedTestService.make()
        defer { service.cleanUp() }
        #expect(!service.components.configuration.rateLimits.isEnabled)
        try await service.app.test(.router) { client in
            for _ in 0..<3 {
                let response = try await client.get("/v1/size-presets")
                #expect(response.status == .ok)
                #expect(response.headers[.rateLimitLimit] == nil && response.headers[.rateLimitRemaining] == nil && response.headers[.rateLimitReset] == nil)
            }
        }
    }

    @Test func everyV1AnswerCarriesTheHeadersAndOtherRoutesNone() async throws {
        // No separate upload limit here, so the POST below reports the general one.
        let service = try await EmbeddedTestService.make(["RATE_LIMIT_PER_HOUR": "100", "RATE_LIMIT_UPLOADS_PER_HOUR": "0"])
        defer { service.cleanUp() }
        try await service.app.test(.router) { client in
            var remaining = 99
            func next(_ response: TestResponse, _ status: HTTPResponse.Status, sourceLocation: SourceLocation = #_sourceLocation) {
                #expect(response.status == status, sourceLocation: sourceLocation)
                Self.expectHeaders(response, limit: 100, remaining: remaining, sourceLocation: sourceLocation)
                remaining -= 1
            }
            next(try await client.get("/v1/size-presets"), .ok)
            next(try await client.get("/v1/styles"), .ok)
            next(try await client.get("/v1/openapi.json"), .ok)
            next(try await client.get("/v1/renders/\(UUID().uuidString)"), .notFound)
            next(try await client.get("/v1/renders/not-a-uuid"), .badRequest)
            next(try await client.get("/v1/no-such-route"), .notFound)
            next(try await client.get("//v1//nowhere"), .notFound)
            next(try await client.execute(uri: "/v1/size-presets", method: .delete), .methodNotAllowed)
            next(
                try await client.execute(uri: "/v1/renders", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: "{}")),
                .badRequest)
            // Probes, metrics and the studio are not the API: not limited, no headers.
            for path in ["/health", "/health/liveness", "/metrics", "/"] {
                let response = try await client.get(path)
                #expect(response.status == .ok && response.headers[.rateLimitLimit] == nil, "\(path)")
            }
            next(try await client.get("/v1/styles"), .ok)
        }
    }

    @Test func overTheLimitTheAnswerIsTheSpecs429WithRetryAfter() async throws {
        let service = try await EmbeddedTestService.make(["RATE_LIMIT_PER_HOUR": "3"])
        defer { service.cleanUp() }
        try await service.app.test(.router) { client in
            for remaining in [2, 1, 0] {
                let response = try await client.get("/v1/size-presets")
                #expect(response.status == .ok)
                Self.expectHeaders(response, limit: 3, remaining: remaining)
            }
            for path in ["/v1/size-presets", "/v1/renders/\(UUID().uuidString)", "/v1/no-such-route"] {
                let refused = try await client.get(path)
                #expect(refused.status == .tooManyRequests)
                #expect(String(buffer: refused.body) == Self.exceededBody, "exactly the spec's body")
                #expect(refused.headers[.contentType] == "application/json")
                // One request every 1200 s: the next is due in 20 minutes.
                let retryAfter = try #require(Int(refused.headers[.retryAfter] ?? ""), "Retry-After is whole seconds")
                #expect(retryAfter >= 1190 && retryAfter <= 1200, "\(retryAfter)")
                Self.expectHeaders(refused, limit: 3, remaining: 0)
            }
            // Refused requests are counted, not charged.
            let metrics = String(buffer: try await client.get("/metrics").body)
            #expect(metrics.contains(#"rate_limited_requests_total{limit="requests"} 3"#), "\(metrics)")
            #expect(try await client.get("/health").status == .ok, "the service itself is fine")
        }
    }

    @Test func uploadsHaveTheirOwnLowerLimitBesideTheGeneralOne() async throws {
        let service = try await EmbeddedTestService.make(["RATE_LIMIT_PER_HOUR": "50", "RATE_LIMIT_UPLOADS_PER_HOUR": "2"])
        defer { service.cleanUp() }
        try await service.app.test(.router) { client in
            let photo = try MultipartBody.render()
            let created = try await client.upload(photo)
            #expect(created.status == .created)
            Self.expectHeaders(created, limit: 2, remaining: 1)
            // POST /v1/assets draws on the same upload bucket; a refused upload is still an upload.
            var asset = MultipartBody()
            asset.file(contents: Data("not an image".utf8))
            let refusedAsset = try await client.execute(
                uri: "/v1/assets", method: .post, headers: [.contentType: asset.contentType], body: ByteBuffer(data: asset.finished()))
            #expect(refusedAsset.status == .badRequest)
            Self.expectHeaders(refusedAsset, limit: 2, remaining: 0)
            let third = try await client.upload(photo)
            #expect(third.status == .tooManyRequests && String(buffer: third.body) == Self.exceededBody)
            #expect((Int(third.headers[.retryAfter] ?? "") ?? 0) >= 1700, "one upload every 1800 s")
            Self.expectHeaders(third, limit: 2, remaining: 0)
            #expect(try await service.components.store.count(status: .queued) == 1, "the refused upload was not stored")
            // Other requests go on, against the general limit, which the refused upload did not touch.
            let list = try await client.get("/v1/size-presets")
            #expect(list.status == .ok)
            Self.expectHeaders(list, limit: 50, remaining: 47)
            let metrics = String(buffer: try await client.get("/metrics").body)
            #expect(metrics.contains(#"rate_limited_requests_total{limit="uploads"} 1"#), "\(metrics)")
        }
    }

    @Test func eachAPIKeyHasItsOwnLimitAndRequestsWithoutOneCountByAddress() async throws {
        let service = try await EmbeddedTestService.make(["RATE_LIMIT_PER_HOUR": "2", "API_KEYS": "\(Self.alice),\(Self.bob)"])
        defer { service.cleanUp() }
        try await service.app.test(.router) { client in
            let alice: HTTPFields = [.authorization: "Bearer \(Self.alice)"], bob: HTTPFields = [.authorization: "Bearer \(Self.bob)"]
            for _ in 0..<2 { #expect(try await client.get("/v1/styles", headers: alice).status == .ok) }
            #expect(try await client.get("/v1/styles", headers: alice).status == .tooManyRequests)
            let bobs = try await client.get("/v1/styles", headers: bob)
            #expect(bobs.status == .ok, "bob is not limited by alice's use")
            Self.expectHeaders(bobs, limit: 2, remaining: 1)
            // No key or a wrong one: the 401 counts against the address, not against a key.
            let anonymous = try await client.get("/v1/styles")
            #expect(anonymous.status == .unauthorized)
            Self.expectHeaders(anonymous, limit: 2, remaining: 1)
            #expect(try await client.get("/v1/styles", headers: [.authorization: "Bearer guessed-key-000000000000000"]).status == .unauthorized)
            let guessing = try await client.get("/v1/styles", headers: [.authorization: "Bearer guessed-key-000000000000001"])
            #expect(guessing.status == .tooManyRequests && String(buffer: guessing.body) == Self.exceededBody, "key guessing is limited too")
            #expect(try await client.get("/v1/styles", headers: bob).status == .ok)
        }
    }

    /// Over a real socket, so the server sees a peer address (127.0.0.1).
    static func live(_ overrides: [String: String], _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let service = try await EmbeddedTestService.make(overrides)
        defer { service.cleanUp() }
        try await service.app.test(.live) { client in try await body(client) }
    }

    @Test func xForwardedForIsIgnoredUnlessThePeerIsATrustedProxy() async throws {
        try await Self.live(["RATE_LIMIT_PER_HOUR": "2"]) { client in
            // Not trusted: every claimed address is the peer's bucket.
            for (index, claimed) in ["203.0.113.1", "203.0.113.2"].enumerated() {
                let response = try await client.execute(uri: "/v1/styles", method: .get, headers: [.xForwardedFor: claimed])
                #expect(response.status == .ok)
                Self.expectHeaders(response, limit: 2, remaining: 1 - index)
            }
            #expect(try await client.execute(uri: "/v1/styles", method: .get, headers: [.xForwardedFor: "203.0.113.3"]).status == .tooManyRequests)
        }
    }

    @Test func behindATrustedProxyTheForwardedClientIsCounted() async throws {
        try await Self.live(["RATE_LIMIT_PER_HOUR": "2", "TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8"]) { client in
            func get(_ forwarded: String?) async throws -> TestResponse {
                try await client.execute(uri: "/v1/styles", method: .get, headers: forwarded.map { [.xForwardedFor: $0] } ?? [:])
            }
            // 198.51.100.7 through two trusted proxies; what it wrote itself (left) is not believed.
            #expect(try await get("198.51.100.7, 10.1.2.3").status == .ok)
            #expect(try await get("192.0.2.99, 198.51.100.7, 10.9.9.9").status == .ok)
            let third = try await get("192.0.2.100, 198.51.100.7")
            #expect(third.status == .tooManyRequests, "a spoofed left-hand address does not open a new bucket")
            // Another client behind the same proxy has its own bucket.
            let other = try await get("198.51.100.8")
            #expect(other.status == .ok)
            Self.expectHeaders(other, limit: 2, remaining: 1)
            // The proxy's own requests (no header) count as the proxy.
            let own = try await get(nil)
            Self.expectHeaders(own, limit: 2, remaining: 1)
            // IPv6 clients count by their /64.
            #expect(try await get("2001:db8:1:2::1").status == .ok)
            #expect(try await get("[2001:db8:1:2:ffff::9]:4711").status == .ok)
            #expect(try await get("2001:db8:1:2::abcd").status == .tooManyRequests)
            #expect(try await get("2001:db8:1:3::1").status == .ok)
        }
    }
}
