import Foundation
import HTTPTypes
import Hummingbird
import Logging
import RenderEngine

/// Upload once, render many: photos uploaded on their own, and their style previews.
struct AssetController: Sendable {
    typealias Context = RenderRequestContext
    let intake: RenderIntake
    let spool: UploadSpool
    let previews: StylePreviews
    let metrics: ServiceMetrics

    func register(on routes: RouteRegistry<Context>) {
        routes.post("/v1/assets", use: create)
        routes.get("/v1/assets/{id}", use: show)
        routes.get("/v1/assets/{id}/styles/{style_id}/preview.jpg", use: preview)
    }

    // MARK: POST /v1/assets

    /// The photo is received, checked and stored exactly as `POST /v1/renders` does it; no
    /// render is queued. 201 with what the studio needs to choose a size.
    @Sendable func create(_ request: Request, context: Context) async throws -> Response {
        let clock = ContinuousClock(), started = clock.now
        let asset = try await spool.receive(request, fields: [], hint: "Send the photo as a multipart/form-data part named 'file'") { form in
            guard let photo = form.photo else { throw APIError(.badRequest, "No file provided", message: "Send the photo as a part named 'file'") }
            return try await intake.addAsset(photo, owner: context.apiKeyOwner, logger: context.logger, receiving: clock.now - started)
        }
        return JSONBody.response(Self.object(asset), status: .created, headers: [.location: "/v1/assets/\(asset.id.lowercased)"])
    }

    // MARK: GET /v1/assets/{id}

    @Sendable func show(_ request: Request, context: Context) async throws -> Response {
        let asset = try await intake.asset(context.parameters.get("id"), owner: context.apiKeyOwner)
        return JSONBody.response(Self.object(asset))
    }

    /// `{asset_id, width, height, format, size_bytes, created_at, effective_dpi}`; the
    /// effective DPI of the photo on each preset (turned to suit the photo, cropped to fill),
    /// by preset id, so a client can warn before ordering a print the photo is too small for.
    static func object(_ asset: AssetRecord) -> JSONValue {
        let source = PixelSize(width: asset.width, height: asset.height)
        let dpi = SizePreset.all.map { preset -> (String, JSONValue) in
            let layout = PrintLayout(source: source, preset: preset, orientation: .auto, fit: .cover, maxWorkingShortSide: nil)
            return (preset.id.lowercased, .double((layout.effectiveDPI * 10).rounded() / 10))
        }
        return .object([
            ("asset_id", .string(asset.id.lowercased)), ("width", .int(asset.width)), ("height", .int(asset.height)),
            ("format", .string(asset.format)), ("size_bytes", .int(asset.sizeBytes)), ("created_at", .string(Timestamps.rfc3339(asset.createdAt))),
            ("effective_dpi", .object(dpi)), ("low_resolution_below_dpi", .double(lowResolutionWarningDPI)),
        ])
    }

    // MARK: GET /v1/assets/{id}/styles/{style_id}/preview.jpg

    /// The asset in a style, ~600 px on the long edge, through the print's render path.
    /// Query: `size_preset_id`, `orientation`, `fit`, `style_params` (as the render form).
    @Sendable func preview(_ request: Request, context: Context) async throws -> Response {
        let asset = try await intake.asset(context.parameters.get("id"), owner: context.apiKeyOwner)
        let query = Self.formQuery(request.uri.query)
        func value(_ name: String) -> String? { query[name] }
        let style = try RenderForm.lookupStyle(context.parameters.get("style_id"))
        let preset = try value("size_preset_id").flatMap { $0.isEmpty ? nil : $0 }.map(RenderForm.lookupPreset)
        let previewRequest = StylePreviewRequest(
            asset: asset, style: style, preset: preset,
            orientation: try RenderForm.option(value("orientation"), name: "orientation", default: OrientationPolicy.auto),
            fit: try RenderForm.option(value("fit"), name: "fit", default: FitPolicy.cover),
            parameters: try RenderForm.styleParameters(value("style_params"), style: style))
        let etag = previewRequest.etag
        // Private: the preview shows one key's photo. A day: the same URL always shows the same image.
        let caching: HTTPFields = [.eTag: etag, .cacheControl: "private, max-age=86400"]
        if let match = request.headers[.ifNoneMatch],
            match.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == etag || $0.trimmingCharacters(in: .whitespaces) == "*" })
        {
            metrics.previewCache("not_modified")
            return Response(status: .notModified, headers: caching)
        }
        let jpeg: Data, cached: Bool
        do {
            (jpeg, cached) = try await previews.preview(previewRequest, logger: context.logger)
        } catch let error as RenderError {
            throw IntakeError.image(error)
        }
        var headers = caching
        headers[.contentType] = "image/jpeg"
        headers[.previewCache] = cached ? "hit" : "miss"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(data: jpeg)))
    }
}

extension AssetController {
    /// A query string as HTML forms and `URLSearchParams` write it: `+` is a space, the rest
    /// percent-encoded (a `+` meant literally arrives as `%2B`). The first value of a name wins.
    static func formQuery(_ query: String?) -> [String: String] {
        var values: [String: String] = [:]
        for pair in (query ?? "").split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map {
                String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            }
            guard let name = parts.first, !name.isEmpty, values[name] == nil else { continue }
            values[name] = parts.count > 1 ? parts[1] : ""
        }
        return values
    }
}

extension HTTPField.Name {
    /// Whether a style preview came from the cache (`hit`) or was rendered for this request.
    static let previewCache = Self("Preview-Cache")!
}
