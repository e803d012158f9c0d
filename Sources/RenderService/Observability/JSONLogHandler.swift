import Foundation
import Logging

/// One JSON object per line with the spec's fields: `timestamp`, `level`, `logger`,
/// `message`, then the metadata (`render_id`, `asset_id`, `duration_ms`, …).
///
/// Metadata whose key looks like a credential is replaced before it is written: a secret
/// passed to a logger by mistake still never reaches the log.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    let label: String
    let sink: LogSink

    public init(label: String, level: Logger.Level, sink: LogSink = .standardError) {
        self.label = label
        self.logLevel = level
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var object: [String: Any] = [
            "timestamp": Timestamps.rfc3339Milliseconds(Date()),
            "level": Self.levelName(event.level),
            "logger": label,
            "message": "\(event.message)",
        ]
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) {
            object[key] = Self.isSecretKey(key) ? "[redacted]" : Self.json(value)
        }
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        sink.write(data + Data("\n".utf8))
    }

    static func levelName(_ level: Logger.Level) -> String {
        switch level {
        case .trace, .debug: "DEBUG"
        case .info, .notice: "INFO"
        case .warning: "WARNING"
        case .error: "ERROR"
        case .critical: "CRITICAL"
        }
    }

    static func isSecretKey(_ key: String) -> Bool {
        let lowered = key.lowercased()
        return ["password", "secret", "token", "authorization", "api_key", "apikey", "credential"].contains { lowered.contains($0) }
    }

    /// Numbers stay numbers (`duration_ms`), everything else is a string.
    static func json(_ value: Logger.Metadata.Value) -> Any {
        switch value {
        case .string(let text):
            return text
        case .stringConvertible(let convertible):
            if let number = convertible as? Int { return number }
            if let number = convertible as? Double { return number }
            return "\(convertible)"
        case .array(let values):
            return values.map(json)
        case .dictionary(let values):
            return values.mapValues(json)
        }
    }
}

/// Where log lines go. A class so tests can capture what the service logs.
public final class LogSink: @unchecked Sendable {
    private let lock = NSLock()
    private let handle: FileHandle?
    private var captured: [String] = []

    init(handle: FileHandle?) {
        self.handle = handle
    }

    public static let standardError = LogSink(handle: .standardError)

    /// A sink that keeps lines in memory (tests).
    public static func capturing() -> LogSink { LogSink(handle: nil) }

    func write(_ data: Data) {
        lock.lock()
        defer { lock.unlock() }
        if let handle {
            handle.write(data)
        } else {
            captured.append(String(decoding: data, as: UTF8.self))
        }
    }

    public var lines: [String] {
        lock.lock()
        defer { lock.unlock() }
        return captured
    }
}

/// RFC 3339 timestamps in UTC.
public enum Timestamps {
    /// `2025-01-24T10:30:00Z`, the API's format.
    public static func rfc3339(_ date: Date) -> String {
        format(date, fractional: false)
    }

    /// With milliseconds, for log lines.
    public static func rfc3339Milliseconds(_ date: Date) -> String {
        format(date, fractional: true)
    }

    /// Digits by hand: `String(format:)` cost more than the rest of a render's JSON.
    private static func format(_ date: Date, fractional: Bool) -> String {
        var time = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&time, &parts)
        func digits(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
        }
        var text = digits(parts.tm_year + 1900, 4) + "-" + digits(parts.tm_mon + 1, 2) + "-" + digits(parts.tm_mday, 2)
        text += "T" + digits(parts.tm_hour, 2) + ":" + digits(parts.tm_min, 2) + ":" + digits(parts.tm_sec, 2)
        if !fractional { return text + "Z" }
        let millis = Int32((date.timeIntervalSince1970 - date.timeIntervalSince1970.rounded(.down)) * 1000)
        return text + "." + digits(millis, 3) + "Z"
    }
}
