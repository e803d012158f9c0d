import Foundation
import Testing

@testable import RenderService

/// A render store and the webhook outbox over one database; `reopen` gives another pair over the
/// same data, as a restarted (or another) process sees it.
struct OutboxUnderTest: Sendable, CustomTestStringConvertible {
    typealias Pair = (store: any RenderStore, outbox: any WebhookOutbox)
    let name: String
    let make: @Sendable () async throws -> (pair: Pair, reopen: @Sendable () async throws -> Pair, cleanUp: @Sendable () async -> Void)
    var testDescription: String { name }

    static let all: [OutboxUnderTest] =
        [
            OutboxUnderTest(name: "SQLite") {
                let directory = temporaryDirectory("sqlite-outbox")
                let open: @Sendable () async throws -> Pair = {
                    let database = try SQLiteDatabase(path: "\(directory)/test.sqlite")
                    return (SQLiteRenderStore(database: database), SQLiteWebhookOutbox(database: database))
                }
                return (try await open(), open, { try? FileManager.default.removeItem(atPath: directory) })
            }
        ]
        + (TestServers.hasPostgres
            ? [
                OutboxUnderTest(name: "PostgreSQL") {
                    let (client, cleanUp) = try await TestServers.postgresDatabase()
                    let open: @Sendable () async throws -> Pair = {
                        (PostgresRenderStore(client: client, logger: TestServers.logger), PostgresWebhookOutbox(client: client, logger: TestServers.logger))
                    }
                    return (try await open(), open, cleanUp)
                }
            ] : [])
}

/// A render that names `url` and has reached `status`.
func endedRender(_ store: any RenderStore, url: String?, status: RenderStatus = .completed, at date: Date = Date()) async throws -> UUID {
    var (render, asset) = Fixtures.pair()
    render.webhookURL = url
    try await store.create(render, asset: asset)
    _ = try await store.markProcessing(id: render.id, at: date)
    switch status {
    case .failed: try await store.markFailed(id: render.id, message: "Corrupt image", at: date)
    case .canceled: try await store.markCanceled(id: render.id, at: date)
    default:
        try await store.markCompleted(
            id: render.id, CompletedRender(outputKey: "o", previewKey: "p", completedAt: date, durationMs: 5, effectiveDPI: 300, warnings: [], seed: 1))
    }
    return render.id
}

@Suite("WebhookOutbox conformance")
struct WebhookOutboxConformance {
    @Test(arguments: OutboxUnderTest.all)
    func terminalStatusEnqueuesOneDeliveryWithIt(_ impl: OutboxUnderTest) async throws {
        let ((store, outbox), _, cleanUp) = try await impl.make()
        defer { Task { await cleanUp() } }
        let url = "https://shop.example/hooks?x=1"
        for (status, event) in [(RenderStatus.completed, "render.completed"), (.failed, "render.failed"), (.canceled, "render.canceled")] {
            let id = try await endedRender(store, url: url, status: status)
            #expect(try await store.render(id: id)?.webhookURL == url)
            let deliveries = try await outbox.deliveries(renderID: id)
            #expect(deliveries.count == 1)
            #expect(deliveries.first?.event == event && deliveries.first?.url == url && deliveries.first?.status == .pending)
            #expect(deliveries.first?.attempts == 0)
            // A late second terminal change does nothing, and enqueues nothing.
            #expect(try await store.markFailed(id: id, message: "late", at: Date()) == false)
            #expect(try await outbox.deliveries(renderID: id).count == 1)
        }
        let silent = try await endedRender(store, url: nil)
        #expect(try await outbox.deliveries(renderID: silent).isEmpty)
        #expect(try await outbox.pending().count == 3)
    }

    @Test(arguments: OutboxUnderTest.all)
    func onlyTheClaimantOfAnAttemptRecordsIt(_ impl: OutboxUnderTest) async throws {
        let ((store, outbox), _, cleanUp) = try await impl.make()
        defer { Task { await cleanUp() } }
        let now = Date()
        let id = try await endedRender(store, url: "https://shop.example/hooks", at: now.addingTimeInterval(-1))
        let first = try await outbox.claimDue(now: now, limit: 10, worker: "a", lease: .seconds(60))
        #expect(first.map(\.renderID) == [id] && first.first?.attempts == 1)
        #expect(try await outbox.claimDue(now: now, limit: 10, worker: "b", lease: .seconds(60)).isEmpty, "leased")
        #expect(try await Self.nextAttempt(outbox, after: now) == 60, "claimable again when the lease runs out")
        #expect(try await outbox.markDelivered(first[0], worker: "b", at: now) == false, "not b's attempt")
        #expect(try await outbox.scheduleRetry(first[0], worker: "a", next: now.addingTimeInterval(10), error: "HTTP 500"))
        #expect(try await Self.nextAttempt(outbox, after: now) == 10, "claimable at the retry's time")
        #expect(try await outbox.claimDue(now: now, limit: 10, worker: "b", lease: .seconds(60)).isEmpty, "not due yet")
        let second = try await outbox.claimDue(now: now.addingTimeInterval(11), limit: 10, worker: "b", lease: .seconds(60))
        #expect(second.first?.attempts == 2 && second.first?.lastError == "HTTP 500")
        #expect(try await outbox.markDelivered(first[0], worker: "a", at: now) == false, "attempt 1 is over")
        #expect(try await outbox.markDelivered(second[0], worker: "b", at: now.addingTimeInterval(12)))
        let done = try #require(try await outbox.deliveries(renderID: id).first)
        #expect(done.status == .delivered && done.finishedAt != nil && done.attempts == 2)
        #expect(try await outbox.pending().count == 0)
        #expect(try await outbox.pending().nextAttempt == nil)
        #expect(try await outbox.claimDue(now: now.addingTimeInterval(3600), limit: 10, worker: "c", lease: .seconds(60)).isEmpty)
    }

    /// Seconds from `date` to the earliest time a pending delivery can be claimed, to the millisecond.
    private static func nextAttempt(_ outbox: any WebhookOutbox, after date: Date) async throws -> Double? {
        try await outbox.pending().nextAttempt.map { ($0.timeIntervalSince(date) * 1000).rounded() / 1000 }
    }

    @Test(arguments: OutboxUnderTest.all)
    func anExpiredLeaseIsClaimedAgainAsANewAttempt(_ impl: OutboxUnderTest) async throws {
        let ((store, outbox), _, cleanUp) = try await impl.make()
        defer { Task { await cleanUp() } }
        let now = Date()
        let id = try await endedRender(store, url: "https://shop.example/hooks", at: now.addingTimeInterval(-1))
        let dead = try await outbox.claimDue(now: now, limit: 1, worker: "dead", lease: .seconds(5))
        #expect(dead.count == 1)
        #expect(try await outbox.claimDue(now: now.addingTimeInterval(4), limit: 1, worker: "b", lease: .seconds(5)).isEmpty)
        let again = try await outbox.claimDue(now: now.addingTimeInterval(6), limit: 1, worker: "b", lease: .seconds(5))
        #expect(again.first?.attempts == 2)
        #expect(try await outbox.markFailed(dead[0], worker: "dead", error: "x", at: now) == false)
        #expect(try await outbox.markFailed(again[0], worker: "b", error: "gave up", at: now.addingTimeInterval(7)))
        #expect(try await outbox.deliveries(renderID: id).first?.status == .failed)
        #expect(try await outbox.deliveries(renderID: id).first?.lastError == "gave up")
    }

    @Test(arguments: OutboxUnderTest.all)
    func concurrentClaimersTakeDisjointDeliveries(_ impl: OutboxUnderTest) async throws {
        let ((store, outbox), reopen, cleanUp) = try await impl.make()
        defer { Task { await cleanUp() } }
        let other = try await reopen().outbox
        var ids: Set<UUID> = []
        for _ in 0..<30 { ids.insert(try await endedRender(store, url: "https://shop.example/hooks", at: Date().addingTimeInterval(-1))) }
        async let a = Self.claimAll(outbox, worker: "a")
        async let b = Self.claimAll(other, worker: "b")
        let (fromA, fromB) = try await (a, b)
        #expect(Set(fromA).isDisjoint(with: fromB))
        #expect(Set(fromA).union(fromB) == ids && fromA.count + fromB.count == 30)
    }

    private static func claimAll(_ outbox: any WebhookOutbox, worker: String) async throws -> [UUID] {
        var claimed: [UUID] = []
        while true {
            let batch = try await outbox.claimDue(now: Date(), limit: 3, worker: worker, lease: .seconds(60))
            if batch.isEmpty { return claimed }
            claimed += batch.map(\.renderID)
            await Task.yield()
        }
    }
}
