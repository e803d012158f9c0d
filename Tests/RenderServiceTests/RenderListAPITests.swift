import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import RenderEngine
import Testing

@testable import RenderService

/// The HTTP layer over one store: the embedded service's own SQLite, or PostgreSQL in place of it.
struct ListBackend: Sendable, CustomTestStringConvertible {
    let name: String
    let replacement: (@Sendable () async throws -> (store: any RenderStore, cleanUp: @Sendable () async -> Void))?
    var testDescription: String { name }

    static let all: [ListBackend] =
        [ListBackend(name: "SQLite", replacement: nil)]
        + (TestServers.hasPostgres
            ? [
                ListBackend(name: "PostgreSQL") {
                    let (client, cleanUp) = try await TestServers.postgresDatabase()
                    return (PostgresRenderStore(client: client, logger: TestServers.logger), cleanUp)
                }
            ] : [])

    /// An embedded service whose records live in this backend's store.
    func service(_ overrides: [String: String] = [:], name: String = #function) async throws -> (EmbeddedTestService, @Sendable () async -> Void) {
        let service = try await EmbeddedTestService.make(overrides, name: name)
        guard let replacement else { return (service, { service.cleanUp() }) }
        let (store, cleanUp) = try await replacement()
        let c = service.components
        let components = ServiceComponents(
            configuration: c.configuration, engine: c.engine, store: MeasuredRenderStore(store, metrics: c.metrics), queue: c.queue,
            objects: c.objects, metrics: c.metrics, rateLimiter: c.rateLimiter, webhookOutbox: c.webhookOutbox, localFiles: c.localFiles,
            uploadDirectory: c.uploadDirectory, workDirectory: c.workDirectory, previews: c.previews, migrationCheck: c.migrationCheck)
        let deployment = Deployment(components: components, production: nil, lock: service.deployment.lock)
        let replaced = EmbeddedTestService(deployment: deployment, directory: service.directory, logSink: service.logSink, logger: service.logger)
        return (
            replaced,
            {
                await cleanUp()
                service.cleanUp()
            }
        )
    }
}

@Suite("HTTP API: GET /v1/renders")
struct RenderListAPITests {
    static let alice = "alice-key-0123456789abcdef-AAAA"
    static let bob = "bob-key-0123456789abcdef-BBBB"

    static func key(_ key: String) -> HTTPFields { [.authorization: "Bearer \(key)"] }

    /// Records straight into the store (what POST /v1/renders records, without the photo).
    static func create(_ store: some RenderStore, at time: Date, owner: String? = nil, style: UUID? = nil) async throws -> UUID {
        var (render, asset) = Fixtures.pair(createdAt: time)
        render.owner = owner
        if let style { render.styleID = style }
        try await store.create(render, asset: asset)
        return render.id
    }

    /// Every page from `query` on, following next_cursor.
    static func walk(_ client: some TestClientProtocol, _ query: String, headers: HTTPFields = [:], between: @Sendable () async throws -> Void = {})
        async throws -> [[String: Any]]
    {
        var items: [[String: Any]] = []
        var cursor: String?
        for _ in 0..<1000 {
            let separator = query.isEmpty ? "" : "&"
            let response = try await client.get("/v1/renders?\(query)\(cursor.map { "\(separator)cursor=\($0)" } ?? "")", headers: headers)
            #expect(response.status == .ok, "\(String(buffer: response.body))")
            let body = try response.json
            #expect(Set(body.keys) == ["data", "has_more", "next_cursor"])
            let data = try #require(body["data"] as? [[String: Any]])
            items += data
            cursor = body["next_cursor"] as? String
            #expect((body["has_more"] as? Bool) == (cursor != nil))
            guard cursor != nil else { break }
            try await between()
        }
        #expect(cursor == nil, "the walk ends")
        return items
    }

    static func ids(_ client: some TestClientProtocol, _ query: String) async throws -> [UUID] {
        try await walk(client, query).compactMap { ($0["id"] as? String).flatMap(UUID.init(uuidString:)) }
    }

    /// The checked property of issue 13: pages walked while renders are being created never
    /// repeat a render and never skip one that existed when the walk began.
    @Test(arguments: ListBackend.all)
    func walkingThePagesWhileRendersAreCreatedHasNoDuplicatesOrGaps(_ backend: ListBackend) async throws {
        let (service, cleanUp) = try await backend.service()
        defer { Task { await cleanUp() } }
        let store = service.components.store
        var made: [UUID] = []
        let start = Date().addingTimeInterval(-600)
        for index in 0..<50 {
            // Ties in fives: one instant for several renders.
            made.append(try await Self.create(store, at: start.addingTimeInterval(Double(index / 5) + 0.25)))
        }
        let existing = made
        let inserting = Task {
            var created: [UUID] = []
            for _ in 0..<80 {
                created.append(try await Self.create(store, at: Date()))
                try await Task.sleep(for: .milliseconds(1))
            }
            return created
        }
        try await service.app.test(.router) { client in
            let items = try await Self.walk(client, "limit=7") { try await Task.sleep(for: .milliseconds(4)) }
            let created = try await inserting.value
            let ids = items.compactMap { ($0["id"] as? String).flatMap(UUID.init(uuidString:)) }
            #expect(ids.count == items.count)
            #expect(Set(ids).count == ids.count, "no duplicates")
            #expect(Set(existing).isSubset(of: Set(ids)), "no gaps: \(Set(existing).subtracting(ids).count) missing")
            #expect(Set(ids).isSubset(of: Set(existing + created)))
            // Newest first; the existing renders last, in their (created_at, id) order.
            let times = items.compactMap { $0["created_at"] as? String }
            #expect(times == times.sorted(by: >))
            let tail = Array(ids.suffix(existing.count))
            #expect(tail == (try await RenderStoreConformance.listingOrder(store, existing)))
            // And the whole list, once nothing is being created, is exactly every render.
            let all = try await Self.walk(client, "limit=100").compactMap { $0["id"] as? String }
            #expect(Set(all) == Set((existing + created).map(\.lowercased)) && all.count == existing.count + created.count)
        }
    }

    @Test(arguments: ListBackend.all)
    func itemsAreTheRenderResourceAndPagesHaveTheirLimit(_ backend: ListBackend) async throws {
        let (service, cleanUp) = try await backend.service()
        defer { Task { await cleanUp() } }
        let store = service.components.store
        var made: [UUID] = []
        for index in 0..<25 { made.append(try await Self.create(store, at: Date(timeIntervalSince1970: 1_764_000_000 + Double(index)))) }
        let ids = made
        _ = try await store.markFailed(id: ids[24], message: "The JPEG file is corrupt", at: Date())
        try await service.app.test(.router) { client in
            let page = try await client.get("/v1/renders")
            #expect(page.status == .ok && page.headers[.contentType] == "application/json")
            let body = try page.json
            let data = try #require(body["data"] as? [[String: Any]])
            #expect(data.count == RenderListRequest.defaultLimit && body["has_more"] as? Bool == true && body["next_cursor"] is String)
            // Each item is exactly GET /v1/renders/{id}.
            let newest = try await client.get("/v1/renders/\(ids[24].lowercased)")
            let item = try JSONSerialization.data(withJSONObject: data[0], options: .sortedKeys)
            #expect(item == (try JSONSerialization.data(withJSONObject: try newest.json, options: .sortedKeys)))
            #expect(data[0]["status"] as? String == "failed" && data[0]["error_message"] as? String == "The JPEG file is corrupt")

            let rest = try await client.get("/v1/renders?cursor=\(try #require(body["next_cursor"] as? String))").json
            #expect((rest["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == ids[0..<5].reversed().map(\.lowercased))
            #expect(rest["has_more"] as? Bool == false && rest["next_cursor"] is NSNull)
            let hundred = try await client.get("/v1/renders?limit=100").json
            #expect((hundred["data"] as? [Any])?.count == 25 && hundred["next_cursor"] is NSNull)
            let one = try await client.get("/v1/renders?limit=1").json
            #expect((one["data"] as? [Any])?.count == 1 && one["has_more"] as? Bool == true)
        }
    }

    /// Filters compare created_at to the second, as the API shows it: "after 10:30:00" starts
    /// at 10:30:01, "before 10:30:00" ends at 10:29:59.
    @Test(arguments: ListBackend.all)
    func filtersByStatusStyleAndCreationTime(_ backend: ListBackend) async throws {
        let (service, cleanUp) = try await backend.service()
        defer { Task { await cleanUp() } }
        let store = service.components.store
        let base: TimeInterval = 1_764_000_000  // 2025-11-24T16:00:00Z
        let photo = PhotoStyle().info.id
        var made: [UUID] = []
        for index in 0..<10 {
            made.append(try await Self.create(store, at: Date(timeIntervalSince1970: base + Double(index) + 0.5), style: index % 2 == 0 ? photo : nil))
        }
        let ids = made
        _ = try await store.markCanceled(id: ids[3], at: Date())
        _ = try await store.markCanceled(id: ids[4], at: Date())
        // Every check is inside #expect: the closure says it throws.
        try await service.app.test(.router) { client async throws in
            #expect(try await Self.ids(client, "status=canceled&limit=1") == [ids[4], ids[3]])
            #expect(try await Self.ids(client, "status=completed").isEmpty)
            #expect(try await Self.ids(client, "style_id=\(photo.lowercased)&limit=2") == [8, 6, 4, 2, 0].map { ids[$0] })
            #expect(try await Self.ids(client, "style_id=\(IDs.watercolor)&status=queued") == [9, 7, 5, 1].map { ids[$0] })
            // Renders at :02.5 … :07.5 shown as :02 … :07.
            #expect(try await Self.ids(client, "created_after=2025-11-24T16:00:02Z&created_before=2025-11-24T16:00:07Z") == [6, 5, 4, 3].map { ids[$0] })
            #expect(try await Self.ids(client, "created_after=2025-11-24T16:00:02.9Z&created_before=2025-11-24T16:00:06.1Z") == [6, 5, 4, 3].map { ids[$0] })
            #expect(try await Self.ids(client, "created_after=2025-11-24T17:00:02%2B01:00&limit=3") == [9, 8, 7, 6, 5, 4, 3].map { ids[$0] })
            #expect(try await Self.ids(client, "created_before=2025-11-24T11:00:01-05:00") == [ids[0]])
            #expect(try await Self.ids(client, "created_after=9999-12-31T23:59:59Z").isEmpty)
            #expect(try await Self.ids(client, "created_before=0001-01-01T00:00:00Z").isEmpty)
        }
    }

    /// With API keys, a key lists only its own renders, whatever cursor it sends.
    @Test(arguments: ListBackend.all)
    func aKeyListsOnlyItsOwnRenders(_ backend: ListBackend) async throws {
        let (service, cleanUp) = try await backend.service(["API_KEYS": "\(Self.alice),\(Self.bob)"])
        defer { Task { await cleanUp() } }
        try await service.app.test(.router) { client in
            var created: [String: [String]] = [:]
            for (name, count) in [(Self.alice, 3), (Self.bob, 2)] {
                for _ in 0..<count {
                    let body = try MultipartBody.render()
                    var headers = Self.key(name)
                    headers[.contentType] = body.contentType
                    let response = try await client.execute(uri: "/v1/renders", method: .post, headers: headers, body: ByteBuffer(data: body.finished()))
                    #expect(response.status == .created)
                    created[name, default: []].append(try #require(try response.json["render_id"] as? String))
                }
            }
            // A render recorded with API keys off belongs to no key.
            _ = try await Self.create(service.components.store, at: Date())
            let alices = try await Self.walk(client, "limit=2", headers: Self.key(Self.alice)).compactMap { $0["id"] as? String }
            #expect(alices == created[Self.alice]!.reversed())
            let bobs = try await Self.walk(client, "limit=1", headers: Self.key(Self.bob)).compactMap { $0["id"] as? String }
            #expect(bobs == created[Self.bob]!.reversed())
            // Alice's cursor in Bob's hands only positions Bob's own list.
            let alicePage = try await client.get("/v1/renders?limit=1", headers: Self.key(Self.alice)).json
            let cursor = try #require(alicePage["next_cursor"] as? String)
            let crossed = try await client.get("/v1/renders?cursor=\(cursor)", headers: Self.key(Self.bob)).json
            #expect(Set((crossed["data"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }).isSubset(of: Set(created[Self.bob]!)))
            try await client.get("/v1/renders").expectError(.unauthorized, "Authentication required")
            try await client.get("/v1/renders", headers: Self.key("not-a-key-0123456789abcdef")).expectError(.unauthorized, "Invalid API key")
        }
    }

    @Test func badParametersAre400WithAMessage() async throws {
        let service = try await EmbeddedTestService.make()
        defer { service.cleanUp() }
        try await service.app.test(.router) { client in
            let cases: [(String, String)] = [
                ("limit=0", "Invalid limit"), ("limit=101", "Invalid limit"), ("limit=ten", "Invalid limit"), ("limit=", "Invalid limit"),
                ("limit=-1", "Invalid limit"), ("limit=%2B5", "Invalid limit"), ("limit=1.5", "Invalid limit"), ("limit=00000001", "Invalid limit"),
                ("cursor=abc", "Invalid cursor"), ("cursor=", "Invalid cursor"), ("cursor=\(String(repeating: "A", count: 31))=", "Invalid cursor"),
                ("cursor=\(String(repeating: "A", count: 33))", "Invalid cursor"), ("cursor=\(String(repeating: "+", count: 32))", "Invalid cursor"),
                ("status=done", "Invalid status"), ("status=", "Invalid status"), ("status=Completed", "Invalid status"),
                ("style_id=watercolor", "Invalid UUID format for style_id"), ("style_id=", "Invalid UUID format for style_id"),
                ("style_id=00000000-0000-4000-8000-000000000000", "Unknown style_id"),
                ("created_after=yesterday", "Invalid created_after"), ("created_after=2026-01-24", "Invalid created_after"),
                ("created_after=2026-01-24T10:30:00", "Invalid created_after"), ("created_after=2026-02-30T10:30:00Z", "Invalid created_after"),
                ("created_after=2026-01-24t10:30:00z", "Invalid created_after"), ("created_after=2026-01-24T24:00:00Z", "Invalid created_after"),
                ("created_after=0000-01-01T00:00:00Z", "Invalid created_after"), ("created_after=2026-01-24T10:30:00.Z", "Invalid created_after"),
                ("created_before=2026-01-24T10:30:00+2:00", "Invalid created_before"), ("created_before=", "Invalid created_before"),
                ("stauts=failed", "Unknown query parameter"), ("limit=5&limit=6", "Repeated query parameter"),
                ("status=%ZZ", "Malformed query string"),
            ]
            for (query, error) in cases {
                let body = try await client.get("/v1/renders?\(query)").expectError(.badRequest, error)
                #expect((body["message"] as? String)?.isEmpty == false, "\(query)")
            }
            #expect(
                try await client.get("/v1/renders?limit=100&status=failed&style_id=\(IDs.watercolor)&created_after=2026-01-24T10:30:00.123456789%2B05:30")
                    .status == .ok)
            // Any 32 base64url characters are a position (a made-up one only moves the start).
            #expect(try await client.get("/v1/renders?cursor=\(String(repeating: "_", count: 32))").status == .ok)
            #expect(try await client.get("/v1/renders?cursor=\(String(repeating: "A", count: 32))").status == .ok)
        }
    }

    /// The writers a page of renders spends its time in (one-piece strings, hand-made digits)
    /// write exactly what they wrote before.
    @Test func jsonStringsAndTimestampsAreWrittenAsBefore() throws {
        for text in ["3fa85f64-5717-4562-b3fc-2c963f66afa6", "", "café ✓ 🖼", "say \"hi\"", "back\\slash", "line\nbreak\ttab\r", "\u{01}\u{1F}\u{7F}"] {
            let written = String(buffer: JSONValue.string(text).buffer)
            let read = try JSONSerialization.jsonObject(with: Data(written.utf8), options: .fragmentsAllowed) as? String
            #expect(read == text, "\(written)")
        }
        #expect(String(buffer: JSONValue.string("a\"b\\c\n\u{01}").buffer) == #""a\"b\\c\n\u0001""#)
        for seconds in [0, 1_764_000_000.999, 1_769_250_600.0625, -1.5, 253_402_300_799.5, 951_782_400.25] {
            let date = Date(timeIntervalSince1970: seconds)
            var time = time_t(seconds.rounded(.down))
            var parts = tm()
            gmtime_r(&time, &parts)
            let base = String(
                format: "%04d-%02d-%02dT%02d:%02d:%02d", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec)
            #expect(Timestamps.rfc3339(date) == base + "Z")
            #expect(Timestamps.rfc3339Milliseconds(date) == base + String(format: ".%03dZ", Int((seconds - seconds.rounded(.down)) * 1000)))
        }
        #expect(Timestamps.rfc3339Milliseconds(Date(timeIntervalSince1970: 1_769_250_600.0625)) == "2026-01-24T10:30:00.062Z")
    }

    @Test func cursorsRoundTripAndTimesParseExactly() throws {
        for micros: Int64 in [0, 1, 1_764_000_000_123_456, -62_135_596_800_000_000, 253_402_300_799_999_999] {
            let position = RenderListPosition(createdAtMicroseconds: micros, id: UUID())
            let cursor = RenderListCursor.encode(position)
            #expect(cursor.count == 32 && !cursor.contains("=") && !cursor.contains("+") && !cursor.contains("/"))
            #expect(RenderListCursor.decode(cursor) == position)
        }
        // Out of years 1–9999: clamped, which lists the same renders.
        let far = RenderListCursor.encode(RenderListPosition(createdAtMicroseconds: .max, id: UUID()))
        #expect(RenderListCursor.decode(far)?.createdAtMicroseconds == RenderListPosition.microsecondRange.upperBound)
        #expect(RFC3339.parse("1970-01-01T00:00:00Z")! == (0, false))
        #expect(RFC3339.parse("2025-11-24T16:00:00Z")! == (1_764_000_000, false))
        #expect(RFC3339.parse("2025-11-24T17:30:00.000+01:30")! == (1_764_000_000, false))
        #expect(RFC3339.parse("2025-11-24T16:00:00.0001Z")! == (1_764_000_000, true))
        #expect(RFC3339.parse("2024-02-29T00:00:00Z") != nil && RFC3339.parse("2023-02-29T00:00:00Z") == nil)
        #expect(RFC3339.parse("1969-12-31T23:59:59Z")! == (-1, false))
        #expect(RFC3339.parse("0001-01-01T00:00:00Z")!.seconds == -62_135_596_800)
        #expect(RFC3339.parse("9999-12-31T23:59:59Z")!.seconds == 253_402_300_799)
        for bad in ["2025-11-24T16:00:00Z ", "2025-11-24T16:00:60Z", "2025-13-01T00:00:00Z", "2025-11-24T16:00:00+24:00", "2025-11-24 16:00:00Z", ""] {
            #expect(RFC3339.parse(bad) == nil, "\(bad)")
        }
    }
}
