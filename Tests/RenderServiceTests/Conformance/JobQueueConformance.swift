import Foundation
import Testing

@testable import RenderService

/// What every `JobQueue` must do, run against each implementation.
@Suite("JobQueue conformance")
struct JobQueueConformance {
    @Test(arguments: Implementations.queues)
    func enqueuedJobIsClaimedOnceThenGone(_ impl: QueueUnderTest) async throws {
        let (queue, store, cleanUp) = try await impl.make()
        defer { Task { await cleanUp() } }
        #expect(try await queue.claim(owner: "w1", lease: .seconds(30)) == nil)
        let id = try await queuedRender(in: store)
        try await queue.enqueue(id)
        #expect(try await queue.depth() == 1)
        #expect(try await queue.contains(id))
        let lease = try #require(try await queue.claim(owner: "w1", lease: .seconds(30)))
        #expect(lease.renderID == id && lease.attempt == 1 && lease.owner == "w1")
        #expect(try await queue.depth() == 0)
        #expect(try await queue.contains(id), "in flight counts as known")
        #expect(try await queue.claim(owner: "w2", lease: .seconds(30)) == nil)
        try await queue.complete(lease)
        try await queue.ping()
    }

    @Test(arguments: Implementations.queues)
    func concurrentClaimersNeverShareAJob(_ impl: QueueUnderTest) async throws {
        let (queue, store, cleanUp) = try await impl.make()
        defer { Task { await cleanUp() } }
        var ids = Set<UUID>()
        for _ in 0..<40 {
            let id = try await queuedRender(in: store)
            try await queue.enqueue(id)
            ids.insert(id)
        }
        let claimed = try await withThrowingTaskGroup(of: [UUID].self) { group in
            for worker in 0..<8 {
                group.addTask {
                    var mine: [UUID] = []
                    while let lease = try await queue.claim(owner: "w\(worker)", lease: .seconds(30)) {
                        mine.append(lease.renderID)
                    }
                    return mine
                }
            }
            return try await group.reduce(into: [UUID]()) { $0 += $1 }
        }
        #expect(claimed.count == 40, "every job claimed exactly once")
        #expect(Set(claimed) == ids)
    }

    @Test(arguments: Implementations.queues)
    func leaseCanBeExtendedOnlyByItsOwnerAndExpiredOnesAreRescued(_ impl: QueueUnderTest) async throws {
        let (queue, store, cleanUp) = try await impl.make()
        defer { Task { await cleanUp() } }
        let id = try await queuedRender(in: store)
        try await queue.enqueue(id)
        // Generous leases: the suite shares the machine with renders running in parallel.
        let lease = try #require(try await queue.claim(owner: "w1", lease: .seconds(2)))
        // Taken before the call: the new expiry is at least 4 s after this instant, 2 s past
        // the claimed lease, so an extension that did nothing is reaped too early.
        let extended = ContinuousClock.now
        #expect(try await queue.extend(lease, by: .seconds(4)))
        let impostor = JobLease(renderID: id, attempt: 1, owner: "someone-else")
        #expect(try await !queue.extend(impostor, by: .seconds(30)))
        #expect(try await queue.reapExpired().isEmpty, "lease still valid")
        // Polled until the reaper takes it (deadline 15 s), and not before the lease ran out.
        var reaped: [UUID] = []
        while reaped.isEmpty, ContinuousClock.now - extended < .seconds(15) {
            try await Task.sleep(for: .milliseconds(100))
            reaped = try await queue.reapExpired()
        }
        #expect(reaped == [id])
        #expect(ContinuousClock.now - extended >= .milliseconds(3900), "reaped before its extended lease ran out")
        // The dead worker's lease is gone; a new claim is the second attempt.
        #expect(try await !queue.extend(lease, by: .seconds(30)))
        let again = try #require(try await queue.claim(owner: "w2", lease: .seconds(30)))
        #expect(again.renderID == id && again.attempt == 2)
        // The first worker waking up cannot complete or retry the new owner's job.
        try await queue.retry(lease, after: .zero)
        #expect(try await queue.claim(owner: "w3", lease: .seconds(30)) == nil)
        try await queue.complete(again)
    }

    @Test(arguments: Implementations.queues)
    func retriedJobWaitsForItsDelay(_ impl: QueueUnderTest) async throws {
        let (queue, store, cleanUp) = try await impl.make()
        defer { Task { await cleanUp() } }
        let id = try await queuedRender(in: store)
        try await queue.enqueue(id)
        let lease = try #require(try await queue.claim(owner: "w1", lease: .seconds(30)))
        let retried = ContinuousClock.now
        try await queue.retry(lease, after: .seconds(2))
        #expect(try await queue.claim(owner: "w1", lease: .seconds(30)) == nil, "not before its delay")
        // Polled until it can be claimed again (deadline 15 s), and not before its delay.
        var second: JobLease?
        while second == nil, ContinuousClock.now - retried < .seconds(15) {
            try await Task.sleep(for: .milliseconds(100))
            second = try await queue.claim(owner: "w1", lease: .seconds(30))
        }
        let claimed = try #require(second, "claimable once its delay passed")
        #expect(ContinuousClock.now - retried >= .milliseconds(1900), "claimed before its delay")
        #expect(claimed.renderID == id && claimed.attempt == 2)
    }

    /// An idle worker sleeps until `nextDue`: nil with nothing waiting or only jobs in flight,
    /// now with one ready, a retry's time with one put off.
    @Test(arguments: Implementations.queues)
    func nextDueTellsWhenTheEarliestWaitingJobCanBeClaimed(_ impl: QueueUnderTest) async throws {
        let (queue, store, cleanUp) = try await impl.make()
        defer { Task { await cleanUp() } }
        #expect(try await queue.nextDue() == nil, "nothing waits")
        let id = try await queuedRender(in: store)
        try await queue.enqueue(id)
        #expect(try #require(try await queue.nextDue()).timeIntervalSinceNow <= 0.5, "ready now")
        let lease = try #require(try await queue.claim(owner: "w1", lease: .seconds(30)))
        #expect(try await queue.nextDue() == nil, "in flight")
        let retried = Date()
        try await queue.retry(lease, after: .seconds(60))
        let due = try #require(try await queue.nextDue(), "put off")
        #expect(abs(due.timeIntervalSince(retried) - 60) < 5, "due \(due.timeIntervalSince(retried)) s after the retry")
    }

    /// The store is the only writer of a render's status: whatever the queue does with the job,
    /// the render reads as the store last wrote it, and the queue delivers the job whatever that
    /// status is (the worker, reading the store, drops a render that is already terminal).
    @Test(arguments: Implementations.queues)
    func queueNeverReadsNorWritesARendersStatus(_ impl: QueueUnderTest) async throws {
        let (queue, store, cleanUp) = try await impl.make()
        defer { Task { await cleanUp() } }
        let id = try await queuedRender(in: store)
        func status() async throws -> RenderStatus? { try await store.render(id: id)?.status }
        try await queue.enqueue(id)
        let first = try #require(try await queue.claim(owner: "w1", lease: .milliseconds(300)))
        #expect(try await status() == .queued, "claimed, but not processing until the worker records it")
        _ = try await store.markProcessing(id: id, at: Date())
        #expect(try await queue.extend(first, by: .milliseconds(300)))
        var reaped: [UUID] = []
        let deadline = ContinuousClock.now + .seconds(15)
        while reaped.isEmpty, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            reaped = try await queue.reapExpired()
        }
        #expect(reaped == [id])
        #expect(try await status() == .processing, "rescued, but not queued until the caller records it")
        let second = try #require(try await queue.claim(owner: "w2", lease: .seconds(30)))
        try await queue.retry(second, after: .zero)
        #expect(try await status() == .processing)
        let third = try #require(try await queue.claim(owner: "w3", lease: .seconds(30)))
        #expect(try await store.markCanceled(id: id, at: Date()))
        try await queue.complete(third)
        #expect(try await status() == .canceled)
        try await queue.enqueue(id)
        #expect(try await queue.contains(id))
        #expect(try await queue.claim(owner: "w4", lease: .seconds(30))?.renderID == id, "a terminal render's job is still delivered")
        #expect(try await status() == .canceled)
    }

    @Test(arguments: Implementations.queues)
    func waitForWorkWakesOnEnqueue(_ impl: QueueUnderTest) async throws {
        let (queue, store, cleanUp) = try await impl.make()
        defer { Task { await cleanUp() } }
        let id = try await queuedRender(in: store)
        let clock = ContinuousClock()
        let started = clock.now
        // A long timeout, so waking is told apart from timing out even on a starved machine.
        async let waited: Void = queue.waitForWork(timeout: .seconds(60))
        try await Task.sleep(for: .milliseconds(100))
        let enqueued = clock.now
        try await queue.enqueue(id)
        await waited
        // Far under the 60 s timeout: a wait that ignored the enqueue and slept on misses this.
        // (750 ms proved too tight beside the parallel service suite: Redis took 1.8 s once.)
        #expect(clock.now - enqueued < .seconds(5), "woke \(clock.now - enqueued) after the enqueue")
        #expect(clock.now - started < .seconds(30))
        let timedOut = clock.now
        await queue.waitForWork(timeout: .milliseconds(200))
        #expect(clock.now - timedOut >= .milliseconds(150))
    }

    /// A render recorded as `queued` in the store, ready to be enqueued.
    private func queuedRender(in store: any RenderStore) async throws -> UUID {
        let (render, asset) = Fixtures.pair()
        try await store.create(render, asset: asset)
        return render.id
    }
}
