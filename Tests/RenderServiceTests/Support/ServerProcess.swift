import Foundation
import Synchronization

/// `aso-render serve` as a separate process, for tests that kill and restart it.
final class ServerProcess: Sendable {
    static let binary: String = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/aso-render").path
    }()

    let process: Process
    let port: Int
    private let output: LockedText

    var baseURL: String { "http://127.0.0.1:\(port)" }
    var log: String { output.value }

    /// Starts the server and waits until it listens (or, for other commands, until a log line
    /// with `ready` as its message appears).
    init(environment: [String: String], arguments: [String] = ["serve"], ready: String = "Listening") async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["API_PORT"] = "0"
        env.merge(environment) { $1 }
        process.environment = env
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = FileHandle.nullDevice
        let output = LockedText()
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if !data.isEmpty { output.append(String(decoding: data, as: UTF8.self)) }
        }
        try process.run()
        var port: Int?
        for _ in 0..<400 where port == nil {
            try await Task.sleep(for: .milliseconds(50))
            let text = output.value
            for line in text.split(separator: "\n") where line.contains("\"\(ready)\"") {
                let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                port = (object?["port"] as? String).flatMap(Int.init) ?? 0
            }
            if !process.isRunning { break }
        }
        guard let port else {
            process.terminate()
            throw ServerFailure(description: "server did not start: \(output.value)")
        }
        self.process = process
        self.port = port
        self.output = output
    }

    /// A check that stopped half-way leaves no server behind.
    deinit { if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) } }

    /// SIGKILL, then wait for the exit (polled: `waitUntilExit` can hang on Linux).
    func kill() async {
        Foundation.kill(process.processIdentifier, SIGKILL)
        for _ in 0..<200 where process.isRunning { try? await Task.sleep(for: .milliseconds(25)) }
    }

    /// SIGTERM (graceful shutdown), SIGKILL if it has not exited within 30 s.
    func terminate() async {
        await stop(SIGTERM, timeout: .seconds(30))
    }

    var pid: Int32 { process.processIdentifier }

    func send(_ signal: Int32) {
        Foundation.kill(pid, signal)
    }

    /// Sends `signal` and waits for the exit (SIGKILL after `timeout`); the exit status.
    @discardableResult
    func stop(_ signal: Int32, timeout: Duration = .seconds(120)) async -> Int32 {
        if process.isRunning { send(signal) }
        return await waitForExit(timeout: timeout)
    }

    /// Waits for the process to exit (SIGKILL after `timeout`); the exit status.
    func waitForExit(timeout: Duration = .seconds(120)) async -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(25)) }
        if process.isRunning { await kill() }
        return process.terminationStatus
    }
}

struct ServerFailure: Error, CustomStringConvertible {
    let description: String
}

final class LockedText: Sendable {
    private let text = Mutex("")
    func append(_ more: String) { text.withLock { $0 += more } }
    var value: String { text.withLock { $0 } }
}
