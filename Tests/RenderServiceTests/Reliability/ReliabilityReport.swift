import Foundation
import Testing

extension Tag {
    /// The checks behind docs/reliability.md: the `*ReliabilityTests` suites (real `aso-render`
    /// processes, faults injected, minutes each) and the three tests elsewhere that record a row.
    /// `swift test` selects by name, not tag, so `make test` runs the suites in their own step
    /// (`--filter ReliabilityTests`) and skips them in the service step.
    @Tag static var reliability: Self
}

/// One row of docs/reliability.md: what was tried, how many times, what every try produced,
/// and the data lost (a check that loses data fails, so a recorded row always says none).
struct ReliabilityRow: Codable, Sendable {
    let fault: String
    let tries: Int
    let result: String
    var lost = "none"
}

/// The document's sections, in its order.
enum ReliabilityGroup: Int {
    case hostileInputs = 1, signedURLs, idempotency, accessControl, formFloods, overload, rateLimit, gracefulShutdown, crash, retention,
        webhooks, secrets
}

/// Where the rows go: `scripts/reliability.py --write` sets `ASO_RELIABILITY_ROWS` to a
/// directory, runs the checks and writes the document from the files found there, in the
/// order of their names (group, then part within the group).
enum ReliabilityReport {
    static func record(_ group: ReliabilityGroup, part: Int = 0, _ rows: [ReliabilityRow]) throws {
        guard let directory = ProcessInfo.processInfo.environment["ASO_RELIABILITY_ROWS"] else { return }
        let name = String(format: "%02d-%02d.json", group.rawValue, part)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .withoutEscapingSlashes]
        try encoder.encode(rows).write(to: URL(fileURLWithPath: directory).appendingPathComponent(name))
    }
}

extension Duration {
    /// In seconds, as the rows print times.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
