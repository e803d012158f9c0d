import Foundation
import Testing

@testable import RenderService

/// Redis Cluster routes a script by the keys it is given: every key a queue script touches
/// must come from KEYS, and all of them must hash to one slot.
@Suite("Redis queue keys")
struct RedisQueueKeysTests {
    @Test(arguments: Scripts.all.map(\.name))
    func everyKeyAScriptTouchesIsDeclared(_ name: String) throws {
        let script = try #require(Scripts.all.first { $0.name == name }?.script)
        let queue = RedisJobQueue(client: RedisClient(configuration: RedisConfiguration()))
        let calls = LuaKeyCheck.calls(in: script.source)
        #expect(!calls.isEmpty, "no redis.call found: the parser is broken")
        #expect(LuaKeyCheck.violations(in: script.source, declaredKeys: queue.keys.count) == [])
    }

    /// The check itself: the claim script as it was before (the job's key built from the id
    /// it popped) is caught, and so are a computed command name and an unknown command.
    @Test func theCheckCatchesKeysBuiltInsideAScript() {
        let before = """
            local id = redis.call('LPOP', KEYS[1])
            local job = KEYS[1] .. ':job:' .. id
            local attempts = redis.call('HINCRBY', job, 'attempts', 1)
            redis.call(cmd, KEYS[2])
            redis.call('ZADD', KEYS[7], 1, id)
            redis.call('GETDEL', KEYS[1])
            """
        #expect(
            LuaKeyCheck.violations(in: before, declaredKeys: 6) == [
                "HINCRBY: key argument `job` is not KEYS[n]",
                "command name `cmd` is not a literal",
                "ZADD: KEYS[7] is beyond the 6 keys passed",
                "GETDEL: unknown command; add its key positions to LuaKeyCheck",
            ])
    }

    /// All keys in one slot (the ready list's name is the others' hash tag), so a cluster
    /// accepts each script as one operation; the ready list keeps the spec's name.
    @Test(arguments: ["render-queue", "test-1a2b3c4d"])
    func theQueuesKeysShareOneClusterSlot(_ name: String) {
        let queue = RedisJobQueue(client: RedisClient(configuration: RedisConfiguration()), name: name)
        #expect(queue.keys.first == name)
        #expect(Set(queue.keys).count == queue.keys.count)
        #expect(Set(queue.keys.map(ClusterSlot.of)).count == 1, "\(queue.keys.map { ($0, ClusterSlot.of($0)) })")
        // Redis's own examples (cluster-spec): the hash tag decides, else the whole key.
        #expect(ClusterSlot.of("123456789") == 12739)
        #expect(ClusterSlot.of("{user1000}.following") == ClusterSlot.of("{user1000}.followers"))
        #expect(ClusterSlot.of("foo{{bar}}zap") == ClusterSlot.of("{bar"))
        #expect(ClusterSlot.of("foo{}{bar}") != ClusterSlot.of("bar"), "an empty tag: the whole key")
    }
}

/// Extracts `redis.call(...)` / `redis.pcall(...)` from Lua source and checks that each key
/// argument is a literal `KEYS[n]` within the keys passed.
enum LuaKeyCheck {
    enum Keys { case none, first, all }
    /// The commands the queue's scripts use, with where their keys are.
    static let keyPositions: [String: Keys] = [
        "TIME": .none, "SADD": .first, "SREM": .first, "RPUSH": .first, "LPOP": .first, "ZADD": .first, "ZREM": .first,
        "ZSCORE": .first, "ZRANGE": .first, "LLEN": .first, "ZRANGEBYSCORE": .first, "HGET": .first, "HSET": .first, "HDEL": .first, "HINCRBY": .first,
        "DEL": .all,
    ]

    static func calls(in source: String) -> [[String]] {
        var calls: [[String]] = []
        var rest = Substring(source)
        while let range = rest.range(of: #"redis\.p?call\s*\("#, options: .regularExpression) {
            rest = rest[range.upperBound...]
            var arguments: [String] = [], current = "", depth = 0, quote: Character?
            scan: while let character = rest.first {
                rest = rest.dropFirst()
                if let open = quote {
                    current.append(character)
                    if character == open { quote = nil }
                    continue
                }
                switch character {
                case "'", "\"":
                    quote = character
                    current.append(character)
                case "(", "[", "{":
                    depth += 1
                    current.append(character)
                case ")" where depth == 0: break scan
                case ")", "]", "}":
                    depth -= 1
                    current.append(character)
                case "," where depth == 0:
                    arguments.append(current)
                    current = ""
                default: current.append(character)
                }
            }
            arguments.append(current)
            calls.append(arguments.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) })
        }
        return calls
    }

    static func violations(in source: String, declaredKeys: Int) -> [String] {
        var found: [String] = []
        for call in calls(in: source) {
            guard let first = call.first, first.count > 2, first.hasPrefix("'"), first.hasSuffix("'") else {
                found.append("command name `\(call.first ?? "")` is not a literal")
                continue
            }
            let command = first.dropFirst().dropLast().uppercased()
            guard let positions = keyPositions[command] else {
                found.append("\(command): unknown command; add its key positions to LuaKeyCheck")
                continue
            }
            let keys: ArraySlice<String> =
                switch positions {
                case .none: []
                case .first: call.dropFirst().prefix(1)
                case .all: call.dropFirst()
                }
            for key in keys {
                guard let match = key.wholeMatch(of: /KEYS\[(\d+)\]/), let index = Int(match.1) else {
                    found.append("\(command): key argument `\(key)` is not KEYS[n]")
                    continue
                }
                if index < 1 || index > declaredKeys { found.append("\(command): \(key) is beyond the \(declaredKeys) keys passed") }
            }
        }
        return found
    }
}

/// Redis Cluster's key slot: CRC16 (XMODEM) of the hash tag, or of the whole key, mod 16384.
enum ClusterSlot {
    static func of(_ key: String) -> Int {
        var bytes = Array(key.utf8)
        if let open = bytes.firstIndex(of: UInt8(ascii: "{")),
            let close = bytes[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1
        {
            bytes = Array(bytes[(open + 1)..<close])
        }
        var crc: UInt16 = 0
        for byte in bytes {
            crc ^= UInt16(byte) << 8
            for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        }
        return Int(crc) % 16384
    }
}

/// A queue written in the layout before the keys were made cluster safe keeps its jobs.
@Suite("Redis queue upgrade", .enabled(if: TestServers.hasRedis))
struct RedisQueueUpgradeTests {
    @Test func jobsInTheOldLayoutAreMovedWithTheirState() async throws {
        let client = RedisClient(configuration: TestServers.redisConfiguration)
        defer { Task { await client.close() } }
        let name = "upgrade-\(UUID().uuidString.prefix(8))"
        let queue = RedisJobQueue(client: client, name: name)
        let (ready, delayed, leased) = (UUID(), UUID(), UUID())
        // The old layout: a ready job, a retry due now, a lease that ran out on a dead worker.
        try await client.checked(["RPUSH", name, ready.lowercased])
        try await client.checked(["SADD", "\(name):members", ready.lowercased, delayed.lowercased, leased.lowercased])
        try await client.checked(["ZADD", "\(name):delayed", "0", delayed.lowercased])
        try await client.checked(["ZADD", "\(name):processing", "0", leased.lowercased])
        try await client.checked(["HSET", "\(name):job:\(ready.lowercased)", "attempts", "0"])
        try await client.checked(["HSET", "\(name):job:\(delayed.lowercased)", "attempts", "1"])
        try await client.checked(["HSET", "\(name):job:\(leased.lowercased)", "attempts", "2", "owner", "old-worker"])

        #expect(try await queue.upgradeLegacyKeys() == 3)
        #expect(try await queue.upgradeLegacyKeys() == 0, "done once")
        let oldKeys = ["\(name):members", "\(name):delayed", "\(name):processing"] + [ready, delayed, leased].map { "\(name):job:\($0.lowercased)" }
        #expect(try await client.checked(["EXISTS"] + oldKeys).integer == 0)
        for id in [ready, delayed, leased] { #expect(try await queue.contains(id)) }
        #expect(try await queue.reapExpired() == [leased], "the dead worker's lease is still reaped")
        var claimed: [UUID: Int] = [:]
        while let lease = try await queue.claim(owner: "new-worker", lease: .seconds(30)) { claimed[lease.renderID] = lease.attempt }
        #expect(claimed == [ready: 1, delayed: 2, leased: 3], "attempts carried over")
    }
}
