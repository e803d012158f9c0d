import Foundation

/// Values that hold credentials describe themselves without them. Swift's default description
/// of a struct prints every stored property, and that text ends up in logs — for instance
/// swift-service-lifecycle logs its services (and everything they hold) at DEBUG. Each type
/// below prints only what is safe; `Mirror` sees no children.
protocol RedactedDescription: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Name and safe fields, e.g. `RedisConfiguration(host: redis, port: 6379, password: ********)`.
    var redactedDescription: String { get }
}

extension RedactedDescription {
    public var description: String { redactedDescription }
    public var debugDescription: String { redactedDescription }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

func masked(_ value: String?) -> String { value == nil ? "nil" : "********" }

extension RedisConfiguration: RedactedDescription {
    var redactedDescription: String {
        "RedisConfiguration(host: \(host), port: \(port), database: \(database), tls: \(tls != nil), password: \(masked(password)))"
    }
}

extension DatabaseSettings: RedactedDescription {
    var redactedDescription: String { "DatabaseSettings(host: \(host), port: \(port), name: \(name), user: \(user), password: \(masked(password)))" }
}

extension StorageSettings: RedactedDescription {
    var redactedDescription: String {
        "StorageSettings(endpoint: \(endpoint ?? "nil"), bucket: \(bucket), accessKey: \(accessKey ?? "nil"), secretKey: \(masked(secretKey)))"
    }
}

extension S3Configuration: RedactedDescription {
    var redactedDescription: String {
        "S3Configuration(endpoint: \(endpoint), buckets: \(buckets), region: \(region), accessKey: \(accessKey), secretKey: ********)"
    }
}

extension SigV4Signer: RedactedDescription {
    var redactedDescription: String { "SigV4Signer(accessKey: \(accessKey), region: \(region), service: \(service), secretKey: ********)" }
}

extension APIKeys: RedactedDescription {
    var redactedDescription: String { "APIKeys(\(count) keys)" }
}

extension ServiceConfiguration: RedactedDescription {
    var redactedDescription: String { "ServiceConfiguration(mode: \(mode.rawValue), port: \(port), secrets: ********)" }
}

extension URLSigner: RedactedDescription {
    var redactedDescription: String { "URLSigner(secret: ********)" }
}
