import Foundation
import Testing

@testable import RenderService

/// What every `RateLimiter` must do, run against each implementation (in process, Redis).
@Suite("RateLimiter conformance")
struct RateLimiterConformance {
    static func client() -> String { "client-\(UUID().uuidString.prefix(8))" }

    @Test(arguments: Implementations.rateLimiters)
    func aBurstUpToTheLimitPassesThenTheNextIsRefused(_ impl: RateLimiterUnderTest) async throws {
        let (limiter, cleanUp) = try await impl.make()
        defer { Task { await cleanUp() } }
        let hourly = RateLimit(name: "requests", limit: 5)
        let client = Self.client()
        for expected in [4, 3, 2, 1, 0] {
            let decision = try await limiter.acquire(client: client, limits: [hourly])
            #expect(decision.allowed)
            #expect(decision.binding.limit == 5 && decision.binding.remaining == expected && decision.binding.retryAfter == .zero)
        }
        for _ in 0..<3 {
            let refused = try await limiter.acquire(client: client, limits: [hourly])
            #expect(!refused.allowed && refused.binding.remaining == 0 && refused.binding.name == "requests")
            // One request every 720 s: the next is due one interval after the first.
            #expect(refused.binding.retryAfter > .seconds(700) && refused.binding.retryAfter <= .seconds(720), "\(refused.binding.retryAfter)")
            #expect(refused.binding.resetAfter > .seconds(3500) && refused.binding.resetAfter <= .seconds(3600), "\(refused.binding.resetAfter)")
        }
    }

    @Test(arguments: Implementations.rateLimiters)
    func theBucketRefillsAtTheSustainedRate(_ impl: RateLimiterUnderTest) async throws {
        let (limiter, cleanUp) = try await impl.make()
        defer { Task { await cleanUp() } }
        // One request every 3 s: long enough that a busy machine's pauses do not refill twice.
        let limit = RateLimit(name: "requests", limit: 2, period: .seconds(6))
        let client = Self.client()
        let clock = ContinuousClock(), started = clock.now
        for _ in 0..<2 { #expect(try await limiter.acquire(client: client, limits: [limit]).allowed) }
        let refused = try await limiter.acquire(client: client, limits: [limit])
        try #require(!refused.allowed)
        // Due one interval after the first request, which was made after `started` (bounds
        // that hold however slowly a busy machine answers).
        let wait = refused.binding.retryAfter
        #expect(wait <= .seconds(3) && wait >= .seconds(3) - (clock.now - started), "\(wait)")
        try await Task.sleep(for: wait + .milliseconds(100))
        let refilled = try await limiter.acquire(client: client, limits: [limit])
        #expect(refilled.allowed && refilled.binding.remaining == 0, "one request's worth came back after Retry-After")
        let again = try await limiter.acquire(client: client, limits: [limit])
        #expect(!again.allowed, "only one")
        #expect(
            again.binding.retryAfter > .zero && again.binding.retryAfter <= .seconds(3), "the next one is up to an interval away: \(again.binding.retryAfter)")
    }

    @Test(arguments: Implementations.rateLimiters)
    func resetIsWhenTheBucketIsFullAgain(_ impl: RateLimiterUnderTest) async throws {
        let (limiter, cleanUp) = try await impl.make()
        defer { Task { await cleanUp() } }
        let limit = RateLimit(name: "requests", limit: 10, period: .seconds(100))
        let client = Self.client()
        let clock = ContinuousClock(), started = clock.now
        for used in 1...3 {
            let decision = try await limiter.acquire(client: client, limits: [limit])
            // Each request adds one interval (10 s) to the time until the bucket is full,
            // counted from the first request (made after `started`).
            let reset = decision.binding.resetAfter
            #expect(reset <= .seconds(10 * used) && reset >= .seconds(10 * used) - (clock.now - started), "\(used): \(reset)")
            #expect(decision.binding.remaining == 10 - used)
        }
    }

    @Test(arguments: Implementations.rateLimiters)
    func clientsAndLimitsHaveSeparateBuckets(_ impl: RateLimiterUnderTest) async throws {
        let (limiter, cleanUp) = try await impl.make()
        defer { Task { await cleanUp() } }
        let requests = RateLimit(name: "requests", limit: 2), uploads = RateLimit(name: "uploads", limit: 2)
        let alice = Self.client(), bob = Self.client()
        for _ in 0..<2 { #expect(try await limiter.acquire(client: alice, limits: [requests]).allowed) }
        #expect(try await !limiter.acquire(client: alice, limits: [requests]).allowed)
        let bobs = try await limiter.acquire(client: bob, limits: [requests])
        #expect(bobs.allowed && bobs.binding.remaining == 1, "another client is not limited by alice's use")
        let alicesUploads = try await limiter.acquire(client: alice, limits: [uploads])
        #expect(alicesUploads.allowed && alicesUploads.binding.remaining == 1, "another limit of the same client has its own bucket")
    }

    @Test(arguments: Implementations.rateLimiters)
    func aRequestIsChargedToEveryBucketOrToNone(_ impl: RateLimiterUnderTest) async throws {
        let (limiter, cleanUp) = try await impl.make()
        defer { Task { await cleanUp() } }
        let requests = RateLimit(name: "requests", limit: 10), uploads = RateLimit(name: "uploads", limit: 2)
        let client = Self.client()
        let first = try await limiter.acquire(client: client, limits: [requests, uploads])
        #expect(first.allowed && first.buckets.map(\.remaining) == [9, 1])
        #expect(first.binding.name == "uploads", "the headers report the bucket closer to refusing")
        #expect(try await limiter.acquire(client: client, limits: [requests, uploads]).allowed)
        let refused = try await limiter.acquire(client: client, limits: [requests, uploads])
        #expect(!refused.allowed && refused.binding.name == "uploads" && refused.binding.limit == 2 && refused.binding.remaining == 0)
        #expect(refused.buckets.map(\.remaining) == [8, 0], "the refused upload took nothing from the general bucket")
        #expect(refused.buckets[0].retryAfter == .zero && refused.buckets[1].retryAfter > .zero)
        let plain = try await limiter.acquire(client: client, limits: [requests])
        #expect(plain.allowed && plain.binding.remaining == 7, "other requests still pass")
    }

    @Test(arguments: Implementations.rateLimiters)
    func concurrentRequestsNeverExceedTheLimit(_ impl: RateLimiterUnderTest) async throws {
        let (limiter, cleanUp) = try await impl.make()
        defer { Task { await cleanUp() } }
        let limit = RateLimit(name: "requests", limit: 15)
        let client = Self.client()
        let decisions = try await withThrowingTaskGroup(of: RateLimitDecision.self) { group in
            for _ in 0..<60 { group.addTask { try await limiter.acquire(client: client, limits: [limit]) } }
            return try await group.reduce(into: [RateLimitDecision]()) { $0.append($1) }
        }
        let allowed = decisions.filter(\.allowed)
        #expect(allowed.count == 15, "exactly the limit passes: \(allowed.count)")
        #expect(allowed.map(\.binding.remaining).sorted() == Array(0..<15), "each remaining count handed out once")
        #expect(decisions.filter { !$0.allowed }.allSatisfy { $0.binding.remaining == 0 && $0.binding.retryAfter > .zero })
    }
}
