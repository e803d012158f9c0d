import Foundation

@testable import RenderService

/// `scripts/webhooks/receiver.py` on a local port: verifies every delivery's signature in Python
/// (hmac, and the `standardwebhooks` reference package when installed) and records it.
final class WebhookReceiver: @unchecked Sendable {
    struct Request: Decodable, Sendable {
        let id: String
        let timestamp: String?
        let attempt: String?
        let type: String?
        let render_id: String?
        let render_status: String?
        let hmac_valid: Bool
        let reference_valid: Bool?
        let answered: Int
    }

    static let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    let process = Process()
    let directory: String
    let port: Int
    var url: String { "http://127.0.0.1:\(port)/hooks" }

    /// `delay` applies to the first `slowFirst` requests of each webhook-id, or to all when 0.
    init(
        secret: String = WebhookReceiver.secret, failFirst: Int = 0, status: Int = 200, delay: Double = 0, slowFirst: Int = 0, name: String = #function
    ) async throws {
        directory = temporaryDirectory("receiver-\(name)")
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [
            TestServers.root.appendingPathComponent("scripts/webhooks/receiver.py").path, "--secret", secret, "--log", "\(directory)/log.jsonl",
            "--port-file", "\(directory)/port", "--fail-first", String(failFirst), "--status", String(status), "--delay", String(delay),
            "--slow-first", String(slowFirst),
        ]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let deadline = ContinuousClock.now + .seconds(10)
        while true {
            if let text = try? String(contentsOfFile: "\(directory)/port", encoding: .utf8), let port = Int(text) {
                self.port = port
                return
            }
            guard ContinuousClock.now < deadline else { throw ConfigurationError("the webhook receiver did not start") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    var requests: [Request] {
        guard let text = try? String(contentsOfFile: "\(directory)/log.jsonl", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { try? JSONDecoder().decode(Request.self, from: Data($0.utf8)) }
    }

    /// Waits until `condition` holds for the requests received.
    @discardableResult
    func wait(timeout: Duration = .seconds(90), until condition: ([Request]) -> Bool) async throws -> [Request] {
        let deadline = ContinuousClock.now + timeout
        while true {
            let seen = requests
            if condition(seen) { return seen }
            guard ContinuousClock.now < deadline else { throw ConfigurationError("webhook receiver: condition not met; got \(seen.count) requests") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    func stop() {
        process.terminate()
        try? FileManager.default.removeItem(atPath: directory)
    }

    deinit { if process.isRunning { process.terminate() } }
}
