import Foundation
import Logging
import Synchronization

/// Production's limiter: GCRA in Redis, one Lua script per request, so every API replica
/// charges the same buckets and a client gets one limit however many replicas serve it.
///
/// Keys: `rate-limit:{<client>}:<limit name>` holding the bucket's TAT in microseconds of the
/// Redis server's clock (so replicas with skewed clocks agree), expiring once the bucket is
/// full again. The client is the hash tag: the buckets one script touches share a slot, as
/// Redis Cluster requires, while different clients spread over the cluster.
public struct RedisRateLimiter: RateLimiter {
    let client: RedisClient
    let prefix: String

    /// Deadlines of the limiter's own Redis connection: a check is on every request's path,
    /// so a stalled Redis may cost it this much before the process limits on its own.
    public static let commandTimeout: Duration = .milliseconds(500)
    public static let connectTimeout: Duration = .seconds(1)

    public init(client: RedisClient, prefix: String = "rate-limit") {
        self.client = client
        self.prefix = prefix
    }

    func key(client: String, limit: RateLimit) -> String { "\(prefix):{\(client)}:\(limit.name)" }

    public func acquire(client id: String, limits: [RateLimit]) async throws -> RateLimitDecision {
        let keys = limits.map { key(client: id, limit: $0) }
        let arguments = limits.flatMap { [String($0.intervalMicroseconds), String($0.windowMicroseconds)] }
        let answer = try await run(Self.script, keys: keys, arguments: arguments)
        guard let values = answer.array?.compactMap(\.integer), values.count == 1 + 3 * limits.count else {
            throw RedisError("rate limit script: unexpected answer \(answer)")
        }
        let allowed = values[0] == 1
        let states = limits.enumerated().map { index, limit in
            let base = 1 + 3 * index
            return RateLimitState(
                name: limit.name, limit: limit.limit, remaining: Int(values[base]), resetAfter: .microseconds(values[base + 1]),
                retryAfter: .microseconds(values[base + 2]))
        }
        return RateLimitDecision(allowed: allowed, buckets: states)
    }

    /// EVALSHA, loading the script with EVAL when Redis does not know it (first use, or after
    /// a restart or SCRIPT FLUSH).
    private func run(_ script: LuaScript, keys: [String], arguments: [String]) async throws -> RESPValue {
        let answer = try await client.send(["EVALSHA", script.sha1, String(keys.count)] + keys + arguments)
        if case .error(let message) = answer, message.hasPrefix("NOSCRIPT") {
            return try await client.checked(["EVAL", script.source, String(keys.count)] + keys + arguments)
        }
        if case .error(let message) = answer { throw RedisError("rate limit script failed: \(message)") }
        return answer
    }

    /// KEYS: one bucket per limit. ARGV: per limit, its interval and its window (the whole
    /// burst) in microseconds. Answers `{allowed, then per bucket: remaining, reset after,
    /// retry after (µs)}`. `GCRA.evaluate` is the same arithmetic.
    static let script = LuaScript(
        """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        local allowed = 1
        local tats = {}
        for i = 1, #KEYS do
          local interval, window = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
          local tat = tonumber(redis.call('GET', KEYS[i])) or now
          if tat < now then tat = now end
          tats[i] = tat
          if tat + interval - window > now then allowed = 0 end
        end
        local out = {allowed}
        for i = 1, #KEYS do
          local interval, window = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
          local tat = tats[i]
          if allowed == 1 then
            local nxt = tat + interval
            redis.call('SET', KEYS[i], string.format('%.0f', nxt), 'PX', math.ceil((nxt - now) / 1000) + 1000)
            out[#out + 1] = math.floor((window - (nxt - now)) / interval)
            out[#out + 1] = nxt - now
            out[#out + 1] = 0
          else
            out[#out + 1] = math.max(0, math.floor((window - (tat - now)) / interval))
            out[#out + 1] = tat - now
            out[#out + 1] = math.max(0, tat + interval - window - now)
          end
        end
        return out
        """)
}

/// A shared limiter with a local stand-in: while the primary (Redis) cannot answer, requests
/// are limited by this process's own counters rather than refused or let through unchecked.
/// Each replica then limits on its own (a client may get up to replicas × the limit) until
/// Redis is back. One warning per outage, not per request; every fallback is counted.
public final class FailoverRateLimiter: RateLimiter {
    let primary: any RateLimiter
    let fallback: any RateLimiter
    let metrics: ServiceMetrics
    let logger: Logger
    private let failing = Atomic<Bool>(false)
    /// Of Redis's error text, what goes to the warning.
    static let loggedErrorCharacters = 300

    public init(primary: any RateLimiter, fallback: any RateLimiter = InProcessRateLimiter(), metrics: ServiceMetrics, logger: Logger) {
        self.primary = primary
        self.fallback = fallback
        self.metrics = metrics
        self.logger = logger
    }

    public func acquire(client: String, limits: [RateLimit]) async throws -> RateLimitDecision {
        do {
            let decision = try await primary.acquire(client: client, limits: limits)
            if failing.exchange(false, ordering: .relaxed) {
                logger.info("Rate limiting is shared through Redis again")
            }
            return decision
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            metrics.rateLimiterFallback()
            if !failing.exchange(true, ordering: .relaxed) {
                logger.warning(
                    "Rate limiter cannot use Redis; limiting in this process until it is back",
                    metadata: ["error": "\(String(describing: error).prefix(Self.loggedErrorCharacters))"])
            }
            return try await fallback.acquire(client: client, limits: limits)
        }
    }
}
