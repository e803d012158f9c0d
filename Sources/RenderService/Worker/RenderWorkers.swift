import Foundation
import Logging
import NIOPosix
import RenderEngine
import ServiceLifecycle
import Synchronization

/// Render workers: claim a job, render it on a dedicated thread pool (never on the Swift
/// cooperative pool or the event loops, so the API stays fast while a 24x36 renders), store
/// the outputs, record the result. Also the queue's housekeeping: reaping expired leases,
/// re-enqueueing renders the queue lost, and the queue-depth gauge.
///
/// On graceful shutdown the workers stop claiming, let in-flight renders finish within the
/// grace period, then cancel the rest at their next checkpoint and hand them back to the queue.
public final class RenderWorkers: Service, Sendable {
    public struct Settings: Sendable {
        public var concurrency: Int
        public var maxAttempts: Int
        public var lease: Duration
        public var gracePeriod: Duration
        public var workDirectory: String
        /// How often expired leases are reaped and lost jobs re-enqueued.
        public var maintenanceInterval: Duration = .seconds(5)
        /// First retry delay; doubles per attempt, with jitter, capped at `retryDelayCap`.
        public var retryBaseDelay: Duration = .seconds(2)
        public var retryDelayCap: Duration = .seconds(60)
        /// Longest an idle worker sleeps with no notice and no delayed job due: it only bounds
        /// what a lost notice costs, since whatever makes work claimable wakes the workers.
        public var idleSafetyNet: Duration = .seconds(30)
        /// The pause after a failed claim (the queue unreachable).
        public var failedClaimPause: Duration = .seconds(1)
        /// How often shutdown checks whether in-flight renders have finished.
        public var drainCheckInterval: Duration = .milliseconds(100)
        /// Queued renders the reconciler checks against the queue per pass.
        public var reconcileBatch = 500
        /// How often a render in progress re-reads its status though no change woke it (a
        /// customer's cancel normally arrives through `RenderChangeSignal` at once).
        public var cancelSafetyNet: Duration = .seconds(10)

        public init(concurrency: Int, maxAttempts: Int, lease: Duration, gracePeriod: Duration, workDirectory: String) {
            self.concurrency = concurrency
            self.maxAttempts = maxAttempts
            self.lease = lease
            self.gracePeriod = gracePeriod
            self.workDirectory = workDirectory
        }
    }

    let engine: RenderEngine
    let store: any RenderStore
    /// Wakes a render's cancel watch when its status changes.
    let changes: RenderChangeSignal
    let queue: any JobQueue
    let objects: any ObjectStore
    let metrics: ServiceMetrics
    let settings: Settings
    let logger: Logger
    let threads: NIOThreadPool
    let owner: String
    private let stopping = Atomic<Bool>(false)
    private let cancelInFlight = Atomic<Bool>(false)
    private let inFlight = Atomic<Int>(0)

    public init(
        engine: RenderEngine, store: any RenderStore, changes: RenderChangeSignal, queue: any JobQueue, objects: any ObjectStore,
        metrics: ServiceMetrics, settings: Settings, logger: Logger
    ) {
        self.engine = engine
        self.store = store
        self.changes = changes
        self.queue = queue
        self.objects = objects
        self.metrics = metrics
        self.settings = settings
        self.logger = logger
        self.threads = NIOThreadPool(numberOfThreads: max(1, settings.concurrency))
        threads.start()
        let host = ProcessInfo.processInfo.hostName
        self.owner = "\(host):\(ProcessInfo.processInfo.processIdentifier):\(UUID().uuidString.prefix(8))"
    }

    public func run() async throws {
        try? FileManager.default.createDirectory(atPath: settings.workDirectory, withIntermediateDirectories: true)
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                for index in 0..<settings.concurrency {
                    group.addTask { await self.workLoop(index: index) }
                }
                group.addTask { await self.maintenanceLoop() }
                group.addTask { await self.cancelAfterGracePeriod() }
                await group.waitForAll()
            }
        } onGracefulShutdown: {
            self.stopping.store(true, ordering: .sequentiallyConsistent)
        }
        try await shutdownThreads()
    }

    /// Stops the render threads (after `run` returns, or when driving `process` directly).
    public func shutdownThreads() async throws {
        try await threads.shutdownGracefully()
    }

    /// Graceful shutdown began, or the service's task was cancelled outright. Every loop
    /// checks this: a cancelled task's sleeps return at once, so a loop that only waited for
    /// the graceful-shutdown flag would spin.
    var isStopping: Bool { stopping.load(ordering: .sequentiallyConsistent) || Task.isCancelled }

    private func workLoop(index: Int) async {
        let workerOwner = "\(owner)#\(index)"
        while !isStopping {
            do {
                guard let lease = try await queue.claim(owner: workerOwner, lease: settings.lease) else {
                    let pause = idlePause(nextDue: try await queue.nextDue())
                    await cancelWhenGracefulShutdown { await self.queue.waitForWork(timeout: pause) }
                    continue
                }
                await process(lease)
            } catch {
                logger.error("Queue claim failed", metadata: ["error": "\(error)"])
                let pause = settings.failedClaimPause
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: pause) }
            }
        }
    }

    /// With nothing to claim: until the earliest delayed job is due, at most `idleSafetyNet`.
    func idlePause(nextDue: Date?) -> Duration {
        guard let nextDue else { return settings.idleSafetyNet }
        return min(settings.idleSafetyNet, .milliseconds(max(0, Int((nextDue.timeIntervalSinceNow * 1000).rounded(.up)))))
    }

    /// After shutdown begins, waits out the grace period, then asks in-flight renders to stop.
    private func cancelAfterGracePeriod() async {
        // Returns when shutdown begins, or at once when the task is cancelled.
        try? await gracefulShutdown()
        let deadline = ContinuousClock.now + settings.gracePeriod
        // Cancelled outright (not a graceful shutdown): no grace period.
        while !Task.isCancelled, inFlight.load(ordering: .sequentiallyConsistent) > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: settings.drainCheckInterval)
        }
        cancelInFlight.store(true, ordering: .sequentiallyConsistent)
    }

    private func maintenanceLoop() async {
        while !isStopping {
            await maintain()
            let interval = settings.maintenanceInterval
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }

    /// Reaper, reconciler and gauges; also called by tests.
    public func maintain() async {
        do {
            let rescued = try await queue.reapExpired()
            if !rescued.isEmpty {
                for id in rescued { try await store.markQueued(id: id) }
                metrics.jobsRescued(rescued.count)
                logger.warning("Re-queued renders whose worker stopped", metadata: ["count": "\(rescued.count)"])
            }
            // Renders recorded as queued that the queue does not know (enqueue failed after the
            // record was written): enqueue them again so none is silently lost.
            for id in try await store.renderIDs(status: .queued, limit: settings.reconcileBatch) where try await !queue.contains(id) {
                try await queue.enqueue(id)
                logger.warning("Re-enqueued a render missing from the queue", metadata: ["render_id": "\(id.lowercased)"])
            }
            metrics.queueDepth(try await queue.depth())
        } catch {
            logger.error("Queue maintenance failed", metadata: ["error": "\(error)"])
        }
    }

    /// One claimed job, start to finish. Never throws: every outcome is recorded.
    func process(_ lease: JobLease) async {
        let id = lease.renderID
        var log = logger
        log[metadataKey: "render_id"] = "\(id.lowercased)"
        log[metadataKey: "attempt"] = "\(lease.attempt)"
        inFlight.add(1, ordering: .sequentiallyConsistent)
        metrics.jobsInProgress(inFlight.load(ordering: .sequentiallyConsistent))
        defer {
            inFlight.subtract(1, ordering: .sequentiallyConsistent)
            metrics.jobsInProgress(inFlight.load(ordering: .sequentiallyConsistent))
        }

        let started = Date()
        let record: RenderRecord
        do {
            guard let claimed = try await store.markProcessing(id: id, at: started) else {
                // Completed, failed or canceled meanwhile (a duplicate delivery): nothing to do.
                try await queue.complete(lease)
                return
            }
            record = claimed
        } catch {
            log.error("Could not mark render processing", metadata: ["error": "\(error)"])
            try? await queue.retry(lease, after: retryDelay(attempt: lease.attempt))
            return
        }
        log[metadataKey: "asset_id"] = "\(record.assetID.lowercased)"
        log.info("Render started")

        let lost = Atomic<Bool>(false)
        let heartbeat = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: settings.lease / 3)
                if Task.isCancelled { break }
                if (try? await queue.extend(lease, by: settings.lease)) == false {
                    lost.store(true, ordering: .sequentiallyConsistent)
                    break
                }
            }
        }
        defer { heartbeat.cancel() }
        // A customer's cancel reaches the worker through the store, whichever API replica took
        // it: the change signal wakes this watch, which then reads the status.
        let canceled = Atomic<Bool>(false)
        let cancelWatch = Task {
            await changes.watching(id) { watch in
                // Read once the watch is armed, so a cancel taken just before it is not missed.
                while !Task.isCancelled {
                    if (try? await store.render(id: id))?.status == .canceled {
                        canceled.store(true, ordering: .sequentiallyConsistent)
                        break
                    }
                    await watch.wait(timeout: settings.cancelSafetyNet)
                }
            }
        }
        defer { cancelWatch.cancel() }

        let workDirectory = "\(settings.workDirectory)/\(id.lowercased)-\(lease.attempt)-\(UUID().uuidString.prefix(6))"
        defer { try? FileManager.default.removeItem(atPath: workDirectory) }
        do {
            let outcome = try await render(
                record, in: workDirectory,
                isCanceled: { [self] in
                    lost.load(ordering: .sequentiallyConsistent) || canceled.load(ordering: .sequentiallyConsistent)
                        || cancelInFlight.load(ordering: .sequentiallyConsistent)
                })
            try await objects.put(key: ObjectKeys.output(render: id), fileAt: "\(workDirectory)/output.tiff", contentType: "image/tiff", consume: true)
            try await objects.put(key: ObjectKeys.preview(render: id), fileAt: "\(workDirectory)/preview.jpg", contentType: "image/jpeg", consume: true)
            let completedAt = Date()
            let durationMs = Int((completedAt.timeIntervalSince(started) * 1000).rounded())
            let recorded = try await store.markCompleted(
                id: id,
                CompletedRender(
                    outputKey: ObjectKeys.output(render: id), previewKey: ObjectKeys.preview(render: id), completedAt: completedAt,
                    durationMs: durationMs, effectiveDPI: outcome.effectiveDPI, warnings: outcome.warnings, seed: outcome.seed))
            try await queue.complete(lease)
            guard recorded else {
                // Canceled (or failed elsewhere) while the outputs were going up: remove them.
                try? await objects.delete(key: ObjectKeys.output(render: id))
                try? await objects.delete(key: ObjectKeys.preview(render: id))
                log.warning("Render finished after it left processing; result discarded")
                return
            }
            metrics.jobProcessed(duration: .milliseconds(durationMs))
            for (stage, ms) in outcome.timingsMs where stage != "total" { metrics.renderStage(stage, milliseconds: ms) }
            log.info("Render completed", metadata: ["duration_ms": .stringConvertible(durationMs), "effective_dpi": "\(outcome.effectiveDPI)"])
        } catch let error as RenderError where Self.isPermanent(error) {
            await fail(lease, message: error.message, log: log)
        } catch  where (error as? RenderError)?.code == .canceled && canceled.load(ordering: .sequentiallyConsistent) {
            try? await queue.complete(lease)
            log.info("Render canceled by the customer; work discarded")
        } catch let error as RenderError where error.code == .canceled {
            // Shutting down or the lease was lost: give the job back untouched.
            if lost.load(ordering: .sequentiallyConsistent) {
                log.warning("Lease lost during render; another worker owns it now")
                return
            }
            log.info("Render interrupted by shutdown; returned to the queue")
            try? await queue.retry(lease, after: .zero)
            try? await store.markQueued(id: id)
        } catch {
            if lease.attempt < settings.maxAttempts {
                let delay = retryDelay(attempt: lease.attempt)
                log.warning("Render attempt failed; will retry", metadata: ["error": "\(error)", "retry_in_ms": "\(Int(milliseconds(delay)))"])
                metrics.jobRetried()
                try? await queue.retry(lease, after: delay)
                try? await store.markQueued(id: id)
            } else {
                // The client sees what it can act on; the cause (a storage or database message,
                // paths, hosts) goes to the log only.
                log.error("Render failed on its last attempt", metadata: ["error": "\(error)", "attempt": "\(lease.attempt)"])
                await fail(
                    lease,
                    message:
                        "Rendering failed after \(lease.attempt) attempts because of a problem on our side, not with your photo. Create the render again; if it keeps failing, contact support with this render's id.",
                    log: log)
            }
        }
    }

    private func fail(_ lease: JobLease, message: String, log: Logger) async {
        do {
            try await store.markFailed(id: lease.renderID, message: message, at: Date())
            try await queue.complete(lease)
            metrics.jobFailed()
            log.warning("Render failed", metadata: ["error_message": "\(message)"])
        } catch {
            log.error("Could not record a failed render", metadata: ["error": "\(error)"])
        }
    }

    /// Input problems do not get better by trying again.
    static func isPermanent(_ error: RenderError) -> Bool {
        [.unsupportedFormat, .emptyFile, .corruptImage, .tooManyPixels, .invalidRequest].contains(error.code)
    }

    private func retryDelay(attempt: Int) -> Duration {
        Backoff(base: settings.retryBaseDelay, cap: settings.retryDelayCap).delay(attempt: attempt)
    }

    private func render(_ record: RenderRecord, in directory: String, isCanceled: @escaping @Sendable () -> Bool) async throws -> RenderOutcome {
        guard let style = StyleCatalog.find(id: record.styleID) else {
            throw RenderError(.invalidRequest, "The render's style no longer exists")
        }
        guard let preset = record.paper else {
            throw RenderError(.invalidRequest, "The render's size preset no longer exists")
        }
        guard let asset = try await store.asset(id: record.assetID) else {
            throw RenderError(.invalidRequest, "The uploaded photo for this render is missing")
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let input = "\(directory)/original.\((asset.storageKey as NSString).pathExtension)"
        try await objects.download(key: asset.storageKey, to: input)
        let job = RenderJob(
            input: input, style: style, parameters: record.styleParameters, preset: preset, orientation: record.orientation,
            fit: record.fit, print: record.print, seed: record.seed, masterPath: "\(directory)/output.tiff", previewPath: "\(directory)/preview.jpg",
            isCanceled: isCanceled)
        let engine = self.engine
        return try await threads.runIfActive { try engine.render(job) }
    }
}
