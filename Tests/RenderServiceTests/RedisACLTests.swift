import Foundation
import Testing

@testable import RenderService

/// `REDIS_USERNAME`: an ACL user of its own, not the `default` user, runs the queue.
@Suite("Redis ACL user", .enabled(if: TestServers.hasRedis))
struct RedisACLTests {
    @Test func anACLUserRunsTheQueueAndAWrongPasswordIsRefused() async throws {
        let admin = RedisClient(configuration: TestServers.redisConfiguration)
        let user = "aso-queue-\(UUID().uuidString.prefix(8).lowercased())"
        try await admin.checked(["ACL", "SETUSER", user, "on", ">acl-secret-41d2", "~*", "&*", "+@all"])
        var configuration = try ServiceConfiguration(environment: [
            "ASO_MODE": "embedded", "REDIS_HOST": TestServers.redisConfiguration.host, "REDIS_PORT": String(TestServers.redisConfiguration.port),
            "REDIS_DB": "1", "REDIS_USERNAME": user, "REDIS_PASSWORD": "acl-secret-41d2",
        ]).redis
        let client = RedisClient(configuration: configuration)
        let whoami = try await client.checked(["ACL", "WHOAMI"])
        #expect(whoami.string == user, "\(whoami)")
        let queue = RedisJobQueue(client: client, name: "acl-\(UUID().uuidString.prefix(8))")
        let id = UUID()
        try await queue.enqueue(id)
        #expect(try await queue.claim(owner: "w1", lease: .seconds(30))?.renderID == id)
        await client.close()

        configuration.password = "not-the-password"
        let refused = RedisClient(configuration: configuration)
        await #expect(throws: (any Error).self) { try await refused.checked(["PING"]) }
        await refused.close()
        _ = try await admin.checked(["ACL", "DELUSER", user])
        await admin.close()
    }
}
