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
        guard path.isEmpty || Int(path).map({ (0...15).contains($0) }) == true else {
            throw ConfigurationError("--url: the path must be a database number from 0 to 15, got '/\(path)'")
        }
        guard (1...65535).contains(components.port ?? 6379) else { throw ConfigurationError("--url: the port must be between 1 and 65535") }
        self.host = host
        port = components.port ?? 6379
        database = Int(path) ?? 0
        tls = scheme == "rediss"
    }
}
