import Crypto
import Foundation
import Logging
import NIOPosix
import RenderEngine
import Synchronization

/// What one style preview shows: an asset in a style, on a paper shape, with parameters.
struct StylePreviewRequest: Sendable {
    let asset: AssetRecord
    let style: any RenderStyle
    /// nil: the photo's own shape, uncropped.
    let preset: SizePreset?
    let orientation: OrientationPolicy
    let fit: FitPolicy
    let parameters: [String: Double]

    /// Everything that changes the pixels, and nothing else.
    var cacheKey: String {
        [
            asset.id.lowercased, style.info.id.lowercased, preset?.id.lowercased ?? "photo", orientation.rawValue, fit.rawValue,
            StyleParametersJSON.encode(parameters), "\(StylePreviews.longSide)",
        ].joined(separator: "|")
    }

    /// A strong validator: the same request always renders the same bytes (seeds come from
    /// the pixels), so the digest of the request names the image.
    var etag: String {
        let digest = SHA256.hash(data: Data((cacheKey + "|" + StylePreviews.engineRevision).utf8))
        return "\"" + digest.prefix(12).map { String(format: "%02x", $0) }.joined() + "\""
    }
}

/// The studio's style previews: the print's own render path (`RenderEngine.render`) on a paper
/// of the same shape at a resolution that makes it ~600 px on the long edge, so every spatial
/// parameter — stated relative to the picture — means what it means on the print.
///
/// Previews run on their own threads (`PREVIEW_CONCURRENCY`), never on the workers' pool, so
/// a burst of previews cannot delay a paid print and a 24x36 print cannot stall the page.
/// Finished previews are kept in memory (bounded, least recently used first out) and a request
/// already rendering is joined rather than rendered twice. Nothing is written to the object
/// store: a preview is a derivative of a customer's photo and lives no longer than the process.
public final class StylePreviews: Sendable {
    /// The preview's long edge in pixels.
    static let longSide = 600
    /// Changes when the engine's output for the same request may change (part of the ETag).
    static let engineRevision = "1"
    /// Memory for cached previews (~60 KB each: about a thousand).
    static let cacheBytes = 64 * 1024 * 1024

    let engine: RenderEngine
    let objects: any ObjectStore
    let metrics: ServiceMetrics
    let directory: String
    let concurrency: Int
    private let cache = PreviewCache(capacityBytes: StylePreviews.cacheBytes)
    private let originals: LocalOriginals

    init(engine: RenderEngine, objects: any ObjectStore, metrics: ServiceMetrics, workDirectory: String, concurrency: Int) {
        self.engine = engine
        self.objects = objects
        self.metrics = metrics
        directory = "\(workDirectory)/previews"
        self.concurrency = max(1, concurrency)
        originals = LocalOriginals(directory: "\(workDirectory)/previews/originals", objects: objects, keep: 8)
    }

    /// The JPEG for `request`, from the cache or rendered now; `cached` says which.
    func preview(_ request: StylePreviewRequest, logger: Logger) async throws -> (jpeg: Data, cached: Bool) {
        let key = request.cacheKey
        if let hit = await cache.value(for: key) {
            metrics.previewCache("hit")
            return (hit, true)
        }
        metrics.previewCache("miss")
        let jpeg = try await cache.joining(key) { try await self.render(request, logger: logger) }
        return (jpeg, false)
    }

    private func render(_ request: StylePreviewRequest, logger: Logger) async throws -> Data {
        let clock = ContinuousClock(), started = clock.now
        let input = try await originals.acquire(request.asset)
        defer { Task { await originals.release(request.asset.id) } }
        let scratch = "\(directory)/\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let job = RenderJob(
            input: input, style: request.style, parameters: request.parameters,
            preset: Self.paper(for: request.preset, asset: request.asset), orientation: request.orientation, fit: request.fit,
            masterPath: "\(scratch)/master.tiff", previewPath: "\(scratch)/preview.jpg", previewLongSide: Self.longSide)
        let engine = self.engine
        let outcome = try await PreviewThreads.pool(threads: concurrency).runIfActive { try engine.render(job) }
        let jpeg = try Data(contentsOf: URL(fileURLWithPath: job.previewPath))
        let elapsed = clock.now - started
        metrics.previewRendered(style: request.style.info.slug, duration: elapsed)
        logger.info(
            "Style preview rendered",
            metadata: [
                "asset_id": "\(request.asset.id.lowercased)", "style": "\(request.style.info.slug)", "size": "\(outcome.preview)",
                "duration_ms": .stringConvertible(Int(milliseconds(elapsed).rounded())), "bytes": .stringConvertible(jpeg.count),
            ])
        return jpeg
    }

    /// The paper at the resolution that makes its long edge `longSide` pixels: the same shape
    /// as the print, so crop and parameters match it. Without a preset, the photo's own shape.
    static func paper(for preset: SizePreset?, asset: AssetRecord) -> SizePreset {
        guard let preset else {
            // Portrait, as presets are stated; `auto` orientation turns it for a landscape photo.
            let long = Double(max(asset.width, asset.height)), short = Double(min(asset.width, asset.height))
            return SizePreset(id: SizePreset.customID, name: "photo", widthInches: 10 * short / long, heightInches: 10, dpi: longSide / 10)
        }
        let longPixels = max(preset.widthPixels, preset.heightPixels)
        let dpi = max(1, Int((Double(longSide) * Double(preset.dpi) / Double(longPixels)).rounded()))
        if let width = preset.widthMillimetres, let height = preset.heightMillimetres {
            return SizePreset(id: preset.id, name: preset.name, widthMillimetres: width, heightMillimetres: height, dpi: dpi)
        }
        return SizePreset(id: preset.id, name: preset.name, widthInches: preset.widthInches, heightInches: preset.heightInches, dpi: dpi)
    }

}

/// The preview threads: process-wide like `NIOThreadPool.singleton`, started on the first
/// preview (worker processes never start them) and never shut down. One pool per size, so a
/// test that builds services with another `PREVIEW_CONCURRENCY` gets its own bound.
enum PreviewThreads {
    private static let pools = Mutex<[Int: NIOThreadPool]>([:])

    static func pool(threads: Int) -> NIOThreadPool {
        pools.withLock { pools in
            if let pool = pools[threads] { return pool }
            let pool = NIOThreadPool(numberOfThreads: threads)
            pool.start()
            pools[threads] = pool
            return pool
        }
    }
}

/// Finished previews by cache key, least recently used out first, within a byte budget; and
/// the renders in flight, so concurrent requests for one preview share one render.
actor PreviewCache {
    private let capacityBytes: Int
    private var entries: [String: (jpeg: Data, lastUse: UInt64)] = [:]
    private var bytes = 0
    private var clock: UInt64 = 0
    private var inFlight: [String: Task<Data, any Error>] = [:]

    init(capacityBytes: Int) {
        self.capacityBytes = capacityBytes
    }

    func value(for key: String) -> Data? {
        guard let entry = entries[key] else { return nil }
        clock += 1
        entries[key] = (entry.jpeg, clock)
        return entry.jpeg
    }

    /// The render already running for `key`, or a new one; its result is cached on success.
    func joining(_ key: String, render: @escaping @Sendable () async throws -> Data) async throws -> Data {
        if let running = inFlight[key] { return try await running.value }
        if let cached = value(for: key) { return cached }
        let task = Task { try await render() }
        inFlight[key] = task
        defer { inFlight[key] = nil }
        let jpeg = try await task.value
        store(jpeg, for: key)
        return jpeg
    }

    private func store(_ jpeg: Data, for key: String) {
        guard jpeg.count <= capacityBytes else { return }
        clock += 1
        if let old = entries.updateValue((jpeg, clock), forKey: key) { bytes -= old.jpeg.count }
        bytes += jpeg.count
        while bytes > capacityBytes, let oldest = entries.min(by: { $0.value.lastUse < $1.value.lastUse }) {
            entries[oldest.key] = nil
            bytes -= oldest.value.jpeg.count
        }
    }
}

/// Local copies of the originals being previewed: the eight styles of one photo download it
/// once. A copy in use is never removed; the least recently used unused ones go beyond `keep`.
actor LocalOriginals {
    private let directory: String
    private let objects: any ObjectStore
    private let keep: Int
    private var copies: [UUID: (path: String, users: Int, lastUse: UInt64)] = [:]
    private var downloads: [UUID: Task<String, any Error>] = [:]
    private var clock: UInt64 = 0

    init(directory: String, objects: any ObjectStore, keep: Int) {
        self.directory = directory
        self.objects = objects
        self.keep = keep
    }

    /// The local path of the asset's original, held until `release`.
    func acquire(_ asset: AssetRecord) async throws -> String {
        clock += 1
        if let copy = copies[asset.id] {
            copies[asset.id] = (copy.path, copy.users + 1, clock)
            return copy.path
        }
        let download =
            downloads[asset.id]
            ?? Task { [directory, objects] in
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                let path = "\(directory)/\(asset.id.lowercased).\((asset.storageKey as NSString).pathExtension)"
                try await objects.download(key: asset.storageKey, to: path)
                return path
            }
        downloads[asset.id] = download
        let path: String
        do {
            path = try await download.value
        } catch {
            downloads[asset.id] = nil
            throw error
        }
        downloads[asset.id] = nil
        clock += 1
        let users = (copies[asset.id]?.users ?? 0) + 1
        copies[asset.id] = (path, users, clock)
        evict()
        return path
    }

    func release(_ id: UUID) {
        guard let copy = copies[id] else { return }
        copies[id] = (copy.path, max(0, copy.users - 1), copy.lastUse)
        evict()
    }

    private func evict() {
        while copies.count > keep, let oldest = copies.filter({ $0.value.users == 0 }).min(by: { $0.value.lastUse < $1.value.lastUse }) {
            copies[oldest.key] = nil
            unlink(oldest.value.path)
        }
    }
}
