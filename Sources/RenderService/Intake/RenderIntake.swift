import Foundation
import Logging
import NIOPosix
import RenderEngine

/// Taking in work, whoever asks: a render request, or a photo uploaded on its own, is checked,
/// stored and recorded (a render also queued) under the spec's idempotency and load-shedding
/// rules. Nothing here knows HTTP: the API receives the multipart body and turns results and
/// `IntakeError`s into answers; the CLI and the tests call the intake directly.
public struct RenderIntake: Sendable {
    /// The rules it applies, from the configuration.
    struct Policy: Sendable {
        var maxQueuedRenders: Int
        var retryAfterSeconds: Int
        var idempotencyKeyLifetime: Duration
        /// With API keys on, an asset belongs to the key that uploaded it.
        var assetsHaveOwners: Bool
        var webhooks: WebhookSettings

        init(_ configuration: ServiceConfiguration) {
            maxQueuedRenders = configuration.maxQueuedRenders
            retryAfterSeconds = configuration.overloadRetryAfterSeconds
            idempotencyKeyLifetime = configuration.idempotencyKeyLifetime
            assetsHaveOwners = configuration.apiKeys.isEnabled
            webhooks = configuration.webhooks
        }
    }

    let store: any RenderStore
    let queue: any JobQueue
    let objects: any ObjectStore
    let engine: RenderEngine
    let metrics: ServiceMetrics
    let policy: Policy

    /// A photo on disk. A temporary one (an upload the API spooled) is moved into the object
    /// store; any other is copied, so a file named on the command line stays where it is.
    public struct Photo: Sendable {
        public let path: String
        public let size: Int
        public let isTemporary: Bool

        public init(path: String, size: Int, isTemporary: Bool) {
            self.path = path
            self.size = size
            self.isTemporary = isTemporary
        }
    }

    /// A render request let in before its photo is read: a retry of an accepted request, or
    /// new work the queue has room for.
    public struct Admission: Sendable {
        let owner: String?
        let idempotencyKey: String?
        let earlierUse: IdempotentRequest?
        let keyValidAfter: Date
    }

    /// A render recorded and queued, or the earlier one a repeated idempotency key names.
    public struct AcceptedRender: Sendable, Equatable {
        public let renderID: UUID
        public let createdAt: Date
        /// Nothing new was stored: an earlier request with the same key and content was.
        public let isReplay: Bool
    }

    /// The first step, before the photo is read: a retry of an accepted request is let in even
    /// when the queue is full; new work is refused (`overloaded`) while `MAX_QUEUED_RENDERS`
    /// wait, rather than accepted into an unbounded backlog.
    public func admit(idempotencyKey: String?, owner: String?) async throws -> Admission {
        let keyValidAfter = Date().addingTimeInterval(-policy.idempotencyKeyLifetime.seconds)
        var earlierUse: IdempotentRequest?
        if let idempotencyKey {
            earlierUse = try await store.idempotentRequest(owner: owner ?? "", key: idempotencyKey, validAfter: keyValidAfter)
        }
        if earlierUse == nil {
            let waiting = try await store.count(status: .queued)
            if waiting >= policy.maxQueuedRenders {
                metrics.uploadRefused()
                var refusal = IntakeError(
                    .overloaded, "Service overloaded",
                    message: "\(waiting) renders are waiting (limit \(policy.maxQueuedRenders)); retry after \(policy.retryAfterSeconds) seconds")
                refusal.retryAfterSeconds = policy.retryAfterSeconds
                throw refusal
            }
        }
        return Admission(owner: owner, idempotencyKey: idempotencyKey, earlierUse: earlierUse, keyValidAfter: keyValidAfter)
    }

    /// `admit`, then `submit` with the photo already on disk (the CLI, tests).
    public func submit(fields: [String: String], photo: Photo?, idempotencyKey: String? = nil, owner: String? = nil, logger: Logger) async throws
        -> AcceptedRender
    {
        let admission = try await admit(idempotencyKey: idempotencyKey, owner: owner)
        return try await submit(fields: fields, photo: photo, admission: admission, logger: logger)
    }

    /// The render form's `fields` checked (`RenderForm.fields`), with `photo` or the
    /// `asset_id` of an uploaded one; a repeated idempotency key answered with its render;
    /// then the photo checked and stored, the render recorded and queued. `receiving` is the
    /// time the caller spent receiving the photo, for the log.
    public func submit(fields: [String: String], photo: Photo?, admission: Admission, logger: Logger, receiving: Duration = .zero) async throws
        -> AcceptedRender
    {
        let clock = ContinuousClock(), started = clock.now
        let owner = admission.owner
        if let unknown = fields.keys.first(where: { !RenderForm.fields.contains($0) }) { throw IntakeError.unknownField(unknown, fields: RenderForm.fields) }
        // The photo: a file with this request, or one uploaded before. An empty asset_id is a
        // malformed one (400), not an absent one.
        let assetField = fields["asset_id"]
        if photo != nil, assetField != nil {
            throw IntakeError.invalid("Conflicting photo", message: "Send the photo as 'file' or name an uploaded one with asset_id, not both")
        }
        guard photo != nil || assetField != nil else {
            throw IntakeError.invalid("No file provided", message: "Send the photo as a part named 'file', or the asset_id of a photo sent to POST /v1/assets")
        }
        let style = try RenderForm.lookupStyle(fields["style_id"])
        let (preset, customSize) = try RenderForm.paper(fields)
        let orientation = try RenderForm.option(fields["orientation"], name: "orientation", default: OrientationPolicy.auto)
        let fit = try RenderForm.option(fields["fit"], name: "fit", default: FitPolicy.cover)
        let print = try RenderForm.printOptions(fields)
        let parameters = try RenderForm.styleParameters(fields["style_params"], style: style)
        let seed = try RenderForm.seedValue(fields["seed"])
        let webhookURL = try await RenderForm.webhookURL(fields["webhook_url"], owner: owner, settings: policy.webhooks)
        let original: Original
        if let photo {
            guard photo.size > 0 else { throw IntakeError.emptyFile }
            original = .upload(photo)
        } else {
            original = .uploaded(try await asset(assetField, owner: owner))
        }

        var idempotency: IdempotencyKey?
        if let key = admission.idempotencyKey {
            var identity = [
                style.info.id.lowercased, preset.id.lowercased, orientation.rawValue, fit.rawValue, StyleParametersJSON.encode(parameters),
                seed.map(String.init) ?? "", PrintOptionsJSON.encode(print, custom: customSize),
            ]
            if case .uploaded(let asset) = original { identity.append("asset:\(asset.id.lowercased)") }
            if let webhookURL { identity.append("webhook:\(webhookURL)") }
            let digest = try await RenderRequestDigest.hex(file: photo?.path, fields: identity)
            if let earlier = admission.earlierUse { return try Self.replay(earlier, requestHash: digest) }
            idempotency = IdempotencyKey(owner: owner ?? "", key: key, requestHash: digest, validAfter: admission.keyValidAfter)
        }

        let now = Date(), renderID = UUID()
        let asset: AssetRecord
        var newAsset: AssetRecord?
        var probed = started, stored = started
        switch original {
        case .uploaded(let uploaded):
            asset = uploaded
        case .upload(let photo):
            let checked = try await check(photo)
            probed = clock.now
            asset = try await storeOriginal(
                checked, assetID: UUID(), key: ObjectKeys.original(render: renderID, format: checked.probe.format), owner: owner, at: now)
            newAsset = asset
            stored = clock.now
        }
        let record = RenderRecord(
            id: renderID, assetID: asset.id, styleID: style.info.id, presetID: preset.id, orientation: orientation, fit: fit,
            customSize: customSize, print: print, styleParameters: parameters, seed: seed, createdAt: now, owner: owner,
            webhookURL: webhookURL)
        /// Only an original stored by this request is removed when the render is not recorded.
        func discardNewOriginal() async {
            if let newAsset { try? await objects.delete(key: newAsset.storageKey) }
        }
        do {
            if let raced = try await store.create(record, asset: newAsset, idempotency: idempotency), let idempotency {
                // The same key arrived twice at once and the other request was recorded first.
                await discardNewOriginal()
                return try Self.replay(raced, requestHash: idempotency.requestHash)
            }
        } catch {
            await discardNewOriginal()
            throw error
        }
        do {
            try await queue.enqueue(renderID)
        } catch {
            // The record exists as `queued`: the reconciler enqueues it again. Not lost.
            logger.error("Enqueue failed; the reconciler will retry", metadata: ["render_id": "\(renderID.lowercased)", "error": "\(error)"])
        }
        let finished = clock.now
        func ms(_ duration: Duration) -> Logger.Metadata.Value { .stringConvertible(Int(milliseconds(duration).rounded())) }
        logger.info(
            "Render created successfully",
            metadata: [
                "render_id": "\(renderID.lowercased)", "asset_id": "\(asset.id.lowercased)", "duration_ms": ms(receiving + (finished - started)),
                "upload_bytes": .stringConvertible(photo?.size ?? 0), "receive_ms": ms(receiving), "probe_ms": ms(probed - started),
                "store_ms": ms(stored - probed), "record_ms": ms(finished - stored), "reused_asset": .stringConvertible(newAsset == nil),
            ])
        return AcceptedRender(renderID: renderID, createdAt: now, isReplay: false)
    }

    /// A request whose idempotency key was used before: the same render when the request is
    /// the same, refused when the key is being reused for something else.
    private static func replay(_ earlier: IdempotentRequest, requestHash: String) throws -> AcceptedRender {
        guard earlier.requestHash == requestHash else {
            throw IntakeError(
                .keyReused, "Idempotency-Key already used for a different request",
                // Never the earlier render's id: without API keys every client shares one key
                // namespace, and a guessable key must not lead to someone else's print.
                message: "This Idempotency-Key was already used with another file or other fields; use a new key for a new render")
        }
        return AcceptedRender(renderID: earlier.renderID, createdAt: earlier.createdAt, isReplay: true)
    }

    /// A photo uploaded on its own (`POST /v1/assets`): checked and stored exactly as a
    /// render's photo is; no render is queued.
    public func addAsset(_ photo: Photo, owner: String?, logger: Logger, receiving: Duration = .zero) async throws -> AssetRecord {
        let clock = ContinuousClock(), started = clock.now
        let checked = try await check(photo)
        let assetID = UUID()
        let asset = try await storeOriginal(
            checked, assetID: assetID, key: ObjectKeys.original(asset: assetID, format: checked.probe.format), owner: owner, at: Date())
        do {
            try await store.createAsset(asset)
        } catch {
            try? await objects.delete(key: asset.storageKey)
            throw error
        }
        metrics.assetUploaded()
        logger.info(
            "Asset uploaded",
            metadata: [
                "asset_id": "\(assetID.lowercased)", "upload_bytes": .stringConvertible(photo.size), "format": "\(asset.format)",
                "pixels": "\(asset.width)x\(asset.height)",
                "duration_ms": .stringConvertible(Int(milliseconds(receiving + (clock.now - started)).rounded())),
            ])
        return asset
    }

    /// An asset this caller may use: `notFound` for an unknown id or another key's asset (it
    /// does not exist as far as this key can tell), `expired` once retention removed the photo.
    func asset(_ text: String?, owner: String?) async throws -> AssetRecord {
        guard let text, let id = UUID(uuidString: text) else { throw IntakeError.invalidUUID("asset_id") }
        guard let asset = try await store.asset(id: id) else { throw IntakeError.assetNotFound }
        if policy.assetsHaveOwners, asset.owner != owner { throw IntakeError.assetNotFound }
        if let deleted = asset.deletedAt {
            throw IntakeError(
                .expired, "Asset expired",
                message: "The photo was deleted on \(Timestamps.rfc3339(deleted)) at the end of the retention period; upload it again")
        }
        return asset
    }

    /// The photo of a render: sent with it, or uploaded before (`POST /v1/assets`).
    private enum Original {
        case upload(Photo)
        case uploaded(AssetRecord)
    }

    /// A photo that passed every check, and where its bytes are.
    private struct CheckedPhoto {
        let photo: Photo
        let probe: ImageProbe
    }

    /// Non-empty, then the header, then the whole file checked (a JPEG's markers, a
    /// low-resolution decode of other formats), on the thread pool: libvips blocks.
    private func check(_ photo: Photo) async throws -> CheckedPhoto {
        guard photo.size > 0 else { throw IntakeError.emptyFile }
        do {
            let engine = engine, path = photo.path
            let probe = try await NIOThreadPool.singleton.runIfActive {
                let probe = try engine.probe(path: path)
                try ImageProbe.verifyUpload(path: path, format: probe.format)
                return probe
            }
            return CheckedPhoto(photo: photo, probe: probe)
        } catch let error as RenderError {
            throw IntakeError.image(error)
        }
    }

    /// Puts the checked photo into the object store under `key` and describes it as an asset.
    private func storeOriginal(_ checked: CheckedPhoto, assetID: UUID, key: String, owner: String?, at date: Date) async throws -> AssetRecord {
        let format = checked.probe.format
        try await objects.put(key: key, fileAt: checked.photo.path, contentType: format.mediaType, consume: checked.photo.isTemporary)
        return AssetRecord(
            id: assetID, storageKey: key, contentType: format.mediaType, sizeBytes: checked.photo.size, width: checked.probe.orientedWidth,
            height: checked.probe.orientedHeight, format: format.rawValue, createdAt: date, owner: owner)
    }
}
