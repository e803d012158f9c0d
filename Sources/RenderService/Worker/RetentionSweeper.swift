import Foundation
import Logging
import ServiceLifecycle

/// Deletes what has outlived its retention period: uploaded originals (`ORIGINAL_RETENTION`,
/// once their render is finished), rendered TIFFs and previews (`OUTPUT_RETENTION`, from
/// completion), and idempotency keys older than a day. Objects go first, then the record is
/// marked, so a crash in between only means the delete is tried again. Runs in every API
/// process; replicas sweeping at once only repeat deletes, which are idempotent.
public struct RetentionSweeper: Service {
    let store: any RenderStore
    let objects: any ObjectStore
    let metrics: ServiceMetrics
    let originalRetention: Duration?
    let outputRetention: Duration?
    let idempotencyKeyLifetime: Duration
    let interval: Duration
    let logger: Logger
    static let batch = 200

    init(store: any RenderStore, objects: any ObjectStore, metrics: ServiceMetrics, configuration: ServiceConfiguration, logger: Logger) {
        self.store = store
        self.objects = objects
        self.metrics = metrics
        originalRetention = configuration.originalRetention
        outputRetention = configuration.outputRetention
        idempotencyKeyLifetime = configuration.idempotencyKeyLifetime
        interval = configuration.retentionSweepInterval
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await sweepLogged()
                try? await Task.sleep(for: interval)
            }
        }
    }

    private func sweepLogged() async {
        do {
            let result = try await sweep(now: Date())
            if result.originals + result.outputs + result.keys > 0 {
                logger.info(
                    "Retention sweep deleted expired data",
                    metadata: ["originals": "\(result.originals)", "outputs": "\(result.outputs)", "idempotency_keys": "\(result.keys)"])
            }
        } catch {
            logger.error("Retention sweep failed; will try again", metadata: ["error": "\(error)"])
        }
    }

    /// One pass; returns how many originals, renders' outputs and keys were removed.
    @discardableResult
    public func sweep(now: Date) async throws -> (originals: Int, outputs: Int, keys: Int) {
        var originals = 0, outputs = 0
        if let originalRetention {
            let cutoff = now.addingTimeInterval(-originalRetention.seconds)
            while true {
                let expired = try await store.originalsToExpire(uploadedBefore: cutoff, limit: Self.batch)
                for asset in expired {
                    try await objects.delete(key: asset.storageKey)
                    try await store.markOriginalDeleted(assetID: asset.id, at: now)
                }
                originals += expired.count
                metrics.objectsExpired("original", count: expired.count)
                if expired.count < Self.batch { break }
            }
        }
        if let outputRetention {
            let cutoff = now.addingTimeInterval(-outputRetention.seconds)
            while true {
                let expired = try await store.outputsToExpire(completedBefore: cutoff, limit: Self.batch)
                var deleted = 0
                for render in expired {
                    for key in [render.outputKey, render.previewKey].compactMap({ $0 }) {
                        try await objects.delete(key: key)
                        deleted += 1
                    }
                    try await store.markOutputsDeleted(renderID: render.id, at: now)
                }
                outputs += expired.count
                metrics.objectsExpired("output", count: deleted)
                if expired.count < Self.batch { break }
            }
        }
        let keys = try await store.deleteIdempotencyKeys(before: now.addingTimeInterval(-idempotencyKeyLifetime.seconds))
        return (originals, outputs, keys)
    }
}
