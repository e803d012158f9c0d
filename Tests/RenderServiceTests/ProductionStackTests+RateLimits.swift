import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing

@testable import RenderService

/// Rate limits across API replicas: two `aso-render serve` processes on one Redis charge the
/// same buckets, and each limits on its own while Redis is down. In the serialized suite,
/// because the second test stops and starts the shared Redis.
extension ProductionStackTests {
    static let rateKeys = (alice: "alice-rate-key-0123456789abcdef", bob: "bob-rate-key-0123456789abcdef00", carol: "carol-rate-key-0123456789abcdef0")
    static var rateLimitedDeployment: [String: String] {
        [
            "RATE_LIMIT_PER_HOUR": "6", "RATE_LIMIT_UPLOADS_PER_HOUR": "2", "ALLOW_ANONYMOUS": "false",
            "API_KEYS": "\(rateKeys.alice),\(rateKeys.bob),\(rateKeys.carol)",
            // The same on every replica: it keys the owner ids, so a key has one bucket everywhere.
            "URL_SIGNING_SECRET": "rate-limit-test-secret-0123456789abcdef",
        ]
    }

    struct Answer {
        let status: Int
        let headers: HTTPHeaders
        let body: String
        var limit: Int? { headers.first(name: "X-RateLimit-Limit").flatMap(Int.init) }
        var remaining: Int? { headers.first(name: "X-RateLimit-Remaining").flatMap(Int.init) }
        var reset: Int? { headers.first(name: "X-RateLimit-Reset").flatMap(Int.init) }
        var retryAfter: Int? { headers.first(name: "Retry-After").flatMap(Int.init) }
    }

    static func call(_ url: String, key: String, upload: MultipartBody? = nil) async throws -> Answer {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Authorization", value: "Bearer \(key)")
        if let upload {
            request.method = .POST
            request.headers.add(name: "Content-Type", value: upload.contentType)
            request.body = .bytes(ByteBuffer(data: upload.finished()))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 20)
        return Answer(status: Int(response.status.code), headers: response.headers, body: String(buffer: body))
    }

    @Test func twoAPIProcessesShareOneRateLimitThroughRedis() async throws {
        try await Deployment.with(overrides: Self.rateLimitedDeployment) { deployment in
            let apis = [try await deployment.api(), try await deployment.api()]
            let photo = try MultipartBody.render()
            // Uploads, alternately on each replica: the upload limit (2 an hour) is one for both.
            for (index, api) in apis.enumerated() {
                let created = try await Self.call("\(api.baseURL)/v1/renders", key: Self.rateKeys.alice, upload: photo)
                #expect(created.status == 201, "\(created.body)")
                #expect(created.limit == 2 && created.remaining == 1 - index, "\(created.headers)")
            }
            let third = try await Self.call("\(apis[0].baseURL)/v1/renders", key: Self.rateKeys.alice, upload: photo)
            #expect(third.status == 429 && third.body == #"{"error":"Rate limit exceeded","status":429}"#, "\(third.status) \(third.body)")
            #expect((third.retryAfter ?? 0) >= 1700 && third.limit == 2 && third.remaining == 0, "\(third.headers)")

            // The general limit (6 an hour), which the two uploads drew on and the refused one did not.
            var remaining: [Int] = []
            for index in 0..<4 {
                let answer = try await Self.call("\(apis[index % 2].baseURL)/v1/size-presets", key: Self.rateKeys.alice)
                #expect(answer.status == 200 && answer.limit == 6)
                remaining.append(answer.remaining ?? -1)
            }
            #expect(remaining == [3, 2, 1, 0], "one count across both replicas: \(remaining)")
            let now = Int(Date().timeIntervalSince1970)
            for api in apis {
                let refused = try await Self.call("\(api.baseURL)/v1/size-presets", key: Self.rateKeys.alice)
                #expect(refused.status == 429 && refused.body == #"{"error":"Rate limit exceeded","status":429}"#)
                #expect((refused.retryAfter ?? 0) >= 590 && (refused.retryAfter ?? 0) <= 600, "one request every 600 s: \(refused.headers)")
                #expect(refused.remaining == 0 && (refused.reset ?? 0) > now + 3500 && (refused.reset ?? 0) <= now + 3601, "\(refused.headers)")
            }
            // Another key is untouched by alice's use, on either replica.
            let bobs = try await Self.call("\(apis[1].baseURL)/v1/size-presets", key: Self.rateKeys.bob)
            #expect(bobs.status == 200 && bobs.remaining == 5)

            // The buckets are in Redis, keyed by the owner id (never the key itself).
            let redis = RedisClient(configuration: TestServers.redisConfiguration)
            try await redis.command("SELECT", deployment.environment["REDIS_DB"]!)
            let keys = (try await redis.checked(["KEYS", "rate-limit:*"]).array ?? []).compactMap(\.string)
            await redis.close()
            #expect(keys.count == 3 && keys.allSatisfy { $0.hasPrefix("rate-limit:{key_") }, "\(keys)")
            #expect(!keys.joined().contains(Self.rateKeys.alice))
            var refusals = 0
            for api in apis {
                let text = String(
                    buffer: try await HTTPClient.shared.execute(HTTPClientRequest(url: "\(api.baseURL)/metrics"), timeout: .seconds(10)).body.collect(
                        upTo: 1 << 20))
                for line in text.split(separator: "\n") where line.hasPrefix("rate_limited_requests_total{") {
                    refusals += Int(Double(line.split(separator: " ").last ?? "") ?? 0)
                }
                #expect(!text.contains("rate_limiter_fallbacks_total"), "Redis answered every time")
            }
            #expect(refusals == 3, "every 429 counted by the replica that sent it")
        }
    }

    @Test func whenRedisStopsEachAPIProcessLimitsOnItsOwnUntilItIsBack() async throws {
        try await Deployment.with(overrides: Self.rateLimitedDeployment) { deployment in
            let apis = [try await deployment.api(), try await deployment.api()]
            #expect(try await Self.call("\(apis[0].baseURL)/v1/size-presets", key: Self.rateKeys.alice).remaining == 5)
            try await TestServers.control("stop-redis")
            do {
                // Each replica now counts on its own: bob gets 6 from each, promptly, with headers.
                for api in apis {
                    var allowed = 0
                    let started = ContinuousClock.now
                    for _ in 0..<8 {
                        let answer = try await Self.call("\(api.baseURL)/v1/size-presets", key: Self.rateKeys.bob)
                        #expect(answer.limit == 6 && answer.remaining != nil, "\(answer.headers)")
                        if answer.status == 200 { allowed += 1 } else { #expect(answer.status == 429) }
                    }
                    #expect(allowed == 6, "limited by the process while Redis is down: \(allowed)")
                    #expect(ContinuousClock.now - started < .seconds(8), "no request waits long for the missing Redis")
                    let warnings = api.log.split(separator: "\n").filter { $0.contains("Rate limiter cannot use Redis") }
                    #expect(warnings.count == 1, "one warning for the outage, not one per request: \(warnings.count)")
                    let metrics = String(
                        buffer: try await HTTPClient.shared.execute(HTTPClientRequest(url: "\(api.baseURL)/metrics"), timeout: .seconds(10)).body.collect(
                            upTo: 1 << 20))
                    #expect(metrics.contains("rate_limiter_fallbacks_total "), "fallbacks counted")
                }
            } catch {
                try await TestServers.control("start-redis")
                throw error
            }
            try await TestServers.control("start-redis")
            // Back on Redis (after the client's reconnect backoff): carol's count is shared again.
            var shared = false
            for _ in 0..<60 where !shared {
                try await Task.sleep(for: .milliseconds(500))
                shared = apis.allSatisfy { $0.log.contains("Rate limiting is shared through Redis again") }
                if !shared { for api in apis { _ = try await Self.call("\(api.baseURL)/v1/styles", key: Self.rateKeys.alice) } }
            }
            #expect(shared, "both replicas went back to Redis")
            var remaining: [Int] = []
            for index in 0..<4 { remaining.append(try await Self.call("\(apis[index % 2].baseURL)/v1/styles", key: Self.rateKeys.carol).remaining ?? -1) }
            #expect(remaining == [5, 4, 3, 2], "\(remaining)")
        }
    }
}
