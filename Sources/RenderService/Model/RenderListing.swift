import Foundation

/// Whose renders a listing shows.
public enum RenderListScope: Sendable, Equatable {
    /// Every render: API keys are off, and every client sees every render (as with
    /// `GET /v1/renders/{id}`).
    case everyone
    /// The renders one API key created (`RenderRecord.owner`).
    case owner(String)
}

/// A place in a listing: just after this render, in the listing's order (`created_at`, then
/// `id`, both descending). Keyset pagination: a page starts strictly after the position, so
/// renders created while a client walks the pages sort before its first page and never shift
/// the pages after it.
public struct RenderListPosition: Sendable, Hashable {
    /// The render's `created_at` in whole microseconds since 1970, exactly as the store keeps
    /// it (both stores keep microseconds), so the comparison neither repeats nor skips a render.
    public var createdAtMicroseconds: Int64
    public var id: UUID

    public init(createdAtMicroseconds: Int64, id: UUID) {
        self.createdAtMicroseconds = createdAtMicroseconds
        self.id = id
    }

    /// The times a position may name: years 1 to 9999. A position beyond them lists the same
    /// renders as one at the bound (all of them, or none), so positions are clamped to them.
    public static let microsecondRange: ClosedRange<Int64> = -62_135_596_800_000_000...253_402_300_799_999_999

    /// `createdAtMicroseconds` within `microsecondRange`.
    public var boundedMicroseconds: Int64 {
        min(max(createdAtMicroseconds, Self.microsecondRange.lowerBound), Self.microsecondRange.upperBound)
    }
}

/// What one page of `GET /v1/renders` asks the store for.
public struct RenderListQuery: Sendable, Equatable {
    public var scope: RenderListScope
    public var status: RenderStatus?
    public var styleID: UUID?
    /// Only renders created at or after this time.
    public var createdFrom: Date?
    /// Only renders created before this time.
    public var createdBefore: Date?
    /// Only renders after this position; nil starts with the newest.
    public var after: RenderListPosition?
    /// At most this many renders (at least 1; the API allows up to 100).
    public var limit: Int

    public init(
        scope: RenderListScope, status: RenderStatus? = nil, styleID: UUID? = nil, createdFrom: Date? = nil, createdBefore: Date? = nil,
        after: RenderListPosition? = nil, limit: Int
    ) {
        self.scope = scope
        self.status = status
        self.styleID = styleID
        self.createdFrom = createdFrom
        self.createdBefore = createdBefore
        self.after = after
        self.limit = limit
    }
}

/// One page of a listing, newest first.
public struct RenderListPage: Sendable, Equatable {
    public var renders: [RenderRecord]
    /// The last render's position when more renders follow it; nil on the last page.
    public var next: RenderListPosition?

    public init(renders: [RenderRecord], next: RenderListPosition?) {
        self.renders = renders
        self.next = next
    }
}
