import Crypto
import Foundation

/// The `WEBHOOK_*` settings: secrets, per-key defaults, the SSRF guard and the retry schedule.
public struct WebhookSettings: Sendable {
    /// One API key's webhook defaults (`WEBHOOK_KEYS`).
    public struct KeyDefaults: Sendable, Equatable {
        public var url: String?
        public var secret: WebhookSecret?
    }

    /// `WEBHOOK_SECRET`: signs every delivery whose key has no secret of its own.
    public var secret: WebhookSecret?
    /// `WEBHOOK_KEYS` by API key digest, and by owner id once keyed (`keyed(with:)`).
    var keysByDigest: [String: KeyDefaults] = [:]
    var keysByOwner: [String: KeyDefaults] = [:]
    /// `WEBHOOK_ALLOW_PRIVATE=true`: deliver to loopback, private and link-local addresses too.
    public var allowPrivate = false
    /// Per attempt: connect, send, and the receiver's answer.
    public var timeout: Duration = .seconds(10)
    /// The wait before retry n is random in 0…min(cap, base·2ⁿ⁻¹) ("full jitter").
    public var retryBase: Duration = .seconds(5)
    public var retryCap: Duration = .seconds(3600)
    /// Deliveries still failing this long after the event are given up (`failed`).
    public var retryWindow: Duration = .seconds(25 * 3600)
    /// Attempts in flight at once per process.
    public var concurrency = 8

    public init() {}

    /// Owner ids for the per-key defaults, as `APIKeys.keyed(with:)` derives them.
    public func keyed(with secret: Data) -> WebhookSettings {
        var copy = self
        copy.keysByOwner = Dictionary(uniqueKeysWithValues: keysByDigest.map { (APIKeys.ownerID(digest: $0.key, secret: secret), $0.value) })
        return copy
    }

    /// The URL a render of this key reports to when the request names none.
    public func defaultURL(owner: String?) -> String? {
        owner.flatMap { keysByOwner[$0]?.url }
    }

    /// The secret that signs this key's deliveries: its own, else the deployment's.
    public func secret(owner: String?) -> WebhookSecret? {
        owner.flatMap { keysByOwner[$0]?.secret } ?? secret
    }

    /// `WEBHOOK_KEYS`: entries separated by `;` or new lines, each an API key (or its
    /// `sha256:` digest, as in `API_KEYS`) followed by `url=<url>` and/or `secret=whsec_…`.
    static func parseKeys(_ text: String) throws(ConfigurationError) -> [String: KeyDefaults] {
        var keys: [String: KeyDefaults] = [:]
        for entry in text.split(whereSeparator: { $0 == ";" || $0 == "\n" }) {
            let words = entry.split(whereSeparator: \.isWhitespace).map(String.init)
            guard let key = words.first else { continue }
            let digest: String
            if key.lowercased().hasPrefix("sha256:") {
                digest = String(key.dropFirst("sha256:".count)).lowercased()
                guard digest.count == 64, digest.allSatisfy(\.isHexDigit) else {
                    throw ConfigurationError("WEBHOOK_KEYS: a sha256: entry must be followed by 64 hex digits")
                }
            } else {
                guard key.count >= 24 else {
                    throw ConfigurationError("WEBHOOK_KEYS: each entry starts with an API key (24+ characters) or its sha256: digest")
                }
                digest = APIKeys.digest(key)
            }
            var defaults = KeyDefaults()
            for word in words.dropFirst() {
                if word.hasPrefix("url=") {
                    let url = String(word.dropFirst(4))
                    do { _ = try WebhookURL.parse(url) } catch { throw ConfigurationError("WEBHOOK_KEYS: \(error.message)") }
                    defaults.url = url
                } else if word.hasPrefix("secret=") {
                    defaults.secret = try WebhookSecret(String(word.dropFirst(7)), name: "WEBHOOK_KEYS")
                } else {
                    throw ConfigurationError("WEBHOOK_KEYS: after the key come url=<url> and/or secret=whsec_… (got an unknown word)")
                }
            }
            keys[digest] = defaults
        }
        return keys
    }
}

/// A Standard Webhooks secret, `whsec_` and the base64 of 24 to 64 random bytes; the bytes
/// are the HMAC key.
public struct WebhookSecret: Sendable, Equatable, CustomStringConvertible {
    let key: Data
    /// Never the secret itself.
    public var description: String { "whsec_********" }

    public init(_ text: String, name: String = "WEBHOOK_SECRET") throws(ConfigurationError) {
        guard text.hasPrefix("whsec_"), let key = Data(base64Encoded: String(text.dropFirst(6))), (24...64).contains(key.count) else {
            // The value itself is never echoed.
            throw ConfigurationError(
                "\(name): a webhook secret is whsec_ followed by the base64 of 24 to 64 random bytes (aso-render webhook-secret makes one)")
        }
        self.key = key
    }

    /// A new random secret.
    public static func generate() -> String {
        "whsec_" + SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }.base64EncodedString()
    }

    /// `webhook-signature`: `v1,` and the base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`.
    public func signature(id: String, timestamp: Int, body: Data) -> String {
        var content = Data("\(id).\(timestamp).".utf8)
        content.append(body)
        let code = HMAC<SHA256>.authenticationCode(for: content, using: SymmetricKey(data: key))
        return "v1," + Data(code).base64EncodedString()
    }
}
