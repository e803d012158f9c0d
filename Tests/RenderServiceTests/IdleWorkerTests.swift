import Foundation
import Logging
import RenderEngine
import Testing

@testable import RenderService

/// Idle render workers do not poll the queue: with a safety net of an hour, they take a retry
/// when it falls due and an expired lease's job as soon as their reaper puts it back.
@Suite("Idle render workers")
struct IdleWorkerTests {
    @Test(arguments: Implementations.queues)
    func anIdleWorkerTakesARetryWhenItIsDue(_ impl: QueueUnderTest) async throws {
        let (queue, store, cleanUp) = try await impl.make()
        defer { Task { await cleanUp() } }
        let id = try await Self.queuedRender(in: store)
        try await queue.enqueue(id)
        let earlier = try #require(try await queue.claim(owner: "an-earlier-attempt", lease: .seconds(60)))
        let retried = ContinuousClock.now
        try await queue.retry(earlier, after: .seconds(3))
        try await Self.withIdleWorkers(queue: queue, store: store) {
            try await eventually(timeout: .seconds(60)) { try await store.render(id: id)?.status == .failed }
        }
        let waited = ContinuousClock.now - retried
        #expect(waited >= .milliseconds(2900), "claimed \(waited) after a retry due in 3 s")
        #expect(waited < .seconds(20), "claimed \(waited) after a retry due in 3 s (the safety net is an hour)")
    }

    @Test(arguments: Implementations.queues)
    func anIdleWorkerTakesAnExpiredLeasesJobOnceReaped(_ impl: QueueUnderTest) async throws {
        let (queue, store, cleanUp) = try await impl.make()
        defer { Task { await cleanUp() } }
        let id = try await Self.queuedRender(in: store)
        try await queue.enqueue(id)
        let claimed = ContinuousClock.now
        _ = try #require(try await queue.claim(owner: "a-dead-worker", lease: .seconds(2)))
        try await Self.withIdleWorkers(queue: queue, store: store) {
            try await eventually(timeout: .seconds(60)) { try await store.render(id: id)?.status == .failed }
        }
        let waited = ContinuousClock.now - claimed
        #expect(waited >= .milliseconds(1900), "claimed \(waited) after a lease of 2 s was taken")
        #expect(waited < .seconds(20), "claimed \(waited) after a lease of 2 s was taken (the safety net is an hour)")
    }

    /// Runs `body` while two idle workers (safety net an hour, reaper every 0.5 s) serve the
    /// queue. Their one attempt fails (the photo is in no object store), so a render they took
    /// ends `failed`.
    private static func withIdleWorkers(queue: any JobQueue, store: any RenderStore, _ body: () async throws -> Void) async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let objects = try LocalObjectStore(
            root: "\(directory)/objects", signer: URLSigner(secret: Data("test-signing-secret-0123456789abcdef".utf8)),
            publicBaseURL: URL(string: "http://localhost")!)
        var settings = RenderWorkers.Settings(concurrency: 2, maxAttempts: 1, lease: .seconds(30), gracePeriod: .seconds(1), workDirectory: "\(directory)/work")
        settings.idleSafetyNet = .seconds(3600)
        settings.maintenanceInterval = .milliseconds(500)
        let workers = RenderWorkers(
            engine: try RenderEngine(), store: store, changes: RenderChangeSignal(), queue: queue, objects: objects, metrics: ServiceMetrics(),
            settings: settings, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        let running = Task { try await workers.run() }
        defer { running.cancel() }
        try await body()
        running.cancel()
        try await running.value
    }

    private static func queuedRender(in store: any RenderStore) async throws -> UUID {
        let (render, asset) = Fixtures.pair()
        try await store.create(render, asset: asset)
        return render.id
    }
}
