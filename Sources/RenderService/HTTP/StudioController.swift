import Crypto
import Foundation
import HTTPTypes
import Hummingbird

/// The studio page (`/`, `/studio`), the API reference (`/docs`) and their files
/// (`/studio/files/…`): plain HTML, CSS and JavaScript modules from the binary's resources,
/// nothing from elsewhere. Every page is served with a Content-Security-Policy that allows
/// no inline script or style and no other origin but the object store's (images of finished
/// renders), so an injected string can never run.
struct StudioController: Sendable {
    typealias Context = RenderRequestContext
    /// `contentSecurityPolicy(_:)` of this deployment.
    let policy: String
    /// Whether the page must ask for an API key before its first call.
    let keysRequired: Bool

    func register(on routes: RouteRegistry<Context>) {
        let pages = StudioFiles.shared
        routes.get("/studio", access: .open) { _, _ in try Self.serve(pages, "index.html", policy: policy) }
        routes.get("/docs", access: .open) { _, _ in try Self.serve(pages, "docs.html", policy: policy) }
        routes.get("/studio/files/{name}", access: .open) { _, context in
            try Self.serve(pages, context.parameters.get("name") ?? "", policy: policy)
        }
        // What the page must know before its first API call: whether to ask for a key (so it
        // never sends a request it knows will be refused).
        routes.get("/studio/config.json", access: .open) { _, _ in JSONBody.response(.object([("api_keys_required", .bool(keysRequired))])) }
    }

    /// `/` for a browser: the studio. API clients (no `text/html` in Accept) keep the JSON index.
    static func wantsPage(_ request: Request) -> Bool {
        request.headers[values: .accept].contains { $0.lowercased().contains("text/html") }
    }

    static func serve(_ files: StudioFiles, _ name: String, policy: String) throws -> Response {
        guard let file = files.file(named: name) else { throw APIError.notFound }
        let headers: HTTPFields = [
            .contentType: file.contentType, .contentSecurityPolicy: policy, .xContentTypeOptions: "nosniff",
            .referrerPolicy: "no-referrer", .cacheControl: "no-cache", .eTag: file.etag,
        ]
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(data: file.bytes)))
    }

    static func origin(_ url: URL) -> String? {
        guard let scheme = url.scheme, let host = url.host else { return nil }
        return "\(scheme)://\(host)\(url.port.map { ":\($0)" } ?? "")"
    }

    /// Scripts, styles, fonts and API calls from this origin only; images also from `blob:`
    /// (previews fetched with the API key) and, in production, the object store that signed
    /// download URLs point at (the finished render's 1200 px preview).
    static func contentSecurityPolicy(_ configuration: ServiceConfiguration) -> String {
        var images = ["'self'", "blob:"]
        // Embedded download URLs start with PUBLIC_BASE_URL, which may name this host differently.
        if let origin = Self.origin(configuration.publicBaseURL) { images.append(origin) }
        if configuration.mode == .production, let endpoint = configuration.storage.publicEndpoint ?? configuration.storage.endpoint,
            let url = StorageSettings.url(endpoint, ssl: configuration.storage.useSSL), let origin = Self.origin(url)
        {
            images.append(origin)
        }
        return [
            "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src \(images.joined(separator: " "))", "connect-src 'self'",
            "font-src 'self'", "form-action 'none'", "base-uri 'none'", "frame-ancestors 'none'",
        ].joined(separator: "; ")
    }
}

/// The studio's files, read once from the bundle: a handful of small text files.
struct StudioFiles: Sendable {
    struct File: Sendable {
        let bytes: Data
        let contentType: String
        let etag: String
    }

    static let shared = StudioFiles()
    private let files: [String: File]

    init() {
        var files: [String: File] = [:]
        if let directory = Bundle.module.url(forResource: "studio", withExtension: nil),
            let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path)
        {
            for name in names {
                guard let type = Self.types[(name as NSString).pathExtension],
                    let bytes = try? Data(contentsOf: directory.appendingPathComponent(name))
                else { continue }
                files[name] = File(
                    bytes: bytes, contentType: type, etag: "\"" + SHA256.hash(data: bytes).prefix(8).map { String(format: "%02x", $0) }.joined() + "\"")
            }
        }
        self.files = files
    }

    /// Only the names the bundle holds: a client's path never reaches the file system.
    func file(named name: String) -> File? { files[name] }

    static let types = [
        "html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8",
        "svg": "image/svg+xml", "png": "image/png",
    ]
}

extension HTTPField.Name {
    static let contentSecurityPolicy = Self("Content-Security-Policy")!
    static let xContentTypeOptions = Self("X-Content-Type-Options")!
    static let referrerPolicy = Self("Referrer-Policy")!
}
