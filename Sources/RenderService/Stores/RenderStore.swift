import Foundation

/// Where render jobs and uploaded assets are recorded: SQLite (embedded) or PostgreSQL.
///
/// Status changes are conditional: a render that reached a terminal status never moves again,
/// so a late or duplicate worker cannot overwrite a completed render.
public protocol RenderStore: Sendable {
    /// Records the uploaded original and its render (`queued`) together, or neither; `asset` is
    /// nil when the render uses an asset recorded before (`createAsset`). With an idempotency
    /// key, also records the key — unless an unexpired use of it exists, in which case nothing
    /// is written and that earlier use is returned.
    func create(_ render: RenderRecord, asset: AssetRecord?, idempotency: IdempotencyKey?) async throws -> IdempotentRequest?
    /// Records an original uploaded on its own (`POST /v1/assets`), to be rendered later.
    func createAsset(_ asset: AssetRecord) async throws
    /// The unexpired earlier use of an idempotency key, if any.
    func idempotentRequest(owner: String, key: String, validAfter: Date) async throws -> IdempotentRequest?
    /// Forgets idempotency keys recorded before a date; returns how many.
    @discardableResult
    func deleteIdempotencyKeys(before: Date) async throws -> Int
    func render(id: UUID) async throws -> RenderRecord?
    func asset(id: UUID) async throws -> AssetRecord?
    /// One page of renders, newest first (`created_at`, then `id`, descending), filtered and
    /// scoped as the query says (`GET /v1/renders`). Keyset pagination: a page holds the renders
    /// after `query.after`, so a client walking the pages while renders are created sees every
    /// render that existed when it started exactly once.
    func listRenders(_ query: RenderListQuery) async throws -> RenderListPage
    /// `queued`/`processing` → `processing` with `started_at`. Returns the render when it may
    /// be worked on, nil when it does not exist or is already terminal.
    func markProcessing(id: UUID, at: Date) async throws -> RenderRecord?
    /// → `queued` again (a retry or a rescued job). No effect on terminal renders.
    func markQueued(id: UUID) async throws
    /// → `completed`. Returns false when the render was no longer in flight.
    @discardableResult
    func markCompleted(id: UUID, _ result: CompletedRender) async throws -> Bool
    /// → `failed` with a message a customer can read.
    @discardableResult
    func markFailed(id: UUID, message: String, at: Date) async throws -> Bool
    /// `queued`/`processing` → `canceled` (a customer's cancel). Returns false when the render
    /// was already terminal; a worker rendering it notices at its next checkpoint.
    @discardableResult
    func markCanceled(id: UUID, at: Date) async throws -> Bool
    /// Ids of renders in a status, oldest first (the reconciler's view of what should be queued).
    func renderIDs(status: RenderStatus, limit: Int) async throws -> [UUID]
    func count(status: RenderStatus) async throws -> Int
    /// Retention: originals uploaded before a date whose renders are all terminal and that are
    /// still stored, oldest first.
    func originalsToExpire(uploadedBefore: Date, limit: Int) async throws -> [AssetRecord]
    func markOriginalDeleted(assetID: UUID, at: Date) async throws
    /// Retention: completed renders finished before a date whose outputs are still stored.
    func outputsToExpire(completedBefore: Date, limit: Int) async throws -> [RenderRecord]
    func markOutputsDeleted(renderID: UUID, at: Date) async throws
    /// Cheap round trip for health checks.
    func ping() async throws
    /// Connections this process holds to the database (PostgreSQL: its sessions as the server
    /// sees them; SQLite: the pool's writer and readers).
    func openConnections() async throws -> Int
}

extension RenderStore {
    public func create(_ render: RenderRecord, asset: AssetRecord) async throws {
        _ = try await create(render, asset: asset, idempotency: nil)
    }
}
