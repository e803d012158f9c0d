import Foundation

/// Where render jobs and uploaded assets are recorded: SQLite (embedded) or PostgreSQL.
///
/// Status changes are conditional: a render that reached a terminal status never moves again,
/// so a late or duplicate worker cannot overwrite a completed render.
public protocol RenderStore: Sendable {
    /// Records the uploaded original and its render (`queued`) together, or neither.
    func create(_ render: RenderRecord, asset: AssetRecord) async throws
    func render(id: UUID) async throws -> RenderRecord?
    func asset(id: UUID) async throws -> AssetRecord?
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
    /// Cheap round trip for health checks.
    func ping() async throws
}
