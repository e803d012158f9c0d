import Foundation
import Synchronization

/// One limit: `limit` requests per `period`, as a burst of `limit` that refills evenly (one
/// request every `period / limit`), the generic cell rate algorithm (GCRA).
public struct RateLimit: Sendable, Hashable {
    /// Names the bucket beside the client (`requests`, `uploads`): one client has one bucket
    /// per name.
    public let name: String
    public let limit: Int
    public let period: Duration

    public init(name: String, limit: Int, period: Duration = .seconds(3600)) {
        precondition(limit > 0 && period > .zero, "a rate limit allows something")
        self.name = name
        self.limit = limit
        self.period = period
    }

    /// Microseconds between two requests at the sustained rate (at least 1).
    var intervalMicroseconds: Int64 { max(1, period.microseconds / Int64(limit)) }
    /// The whole burst: `limit` intervals.
    var windowMicroseconds: Int64 { intervalMicroseconds * Int64(limit) }
}

/// A bucket after a request was charged to it, or refused.
public struct RateLimitState: Sendable, Equatable {
    public let name: String
    public let limit: Int
    /// Requests this bucket would accept right now.
    public let remaining: Int
    /// Until the bucket is full again (`X-RateLimit-Reset`).
    public let resetAfter: Duration
    /// Until this bucket accepts the next request; zero while it has room.
    public let retryAfter: Duration
}

/// A rate limiter's answer for one request: allowed (charged to every bucket) or refused
/// (charged to none), and where each bucket stands.
public struct RateLimitDecision: Sendable, Equatable {
    public let allowed: Bool
    /// In the order of the limits asked for.
    public let buckets: [RateLimitState]

    /// The bucket the response headers report: the one that refused (the longest wait), or
    /// else the one with the fewest requests left (the lower limit on a tie).
    public var binding: RateLimitState {
        if !allowed, let refusing = buckets.filter({ $0.retryAfter > .zero }).max(by: { $0.retryAfter < $1.retryAfter }) {
            return refusing
        }
        return buckets.min { ($0.remaining, $0.limit) < ($1.remaining, $1.limit) } ?? buckets[0]
    }
}

/// Counts requests per client against limits: in process (embedded mode) or in Redis, where
/// every API replica shares the counters (production).
public protocol RateLimiter: Sendable {
    /// Charges one request from `client` to its bucket of each limit, all or none: the request
    /// is allowed only when every bucket has room, and a refused request charges nothing.
    func acquire(client: String, limits: [RateLimit]) async throws -> RateLimitDecision
}

/// GCRA on microsecond instants: each bucket keeps only its theoretical arrival time (TAT),
/// the instant at which it will be full again. The in-process limiter runs this; the Redis
/// script (`RedisRateLimiter`) is the same arithmetic in Lua.
enum GCRA {
    /// `tats[i]` is bucket i's stored TAT (nil: full). Returns the decision and, when allowed,
    /// the new TATs to store.
    static func evaluate(now: Int64, tats: [Int64?], limits: [RateLimit]) -> (RateLimitDecision, newTATs: [Int64]?) {
        var allowed = true
        var current: [Int64] = []
        for (stored, limit) in zip(tats, limits) {
            let tat = max(stored ?? now, now)
            current.append(tat)
            if tat + limit.intervalMicroseconds - limit.windowMicroseconds > now { allowed = false }
        }
        var states: [RateLimitState] = []
        var newTATs: [Int64] = []
        for (tat, limit) in zip(current, limits) {
            let interval = limit.intervalMicroseconds, window = limit.windowMicroseconds
            if allowed {
                let next = tat + interval
                newTATs.append(next)
                states.append(
                    RateLimitState(
                        name: limit.name, limit: limit.limit, remaining: Int(max(0, (window - (next - now)) / interval)),
                        resetAfter: .microseconds(next - now), retryAfter: .zero))
            } else {
                states.append(
                    RateLimitState(
                        name: limit.name, limit: limit.limit, remaining: Int(max(0, (window - (tat - now)) / interval)),
                        resetAfter: .microseconds(tat - now), retryAfter: .microseconds(max(0, tat + interval - window - now))))
            }
        }
        return (RateLimitDecision(allowed: allowed, buckets: states), allowed ? newTATs : nil)
    }
}

/// The embedded mode's limiter: GCRA in this process's memory. Buckets that are full again
/// are forgotten, so memory follows the clients of the last period, not all clients ever.
public final class InProcessRateLimiter: RateLimiter {
    private struct State {
        var tats: [String: Int64] = [:]
        /// Forgetting full buckets runs when the table grows past this (amortised O(1)).
        var sweepAt = InProcessRateLimiter.minimumSweep
    }
    static let minimumSweep = 10_000
    private let state = Mutex(State())
    private let origin = ContinuousClock.now

    public init() {}

    public func acquire(client: String, limits: [RateLimit]) async throws -> RateLimitDecision {
        let now = (ContinuousClock.now - origin).microseconds
        let keys = limits.map { "\($0.name):\(client)" }
        return state.withLock { state in
            let (decision, newTATs) = GCRA.evaluate(now: now, tats: keys.map { state.tats[$0] }, limits: limits)
            if let newTATs {
                for (key, tat) in zip(keys, newTATs) { state.tats[key] = tat }
                if state.tats.count >= state.sweepAt {
                    state.tats = state.tats.filter { $0.value > now }
                    state.sweepAt = max(Self.minimumSweep, state.tats.count * 2)
                }
            }
            return decision
        }
    }

    /// Buckets currently remembered (tests).
    var bucketCount: Int { state.withLock { $0.tats.count } }
}

extension Duration {
    var microseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000 + attoseconds / 1_000_000_000_000
    }

    /// Whole seconds, rounded up (a wait of 0.2 s is "1", never "0").
    var wholeSecondsRoundedUp: Int {
        let micro = microseconds
        return Int((micro + 999_999) / 1_000_000)
    }
}
