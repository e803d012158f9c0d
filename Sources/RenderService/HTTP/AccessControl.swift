import Crypto
import Foundation
import Hummingbird

/// The keys of `API_KEYS`. Only SHA-256 digests are kept in memory, and the variable itself
/// may hold digests (`sha256:<hex>`) instead of keys, so a leaked environment need not leak
/// a key. A render belongs to the key that created it, recorded by a non-secret owner id.
public struct APIKeys: Sendable {
    /// Digest (hex) → owner id.
    private let owners: [String: String]

    /// No keys: authentication off.
    public static let none = APIKeys(owners: [:])

    private init(owners: [String: String]) { self.owners = owners }

    public var isEnabled: Bool { !owners.isEmpty }
    public var count: Int { owners.count }

    /// Comma-separated keys (at least 24 characters each) or `sha256:<64 hex digits>` digests.
    public init(_ text: String) throws(ConfigurationError) {
        var owners: [String: String] = [:]
        for entry in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !entry.isEmpty {
            let digest: String
            if entry.lowercased().hasPrefix("sha256:") {
                digest = String(entry.dropFirst("sha256:".count)).lowercased()
                guard digest.count == 64, digest.allSatisfy(\.isHexDigit) else {
                    throw ConfigurationError("API_KEYS: a sha256: entry must be followed by 64 hex digits")
                }
            } else {
                // The key itself is never echoed, even in this error.
                guard entry.count >= 24 else { throw ConfigurationError("API_KEYS: every key must be at least 24 characters (aso-render api-key makes one)") }
                digest = Self.digest(entry)
            }
            owners[digest] = Self.ownerID(digest: digest)
        }
        self.owners = owners
    }

    /// The owner id of a presented key; nil when it is not one of ours.
    func owner(of presented: String) -> String? {
        owners[Self.digest(presented)]
    }

    static func digest(_ key: String) -> String {
        SHA256.hash(data: Data(key.utf8)).hex
    }

    /// Stored with each render and written to logs: identifies a key without revealing it.
    static func ownerID(digest: String) -> String { "key_\(digest.prefix(16))" }

    /// A new random key and the `API_KEYS` entry that accepts it without containing it.
    public static func generate() -> (key: String, entry: String, owner: String) {
        let bytes = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
        let key = "aso_" + bytes.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        let digest = Self.digest(key)
        return (key, "sha256:\(digest)", ownerID(digest: digest))
    }
}

/// `Authorization: Bearer` checks: API keys on `/v1/*` (except the OpenAPI document, which
/// clients need before they have a key, and signed file URLs, whose signature is the
/// credential) and `METRICS_TOKEN` on `/metrics`. Sits inside the error middleware, so a
/// refusal is a 401 in the spec's error format.
struct AccessControlMiddleware: RouterMiddleware {
    typealias Context = RenderRequestContext
    let keys: APIKeys
    let metricsToken: String?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        var context = context
        if path == "/metrics", let metricsToken {
            guard let presented = Self.bearer(request), Self.constantTimeEquals(presented, metricsToken) else {
                throw Self.unauthorized("Metrics require the METRICS_TOKEN as 'Authorization: Bearer <token>'")
            }
        } else if keys.isEnabled, path.hasPrefix("/v1/"), path != "/v1/openapi.json", !path.hasPrefix("/v1/files/") {
            guard let presented = Self.bearer(request) else {
                throw Self.unauthorized("Send your API key as 'Authorization: Bearer <key>'")
            }
            guard let owner = keys.owner(of: presented) else {
                throw Self.unauthorized("The API key is not valid", invalid: true)
            }
            context.apiKeyOwner = owner
            context.logger[metadataKey: "key_owner"] = "\(owner)"
        }
        return try await next(request, context)
    }

    static func bearer(_ request: Request) -> String? {
        guard let header = request.headers[.authorization] else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        return token.isEmpty ? nil : token
    }

    static func unauthorized(_ message: String, invalid: Bool = false) -> APIError {
        APIError(
            .unauthorized, invalid ? "Invalid API key" : "Authentication required", message: message,
            headers: [.wwwAuthenticate: invalid ? "Bearer error=\"invalid_token\"" : "Bearer"])
    }

    static func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        let x = Array(SHA256.hash(data: Data(a.utf8))), y = Array(SHA256.hash(data: Data(b.utf8)))
        return zip(x, y).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
