import Foundation

/// One environment variable of the service: how it is read into a `ServiceConfiguration` and
/// how `aso-render config` shows its effective value. `ServiceConfiguration.settings` lists
/// every one, in the order they are read and shown; the README check reads the same list.
struct Setting: Sendable {
    /// Throws `ConfigurationError`s (closures cannot declare a typed throw where they are
    /// written in a table).
    typealias Read = @Sendable (inout ServiceConfiguration, SettingInput) throws -> Void

    let name: String
    /// Also read from the file `NAME_FILE` names, and never shown.
    let isSecret: Bool
    /// Sets the configuration from the variable; leaves the default when it is unset.
    let read: Read
    let show: @Sendable (ServiceConfiguration) -> String

    init(_ name: String, secret: Bool = false, read: @escaping Read, show: @escaping @Sendable (ServiceConfiguration) -> String) {
        self.name = name
        self.isSecret = secret
        self.read = read
        self.show = show
    }

    typealias Field<Value> = WritableKeyPath<ServiceConfiguration, Value> & Sendable

    static func text(_ name: String, _ field: Field<String>) -> Setting {
        Setting(
            name,
            read: { configuration, input in
                if let text = input.text { configuration[keyPath: field] = text }
            }, show: { $0[keyPath: field] })
    }

    /// A value with no default; `unset` says what stands in for it.
    static func optionalText(_ name: String, _ field: Field<String?>, unset: String) -> Setting {
        Setting(
            name,
            read: { configuration, input in
                if let text = input.text { configuration[keyPath: field] = text }
            }, show: { $0[keyPath: field] ?? unset })
    }

    static func integer(_ name: String, _ field: Field<Int>, range: ClosedRange<Int>, show: (@Sendable (ServiceConfiguration) -> String)? = nil) -> Setting {
        Setting(
            name,
            read: { configuration, input in
                if let number = try input.integer(range: range) { configuration[keyPath: field] = number }
            }, show: show ?? { String($0[keyPath: field]) })
    }

    /// Whole seconds (`…_SECONDS`).
    static func seconds(_ name: String, _ field: Field<Duration>, range: ClosedRange<Int>) -> Setting {
        Setting(
            name,
            read: { configuration, input in
                if let number = try input.integer(range: range) { configuration[keyPath: field] = .seconds(number) }
            }, show: { String(Int($0[keyPath: field].seconds)) })
    }

    /// `30d`, `12h`, `15m`, `45s`; `0` means forever (nil).
    static func period(_ name: String, _ field: Field<Duration?>) -> Setting {
        Setting(
            name,
            read: { configuration, input in
                if let period = try input.period() { configuration[keyPath: field] = period == .zero ? nil : period }
            }, show: { RetentionPeriod.format($0[keyPath: field]) })
    }

    /// A period that cannot be forever: `0` keeps the default.
    static func period(_ name: String, _ field: Field<Duration>) -> Setting {
        Setting(
            name,
            read: { configuration, input in
                if let period = try input.period(), period > .zero { configuration[keyPath: field] = period }
            }, show: { RetentionPeriod.format($0[keyPath: field]) })
    }

    /// `true` or `false` (also `1`/`0`, `yes`/`no`); anything else is refused.
    static func flag(_ name: String, _ field: Field<Bool>) -> Setting {
        Setting(
            name,
            read: { configuration, input in
                if let value = try input.flag() { configuration[keyPath: field] = value }
            }, show: { String($0[keyPath: field]) })
    }

    /// The spec's reading of its flags: `1`, `true` or `yes` is true, anything else false.
    static func lenientFlag(_ name: String, _ field: Field<Bool>) -> Setting {
        Setting(
            name,
            read: { configuration, input in
                if let text = input.text { configuration[keyPath: field] = SettingInput.truthy.contains(text.lowercased()) }
            }, show: { String($0[keyPath: field]) })
    }

    static func secret(_ name: String, _ field: Field<String?>) -> Setting {
        Setting(
            name, secret: true,
            read: { configuration, input in
                if let value = try input.secret() { configuration[keyPath: field] = value }
            }, show: { mask($0[keyPath: field]) })
    }

    /// One of the files or names beside `REDIS_TLS`, refused unless `REDIS_TLS` is true.
    static func redisTLS(
        _ name: String, _ field: WritableKeyPath<RedisTLS, String?> & Sendable, isFile: Bool, show: @escaping @Sendable (RedisTLS?) -> String
    ) -> Setting {
        Setting(
            name,
            read: { configuration, input in
                guard let text = input.text else { return }
                guard configuration.redis.tls != nil else { throw ConfigurationError("\(name) is set but REDIS_TLS is not true") }
                configuration.redis.tls?[keyPath: field] = isFile ? try input.readableFile() : text
            }, show: { show($0.redis.tls) })
    }

    static func mask(_ value: String?) -> String { value == nil ? "(not set)" : "********" }
}

/// A value given on the command line instead of its variable (`serve --port`, `worker --url`).
/// It is read in that variable's place in `ServiceConfiguration.settings`, so the defaults that
/// depend on it follow (PUBLIC_BASE_URL's port), and the environment is never rewritten.
public struct SettingOverride: Sendable {
    let name: String
    let read: Setting.Read

    /// `serve --port`.
    public static func port(_ port: Int) -> SettingOverride {
        SettingOverride(name: "API_PORT") { configuration, _ in
            guard (0...65535).contains(port) else { throw ConfigurationError("--port must be between 0 and 65535, got \(port)") }
            configuration.port = port
        }
    }

    /// A command that runs in one mode unless `ASO_MODE` says otherwise (`worker`: production).
    public static func defaultMode(_ mode: ServiceConfiguration.Mode, command: String) -> SettingOverride {
        SettingOverride(name: "ASO_MODE") { configuration, input in
            guard input.text == nil else { return try configuration.readMode(input) }
            configuration.mode = mode
            configuration.modeReason = "ASO_MODE is unset and aso-render \(command) runs in \(mode.rawValue) mode"
        }
    }

    /// `worker --url`: host, port, database and TLS from the URL. A `redis://` URL where
    /// `REDIS_TLS` asks for TLS is refused, not quietly sent in plain text.
    public static func redis(_ url: RedisURL) -> [SettingOverride] {
        [
            SettingOverride(name: "REDIS_HOST") { configuration, _ in configuration.redis.host = url.host },
            SettingOverride(name: "REDIS_PORT") { configuration, _ in configuration.redis.port = url.port },
            SettingOverride(name: "REDIS_DB") { configuration, _ in configuration.redis.database = url.database },
            SettingOverride(name: "REDIS_TLS") { configuration, input in
                if url.tls {
                    configuration.redis.tls = RedisTLS()
                } else if try input.flag() == true {
                    throw ConfigurationError("--url redis:// is plain TCP but REDIS_TLS=true: use rediss://")
                }
            },
        ]
    }
}

/// One variable's value as `Setting.read` sees it: trimmed, blank meaning unset.
struct SettingInput {
    let name: String
    let environment: [String: String]

    static let truthy: Set<String> = ["1", "true", "yes"]
    static let falsy: Set<String> = ["0", "false", "no"]

    var text: String? { Self.value(of: name, in: environment) }

    static func value(of name: String, in environment: [String: String]) -> String? {
        guard let value = environment[name]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        return value
    }

    /// The value of `NAME`, or the contents of the file `NAME_FILE` names (container secrets),
    /// so a secret need not sit in the environment or on a command line.
    func secret() throws(ConfigurationError) -> String? {
        guard let path = Self.value(of: "\(name)_FILE", in: environment) else { return text }
        guard text == nil else { throw ConfigurationError("Set \(name) or \(name)_FILE, not both") }
        guard let contents = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigurationError("\(name)_FILE: cannot read \(path)")
        }
        let value = contents.trimmingCharacters(in: .whitespacesAndNewlines)
        return value.isEmpty ? nil : value
    }

    func integer(range: ClosedRange<Int>) throws(ConfigurationError) -> Int? {
        guard let text else { return nil }
        guard let number = Int(text), range.contains(number) else {
            throw ConfigurationError("\(name) must be a whole number between \(range.lowerBound) and \(range.upperBound), got '\(text)'")
        }
        return number
    }

    func flag() throws(ConfigurationError) -> Bool? {
        guard let text = text?.lowercased() else { return nil }
        guard Self.truthy.contains(text) || Self.falsy.contains(text) else {
            throw ConfigurationError("\(name) must be true or false, got '\(text)'")
        }
        return Self.truthy.contains(text)
    }

    func period() throws(ConfigurationError) -> Duration? {
        guard let text else { return nil }
        guard let parsed = RetentionPeriod.parse(text) else {
            throw ConfigurationError("\(name) must be a period like 30d, 12h, 15m or 45s (0 keeps forever), got '\(text)'")
        }
        return parsed
    }

    /// A file the service will open later: refused now if it cannot be read.
    func readableFile() throws(ConfigurationError) -> String? {
        guard let path = text else { return nil }
        guard FileManager.default.isReadableFile(atPath: path) else { throw ConfigurationError("\(name): cannot read \(path)") }
        return path
    }
}
