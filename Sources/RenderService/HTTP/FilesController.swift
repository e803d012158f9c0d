import Foundation
import Hummingbird
import RenderEngine

/// Embedded mode's stand-in for presigned S3 URLs: `GET /v1/files/{key}` serves an object
/// when the URL carries a valid, unexpired HMAC signature. Range requests are supported, so
/// a 150 MB TIFF can be resumed.
struct FilesController<Context: RequestContext>: Sendable {
    let store: LocalObjectStore
    let signer: URLSigner

    func register(on routes: RouteRegistry<Context>) {
        // The signature is the credential: these URLs are handed to print labs and browsers.
        routes.get("/v1/files/**", access: .open) { request, context in try await self.serve(request, context, headOnly: false) }
        routes.on(.head, "/v1/files/**", access: .open) { request, context in try await self.serve(request, context, headOnly: true) }
    }

    func serve(_ request: Request, _ context: Context, headOnly: Bool) async throws -> Response {
        let key = context.parameters.getCatchAll().joined(separator: "/")
        guard ObjectKey.isValid(key) else { throw APIError.notFound }
        let query = request.uri.queryParameters
        guard let expiresText = query["expires"], let expires = Int(expiresText), let signature = query["signature"] else {
            throw APIError(.forbidden, "Invalid signature", message: "This URL is not signed; request one from /v1/renders/{id}/download")
        }
        let filename = query["filename"].map(String.init) ?? ""
        guard signer.isValid(signature: String(signature), key: key, expires: expires, filename: filename) else {
            throw APIError(.forbidden, "Invalid signature", message: "The URL was altered; request a new one from /v1/renders/{id}/download")
        }
        guard expires >= Int(Date().timeIntervalSince1970) else {
            throw APIError(.forbidden, "URL expired", message: "Download URLs are valid for 7 days; request a new one from /v1/renders/{id}/download")
        }
        guard let file = try await store.file(key: key) else { throw APIError(.notFound, "Output file not available") }
        let size = file.size
        var headers: HTTPFields = [
            .contentType: MediaTypes.forKey(key),
            .acceptRanges: "bytes",
            .eTag: "\"\(String(file.modified, radix: 16))-\(String(size, radix: 16))\"",
            .cacheControl: "private, max-age=3600",
        ]
        if !filename.isEmpty { headers[.contentDisposition] = FilesContentDisposition.header(filename) }

        var range: ClosedRange<Int>? = nil
        if let header = request.headers[.range] {
            switch Self.parseRange(header, size: size) {
            case .whole: break
            case .satisfiable(let r): range = r
            case .unsatisfiable:
                throw APIError(
                    .rangeNotSatisfiable, "Range not satisfiable", message: "The file has \(size) bytes", headers: [.contentRange: "bytes */\(size)"])
            }
        }
        let status: HTTPResponse.Status = range == nil ? .ok : .partialContent
        let served = range ?? (size > 0 ? 0...(size - 1) : 0...0)
        if let range { headers[.contentRange] = "bytes \(range.lowerBound)-\(range.upperBound)/\(size)" }
        headers[.contentLength] = String(size == 0 ? 0 : served.count)
        if headOnly || size == 0 {
            return Response(status: status, headers: headers, body: ResponseBody())
        }
        let body = try await FileIO().loadFile(path: file.path, range: served, context: context)
        return Response(status: status, headers: headers, body: body)
    }

    enum RangeRequest: Equatable {
        case whole
        case satisfiable(ClosedRange<Int>)
        case unsatisfiable
    }

    /// One `bytes=` range (first-last, first-, or -suffix). Multiple ranges are answered with
    /// the whole file, which RFC 9110 allows.
    static func parseRange(_ header: String, size: Int) -> RangeRequest {
        let value = header.trimmingCharacters(in: .whitespaces)
        guard value.lowercased().hasPrefix("bytes="), !value.contains(",") else { return .whole }
        let spec = value.dropFirst("bytes=".count)
        let parts = spec.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2 else { return .whole }
        if parts[0].isEmpty {
            guard let suffix = Int(parts[1]), suffix > 0 else { return .unsatisfiable }
            guard size > 0 else { return .unsatisfiable }
            return .satisfiable(max(0, size - suffix)...(size - 1))
        }
        guard let first = Int(parts[0]), first >= 0 else { return .whole }
        guard first < size else { return .unsatisfiable }
        if parts[1].isEmpty { return .satisfiable(first...(size - 1)) }
        guard let last = Int(parts[1]), last >= first else { return .whole }
        return .satisfiable(first...min(last, size - 1))
    }
}
