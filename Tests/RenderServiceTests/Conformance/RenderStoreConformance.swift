import Foundation
import RenderEngine
@testable import RenderService
import Testing

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
        let earlier = try #require(try await store.create(second, asset: secondAsset, idempotency: IdempotencyKey(owner: key.owner, key: key.key, requestHash: "bbb", validAfter: validAfter)))
        #expect(earlier.renderID == first.id && earlier.requestHash == "aaa" && abs(earlier.createdAt.timeIntervalSince(now)) < 0.001)
        #expect(try await store.render(id: second.id) == nil)
        #expect(try await store.asset(id: secondAsset.id) == nil)
        #expect(try await store.idempotentRequest(owner: key.owner, key: key.key, validAfter: validAfter)?.renderID == first.id)

        // Keys are per owner: another API key may use the same text.
        let (other, otherAsset) = Fixtures.pair(createdAt: now)
        #expect(try await store.create(other, asset: otherAsset, idempotency: IdempotencyKey(owner: "", key: key.key, requestHash: "ccc", validAfter: validAfter)) == nil)

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
        let result = CompletedRender(outputKey: "renders/a/output.tiff", previewKey: "renders/a/preview.jpg", completedAt: old.addingTimeInterval(10), durationMs: 10, effectiveDPI: 300, warnings: [], seed: nil)
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
