import Crypto
import Foundation
import Hummingbird

/// The keys of `API_KEYS`. Only SHA-256 digests are kept in memory, and the variable itself
/// may hold digests (`sha256:<hex>`) instead of keys, so a leaked environment need not leak
/// a key. A render belongs to the key that created it, recorded by a non-secret owner id.
public struct APIKeys: Sendable {
    /// Hex digests of the accepted keys.
    private let digests: Set<String>
    /// Digest → owner id; empty until `keyed(with:)`, so unkeyed keys accept nothing.
    private let owners: [String: String]

    /// No keys: authentication off.
    public static let none = APIKeys(digests: [], owners: [:])

    private init(digests: Set<String>, owners: [String: String]) {
        self.digests = digests
        self.owners = owners
    }

    public var isEnabled: Bool { !digests.isEmpty }
    public var count: Int { digests.count }

    /// Comma-separated keys (at least 24 characters each) or `sha256:<64 hex digits>` digests.
    public init(_ text: String) throws(ConfigurationError) {
        var digests: Set<String> = []
        for entry in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !entry.isEmpty {
            if entry.lowercased().hasPrefix("sha256:") {
                let digest = String(entry.dropFirst("sha256:".count)).lowercased()
                guard digest.count == 64, digest.allSatisfy(\.isHexDigit) else {
                    throw ConfigurationError("API_KEYS: a sha256: entry must be followed by 64 hex digits")
                }
                digests.insert(digest)
            } else {
                // The key itself is never echoed, even in this error.
                guard entry.count >= 24 else { throw ConfigurationError("API_KEYS: every key must be at least 24 characters (aso-render api-key makes one)") }
                digests.insert(Self.digest(entry))
            }
        }
        self.init(digests: digests, owners: [:])
    }

    /// The keys with their owner ids, derived with a keyed hash of the digest: an owner id in
    /// a log or a database dump cannot be used to test guesses of a weak key without the
    /// deployment's secret.
    public func keyed(with secret: Data) -> APIKeys {
        APIKeys(digests: digests, owners: Dictionary(uniqueKeysWithValues: digests.map { ($0, Self.ownerID(digest: $0, secret: secret)) }))
    }

    /// The owner id of a presented key; nil when it is not one of ours.
    func owner(of presented: String) -> String? {
        owners[Self.digest(presented)]
    }

    static func digest(_ key: String) -> String {
        SHA256.hash(data: Data(key.utf8)).hex
    }

    /// Stored with each render and written to logs: identifies a key without revealing it.
    static func ownerID(digest: String, secret: Data) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: Data("owner:\(digest)".utf8), using: SymmetricKey(data: secret))
        return "key_\(Data(code).hex.prefix(16))"
    }

    /// A new random key and the `API_KEYS` entry that accepts it without containing it.
    public static func generate() -> (key: String, entry: String) {
        let bytes = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
        let key =
            "aso_"
            + bytes.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        return (key, "sha256:\(Self.digest(key))")
    }
}

/// Who may call a route. Declared where the route is registered (`RouteRegistry.on`); a route
/// declared without one needs an API key, and so does every path no route matches.
enum RouteAccess: Sendable {
    /// Anyone: probes, the OpenAPI document, signed file URLs (the signature is the credential).
    case open
    /// `METRICS_TOKEN`, when one is set.
    case metrics
    /// An API key, when `API_KEYS` is set.
    case apiKey
}

/// `Authorization: Bearer` checks: API keys on every route not declared open, `METRICS_TOKEN`
/// on metrics. Sits inside the error middleware, so a refusal is a 401 in the spec's error
/// format.
///
/// The decision is made from the route the router matched, never from the raw path: the
/// router ignores empty segments and a trailing slash, so `//v1/renders` and `/metrics/` reach
/// the same handlers as `/v1/renders` and `/metrics` and must meet the same checks.
struct AccessControlMiddleware: RouterMiddleware {
    typealias Context = RenderRequestContext
    let keys: APIKeys
    let metricsToken: String?
    let routes: RouteTable

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        switch routes.access(endpoint: context.endpointPath) {
        case .open:
            break
        case .metrics:
            if let metricsToken {
                guard let presented = Self.bearer(request), Self.constantTimeEquals(presented, metricsToken) else {
                    throw Self.unauthorized("Metrics require the METRICS_TOKEN as 'Authorization: Bearer <token>'")
                }
            }
        case .apiKey:
            guard keys.isEnabled else { break }
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
