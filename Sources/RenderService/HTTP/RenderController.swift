import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOPosix
import RenderEngine

/// The render routes of the spec: create, status, download and preview URLs.
struct RenderController: Sendable {
    typealias Context = RenderRequestContext
    let services: ServiceComponents

    func register(on router: Router<Context>, routes: RouteTable) {
        router.post("/v1/renders", use: create)
        router.get("/v1/renders/{id}", use: show)
        router.get("/v1/renders/{id}/download") { request, context in try await self.link(request, context, kind: .master) }
        router.get("/v1/renders/{id}/preview") { request, context in try await self.link(request, context, kind: .preview) }
        router.post("/v1/renders/{id}/cancel", use: cancel)
        routes.add(.post, "/v1/renders")
        routes.add(.post, "/v1/renders/{id}/cancel")
        routes.add(.get, "/v1/renders/{id}")
        routes.add(.get, "/v1/renders/{id}/download")
        routes.add(.get, "/v1/renders/{id}/preview")
    }

    // MARK: POST /v1/renders

    @Sendable func create(_ request: Request, context: Context) async throws -> Response {
        let clock = ContinuousClock(), started = clock.now
        let configuration = services.configuration
        guard let contentType = request.headers[.contentType], let boundary = MultipartUpload.boundary(contentType: contentType) else {
            throw APIError(.badRequest, "Expected multipart/form-data", message: "Send the photo as a multipart/form-data part named 'file', with style_id and size_preset_id fields")
        }
        // A declared length far over the limit is refused before a byte is read.
        if let length = request.headers[.contentLength].flatMap(Int.init), length > configuration.maxRequestBytes {
            throw APIError.fileTooLarge
        }
        let idempotencyKey = try Self.idempotencyKey(request)
        let owner = context.apiKeyOwner
        let keyValidAfter = Date().addingTimeInterval(-configuration.idempotencyKeyLifetime.seconds)
        var earlierUse: IdempotentRequest?
        if let idempotencyKey {
            earlierUse = try await services.store.idempotentRequest(owner: owner ?? "", key: idempotencyKey, validAfter: keyValidAfter)
        }
        // A retry of an accepted request is answered even when the queue is full.
        if earlierUse == nil { try await refuseIfOverloaded(request) }

        let temporary = "\(services.uploadDirectory)/upload-\(UUID().uuidString)"
        let upload = try await MultipartUpload.receive(
            body: request.body, boundary: boundary, temporaryPath: temporary, fields: Self.formFields,
            maxFileBytes: configuration.maxUploadBytes, maxFormBytes: configuration.maxFormBytes)
        defer { unlink(temporary) }
        let received = clock.now

        guard let file = upload.file else { throw APIError(.badRequest, "No file provided") }
        let style = try lookupStyle(upload.fields["style_id"])
        let (preset, customSize) = try paper(upload.fields)
        let orientation = try option(upload.fields["orientation"], name: "orientation", default: OrientationPolicy.auto)
        let fit = try option(upload.fields["fit"], name: "fit", default: FitPolicy.cover)
        let print = try printOptions(upload.fields)
        let parameters = try styleParameters(upload.fields["style_params"], style: style)
        let seed = try seedValue(upload.fields["seed"])
        guard file.size > 0 else { throw APIError(.badRequest, "Empty file", message: "The uploaded file has no content") }

        var idempotency: IdempotencyKey?
        if let idempotencyKey {
            let digest = try await RenderRequestDigest.hex(
                file: file.path,
                fields: [style.info.id.lowercased, preset.id.lowercased, orientation.rawValue, fit.rawValue,
                         StyleParametersJSON.encode(parameters), seed.map(String.init) ?? "",
                         PrintOptionsJSON.encode(print, custom: customSize)])
            if let earlierUse { return try replay(earlierUse, key: idempotencyKey, requestHash: digest) }
            idempotency = IdempotencyKey(owner: owner ?? "", key: idempotencyKey, requestHash: digest, validAfter: keyValidAfter)
        }

        // The header, then the whole file checked (a JPEG's markers, a low-resolution decode of
        // other formats), off the event loops.
        let probe: ImageProbe
        do {
            let engine = services.engine, path = file.path
            probe = try await NIOThreadPool.singleton.runIfActive {
                let probe = try engine.probe(path: path)
                try ImageProbe.verifyUpload(path: path, format: probe.format)
                return probe
            }
        } catch let error as RenderError {
            throw APIError.image(error)
        }

        let probed = clock.now
        let now = Date()
        let renderID = UUID(), assetID = UUID()
        let key = ObjectKeys.original(render: renderID, format: probe.format)
        try await services.objects.put(key: key, fileAt: file.path, contentType: probe.format.mediaType, consume: true)
        let stored = clock.now
        let asset = AssetRecord(
            id: assetID, storageKey: key, contentType: probe.format.mediaType, sizeBytes: file.size, width: probe.orientedWidth,
            height: probe.orientedHeight, format: probe.format.rawValue, createdAt: now)
        let record = RenderRecord(
            id: renderID, assetID: assetID, styleID: style.info.id, presetID: preset.id, orientation: orientation, fit: fit,
            customSize: customSize, print: print, styleParameters: parameters, seed: seed, createdAt: now, owner: owner)
        do {
            if let raced = try await services.store.create(record, asset: asset, idempotency: idempotency), let idempotency {
                // The same key arrived twice at once and the other request was recorded first.
                try? await services.objects.delete(key: key)
                return try replay(raced, key: idempotency.key, requestHash: idempotency.requestHash)
            }
        } catch {
            try? await services.objects.delete(key: key)
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
                "render_id": "\(renderID.lowercased)", "asset_id": "\(assetID.lowercased)", "duration_ms": ms(started, finished),
                "upload_bytes": .stringConvertible(file.size), "receive_ms": ms(started, received), "probe_ms": ms(received, probed),
                "store_ms": ms(probed, stored), "record_ms": ms(stored, finished),
            ])
        return Self.created(renderID, at: now)
    }

    /// The spec's 201 `{render_id, status: "queued", created_at}`; a replay says so in a header.
    static func created(_ renderID: UUID, at createdAt: Date, replayed: Bool = false) -> Response {
        var headers: HTTPFields = [.location: "/v1/renders/\(renderID.lowercased)"]
        if replayed { headers[.idempotentReplayed] = "true" }
        return JSONBody.response(
            .object([("render_id", .string(renderID.lowercased)), ("status", .string(RenderStatus.queued.rawValue)),
                     ("created_at", .string(Timestamps.rfc3339(createdAt)))]),
            status: .created, headers: headers)
    }

    static let formFields: Set<String> = [
        "style_id", "size_preset_id", "orientation", "fit", "style_params", "seed",
        "width_inches", "height_inches", "width_mm", "height_mm", "bleed_inches", "crop_marks", "output_profile", "rendering_intent",
    ]

    /// `Idempotency-Key`: optional; 1–255 visible ASCII characters.
    static func idempotencyKey(_ request: Request) throws -> String? {
        guard let value = request.headers[values: .idempotencyKey].first else { return nil }
        guard request.headers[values: .idempotencyKey].count == 1, (1...255).contains(value.utf8.count),
              value.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw APIError(.badRequest, "Invalid Idempotency-Key", message: "Idempotency-Key must be 1 to 255 visible ASCII characters, sent once (a UUID is a good choice)")
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

    private func lookupStyle(_ value: String?) throws -> any RenderStyle {
        guard let value, !value.isEmpty else { throw APIError(.badRequest, "style_id is required", message: "GET /v1/styles lists the styles") }
        guard let id = UUID(uuidString: value) else { throw APIError.invalidUUID("style_id") }
        guard let style = StyleCatalog.find(id: id) else {
            throw APIError(.badRequest, "Unknown style_id", message: "No style has id \(id.lowercased); GET /v1/styles lists them")
        }
        return style
    }

    /// The paper: a preset (`size_preset_id`), or a custom size in inches or millimetres;
    /// exactly one of the three.
    private func paper(_ fields: [String: String]) throws -> (SizePreset, CustomSize?) {
        func given(_ name: String) -> Bool { !(fields[name] ?? "").isEmpty }
        let units = [("inches", "width_inches", "height_inches"), ("mm", "width_mm", "height_mm")].filter { given($0.1) || given($0.2) }
        if given("size_preset_id") || units.isEmpty {
            guard units.isEmpty else {
                throw APIError(.badRequest, "Conflicting size", message: "Give size_preset_id or a custom size (width_inches and height_inches, or width_mm and height_mm), not both")
            }
            return (try lookupPreset(fields["size_preset_id"]), nil)
        }
        guard units.count == 1, let (unit, widthName, heightName) = units.first else {
            throw APIError(.badRequest, "Conflicting size", message: "Give the custom size in inches or in millimetres, not both")
        }
        guard given(widthName), given(heightName) else {
            throw APIError(.badRequest, "Incomplete custom size", message: "\(widthName) and \(heightName) go together")
        }
        let custom = CustomSize(
            width: try decimal(fields[widthName], name: widthName), height: try decimal(fields[heightName], name: heightName),
            millimetres: unit == "mm")
        do {
            return (try custom.preset(), custom)
        } catch {
            throw APIError(.badRequest, "Invalid custom size", message: error.message)
        }
    }

    /// Bleed, crop marks, output profile and rendering intent; absent or empty fields keep the
    /// spec's print.
    private func printOptions(_ fields: [String: String]) throws -> PrintOptions {
        var options = PrintOptions(
            cropMarks: try option(fields["crop_marks"], name: "crop_marks", default: Switch.false) == .true,
            outputProfile: try option(fields["output_profile"], name: "output_profile", default: OutputProfile.srgb),
            renderingIntent: try option(fields["rendering_intent"], name: "rendering_intent", default: RenderingIntent.perceptual))
        if let bleed = fields["bleed_inches"], !bleed.isEmpty {
            options.bleedInches = try decimal(bleed, name: "bleed_inches")
        }
        do {
            return try options.validated()
        } catch {
            throw APIError(.badRequest, "Invalid bleed_inches", message: error.message)
        }
    }

    /// A form field's decimal number, written plainly: up to 4 digits without a leading zero and
    /// up to 3 decimals (0.001 in is finer than any trim). The OpenAPI patterns say the same, so
    /// what the document allows and what the API accepts are one set.
    private func decimal(_ value: String?, name: String) throws -> Double {
        guard let value, value.wholeMatch(of: /(0|[1-9][0-9]{0,3})(\.[0-9]{1,3})?/) != nil, let number = Double(value) else {
            throw APIError(.badRequest, "Invalid \(name)", message: "\(name) must be a plain decimal number with at most 3 decimals, e.g. 8.5")
        }
        return number
    }

    private func lookupPreset(_ value: String?) throws -> SizePreset {
        guard let value, !value.isEmpty else {
            throw APIError(
                .badRequest, "size_preset_id is required",
                message: "GET /v1/size-presets lists the presets; or give a custom size as width_inches and height_inches (or width_mm and height_mm)")
        }
        guard let id = UUID(uuidString: value) else { throw APIError.invalidUUID("size_preset_id") }
        guard let preset = SizePreset.find(id: id) else {
            throw APIError(.badRequest, "Unknown size_preset_id", message: "No size preset has id \(id.lowercased); GET /v1/size-presets lists them")
        }
        return preset
    }

    private func option<T: RawRepresentable & CaseIterable>(_ value: String?, name: String, default fallback: T) throws -> T where T.RawValue == String {
        guard let value, !value.isEmpty else { return fallback }
        guard let parsed = T(rawValue: value.lowercased()) else {
            throw APIError(.badRequest, "Invalid \(name)", message: "\(name) must be one of: \(T.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return parsed
    }

    private func styleParameters(_ value: String?, style: any RenderStyle) throws -> [String: Double] {
        var supplied: [String: Double] = [:]
        if let value, !value.trimmingCharacters(in: .whitespaces).isEmpty {
            do {
                supplied = try JSONDecoder().decode([String: Double].self, from: Data(value.utf8))
            } catch DecodingError.typeMismatch(_, let context) where !context.codingPath.isEmpty {
                throw APIError(.badRequest, "Invalid style_params", message: "Parameter '\(context.codingPath[0].stringValue)' must be a number")
            } catch {
                throw APIError(.badRequest, "Invalid style_params", message: "style_params must be a JSON object of numbers, e.g. {\"paper_texture\": 0.8}")
            }
        }
        do {
            _ = try style.info.resolve(supplied)
        } catch {
            throw APIError(.badRequest, "Invalid style_params", message: error.message)
        }
        return supplied
    }

    private func seedValue(_ value: String?) throws -> UInt64? {
        guard let value, !value.isEmpty else { return nil }
        // At most 19 digits: the OpenAPI pattern can say exactly that.
        guard value.utf8.count <= 19, value.utf8.allSatisfy({ (0x30...0x39).contains($0) }), let seed = UInt64(value) else {
            throw APIError(.badRequest, "Invalid seed", message: "seed must be a whole number between 0 and 9999999999999999999")
        }
        return seed
    }

    // MARK: GET /v1/renders/{id}

    @Sendable func show(_ request: Request, context: Context) async throws -> Response {
        let record = try await findRender(context)
        return JSONBody.response(RenderJSON.object(record))
    }

    private func findRender(_ context: Context) async throws -> RenderRecord {
        guard let text = context.parameters.get("id"), let id = UUID(uuidString: text) else { throw APIError.invalidUUID("render_id") }
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
                message: "The files of this render were deleted on \(Timestamps.rfc3339(deleted)) at the end of the retention period; upload the photo again to render it")
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
            ("parameters", .array(info.parameters.map { parameter in
                .object([
                    ("name", .string(parameter.name)), ("description", .string(parameter.description)),
                    ("default", .double(parameter.defaultValue)), ("minimum", .double(parameter.minimum)), ("maximum", .double(parameter.maximum)),
                ])
            })),
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

func milliseconds(_ duration: Duration) -> Double {
    duration.seconds * 1000
}
