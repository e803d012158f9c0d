import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOPosix
import RenderEngine

/// The render routes of the spec: create, status, download and preview URLs; and the listing
/// (`RenderController+List.swift`).
struct RenderController: Sendable {
    typealias Context = RenderRequestContext
    let services: ServiceComponents

    func register(on routes: RouteRegistry<Context>) {
        routes.post("/v1/renders", use: create)
        routes.get("/v1/renders", use: list)
        routes.get("/v1/renders/{id}", use: show)
        routes.get("/v1/renders/{id}/download") { request, context in try await self.link(request, context, kind: .master) }
        routes.get("/v1/renders/{id}/preview") { request, context in try await self.link(request, context, kind: .preview) }
        routes.post("/v1/renders/{id}/cancel", use: cancel)
    }

    // MARK: POST /v1/renders

    @Sendable func create(_ request: Request, context: Context) async throws -> Response {
        let clock = ContinuousClock(), started = clock.now
        let configuration = services.configuration
        let intake = PhotoIntake(services: services)
        let idempotencyKey = try Self.idempotencyKey(request)
        let owner = context.apiKeyOwner
        let keyValidAfter = Date().addingTimeInterval(-configuration.idempotencyKeyLifetime.seconds)
        var earlierUse: IdempotentRequest?
        if let idempotencyKey {
            earlierUse = try await services.store.idempotentRequest(owner: owner ?? "", key: idempotencyKey, validAfter: keyValidAfter)
        }
        // A retry of an accepted request is answered even when the queue is full.
        if earlierUse == nil { try await refuseIfOverloaded(request) }

        let form = try await intake.receive(
            request, fields: Self.formFields,
            hint:
                "Send the photo as a multipart/form-data part named 'file' (or the asset_id of a photo sent to POST /v1/assets), with style_id and size_preset_id fields"
        )
        defer { form.discard() }
        let upload = form.upload
        let received = clock.now

        // The photo: a file in this request, or one uploaded before (`POST /v1/assets`).
        // An empty asset_id is a malformed one (400), not an absent one.
        let assetField = upload.fields["asset_id"]
        if upload.file != nil, assetField != nil {
            throw APIError(.badRequest, "Conflicting photo", message: "Send the photo as 'file' or name an uploaded one with asset_id, not both")
        }
        guard upload.file != nil || assetField != nil else {
            throw APIError(
                .badRequest, "No file provided", message: "Send the photo as a part named 'file', or the asset_id of a photo sent to POST /v1/assets")
        }
        let style = try RenderForm.lookupStyle(upload.fields["style_id"])
        let (preset, customSize) = try RenderForm.paper(upload.fields)
        let orientation = try RenderForm.option(upload.fields["orientation"], name: "orientation", default: OrientationPolicy.auto)
        let fit = try RenderForm.option(upload.fields["fit"], name: "fit", default: FitPolicy.cover)
        let print = try RenderForm.printOptions(upload.fields)
        let parameters = try RenderForm.styleParameters(upload.fields["style_params"], style: style)
        let seed = try RenderForm.seedValue(upload.fields["seed"])
        let webhookURL = try await RenderForm.webhookURL(upload.fields["webhook_url"], owner: owner, settings: configuration.webhooks)
        let existingAsset = try await assetField.asyncMap { try await intake.asset($0, owner: owner) }
        if let file = upload.file, file.size == 0 { throw APIError(.badRequest, "Empty file", message: "The uploaded file has no content") }

        var idempotency: IdempotencyKey?
        if let idempotencyKey {
            let digest = try await RenderRequestDigest.hex(
                file: upload.file?.path,
                fields: [
                    style.info.id.lowercased, preset.id.lowercased, orientation.rawValue, fit.rawValue,
                    StyleParametersJSON.encode(parameters), seed.map(String.init) ?? "",
                    PrintOptionsJSON.encode(print, custom: customSize),
                ] + (existingAsset.map { ["asset:\($0.id.lowercased)"] } ?? [])
                    + (webhookURL.map { ["webhook:\($0)"] } ?? []))
            if let earlierUse { return try replay(earlierUse, key: idempotencyKey, requestHash: digest) }
            idempotency = IdempotencyKey(owner: owner ?? "", key: idempotencyKey, requestHash: digest, validAfter: keyValidAfter)
        }

        let now = Date()
        let renderID = UUID()
        var newAsset: AssetRecord?
        var probed = received, stored = received
        if let file = upload.file {
            let photo = try await intake.check(file)
            probed = clock.now
            let key = ObjectKeys.original(render: renderID, format: photo.probe.format)
            newAsset = try await intake.store(photo, assetID: UUID(), key: key, owner: owner, at: now)
            stored = clock.now
        }
        guard let asset = newAsset ?? existingAsset else { throw APIError(.internalServerError, "Internal server error") }
        let record = RenderRecord(
            id: renderID, assetID: asset.id, styleID: style.info.id, presetID: preset.id, orientation: orientation, fit: fit,
            customSize: customSize, print: print, styleParameters: parameters, seed: seed, createdAt: now, owner: owner,
            webhookURL: webhookURL)
        /// Only an original stored by this request is removed when the render is not recorded.
        func discardNewOriginal() async {
            if let newAsset { try? await services.objects.delete(key: newAsset.storageKey) }
        }
        do {
            if let raced = try await services.store.create(record, asset: newAsset, idempotency: idempotency), let idempotency {
                // The same key arrived twice at once and the other request was recorded first.
                await discardNewOriginal()
                return try replay(raced, key: idempotency.key, requestHash: idempotency.requestHash)
            }
        } catch {
            await discardNewOriginal()
            throw error
        }
        do {
            try await services.queue.enqueue(renderID)
        } catch {
            // The record exists as `queued`: the reconciler enqueues it again. Not lost.
            context.logger.error("Enqueue failed; the reconciler will retry", metadata: ["render_id": "\(renderID.lowercased)", "error": "\(error)"])
        }
        let finished = clock.now
        func ms(_ from: ContinuousClock.Instant, _ to: ContinuousClock.Instant) -> Logger.Metadata.Value {
            .stringConvertible(Int(milliseconds(to - from).rounded()))
        }
        context.logger.info(
            "Render created successfully",
            metadata: [
                "render_id": "\(renderID.lowercased)", "asset_id": "\(asset.id.lowercased)", "duration_ms": ms(started, finished),
                "upload_bytes": .stringConvertible(upload.file?.size ?? 0), "receive_ms": ms(started, received), "probe_ms": ms(received, probed),
                "store_ms": ms(probed, stored), "record_ms": ms(stored, finished), "reused_asset": .stringConvertible(existingAsset != nil),
            ])
        return Self.created(renderID, at: now)
    }

    /// The spec's 201 `{render_id, status: "queued", created_at}`; a replay says so in a header.
    static func created(_ renderID: UUID, at createdAt: Date, replayed: Bool = false) -> Response {
        var headers: HTTPFields = [.location: "/v1/renders/\(renderID.lowercased)"]
        if replayed { headers[.idempotentReplayed] = "true" }
        return JSONBody.response(
            .object([
                ("render_id", .string(renderID.lowercased)), ("status", .string(RenderStatus.queued.rawValue)),
                ("created_at", .string(Timestamps.rfc3339(createdAt))),
            ]),
            status: .created, headers: headers)
    }

    static let formFields: Set<String> = [
        "asset_id", "style_id", "size_preset_id", "orientation", "fit", "style_params", "seed",
        "width_inches", "height_inches", "width_mm", "height_mm", "bleed_inches", "crop_marks", "output_profile", "rendering_intent",
        "webhook_url",
    ]

    /// `Idempotency-Key`: optional; 1–255 visible ASCII characters.
    static func idempotencyKey(_ request: Request) throws -> String? {
        guard let value = request.headers[values: .idempotencyKey].first else { return nil }
        guard request.headers[values: .idempotencyKey].count == 1, (1...255).contains(value.utf8.count),
            value.utf8.allSatisfy({ (0x21...0x7E).contains($0) })
        else {
            throw APIError(
                .badRequest, "Invalid Idempotency-Key",
                message: "Idempotency-Key must be 1 to 255 visible ASCII characters, sent once (a UUID is a good choice)")
        }
        return value
    }

    /// The answer to a request whose idempotency key was used before: the same 201 when the
    /// request is the same, 422 when the key is being reused for something else.
    private func replay(_ earlier: IdempotentRequest, key: String, requestHash: String) throws -> Response {
        guard earlier.requestHash == requestHash else {
            throw APIError(
                .unprocessableContent, "Idempotency-Key already used for a different request",
                // Never the earlier render's id: without API keys every client shares one key
                // namespace, and a guessable key must not lead to someone else's print.
                message: "This Idempotency-Key was already used with another file or other fields; use a new key for a new render")
        }
        return Self.created(earlier.renderID, at: earlier.createdAt, replayed: true)
    }

    /// Load shedding: with `MAX_QUEUED_RENDERS` waiting, new work is refused with 503 and a
    /// Retry-After rather than accepted into an unbounded backlog. The body is read and
    /// discarded first (never stored), so ordinary HTTP clients see the answer instead of a
    /// reset connection.
    private func refuseIfOverloaded(_ request: Request) async throws {
        let configuration = services.configuration
        let waiting = try await services.store.count(status: .queued)
        guard waiting >= configuration.maxQueuedRenders else { return }
        services.metrics.uploadRefused()
        var discarded = 0
        for try await chunk in request.body {
            discarded += chunk.readableBytes
            if discarded > configuration.maxRequestBytes { break }
        }
        throw APIError(
            .serviceUnavailable, "Service overloaded",
            message: "\(waiting) renders are waiting (limit \(configuration.maxQueuedRenders)); retry after \(configuration.overloadRetryAfterSeconds) seconds",
            headers: [.retryAfter: String(configuration.overloadRetryAfterSeconds)])
    }

    // MARK: GET /v1/renders/{id}

    /// With `Prefer: wait=N` (N ≤ 60 seconds) the answer waits until the render's status
    /// changes or is terminal, or N seconds pass: a client follows a render with one request
    /// per change instead of a polling storm. Woken by the store's change signal, which in
    /// production hears every process's changes (`PostgresRenderChangeListener`); the store is
    /// re-read every `Self.waitSafetyNet` only in case a notification was lost.
    @Sendable func show(_ request: Request, context: Context) async throws -> Response {
        guard let wait = Self.preferredWait(request) else { return JSONBody.response(RenderJSON.object(try await findRender(context))) }
        let id = try Self.renderID(context)
        // Armed before the first read, so a change between the read and the wait is not missed.
        return try await services.store.changes.watching(id) { watch in
            var record = try await findRender(context)
            let clock = ContinuousClock(), deadline = clock.now + .seconds(wait)
            let seen = record.status
            while !record.status.isTerminal, record.status == seen, clock.now < deadline, !Task.isCancelled {
                await watch.wait(timeout: min(Self.waitSafetyNet, deadline - clock.now))
                guard let current = try await services.store.render(id: record.id) else { throw APIError.renderNotFound }
                record = current
            }
            return JSONBody.response(RenderJSON.object(record), headers: [.preferenceApplied: "wait=\(wait)"])
        }
    }

    /// How often a waiting request re-reads the store though nothing woke it.
    static let waitSafetyNet: Duration = .seconds(10)
    static let maxWaitSeconds = 60

    /// `Prefer: wait=N` (RFC 7240), capped at 60 s; nil without it. A malformed preference is
    /// ignored, as RFC 7240 asks of preferences a server does not understand.
    static func preferredWait(_ request: Request) -> Int? {
        for header in request.headers[values: .prefer] {
            for preference in header.split(separator: ",") {
                let token = preference.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
                let pair = token.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard pair.count == 2, pair[0].lowercased() == "wait", pair[1].count <= 6, let seconds = Int(pair[1]), seconds >= 0 else { continue }
                return min(seconds, maxWaitSeconds)
            }
        }
        return nil
    }

    private static func renderID(_ context: Context) throws -> UUID {
        guard let text = context.parameters.get("id"), let id = UUID(uuidString: text) else { throw APIError.invalidUUID("render_id") }
        return id
    }

    private func findRender(_ context: Context) async throws -> RenderRecord {
        let id = try Self.renderID(context)
        guard let record = try await services.store.render(id: id) else { throw APIError.renderNotFound }
        // Another key's render does not exist as far as this key can tell (404, not 403).
        if services.configuration.apiKeys.isEnabled, record.owner != context.apiKeyOwner { throw APIError.renderNotFound }
        return record
    }

    // MARK: POST /v1/renders/{id}/cancel

    /// A queued render is canceled at once (a worker that claims it later drops it); one being
    /// rendered is marked canceled now and its worker, on whichever host, stops at the next
    /// checkpoint and discards its work. Canceling a canceled render is a no-op (200), so a
    /// client may retry; a completed or failed one cannot be canceled (409).
    @Sendable func cancel(_ request: Request, context: Context) async throws -> Response {
        let record = try await findRender(context)
        if !record.status.isTerminal, try await services.store.markCanceled(id: record.id, at: Date()) {
            context.logger.info("Render canceled", metadata: ["render_id": "\(record.id.lowercased)", "was": "\(record.status.rawValue)"])
        }
        guard let current = try await services.store.render(id: record.id) else { throw APIError.renderNotFound }
        guard current.status == .canceled else {
            throw APIError(.conflict, "Render cannot be canceled (current status: \(current.status.rawValue))")
        }
        return JSONBody.response(RenderJSON.object(current))
    }

    // MARK: GET /v1/renders/{id}/download and /preview

    private func link(_ request: Request, _ context: Context, kind: DownloadKind) async throws -> Response {
        let record = try await findRender(context)
        guard record.status == .completed else {
            throw APIError(.conflict, "Render not completed (current status: \(record.status.rawValue))")
        }
        if let deleted = record.outputsDeletedAt {
            throw APIError(
                .gone, "Render outputs expired",
                message:
                    "The files of this render were deleted on \(Timestamps.rfc3339(deleted)) at the end of the retention period; upload the photo again to render it"
            )
        }
        let key = kind == .master ? record.outputKey : record.previewKey
        guard let key, try await services.objects.head(key: key) != nil else {
            throw APIError(.notFound, "Output file not available", message: "The render's files have expired or been removed")
        }
        let name = RenderJSON.downloadName(record, kind: kind)
        let expiry = services.configuration.downloadURLExpiry
        let url = try await services.objects.signedURL(key: key, expiresIn: expiry, downloadName: name)
        return JSONBody.response(.object([("url", .string(url.absoluteString)), ("expires_in", .int(expiry))]))
    }
}

enum DownloadKind { case master, preview }

/// `crop_marks=true|false` as a form field.
enum Switch: String, CaseIterable {
    case `true`, `false`
}

extension HTTPField.Name {
    static let idempotencyKey = Self("Idempotency-Key")!
    static let idempotentReplayed = Self("Idempotent-Replayed")!
    static let prefer = Self("Prefer")!
    static let preferenceApplied = Self("Preference-Applied")!
}

/// The spec's JSON shapes for renders, presets and styles.
enum RenderJSON {
    static func object(_ record: RenderRecord) -> JSONValue {
        let style = StyleCatalog.find(id: record.styleID)
        let preset = record.paper
        func date(_ value: Date?) -> JSONValue { .optional(value.map(Timestamps.rfc3339)) }
        return .object([
            ("id", .string(record.id.lowercased)),
            ("status", .string(record.status.rawValue)),
            ("asset_id", .string(record.assetID.lowercased)),
            ("style", .object([("id", .string(record.styleID.lowercased)), ("name", .optional(style?.info.name)), ("slug", .optional(style?.info.slug))])),
            ("size_preset", preset.map(presetObject) ?? .object([("id", .string(record.presetID.lowercased))])),
            ("created_at", .string(Timestamps.rfc3339(record.createdAt))),
            ("started_at", date(record.startedAt)),
            ("completed_at", date(record.completedAt)),
            ("duration_ms", .optional(record.durationMs)),
            ("error_message", .optional(record.errorMessage)),
            // Additions to the spec's shape.
            ("orientation", .string(record.orientation.rawValue)),
            ("fit", .string(record.fit.rawValue)),
            ("style_params", .object(record.styleParameters.sorted { $0.key < $1.key }.map { ($0.key, .double($0.value)) })),
            ("print", preset.map { printObject($0, record.print) } ?? .null),
            ("effective_dpi", .optional(record.effectiveDPI)),
            ("warnings", .array(record.warnings.map(JSONValue.string))),
            ("outputs_deleted_at", date(record.outputsDeletedAt)),
            ("webhook_url", .optional(record.webhookURL)),
        ])
    }

    /// A preset as the spec shows it, inches to 2 decimals (the database's NUMERIC(6, 2)); sizes
    /// defined in millimetres add `width_mm` and `height_mm`, and a custom size has no id.
    static func presetObject(_ preset: SizePreset) -> JSONValue {
        var fields: [(String, JSONValue)] = [
            ("id", preset.isCustom ? .null : .string(preset.id.lowercased)), ("name", .string(preset.name)),
            ("width_inches", .double(inches(preset.widthInches))), ("height_inches", .double(inches(preset.heightInches))),
            ("dpi", .int(preset.dpi)), ("width_px", .int(preset.widthPixels)), ("height_px", .int(preset.heightPixels)),
        ]
        if let width = preset.widthMillimetres, let height = preset.heightMillimetres {
            fields += [("width_mm", .double(width)), ("height_mm", .double(height))]
        }
        return .object(fields)
    }

    static func inches(_ value: Double) -> Double { (value * 100).rounded() / 100 }

    /// What a lab checks before printing: trim, bleed and the master's pixels (trim + 2 × bleed,
    /// + 2 × the crop-mark slug), stated portrait like the preset; a landscape print swaps them.
    static func printObject(_ paper: SizePreset, _ options: PrintOptions) -> JSONValue {
        let edge = options.bleedPixels(dpi: paper.dpi) + 2 * options.slugPixels(dpi: paper.dpi)
        return .object([
            ("trim_width_inches", .double(inches(paper.widthInches))), ("trim_height_inches", .double(inches(paper.heightInches))),
            ("bleed_inches", .double(options.bleedInches)), ("crop_marks", .bool(options.cropMarks)),
            ("output_profile", .string(options.outputProfile.rawValue)), ("rendering_intent", .string(options.renderingIntent.rawValue)),
            ("dpi", .int(paper.dpi)), ("width_px", .int(paper.widthPixels + edge)), ("height_px", .int(paper.heightPixels + edge)),
        ])
    }

    static func styleObject(_ info: StyleInfo) -> JSONValue {
        .object([
            ("id", .string(info.id.lowercased)), ("slug", .string(info.slug)), ("name", .string(info.name)),
            ("description", .string(info.description)),
            (
                "parameters",
                .array(
                    info.parameters.map { parameter in
                        .object([
                            ("name", .string(parameter.name)), ("description", .string(parameter.description)),
                            ("default", .double(parameter.defaultValue)), ("minimum", .double(parameter.minimum)), ("maximum", .double(parameter.maximum)),
                        ])
                    })
            ),
        ])
    }

    /// The catalogue never changes while the process runs: encoded once.
    static let presetsBody = JSONValue.array(SizePreset.all.map(presetObject)).buffer
    static let stylesBody = JSONValue.array(StyleCatalog.all.map { styleObject($0.info) }).buffer

    /// `watercolor-9x12-<id>.tiff`, `watercolor-9x12-<id>-preview.jpg`.
    static func downloadName(_ record: RenderRecord, kind: DownloadKind) -> String {
        let slug = StyleCatalog.find(id: record.styleID)?.info.slug ?? "render"
        let size = record.paper?.name ?? "print"
        return kind == .master ? "\(slug)-\(size)-\(record.id.lowercased).tiff" : "\(slug)-\(size)-\(record.id.lowercased)-preview.jpg"
    }
}
