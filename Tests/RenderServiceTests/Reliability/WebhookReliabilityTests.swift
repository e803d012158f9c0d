import Foundation
import GRDB
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Webhook receivers that are down, slow, or failing when the service restarts; the receiver
/// (scripts/webhooks/receiver.py) verifies every signature in Python.
@Suite("Reliability: webhooks", .serialized, .tags(.reliability), .timeLimit(.minutes(10)))
struct WebhookReliabilityTests {
    struct Delivery {
        let renderID: String
        let status: String
        let attempts: Int
    }

    static func deployment(_ overrides: [String: String], name: String = #function) -> EmbeddedDeployment {
        EmbeddedDeployment(
            ["WEBHOOK_SECRET": WebhookReceiver.secret, "WEBHOOK_ALLOW_PRIVATE": "true", "WEBHOOK_RETRY_BASE_SECONDS": "1"].merging(overrides) { $1 }, name: name
        )
    }

    static func deliveries(_ deployment: EmbeddedDeployment) throws -> [Delivery] {
        try deployment.database().read { db in
            try Row.fetchAll(db, sql: "SELECT render_id, status, attempts FROM webhook_deliveries ORDER BY created_at").map {
                Delivery(renderID: $0["render_id"], status: $0["status"], attempts: $0["attempts"])
            }
        }
    }

    /// Waits until there are `count` deliveries, each in one of `statuses`.
    static func waitForDeliveries(_ deployment: EmbeddedDeployment, _ count: Int, _ statuses: Set<String>, timeout: Duration = .seconds(90)) async throws
        -> [Delivery]
    {
        let deadline = ContinuousClock.now + timeout
        while true {
            let found = try deliveries(deployment)
            if found.count == count && found.allSatisfy({ statuses.contains($0.status) }) { return found }
            try #require(ContinuousClock.now < deadline, "deliveries not \(statuses): \(found.map { "\($0.status) × \($0.attempts)" })")
            try await Task.sleep(for: .milliseconds(300))
        }
    }

    static func expectEachAttemptOnce(_ requests: [WebhookReceiver.Request]) throws {
        let pairs = requests.map { "\($0.id) \($0.attempt ?? "?")" }
        try #require(Set(pairs).count == pairs.count, "an attempt was delivered twice: \(pairs)")
        try #require(requests.allSatisfy { $0.hmac_valid && $0.reference_valid != false }, "a signature did not verify")
    }

    /// A port nothing listens on.
    static func closedPort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0 }
        }
        try #require(bound)
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func uploads(_ count: Int, to server: ServerProcess, webhook url: String) async throws -> [String] {
        let photo = try Data(contentsOf: URL(fileURLWithPath: Photos.dune))
        var ids: [String] = []
        for _ in 0..<count { ids.append(try await server.acceptedUpload(.renderForm(photo, extra: [("webhook_url", url)]))) }
        return ids
    }

    @Test func aDeadEndpointIsRetriedWithBackoffThenMarkedFailed() async throws {
        let deployment = Self.deployment(["WEBHOOK_RETRY_WINDOW": "12s", "WEBHOOK_TIMEOUT_SECONDS": "2"])
        defer { deployment.cleanUp() }
        let server = try await deployment.start()
        defer { Task { await server.terminate() } }
        let ids = try await Self.uploads(3, to: server, webhook: "http://127.0.0.1:\(try Self.closedPort())/hooks")
        for id in ids { try #require(try await server.waitFor(id) == "completed", "render did not complete") }
        let found = try await Self.waitForDeliveries(deployment, 3, ["failed"], timeout: .seconds(60))
        try #require(found.allSatisfy { $0.attempts >= 2 }, "not retried: \(found.map(\.attempts))")
        let metrics = String(decoding: try await server.request("/metrics").body, as: UTF8.self)
        try #require(metrics.contains(#"webhook_deliveries_total{outcome="failed"} 3"#), "failed deliveries not counted")
        await server.terminate()
        try ReliabilityReport.record(
            .webhooks, part: 1,
            [
                ReliabilityRow(
                    fault: "webhooks to a dead endpoint (connection refused; timeout 2 s, retry window shortened to 12 s)", tries: ids.count,
                    result: "\(found.map(\.attempts).reduce(0, +)) attempts with backoff, then each delivery marked failed and counted; renders completed")
            ])
    }

    @Test func aSlowReceiverTimesOutAndTheRetryIsDelivered() async throws {
        let receiver = try await WebhookReceiver(delay: 4, slowFirst: 1)
        defer { receiver.stop() }
        let deployment = Self.deployment(["WEBHOOK_TIMEOUT_SECONDS": "2"])
        defer { deployment.cleanUp() }
        let server = try await deployment.start()
        defer { Task { await server.terminate() } }
        let ids = try await Self.uploads(3, to: server, webhook: receiver.url)
        let clock = ContinuousClock(), started = clock.now
        try #require(try await server.request("/health/liveness", timeout: .seconds(5)).status == 200, "API not answering")
        _ = try await Self.waitForDeliveries(deployment, 3, ["delivered"])
        let elapsed = clock.now - started
        try await Task.sleep(for: .seconds(4.5))  // the receiver logs a slow request once it has slept through it
        let requests = receiver.requests
        try Self.expectEachAttemptOnce(requests)
        try #require(Set(requests.compactMap(\.render_id)) == Set(ids), "a render's webhook is missing")
        try #require(
            requests.filter { $0.attempt == "2" }.compactMap(\.render_id).sorted() == ids.sorted(),
            "retries: \(requests.map { "\($0.render_id ?? "?") \($0.attempt ?? "?")" })")
        await server.terminate()
        try ReliabilityReport.record(
            .webhooks, part: 2,
            [
                ReliabilityRow(
                    fault: "webhook receiver slower than WEBHOOK_TIMEOUT_SECONDS (4 s on the first attempt, timeout 2 s)", tries: ids.count,
                    result: "first attempts timed out and were retried, all delivered (\(requests.count) requests, signatures verified in Python) "
                        + "within \(Int(elapsed.seconds.rounded())) s; no attempt sent twice")
            ])
    }

    @Test(arguments: [(SIGTERM, "SIGTERM"), (SIGKILL, "SIGKILL")])
    func aRestartBetweenAttemptsLosesNoWebhookAndRepeatsNone(_ signal: Int32, _ label: String) async throws {
        let receiver = try await WebhookReceiver(failFirst: 1, name: "restart-\(label)")
        defer { receiver.stop() }
        let deployment = Self.deployment(["WEBHOOK_RETRY_BASE_SECONDS": "4"], name: "restart-\(label)")
        defer { deployment.cleanUp() }
        let server = try await deployment.start()
        let ids = try await Self.uploads(2, to: server, webhook: receiver.url)
        for id in ids { try #require(try await server.waitFor(id) == "completed", "render did not complete") }
        try await receiver.wait(timeout: .seconds(30)) { $0.count >= 2 }
        await server.stop(signal)
        let restarted = try await deployment.start()
        defer { Task { await restarted.terminate() } }
        _ = try await Self.waitForDeliveries(deployment, 2, ["delivered"])
        try await Task.sleep(for: .seconds(2))
        let requests = receiver.requests
        try Self.expectEachAttemptOnce(requests)
        try #require(requests.filter { $0.answered == 200 }.compactMap(\.render_id).sorted() == ids.sorted(), "delivered: \(requests.map(\.answered))")
        await restarted.terminate()
        try ReliabilityReport.record(
            .webhooks, part: signal == SIGTERM ? 3 : 4,
            [
                ReliabilityRow(
                    fault: "\(label) and restart while 2 webhooks wait for their retry (first attempts got 500)", tries: ids.count,
                    result: "both delivered once after the restart (same webhook-id, attempt 2); no attempt sent twice")
            ])
    }
}
