import Foundation
import Synchronization

/// Any `RenderStore`, timed: every call is `db_query_duration_seconds{operation}` (the method's
/// name: never SQL or ids), and the calls in flight are the connections in use. Status changes
/// made through it wake the long-polls of this process waiting on that render (`changes`), and
/// terminal ones, which write their webhook delivery, this process's deliverer (`deliveries`).
public final class MeasuredRenderStore: RenderStore {
    let base: any RenderStore
    let metrics: ServiceMetrics
    let changes = RenderChangeSignal()
    public let deliveries = WorkSignal()
    private let inFlight = Atomic<Int>(0)

    public init(_ base: any RenderStore, metrics: ServiceMetrics) {
        self.base = base
        self.metrics = metrics
    }

    private func measure<T>(_ operation: String, _ body: () async throws -> T) async throws -> T {
        let started = ContinuousClock.now
        inFlight.add(1, ordering: .relaxed)
        defer {
            inFlight.subtract(1, ordering: .relaxed)
            metrics.dbQuery(operation, duration: ContinuousClock.now - started)
        }
        return try await body()
    }

    /// `db_connections_active` and `db_connections_idle` as of now (called by `/metrics`).
    public func recordConnections() async {
        guard let open = try? await base.openConnections() else { return }
        let active = inFlight.load(ordering: .relaxed)
        metrics.dbConnections(active: active, idle: max(0, open - active))
    }

    public func openConnections() async throws -> Int { try await base.openConnections() }

    public func create(_ render: RenderRecord, asset: AssetRecord?, idempotency: IdempotencyKey?) async throws -> IdempotentRequest? {
        try await measure("create") { try await base.create(render, asset: asset, idempotency: idempotency) }
    }
    public func createAsset(_ asset: AssetRecord) async throws {
        try await measure("create_asset") { try await base.createAsset(asset) }
    }
    public func idempotentRequest(owner: String, key: String, validAfter: Date) async throws -> IdempotentRequest? {
        try await measure("idempotent_request") { try await base.idempotentRequest(owner: owner, key: key, validAfter: validAfter) }
    }
    public func deleteIdempotencyKeys(before: Date) async throws -> Int {
        try await measure("delete_idempotency_keys") { try await base.deleteIdempotencyKeys(before: before) }
    }
    public func render(id: UUID) async throws -> RenderRecord? { try await measure("render") { try await base.render(id: id) } }
    public func asset(id: UUID) async throws -> AssetRecord? { try await measure("asset") { try await base.asset(id: id) } }
    public func listRenders(_ query: RenderListQuery) async throws -> RenderListPage {
        try await measure("list_renders") { try await base.listRenders(query) }
    }
    public func markProcessing(id: UUID, at: Date) async throws -> RenderRecord? {
        defer { changes.signal(id) }
        return try await measure("mark_processing") { try await base.markProcessing(id: id, at: at) }
    }
    public func markQueued(id: UUID) async throws {
        defer { changes.signal(id) }
        try await measure("mark_queued") { try await base.markQueued(id: id) }
    }
    public func markCompleted(id: UUID, _ result: CompletedRender) async throws -> Bool {
        defer { changes.signal(id) }
        return ended(try await measure("mark_completed") { try await base.markCompleted(id: id, result) })
    }
    public func markFailed(id: UUID, message: String, at: Date) async throws -> Bool {
        defer { changes.signal(id) }
        return ended(try await measure("mark_failed") { try await base.markFailed(id: id, message: message, at: at) })
    }
    public func markCanceled(id: UUID, at: Date) async throws -> Bool {
        defer { changes.signal(id) }
        return ended(try await measure("mark_canceled") { try await base.markCanceled(id: id, at: at) })
    }
    /// A render that reached a terminal status may have a webhook delivery to make.
    private func ended(_ changed: Bool) -> Bool {
        if changed { deliveries.notify() }
        return changed
    }
    public func renderIDs(status: RenderStatus, limit: Int) async throws -> [UUID] {
        try await measure("render_ids") { try await base.renderIDs(status: status, limit: limit) }
    }
    public func count(status: RenderStatus) async throws -> Int { try await measure("count") { try await base.count(status: status) } }
    public func originalsToExpire(uploadedBefore: Date, limit: Int) async throws -> [AssetRecord] {
        try await measure("originals_to_expire") { try await base.originalsToExpire(uploadedBefore: uploadedBefore, limit: limit) }
    }
    public func markOriginalDeleted(assetID: UUID, at: Date) async throws {
        try await measure("mark_original_deleted") { try await base.markOriginalDeleted(assetID: assetID, at: at) }
    }
    public func outputsToExpire(completedBefore: Date, limit: Int) async throws -> [RenderRecord] {
        try await measure("outputs_to_expire") { try await base.outputsToExpire(completedBefore: completedBefore, limit: limit) }
    }
    public func markOutputsDeleted(renderID: UUID, at: Date) async throws {
        try await measure("mark_outputs_deleted") { try await base.markOutputsDeleted(renderID: renderID, at: at) }
    }
    public func ping() async throws { try await measure("ping") { try await base.ping() } }
}
