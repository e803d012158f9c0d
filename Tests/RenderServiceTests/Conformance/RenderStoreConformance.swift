import Foundation
import RenderEngine
import Testing

@testable import RenderService

/// What every `RenderStore` must do, run against each implementation.
@Suite("RenderStore conformance")
struct RenderStoreConformance {
    @Test(arguments: Implementations.stores)
    func createdRenderReadsBackExactly(_ impl: StoreUnderTest) async throws {
        let (store, cleanUp) = try await impl.make()
        defer { Task { await cleanUp() } }
        let created = Date(timeIntervalSince1970: 1_764_000_000.25)
        let (render, asset) = Fixtures.pair(createdAt: created)
        try await store.create(render, asset: asset)
        let read = try #require(try await store.render(id: render.id))
        #expect(read.id == render.id && read.assetID == asset.id)
        #expect(read.status == .queued)
        #expect(read.styleID == render.styleID && read.presetID == render.presetID)
        #expect(read.orientation == .landscape && read.fit == .contain)
        #expect(read.styleParameters == ["paper_texture": 0.25])
        #expect(read.seed == 18_446_744_073_709_551_615)
        #expect(abs(read.createdAt.timeIntervalSince(created)) < 0.001)
        #expect(read.startedAt == nil && read.completedAt == nil && read.durationMs == nil && read.errorMessage == nil)
        let readAsset = try #require(try await store.asset(id: asset.id))
        #expect(readAsset.storageKey == asset.storageKey && readAsset.width == 1680 && readAsset.sizeBytes == 1234)
        #expect(try await store.render(id: UUID()) == nil)
        #expect(try await store.asset(id: UUID()) == nil)
    }

    /// An asset uploaded on its own keeps its owner, and several renders can use it without
    /// recording it again; retention sees it once no render of it is in flight.
    @Test(arguments: Implementations.stores)
    func assetsRecordedAloneAreRenderedByID(_ impl: StoreUnderTest) async throws {
        let (store, cleanUp) = try await impl.make()
        defer { Task { await cleanUp() } }
        var (first, asset) = Fixtures.pair()
        asset.owner = "key_0123456789abcdef"
        try await store.createAsset(asset)
        let read = try #require(try await store.asset(id: asset.id))
        #expect(read.owner == "key_0123456789abcdef" && read.deletedAt == nil && read.storageKey == asset.storageKey)
        var (second, _) = Fixtures.pair()
        second.assetID = asset.id
        _ = try await store.create(first, asset: nil, idempotency: nil)
        _ = try await store.create(second, asset: nil, idempotency: nil)
        #expect(try await store.render(id: first.id)?.assetID == asset.id)
        #expect(try await store.render(id: second.id)?.assetID == asset.id)
        let later = Date().addingTimeInterval(3600)
        #expect(try await store.originalsToExpire(uploadedBefore: later, limit: 10).map(\.id).contains(asset.id) == false, "renders in flight")
        for render in [first, second] { _ = try await store.markCanceled(id: render.id, at: Date()) }
        #expect(try await store.originalsToExpire(uploadedBefore: later, limit: 10).map(\.id).contains(asset.id))
        try await store.markOriginalDeleted(assetID: asset.id, at: Date())
        #expect(try await store.asset(id: asset.id)?.deletedAt != nil)
        // An asset with no owner (API keys off) reads back without one.
        let (_, anonymous) = Fixtures.pair()
        try await store.createAsset(anonymous)
        #expect(try await store.asset(id: anonymous.id)?.owner == nil)
    }

    /// Print options and a custom size (no preset) survive the store, and a render without
    /// them reads back as the spec's print.
    @Test(arguments: Implementations.stores)
    func printOptionsAndCustomSizesReadBack(_ impl: StoreUnderTest) async throws {
        let (store, cleanUp) = try await impl.make()
        defer { Task { await cleanUp() } }
        var (custom, asset) = Fixtures.pair()
        custom.presetID = SizePreset.customID
        custom.customSize = CustomSize(width: 210, height: 297, millimetres: true)
        custom.print = PrintOptions(bleedInches: 0.125, cropMarks: true, outputProfile: .cmyk, renderingIntent: .relative)
        try await store.create(custom, asset: asset)
        let read = try #require(try await store.render(id: custom.id))
        #expect(read.presetID == SizePreset.customID && read.customSize == custom.customSize && read.print == custom.print)
        #expect(read.paper?.name == "210x297mm" && read.paper?.widthPixels == 2480)
        let processing = try #require(try await store.markProcessing(id: custom.id, at: Date()))
        #expect(processing.print == custom.print && processing.customSize == custom.customSize)

        let (plain, plainAsset) = Fixtures.pair()
        try await store.create(plain, asset: plainAsset)
        let readPlain = try #require(try await store.render(id: plain.id))
        #expect(readPlain.customSize == nil && readPlain.print == PrintOptions() && readPlain.paper == SizePreset.all[0])
    }

    @Test(arguments: Implementations.stores)
    func lifecycleQueuedProcessingCompleted(_ impl: StoreUnderTest) async throws {
        let (store, cleanUp) = try await impl.make()
        defer { Task { await cleanUp() } }
        let (render, asset) = Fixtures.pair()
        try await store.create(render, asset: asset)
        let started = Date()
        let processing = try #require(try await store.markProcessing(id: render.id, at: started))
        #expect(processing.status == .processing)
        #expect(abs(processing.startedAt!.timeIntervalSince(started)) < 0.001)
        let done = CompletedRender(
            outputKey: "renders/x/output.tiff", previewKey: "renders/x/preview.jpg", completedAt: started.addingTimeInterval(2.5),
            durationMs: 2500, effectiveDPI: 116.7, warnings: ["Low resolution"], seed: 42)
        #expect(try await store.markCompleted(id: render.id, done))
        let completed = try #require(try await store.render(id: render.id))
        #expect(completed.status == .completed && completed.durationMs == 2500)
        #expect(completed.outputKey == "renders/x/output.tiff" && completed.previewKey == "renders/x/preview.jpg")
        #expect(completed.effectiveDPI == 116.7 && completed.warnings == ["Low resolution"])
        // The explicit seed chosen at upload is kept.
        #expect(completed.seed == render.seed)
        #expect(try await store.count(status: .completed) == 1)
    }

    @Test(arguments: Implementations.stores)
    func terminalRendersNeverChangeAgain(_ impl: StoreUnderTest) async throws {
        let (store, cleanUp) = try await impl.make()
        defer { Task { await cleanUp() } }
        let (render, asset) = Fixtures.pair()
        try await store.create(render, asset: asset)
        _ = try await store.markProcessing(id: render.id, at: Date())
        #expect(try await store.markFailed(id: render.id, message: "The JPEG file is corrupt", at: Date()))
        let failed = try #require(try await store.render(id: render.id))
        #expect(failed.status == .failed && failed.errorMessage == "The JPEG file is corrupt" && failed.durationMs != nil)
        // A late duplicate worker cannot resurrect or overwrite it.
        #expect(try await store.markProcessing(id: render.id, at: Date()) == nil)
        let done = CompletedRender(outputKey: "a", previewKey: "b", completedAt: Date(), durationMs: 1, effectiveDPI: 300, warnings: [], seed: nil)
        #expect(try await !store.markCompleted(id: render.id, done))
        try await store.markQueued(id: render.id)
        #expect(try await store.render(id: render.id)?.status == .failed)
        #expect(try await !store.markFailed(id: UUID(), message: "x", at: Date()))
    }

    @Test(arguments: Implementations.stores)
    func cancelStopsQueuedAndProcessingRendersOnly(_ impl: StoreUnderTest) async throws {
        let (store, cleanUp) = try await impl.make()
        defer { Task { await cleanUp() } }
        let (queued, queuedAsset) = Fixtures.pair()
        let (processing, processingAsset) = Fixtures.pair()
        let (completed, completedAsset) = Fixtures.pair()
        try await store.create(queued, asset: queuedAsset)
        try await store.create(processing, asset: processingAsset)
        try await store.create(completed, asset: completedAsset)
        _ = try await store.markProcessing(id: processing.id, at: Date().addingTimeInterval(-2))
        _ = try await store.markProcessing(id: completed.id, at: Date())
        let done = CompletedRender(outputKey: "a", previewKey: "b", completedAt: Date(), durationMs: 1, effectiveDPI: 300, warnings: [], seed: nil)
        #expect(try await store.markCompleted(id: completed.id, done))

        #expect(try await store.markCanceled(id: queued.id, at: Date()))
        #expect(try await store.markCanceled(id: processing.id, at: Date()))
        #expect(try await !store.markCanceled(id: completed.id, at: Date()), "a completed render stays completed")
        #expect(try await !store.markCanceled(id: queued.id, at: Date()), "a second cancel changes nothing")
        let canceled = try #require(try await store.render(id: processing.id))
        #expect(canceled.status == .canceled && canceled.completedAt != nil && (canceled.durationMs ?? 0) >= 1500)
        #expect(try await store.render(id: queued.id)?.status == .canceled)
        // A worker that claims it afterwards gets nothing to do, and cannot complete it.
        #expect(try await store.markProcessing(id: queued.id, at: Date()) == nil)
        #expect(try await !store.markCompleted(id: processing.id, done))
        #expect(try await store.count(status: .canceled) == 2)
    }

    @Test(arguments: Implementations.stores)
    func retryGoesBackToQueuedAndListsOldestFirst(_ impl: StoreUnderTest) async throws {
        let (store, cleanUp) = try await impl.make()
        defer { Task { await cleanUp() } }
        var ids: [UUID] = []
        for offset in 0..<3 {
            let (render, asset) = Fixtures.pair(createdAt: Date(timeIntervalSince1970: 1_764_000_000 + Double(offset)))
            try await store.create(render, asset: asset)
            ids.append(render.id)
        }
        _ = try await store.markProcessing(id: ids[0], at: Date())
        #expect(try await store.count(status: .processing) == 1)
        #expect(try await store.renderIDs(status: .queued, limit: 10) == [ids[1], ids[2]])
        try await store.markQueued(id: ids[0])
        let requeued = try #require(try await store.render(id: ids[0]))
        #expect(requeued.status == .queued && requeued.startedAt == nil)
        #expect(try await store.renderIDs(status: .queued, limit: 2) == [ids[0], ids[1]])
        try await store.ping()
    }

    @Test(arguments: Implementations.stores)
    func createIsAllOrNothing(_ impl: StoreUnderTest) async throws {
        let (store, cleanUp) = try await impl.make()
        defer { Task { await cleanUp() } }
        let (render, asset) = Fixtures.pair()
        try await store.create(render, asset: asset)
        // Same render id again: the insert fails and the second asset must not remain.
        var duplicate = render
        duplicate.assetID = UUID()
        let secondAsset = Fixtures.asset(for: render.id, id: duplicate.assetID)
        await #expect(throws: (any Error).self) { try await store.create(duplicate, asset: secondAsset) }
        #expect(try await store.asset(id: secondAsset.id) == nil)
    }

    @Test(arguments: Implementations.stores)
    func idempotencyKeyRecordsOneRenderPerKeyAndOwner(_ impl: StoreUnderTest) async throws {
        let (store, cleanUp) = try await impl.make()
        defer { Task { await cleanUp() } }
        let now = Date()
        let validAfter = now.addingTimeInterval(-86_400)
        var (first, firstAsset) = Fixtures.pair(createdAt: now)
        first.owner = "key_0123456789abcdef"
        let key = IdempotencyKey(owner: "key_0123456789abcdef", key: "order-1001", requestHash: "aaa", validAfter: validAfter)
        #expect(try await store.create(first, asset: firstAsset, idempotency: key) == nil)
        #expect(try await store.render(id: first.id)?.owner == "key_0123456789abcdef")

        // The same key again: nothing written, the first use returned (whatever its hash).
        let (second, secondAsset) = Fixtures.pair(createdAt: now)
        let earlier = try #require(
            try await store.create(
                second, asset: secondAsset, idempotency: IdempotencyKey(owner: key.owner, key: key.key, requestHash: "bbb", validAfter: validAfter)))
        #expect(earlier.renderID == first.id && earlier.requestHash == "aaa" && abs(earlier.createdAt.timeIntervalSince(now)) < 0.001)
        #expect(try await store.render(id: second.id) == nil)
        #expect(try await store.asset(id: secondAsset.id) == nil)
        #expect(try await store.idempotentRequest(owner: key.owner, key: key.key, validAfter: validAfter)?.renderID == first.id)

        // Keys are per owner: another API key may use the same text.
        let (other, otherAsset) = Fixtures.pair(createdAt: now)
        #expect(
            try await store.create(other, asset: otherAsset, idempotency: IdempotencyKey(owner: "", key: key.key, requestHash: "ccc", validAfter: validAfter))
                == nil)

        // Expired uses free the key.
        #expect(try await store.idempotentRequest(owner: key.owner, key: key.key, validAfter: now.addingTimeInterval(1)) == nil)
        let (later, laterAsset) = Fixtures.pair(createdAt: now.addingTimeInterval(90_000))
        let renewed = IdempotencyKey(owner: key.owner, key: key.key, requestHash: "ddd", validAfter: now.addingTimeInterval(1))
        #expect(try await store.create(later, asset: laterAsset, idempotency: renewed) == nil)
        #expect(try await store.idempotentRequest(owner: key.owner, key: key.key, validAfter: now.addingTimeInterval(1))?.renderID == later.id)

        #expect(try await store.deleteIdempotencyKeys(before: now.addingTimeInterval(10)) == 1, "the owner-less key")
        #expect(try await store.idempotentRequest(owner: "", key: key.key, validAfter: validAfter) == nil)
    }

    @Test(arguments: Implementations.stores)
    func retentionListsOnlyFinishedWorkPastItsPeriod(_ impl: StoreUnderTest) async throws {
        let (store, cleanUp) = try await impl.make()
        defer { Task { await cleanUp() } }
        let old = Date(timeIntervalSince1970: 1_700_000_000)
        var pairs: [(RenderRecord, AssetRecord)] = []
        for _ in 0..<3 {
            let (render, asset) = Fixtures.pair(createdAt: old)
            try await store.create(render, asset: asset)
            pairs.append((render, asset))
        }
        let (done, queued, failed) = (pairs[0], pairs[1], pairs[2])
        _ = try await store.markProcessing(id: done.0.id, at: old)
        let result = CompletedRender(
            outputKey: "renders/a/output.tiff", previewKey: "renders/a/preview.jpg", completedAt: old.addingTimeInterval(10), durationMs: 10, effectiveDPI: 300,
            warnings: [], seed: nil)
        #expect(try await store.markCompleted(id: done.0.id, result))
        #expect(try await store.markFailed(id: failed.0.id, message: "corrupt", at: old))

        // A queued render keeps its original however old it is.
        let originals = try await store.originalsToExpire(uploadedBefore: old.addingTimeInterval(1), limit: 10)
        #expect(Set(originals.map(\.id)) == [done.1.id, failed.1.id] && !originals.contains { $0.id == queued.1.id })
        #expect(try await store.originalsToExpire(uploadedBefore: old, limit: 10).isEmpty)
        try await store.markOriginalDeleted(assetID: done.1.id, at: Date())
        #expect(try await store.originalsToExpire(uploadedBefore: Date(), limit: 10).map(\.id) == [failed.1.id])

        #expect(try await store.outputsToExpire(completedBefore: old.addingTimeInterval(10), limit: 10).isEmpty)
        let outputs = try await store.outputsToExpire(completedBefore: old.addingTimeInterval(11), limit: 10)
        #expect(outputs.map(\.id) == [done.0.id] && outputs[0].outputKey == "renders/a/output.tiff")
        let deletedAt = Date()
        try await store.markOutputsDeleted(renderID: done.0.id, at: deletedAt)
        #expect(try await store.outputsToExpire(completedBefore: Date(), limit: 10).isEmpty)
        let record = try #require(try await store.render(id: done.0.id))
        #expect(record.status == .completed && abs((record.outputsDeletedAt ?? .distantPast).timeIntervalSince(deletedAt)) < 0.001)
    }
}

/// `listRenders` (`GET /v1/renders`): newest first, keyset pages, filters and scope.
extension RenderStoreConformance {
    /// Records as the store keeps them, in the listing's order: `created_at` in the store's
    /// microseconds (read back), then id, both descending.
    static func listingOrder(_ store: any RenderStore, _ ids: [UUID]) async throws -> [UUID] {
        var keyed: [(Int64, String, UUID)] = []
        for id in ids {
            let record = try #require(try await store.render(id: id))
            keyed.append((Int64((record.createdAt.timeIntervalSince1970 * 1_000_000).rounded()), id.lowercased, id))
        }
        return keyed.sorted { ($0.0, $0.1) > ($1.0, $1.1) }.map(\.2)
    }

    /// Every page of a listing, following `next` until nil.
    static func walk(_ store: any RenderStore, _ query: RenderListQuery, between: @Sendable () async throws -> Void = {}) async throws -> [[RenderRecord]] {
        var pages: [[RenderRecord]] = []
        var query = query
        while true {
            let page = try await store.listRenders(query)
            pages.append(page.renders)
            #expect(pages.count < 1000, "the walk ends")
            guard let next = page.next, pages.count < 1000 else { break }
            #expect(page.renders.count == query.limit, "only the last page is short")
            #expect(next.id == page.renders.last?.id)
            query.after = next
            try await between()
        }
        return pages
    }

    /// Ties (one instant for several renders) and neighbours one microsecond apart are where a
    /// position that was rounded, or compared on time alone, repeats or skips a render.
    @Test(arguments: Implementations.stores)
    func listingIsNewestFirstInKeysetPagesThroughTiesAndMicroseconds(_ impl: StoreUnderTest) async throws {
        let (store, cleanUp) = try await impl.make()
        defer { Task { await cleanUp() } }
        let base = 1_764_000_000.123_456
        let times = (0..<10).map { base + Double($0) / 1_000_000 } + Array(repeating: base + 0.5, count: 10) + (0..<10).map { base - Double($0 * 7919) }
        let owners: [String?] = ["key_a", "key_b", nil]
        var ids: [UUID] = []
        var byOwner: [String: [UUID]] = [:]
        for (index, time) in times.enumerated() {
            var (render, asset) = Fixtures.pair(createdAt: Date(timeIntervalSince1970: time))
            render.owner = owners[index % 3]
            try await store.create(render, asset: asset)
            ids.append(render.id)
            byOwner[render.owner ?? "", default: []].append(render.id)
        }
        for limit in [1, 4, 7, 30, 100] {
            let everyone = try await Self.walk(store, RenderListQuery(scope: .everyone, limit: limit))
            #expect(everyone.flatMap { $0 }.map(\.id) == (try await Self.listingOrder(store, ids)), "limit \(limit)")
            #expect(everyone.count == (ids.count + limit - 1) / limit)
            let mine = try await Self.walk(store, RenderListQuery(scope: .owner("key_a"), limit: limit))
            #expect(mine.flatMap { $0 }.map(\.id) == (try await Self.listingOrder(store, byOwner["key_a"]!)), "limit \(limit)")
            #expect(mine.flatMap { $0 }.allSatisfy { $0.owner == "key_a" })
        }
        // The records are whole: the same as reading them one by one.
        let first = try await store.listRenders(RenderListQuery(scope: .owner("key_b"), limit: 2))
        for record in first.renders { #expect(try await store.render(id: record.id) == record) }
        #expect(try await store.listRenders(RenderListQuery(scope: .owner("key_nobody"), limit: 10)) == RenderListPage(renders: [], next: nil))
        // A position past either end: everything, or nothing.
        let future = RenderListPosition(createdAtMicroseconds: .max, id: UUID())
        #expect(try await store.listRenders(RenderListQuery(scope: .everyone, after: future, limit: 100)).renders.count == ids.count)
        let past = RenderListPosition(createdAtMicroseconds: .min, id: UUID())
        #expect(try await store.listRenders(RenderListQuery(scope: .everyone, after: past, limit: 100)).renders.isEmpty)
    }

    @Test(arguments: Implementations.stores)
    func listingFiltersByStatusStyleAndCreationTime(_ impl: StoreUnderTest) async throws {
        let (store, cleanUp) = try await impl.make()
        defer { Task { await cleanUp() } }
        let base: TimeInterval = 1_764_000_000
        let photo = PhotoStyle().info.id
        var renders: [RenderRecord] = []
        for index in 0..<12 {
            var (render, asset) = Fixtures.pair(createdAt: Date(timeIntervalSince1970: base + Double(index * 10)))
            render.owner = index % 4 == 3 ? "key_b" : "key_a"
            if index % 3 == 0 { render.styleID = photo }
            try await store.create(render, asset: asset)
            switch index % 4 {
            case 1: _ = try await store.markFailed(id: render.id, message: "corrupt", at: Date())
            case 2: _ = try await store.markCanceled(id: render.id, at: Date())
            default: break
            }
            renders.append(try #require(try await store.render(id: render.id)))
        }
        func check(_ query: RenderListQuery, _ predicate: (RenderRecord) -> Bool, sourceLocation: SourceLocation = #_sourceLocation) async throws {
            let listed = try await Self.walk(store, query).flatMap { $0 }.map(\.id)
            let expected = try await Self.listingOrder(store, renders.filter(predicate).map(\.id))
            #expect(listed == expected, sourceLocation: sourceLocation)
        }
        let keyA: (RenderRecord) -> Bool = { $0.owner == "key_a" }
        try await check(RenderListQuery(scope: .owner("key_a"), status: .failed, limit: 2)) { keyA($0) && $0.status == .failed }
        try await check(RenderListQuery(scope: .everyone, status: .queued, limit: 2)) { $0.status == .queued }
        try await check(RenderListQuery(scope: .everyone, status: .completed, limit: 2)) { _ in false }
        try await check(RenderListQuery(scope: .owner("key_a"), styleID: photo, limit: 2)) { keyA($0) && $0.styleID == photo }
        try await check(RenderListQuery(scope: .everyone, styleID: photo, limit: 3)) { $0.styleID == photo }
        try await check(RenderListQuery(scope: .owner("key_a"), status: .queued, styleID: photo, limit: 1)) {
            keyA($0) && $0.status == .queued && $0.styleID == photo
        }
        // From inclusive, before exclusive: [base + 20, base + 70) is indexes 2 to 6.
        let from = Date(timeIntervalSince1970: base + 20), before = Date(timeIntervalSince1970: base + 70)
        try await check(RenderListQuery(scope: .everyone, createdFrom: from, createdBefore: before, limit: 2)) {
            $0.createdAt >= from && $0.createdAt < before
        }
        try await check(RenderListQuery(scope: .owner("key_a"), status: .canceled, createdFrom: from, limit: 5)) {
            keyA($0) && $0.status == .canceled && $0.createdAt >= from
        }
        try await check(RenderListQuery(scope: .owner("key_b"), createdBefore: before, limit: 5)) { $0.owner == "key_b" && $0.createdAt < before }
    }

    /// A client walking the pages while renders are created sees each render that existed when
    /// it began exactly once: new renders are newer, so they sort before its first page.
    @Test(arguments: Implementations.stores)
    func listingWalkSeesEveryRenderOnceWhileRendersAreCreated(_ impl: StoreUnderTest) async throws {
        let (store, cleanUp) = try await impl.make()
        defer { Task { await cleanUp() } }
        var existing: [UUID] = []
        let now = Date()
        for index in 0..<45 {
            // Ties in threes, a second apart, all in the past.
            var (render, asset) = Fixtures.pair(createdAt: now.addingTimeInterval(-1000 + Double(index / 3)))
            render.owner = "key_a"
            try await store.create(render, asset: asset)
            existing.append(render.id)
        }
        let inserting = Task {
            var created: [UUID] = []
            for _ in 0..<60 {
                var (render, asset) = Fixtures.pair(createdAt: Date())
                render.owner = "key_a"
                try await store.create(render, asset: asset)
                created.append(render.id)
                try await Task.sleep(for: .milliseconds(2))
            }
            return created
        }
        let walked = try await Self.walk(store, RenderListQuery(scope: .owner("key_a"), limit: 4)) { try await Task.sleep(for: .milliseconds(5)) }
            .flatMap { $0 }
        let created = try await inserting.value
        let ids = walked.map(\.id)
        #expect(Set(ids).count == ids.count, "no render twice")
        #expect(Set(existing).isSubset(of: Set(ids)), "no render that existed is skipped")
        #expect(Set(ids).isSubset(of: Set(existing + created)))
        #expect(Array(ids.suffix(existing.count)) == (try await Self.listingOrder(store, existing)), "the existing ones last, in order")
        #expect(zip(walked, walked.dropFirst()).allSatisfy { $0.createdAt >= $1.createdAt }, "newest first")
    }
}
