import Crypto
import Foundation
import RenderEngine

/// The production queue on Redis: the reliable-queue pattern with leases.
///
/// Keys (for the spec's queue name `render-queue`):
/// - `render-queue` — LIST of render ids ready to be claimed
/// - `{render-queue}:delayed` — ZSET id → time (ms) a retried job becomes ready
/// - `{render-queue}:processing` — ZSET id → lease expiry (ms)
/// - `{render-queue}:members` — SET of every id the queue holds, in any of the three states
/// - `{render-queue}:attempts` — HASH id → claims so far
/// - `{render-queue}:owners` — HASH id → the current lease's owner
///
/// Every state change is one Lua script (atomic on the server, timed by the server's clock so
/// workers on different hosts agree on lease expiry), loaded once and called by EVALSHA. Each
/// script touches only the keys it is given in KEYS, and they all hash to one slot (the list's
/// name is the others' hash tag): each is a single-slot operation, as Redis Cluster requires.
///
/// Idle workers do not poll Redis: they wait on `arrivals`, woken by an enqueue, a retry or a
/// reaped lease in this process or, from other processes, by `announce` (production: a
/// PostgreSQL NOTIFY that every process's `PostgresRenderChangeListener` hears), or when the
/// earliest delayed job falls due (`nextDue`), and otherwise only after `waitForWork`'s timeout.
public struct RedisJobQueue: JobQueue {
    public let name: String
    let client: RedisClient
    /// Wakes this process's idle workers.
    let arrivals: WorkSignal
    /// Tells the other processes that work is ready (after an enqueue or a reap) or that the
    /// next due time changed (after a retry).
    let announce: @Sendable () async -> Void

    public init(client: RedisClient, name: String = "render-queue", arrivals: WorkSignal = WorkSignal(), announce: @escaping @Sendable () async -> Void = {}) {
        self.client = client
        self.name = name
        self.arrivals = arrivals
        self.announce = announce
    }

    /// Every key of the queue, in the order the scripts' KEYS number them.
    var keys: [String] { [name, delayedKey, processingKey, membersKey, "{\(name)}:attempts", "{\(name)}:owners"] }
    var delayedKey: String { "{\(name)}:delayed" }
    var processingKey: String { "{\(name)}:processing" }
    var membersKey: String { "{\(name)}:members" }

    public func enqueue(_ renderID: UUID) async throws {
        _ = try await run(Scripts.enqueue, arguments: [renderID.lowercased])
        await workIsReady()
    }

    private func workIsReady() async {
        arrivals.notify()
        await announce()
    }

    public func claim(owner: String, lease: Duration) async throws -> JobLease? {
        let value = try await run(Scripts.claim, arguments: [owner, String(Int(milliseconds(lease)))])
        guard let pair = value.array, pair.count == 2, let id = pair[0].string.flatMap(UUID.init(uuidString:)),
            let attempts = pair[1].integer
        else { return nil }
        return JobLease(renderID: id, attempt: Int(attempts), owner: owner)
    }

    public func extend(_ lease: JobLease, by duration: Duration) async throws -> Bool {
        try await run(Scripts.extend, arguments: [lease.renderID.lowercased, lease.owner, String(Int(milliseconds(duration)))]).integer == 1
    }

    public func complete(_ lease: JobLease) async throws {
        _ = try await run(Scripts.complete, arguments: [lease.renderID.lowercased, lease.owner])
    }

    public func retry(_ lease: JobLease, after delay: Duration) async throws {
        _ = try await run(Scripts.retry, arguments: [lease.renderID.lowercased, lease.owner, String(Int(milliseconds(delay)))])
        // Claimable now, or the next due time changed: idle workers claim or re-read it.
        await workIsReady()
    }

    public func reapExpired() async throws -> [UUID] {
        let reaped = (try await run(Scripts.reap, arguments: []).array ?? []).compactMap { $0.string.flatMap(UUID.init(uuidString:)) }
        if !reaped.isEmpty { await workIsReady() }
        return reaped
    }

    public func contains(_ renderID: UUID) async throws -> Bool {
        try await client.checked(["SISMEMBER", membersKey, renderID.lowercased]).integer == 1
    }

    public func depth() async throws -> Int {
        let ready = try await client.checked(["LLEN", name]).integer ?? 0
        let delayed = try await client.checked(["ZCARD", delayedKey]).integer ?? 0
        return Int(ready + delayed)
    }

    /// Measured on the server's clock (the one `claim` judges by) and told as a time from now on
    /// this host's, so the hosts' clocks need not agree.
    public func nextDue() async throws -> Date? {
        try await run(Scripts.nextDue, arguments: []).integer.map { Date().addingTimeInterval(Double($0) / 1000) }
    }

    public func waitForWork(timeout: Duration) async {
        await arrivals.wait(timeout: timeout)
    }

    public func ping() async throws {
        let answer = try await client.checked(["PING"])
        guard answer.string == "PONG" else { throw RedisError("unexpected PING answer") }
    }

    /// Moves jobs kept in the layout before the queue was made Redis Cluster safe
    /// (`render-queue:delayed`, `:processing`, `:members`, `:job:<id>`) into the current keys,
    /// so an upgrade strands no delayed retry and no lease the reaper must still see. That
    /// layout only ever ran on one server; run with the old workers stopped. Returns how many
    /// jobs were moved (0 once done).
    @discardableResult
    public func upgradeLegacyKeys() async throws -> Int {
        let members = "\(name):members"
        let ids = (try await client.checked(["SMEMBERS", members]).array ?? []).compactMap(\.string)
        guard !ids.isEmpty else { return 0 }
        for (old, new) in [("\(name):delayed", delayedKey), ("\(name):processing", processingKey)] {
            let entries = (try await client.checked(["ZRANGE", old, "0", "-1", "WITHSCORES"]).array ?? []).compactMap(\.string)
            if !entries.isEmpty {
                // WITHSCORES answers id, score, id, score…; ZADD takes score, id.
                let pairs = stride(from: 0, to: entries.count - 1, by: 2).flatMap { [entries[$0 + 1], entries[$0]] }
                try await client.checked(["ZADD", new] + pairs)
            }
        }
        for id in ids {
            let job = "\(name):job:\(id)"
            let fields = try await client.checked(["HMGET", job, "attempts", "owner"]).array ?? []
            if let attempts = fields.first?.string { try await client.checked(["HSET", keys[4], id, attempts]) }
            if fields.count > 1, let owner = fields[1].string { try await client.checked(["HSET", keys[5], id, owner]) }
        }
        try await client.checked(["SADD", membersKey] + ids)
        try await client.checked(["DEL", "\(name):delayed", "\(name):processing"] + ids.map { "\(name):job:\($0)" })
        try await client.checked(["DEL", members])
        return ids.count
    }

    /// EVALSHA, loading the script with EVAL when Redis does not know it (first use, or after
    /// a restart or SCRIPT FLUSH).
    private func run(_ script: LuaScript, arguments: [String]) async throws -> RESPValue {
        let keys = self.keys
        let answer = try await client.send(["EVALSHA", script.sha1, String(keys.count)] + keys + arguments)
        if case .error(let message) = answer, message.hasPrefix("NOSCRIPT") {
            return try await client.checked(["EVAL", script.source, String(keys.count)] + keys + arguments)
        }
        if case .error(let message) = answer { throw RedisError("queue script failed: \(message)") }
        return answer
    }
}

struct LuaScript: Sendable {
    let source: String
    let sha1: String

    init(_ source: String) {
        self.source = source
        sha1 = Insecure.SHA1.hash(data: Data(source.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}

/// KEYS: 1 ready list, 2 delayed zset, 3 processing zset, 4 members set, 5 attempts hash,
/// 6 owners hash. A script names no other key (Redis Cluster routes a script by its KEYS).
enum Scripts {
    /// The server's clock in milliseconds (effects replication makes TIME allowed in scripts).
    static let now = "local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"

    static let enqueue = LuaScript(
        """
        if redis.call('SADD', KEYS[4], ARGV[1]) == 1 then
          redis.call('RPUSH', KEYS[1], ARGV[1])
          return 1
        end
        return 0
        """)

    static let claim = LuaScript(
        now + """
            local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
            for _, id in ipairs(due) do
              redis.call('ZREM', KEYS[2], id)
              redis.call('RPUSH', KEYS[1], id)
            end
            local id = redis.call('LPOP', KEYS[1])
            if not id then return nil end
            redis.call('ZADD', KEYS[3], now + tonumber(ARGV[2]), id)
            local attempts = redis.call('HINCRBY', KEYS[5], id, 1)
            redis.call('HSET', KEYS[6], id, ARGV[1])
            return {id, attempts}
            """)

    static let extend = LuaScript(
        now + """
            if redis.call('HGET', KEYS[6], ARGV[1]) ~= ARGV[2] or not redis.call('ZSCORE', KEYS[3], ARGV[1]) then return 0 end
            redis.call('ZADD', KEYS[3], 'XX', now + tonumber(ARGV[3]), ARGV[1])
            return 1
            """)

    static let complete = LuaScript(
        """
        if redis.call('HGET', KEYS[6], ARGV[1]) ~= ARGV[2] then return 0 end
        redis.call('ZREM', KEYS[3], ARGV[1])
        redis.call('SREM', KEYS[4], ARGV[1])
        redis.call('HDEL', KEYS[5], ARGV[1])
        redis.call('HDEL', KEYS[6], ARGV[1])
        return 1
        """)

    static let retry = LuaScript(
        now + """
            if redis.call('HGET', KEYS[6], ARGV[1]) ~= ARGV[2] or not redis.call('ZSCORE', KEYS[3], ARGV[1]) then return 0 end
            redis.call('ZREM', KEYS[3], ARGV[1])
            redis.call('HDEL', KEYS[6], ARGV[1])
            redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[1])
            return 1
            """)

    static let reap = LuaScript(
        now + """
            local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)
            for _, id in ipairs(expired) do
              redis.call('ZREM', KEYS[3], id)
              redis.call('HDEL', KEYS[6], id)
              redis.call('RPUSH', KEYS[1], id)
            end
            return expired
            """)

    /// Milliseconds until the earliest job can be claimed: 0 with one ready, negative when a
    /// delayed one is already due, nil when none waits.
    static let nextDue = LuaScript(
        now + """
            if redis.call('LLEN', KEYS[1]) > 0 then return 0 end
            local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
            if #first == 0 then return nil end
            return tonumber(first[2]) - now
            """)

    /// Every script, by name (the key-declaration test reads them all).
    static let all: [(name: String, script: LuaScript)] = [
        ("enqueue", enqueue), ("claim", claim), ("extend", extend), ("complete", complete), ("retry", retry), ("reap", reap), ("nextDue", nextDue),
    ]
}
