import AsyncHTTPClient
import Foundation
import NIOCore
import PostgresNIO
import Testing

@testable import RenderService

/// Render changes pushed across processes (PostgreSQL NOTIFY from the status trigger, heard by
/// `PostgresRenderChangeListener`): waits answer at once, not at the 10 s safety-net re-read.
extension ProductionStackTests {
    @Test func aWaitOnOneReplicaWakesAtOnceWhenAnotherChangesTheRender() async throws {
        try await Deployment.with { deployment in
            // No workers: the renders stay queued until canceled.
            let apis = [try await deployment.api(), try await deployment.api()]
            for round in ["listening since start", "after its connection was killed"] {
                if round != "listening since start" {
                    // A failover or an idle-session killer drops the listening connections.
                    let killed = try await Self.terminateListeners(database: deployment.environment["DB_NAME"]!)
                    #expect(killed == 2, "one listening session per API process")
                    try await Task.sleep(for: .seconds(2))
                }
                let id = try await Self.upload(apis[0].baseURL)
                let wait = Task { try await Self.waitForChange(id, at: apis[0].baseURL) }
                try await Task.sleep(for: .seconds(1))
                let started = ContinuousClock.now
                var cancel = HTTPClientRequest(url: "\(apis[1].baseURL)/v1/renders/\(id)/cancel")
                cancel.method = .POST
                #expect(try await HTTPClient.shared.execute(cancel, timeout: .seconds(10)).status.code == 200)
                let answer = try await wait.value
                let waited = ContinuousClock.now - started
                #expect(answer.status == "canceled" && answer.applied == "wait=30", "\(round): \(answer)")
                #expect(waited < .seconds(3), "\(round): the wait answered \(waited) after the other replica's cancel")
            }
            #expect(apis[0].log.contains("Listening for render changes again"))
        }
    }

    /// A webhook delivery written by another process (here the test, ending the render in
    /// PostgreSQL) is announced by the outbox's trigger: the API's idle deliverer sends it at
    /// once, not at its slow safety-net poll.
    @Test func aWebhookWrittenByAnotherProcessIsSentAtOnce() async throws {
        let receiver = try await WebhookReceiver()
        defer { receiver.stop() }
        try await Deployment.with(overrides: ["WEBHOOK_SECRET": WebhookReceiver.secret, "WEBHOOK_ALLOW_PRIVATE": "true"]) { deployment in
            let api = try await deployment.api()
            // No workers: the render stays queued until the test ends it.
            let id = try #require(UUID(uuidString: try await Self.upload(api.baseURL, extra: ["webhook_url": receiver.url])))
            try await Task.sleep(for: .seconds(2))
            let client = PostgresClient(
                configuration: TestServers.postgresConfiguration(database: deployment.environment["DB_NAME"]!), backgroundLogger: TestServers.logger)
            let running = Task { await client.run() }
            defer { running.cancel() }
            let started = ContinuousClock.now
            #expect(try await PostgresRenderStore(client: client, logger: TestServers.logger).markCanceled(id: id, at: Date()))
            let requests = try await receiver.wait(timeout: .seconds(30)) { !$0.isEmpty }
            let waited = ContinuousClock.now - started
            #expect(requests.map(\.render_id) == [id.lowercased])
            #expect(waited < .seconds(10), "delivered \(waited) after another process wrote it (the safety net is 30 s)")
        }
    }

    /// `GET /v1/renders/{id}` with `Prefer: wait=30`: the status it answers and `Preference-Applied`.
    static func waitForChange(_ id: String, at base: String) async throws -> (status: String?, applied: String?) {
        var request = HTTPClientRequest(url: "\(base)/v1/renders/\(id)")
        request.headers.add(name: "Prefer", value: "wait=30")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(40))
        let body = try await response.body.collect(upTo: 1 << 20)
        let object = try JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any]
        return (object?["status"] as? String, response.headers.first(name: "Preference-Applied"))
    }

    /// Ends the sessions LISTENing in `database`; returns how many there were.
    static func terminateListeners(database: String) async throws -> Int {
        let client = PostgresClient(configuration: TestServers.postgresConfiguration(database: database), backgroundLogger: TestServers.logger)
        let task = Task { await client.run() }
        defer { task.cancel() }
        var count = 0
        let rows = try await client.query(
            "SELECT count(pg_terminate_backend(pid))::int FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
            logger: TestServers.logger)
        for try await killed in rows.decode(Int.self) { count = killed }
        return count
    }
}
