import Foundation
import Logging
import Testing

@testable import RenderService

/// The pieces under the rate-limit middleware: addresses and proxies, settings, the Redis
/// script's keys, and what happens when Redis cannot answer.
@Suite("Rate limits: addresses, configuration, Redis")
struct RateLimitPartsTests {
    @Test func addressesAndBlocksParse() throws {
        #expect(IPAddress("192.0.2.1")?.description == "192.0.2.1")
        #expect(IPAddress("::ffff:192.0.2.1") == IPAddress("192.0.2.1"), "IPv4-mapped is IPv4")
        #expect(IPAddress("2001:DB8::1")?.description == "2001:db8::1")
        #expect(IPAddress("fe80::1%eth0") == IPAddress("fe80::1"))
        for bad in ["", "unknown", "192.0.2", "192.0.2.256", "1.2.3.4.5", "2001:db8::g", "_hidden"] { #expect(IPAddress(bad) == nil, "\(bad)") }
        #expect(IPAddress(forwardedHop: " 192.0.2.1:4711") == IPAddress("192.0.2.1"))
        #expect(IPAddress(forwardedHop: "[2001:db8::1]:4711") == IPAddress("2001:db8::1"))
        #expect(IPAddress(forwardedHop: "\"[2001:db8::1]\"") == IPAddress("2001:db8::1"))
        #expect(IPAddress(forwardedHop: "2001:db8::1") == IPAddress("2001:db8::1"))

        let ten = try #require(IPNetwork("10.0.0.0/8"))
        #expect(ten.contains(IPAddress("10.255.0.1")!) && !ten.contains(IPAddress("11.0.0.1")!) && !ten.contains(IPAddress("::1")!))
        #expect(IPNetwork("10.1.2.3/8")?.description == "10.0.0.0/8", "host bits cleared")
        #expect(IPNetwork("192.0.2.7")?.contains(IPAddress("192.0.2.7")!) == true && IPNetwork("192.0.2.7")?.contains(IPAddress("192.0.2.8")!) == false)
        #expect(IPNetwork("2001:db8::/32")?.contains(IPAddress("2001:db8:ffff::1")!) == true)
        #expect(IPNetwork("::ffff:10.0.0.0/104")?.contains(IPAddress("10.1.1.1")!) == true)
        #expect(IPNetwork("0.0.0.0/0")?.contains(IPAddress("203.0.113.9")!) == true)
        for bad in ["10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/8/8", "2001:db8::/129", "proxy.local", "10.0.0.0/"] { #expect(IPNetwork(bad) == nil, "\(bad)") }

        #expect(IPAddress("2001:db8:1:2:3:4:5:6")?.rateLimitClient == "ip:2001:db8:1:2::/64")
        #expect(IPAddress("203.0.113.9")?.rateLimitClient == "ip:203.0.113.9")
    }

    @Test func theClientIsTheRightmostAddressThatIsNotATrustedProxy() {
        let resolver = ClientAddressResolver(trustedProxies: [IPNetwork("10.0.0.0/8")!, IPNetwork("127.0.0.1")!])
        let proxy = IPAddress("10.0.0.5"), outsider = IPAddress("203.0.113.9")
        #expect(resolver.client(peer: outsider, forwardedFor: ["198.51.100.1"]) == outsider, "only proxies are believed")
        #expect(resolver.client(peer: proxy, forwardedFor: []) == proxy)
        #expect(resolver.client(peer: proxy, forwardedFor: ["198.51.100.1"]) == IPAddress("198.51.100.1"))
        #expect(resolver.client(peer: proxy, forwardedFor: ["6.6.6.6, 198.51.100.1, 10.0.0.9"]) == IPAddress("198.51.100.1"))
        #expect(resolver.client(peer: proxy, forwardedFor: ["6.6.6.6", "198.51.100.1"]) == IPAddress("198.51.100.1"), "repeated headers join")
        #expect(resolver.client(peer: proxy, forwardedFor: ["10.0.0.7, 10.0.0.8"]) == IPAddress("10.0.0.7"), "all proxies: the leftmost")
        #expect(resolver.client(peer: proxy, forwardedFor: ["garbage, 10.0.0.8"]) == IPAddress("10.0.0.8"), "garbage stops the walk")
        #expect(resolver.client(peer: proxy, forwardedFor: ["unknown"]) == proxy)
        #expect(ClientAddressResolver(trustedProxies: []).client(peer: proxy, forwardedFor: ["198.51.100.1"]) == proxy)
    }

    @Test func settingsAreOffByDefaultAndCheckedWhenSet() throws {
        let defaults = try ServiceConfiguration(environment: [:])
        #expect(!defaults.rateLimits.isEnabled && defaults.rateLimits.limits(upload: true).isEmpty)
        let on = try ServiceConfiguration(environment: ["RATE_LIMIT_PER_HOUR": "1000", "TRUSTED_PROXIES": "10.0.0.0/8, ::1"])
        #expect(on.rateLimits.requestsPerHour == 1000 && on.rateLimits.uploadsPerHour == 100, "uploads default to a tenth")
        #expect(on.rateLimits.limits(upload: false).map(\.limit) == [1000] && on.rateLimits.limits(upload: true).map(\.limit) == [1000, 100])
        #expect(on.rateLimits.trustedProxies.map(\.description) == ["10.0.0.0/8", "::1/128"])
        let noSeparate = try ServiceConfiguration(environment: ["RATE_LIMIT_PER_HOUR": "5", "RATE_LIMIT_UPLOADS_PER_HOUR": "0"])
        #expect(noSeparate.rateLimits.limits(upload: true).map(\.name) == ["requests"])
        #expect(try ServiceConfiguration(environment: ["RATE_LIMIT_PER_HOUR": "5"]).rateLimits.uploadsPerHour == 1)
        for bad in [
            ["RATE_LIMIT_PER_HOUR": "-1"], ["RATE_LIMIT_PER_HOUR": "lots"], ["RATE_LIMIT_UPLOADS_PER_HOUR": "10"],
            ["RATE_LIMIT_PER_HOUR": "10", "RATE_LIMIT_UPLOADS_PER_HOUR": "11"], ["TRUSTED_PROXIES": "10.0.0.0/8, proxy.internal"],
        ] {
            #expect(throws: ConfigurationError.self, "\(bad)") { try ServiceConfiguration(environment: bad) }
        }
        let described = Dictionary(uniqueKeysWithValues: on.describe())
        #expect(
            described["RATE_LIMIT_PER_HOUR"] == "1000" && described["RATE_LIMIT_UPLOADS_PER_HOUR"] == "100"
                && described["TRUSTED_PROXIES"] == "10.0.0.0/8,::1/128")
        #expect(Dictionary(uniqueKeysWithValues: defaults.describe())["RATE_LIMIT_PER_HOUR"] == "0 (off)")
    }

    @Test(.enabled(if: TestServers.hasRedis))
    func redisBucketsExpireOnceFullAndTheScriptIsReloadedAfterAFlush() async throws {
        let client = RedisClient(configuration: TestServers.redisConfiguration)
        defer { Task { await client.close() } }
        let prefix = "test-rate-\(UUID().uuidString.prefix(8))"
        let limiter = RedisRateLimiter(client: client, prefix: prefix)
        let limits = [RateLimit(name: "requests", limit: 10, period: .seconds(100)), RateLimit(name: "uploads", limit: 2, period: .seconds(100))]
        #expect(try await limiter.acquire(client: "ip:192.0.2.1", limits: limits).allowed)
        // One key per bucket, the client as the hash tag (one slot per script in a cluster).
        let keys = (try await client.checked(["KEYS", "\(prefix):*"]).array ?? []).compactMap(\.string).sorted()
        #expect(keys == ["\(prefix):{ip:192.0.2.1}:requests", "\(prefix):{ip:192.0.2.1}:uploads"])
        // Each expires about when its bucket is full again (10 s and 50 s from now), plus a second.
        let ttls = try await keys.asyncMap { try await client.checked(["PTTL", $0]).integer ?? -1 }
        #expect(ttls[0] > 8_000 && ttls[0] <= 11_000 && ttls[1] > 48_000 && ttls[1] <= 51_000, "\(ttls)")
        // Redis forgets its scripts (restart, SCRIPT FLUSH): EVALSHA's NOSCRIPT loads it again.
        try await client.checked(["SCRIPT", "FLUSH"])
        let after = try await limiter.acquire(client: "ip:192.0.2.1", limits: limits)
        #expect(after.allowed && after.buckets.map(\.remaining) == [8, 0])
        #expect(RedisRateLimiter.script.source.contains("redis.call('TIME')"), "the server's clock, shared by every replica")
    }

    @Test func whenRedisCannotAnswerTheProcessLimitsOnItsOwnAndSaysSoOnce() async throws {
        // A closed port: every call fails at once.
        let unreachable = RedisClient(
            configuration: RedisConfiguration(host: "127.0.0.1", port: 9, commandTimeout: .milliseconds(500), connectTimeout: .milliseconds(500)))
        let sink = LogSink.capturing()
        let logger = Logger(label: "aso-render") { label in JSONLogHandler(label: label, level: .debug, sink: sink) }
        let metrics = ServiceMetrics()
        let limiter = FailoverRateLimiter(primary: RedisRateLimiter(client: unreachable), metrics: metrics, logger: logger)
        let limit = RateLimit(name: "requests", limit: 3)
        var allowed = 0
        for _ in 0..<5 where try await limiter.acquire(client: "ip:192.0.2.1", limits: [limit]).allowed { allowed += 1 }
        #expect(allowed == 3, "still limited, by this process")
        #expect(metrics.exposition().contains("rate_limiter_fallbacks_total 5"), "\(metrics.exposition())")
        let warnings = sink.lines.filter { $0.contains("Rate limiter cannot use Redis") }
        #expect(warnings.count == 1, "one warning per outage: \(warnings)")
    }
}
