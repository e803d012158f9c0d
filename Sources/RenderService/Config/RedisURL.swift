import Foundation

/// The spec's `worker --url redis://host[:port][/db]`, or `rediss://` for TLS (as redis-py).
/// A password in it is refused: any user of the machine can read a command line.
public struct RedisURL: Sendable, Equatable {
    public let host: String
    public let port: Int
    public let database: Int
    public let tls: Bool

    public init(_ text: String) throws(ConfigurationError) {
        guard let components = URLComponents(string: text), let scheme = components.scheme, ["redis", "rediss"].contains(scheme),
            let host = components.host, !host.isEmpty
        else { throw ConfigurationError("--url must look like redis://host[:port][/db] or rediss://host[:port][/db]") }
        guard components.password == nil, components.user.map(\.isEmpty) ?? true else {
            throw ConfigurationError("Keep the Redis password off the command line: set REDIS_PASSWORD or REDIS_PASSWORD_FILE and leave it out of --url")
        }
        let path = components.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        guard path.isEmpty || Int(path) != nil else { throw ConfigurationError("--url: the path must be a database number, got '/\(path)'") }
        self.host = host
        port = components.port ?? 6379
        database = Int(path) ?? 0
        tls = scheme == "rediss"
    }

    /// Sets `REDIS_HOST`, `REDIS_PORT`, `REDIS_DB` and `REDIS_TLS`. A `redis://` URL where
    /// the environment asks for TLS is refused, not quietly sent in plain text.
    public func apply(to environment: inout [String: String]) throws(ConfigurationError) {
        let tlsAsked = ["true", "1", "yes"].contains(environment["REDIS_TLS"]?.trimmingCharacters(in: .whitespaces).lowercased() ?? "")
        if tlsAsked && !tls { throw ConfigurationError("--url redis:// is plain TCP but REDIS_TLS=true: use rediss://") }
        environment["REDIS_HOST"] = host
        environment["REDIS_PORT"] = String(port)
        environment["REDIS_DB"] = String(database)
        if tls { environment["REDIS_TLS"] = "true" }
    }
}
