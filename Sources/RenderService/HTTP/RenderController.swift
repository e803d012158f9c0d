import Foundation
import HTTPTypes
import Hummingbird
import Logging
import RenderEngine

/// The render routes of the spec: create, status, download and preview URLs; and the listing
/// (`RenderController+List.swift`).
struct RenderController: Sendable {
    typealias Context = RenderRequestContext
    let intake: RenderIntake
    let spool: UploadSpool
    let store: any RenderStore
    /// Wakes `Prefer: wait` requests when a render changes.
    let changes: RenderChangeSignal
    let objects: any ObjectStore
    /// With API keys on, a render exists only for the key that created it.
    let rendersHaveOwners: Bool
    let downloadURLExpiry: Int

    func register(on routes: RouteRegistry<Context>) {
        routes.post("/v1/renders", use: create)
        routes.get("/v1/renders", use: list)
        routes.get("/v1/renders/{id}", use: show)
        routes.get("/v1/renders/{id}/download") { request, context in try await self.link(request, context, kind: .master) }
        routes.get("/v1/renders/{id}/preview") { request, context in try await self.link(request, context, kind: .preview) }
        routes.post("/v1/renders/{id}/cancel", use: cancel)
    }

    // MARK: POST /v1/renders

    /// The intake does the work; here the `Idempotency-Key` header and the multipart body
    /// become its arguments, and its result the spec's answer.
    @Sendable func create(_ request: Request, context: Context) async throws -> Response {
        let clock = ContinuousClock(), started = clock.now
        let admission: RenderIntake.Admission
        do {
            admission = try await intake.admit(idempotencyKey: try Self.idempotencyKey(request), owner: context.apiKeyOwner)
        } catch let refusal as IntakeError where refusal.kind == .overloaded {
            try await spool.discard(request.body)
            throw refusal
        }
        let accepted = try await spool.receive(
            request, fields: RenderForm.fields,
            hint:
                "Send the photo as a multipart/form-data part named 'file' (or the asset_id of a photo sent to POST /v1/assets), with style_id and size_preset_id fields"
        ) { form in
            try await intake.submit(
                fields: form.upload.fields, photo: form.photo, admission: admission, logger: context.logger, receiving: clock.now - started)
        }
        return Self.created(accepted)
    }

    /// The spec's 201 `{render_id, status: "queued", created_at}`; a replay says so in a header.
    static func created(_ accepted: RenderIntake.AcceptedRender) -> Response {
        var headers: HTTPFields = [.location: "/v1/renders/\(accepted.renderID.lowercased)"]
        if accepted.isReplay { headers[.idempotentReplayed] = "true" }
        return JSONBody.response(
            .object([
                ("render_id", .string(accepted.renderID.lowercased)), ("status", .string(RenderStatus.queued.rawValue)),
                ("created_at", .string(Timestamps.rfc3339(accepted.createdAt))),
            ]),
            status: .created, headers: headers)
    }

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
        return try await changes.watching(id) { watch in
            var record = try await findRender(context)
            let clock = ContinuousClock(), deadline = clock.now + .seconds(wait)
            let seen = record.status
            while !record.status.isTerminal, record.status == seen, clock.now < deadline, !Task.isCancelled {
                await watch.wait(timeout: min(Self.waitSafetyNet, deadline - clock.now))
                guard let current = try await store.render(id: record.id) else { throw APIError.renderNotFound }
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
        guard let record = try await store.render(id: id) else { throw APIError.renderNotFound }
        // Another key's render does not exist as far as this key can tell (404, not 403).
        if rendersHaveOwners, record.owner != context.apiKeyOwner { throw APIError.renderNotFound }
        return record
    }

    // MARK: POST /v1/renders/{id}/cancel

    /// A queued render is canceled at once (a worker that claims it later drops it); one being
    /// rendered is marked canceled now and its worker, on whichever host, stops at the next
    /// checkpoint and discards its work. Canceling a canceled render is a no-op (200), so a
    /// client may retry; a completed or failed one cannot be canceled (409).
    @Sendable func cancel(_ request: Request, context: Context) async throws -> Response {
        let record = try await findRender(context)
        if !record.status.isTerminal, try await store.markCanceled(id: record.id, at: Date()) {
            context.logger.info("Render canceled", metadata: ["render_id": "\(record.id.lowercased)", "was": "\(record.status.rawValue)"])
        }
        guard let current = try await store.render(id: record.id) else { throw APIError.renderNotFound }
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
        guard let key, try await objects.head(key: key) != nil else {
            throw APIError(.notFound, "Output file not available", message: "The render's files have expired or been removed")
        }
        let name = RenderJSON.downloadName(record, kind: kind)
        let expiry = downloadURLExpiry
        let url = try await objects.signedURL(key: key, expiresIn: expiry, downloadName: name)
        return JSONBody.response(.object([("url", .string(url.absoluteString)), ("expires_in", .int(expiry))]))
    }
}

enum DownloadKind { case master, preview }

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
