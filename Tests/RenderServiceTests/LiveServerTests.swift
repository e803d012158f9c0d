import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOHTTP1
import RenderEngine
import Synchronization
import Testing

@testable import RenderService

/// Over a real socket, with the workers running as in `aso-render serve`.
@Suite("Live server", .serialized, .timeLimit(.minutes(10)))
struct LiveServerTests {
    /// Runs the service (API + workers) on an ephemeral port and hands `body` its base URL.
    private func withLiveService(
        _ overrides: [String: String] = [:], name: String = #function, _ body: @escaping @Sendable (String, EmbeddedTestService) async throws -> Void
    ) async throws {
        let service = try await EmbeddedTestService.make(overrides, name: name)
        defer { service.cleanUp() }
        let port = PortBox()
        let app = service.deployment.api(workers: service.workers(), logger: service.logger) { bound in
            port.set(bound)
        }
        try await app.test(.live) { _ in
            let bound = try await port.wait()
            try await body("http://127.0.0.1:\(bound)", service)
        }
    }

    @Test func streamedUploadIsCutOffAsSoonAsItCrosses50MB() async throws {
        try await withLiveService { base, service in
            // 200 MB streamed with chunked encoding (no Content-Length): the server can only count
            // what arrives. curl, like most clients, stops sending when the answer comes early.
            let script = """
                (printf -- '--b\\r\\nContent-Disposition: form-data; name="file"; filename="huge.jpg"\\r\\n\\r\\n'; head -c 209715200 /dev/zero) \\
                | curl -s -o /dev/stdout -w ' %{http_code} %{size_upload}' -X POST -H 'Transfer-Encoding: chunked' \\
                  -H 'Content-Type: multipart/form-data; boundary=b' --data-binary @- \(base)/v1/renders
                """
            let clock = ContinuousClock(), started = clock.now
            let output = try await Shell.run(script)
            let parts = output.split(separator: " ")
            #expect(output.contains("File too large (maximum 50MB)"), "\(output)")
            #expect(parts.dropLast().last == "413")
            let uploaded = Int(parts.last ?? "") ?? .max
            print("streamed upload cut off: the client sent \(uploaded >> 20) MB in \(clock.now - started)")
            // "As soon as" is measured in bytes, not seconds: how fast a debug build parses 50 MB
            // depends on the machine's load, what the client was let send does not.
            #expect(uploaded < 100 << 20, "the client stopped soon after the answer (sent \(uploaded >> 20) MB)")
            #expect(clock.now - started < .seconds(90), "no hang")
            let health = try await HTTPClient.shared.execute(HTTPClientRequest(url: "\(base)/health"), timeout: .seconds(10))
            #expect(health.status == .ok)
            #expect(try FileManager.default.contentsOfDirectory(atPath: "\(service.directory)/tmp").isEmpty, "partial upload removed")
        }
    }

    @Test func declaredTenGigabyteBodyIsRefusedWithoutWaitingForIt() async throws {
        try await withLiveService { base, _ in
            // Headers promise 10 GB; only a few bytes ever arrive.
            let chunks = AsyncStream<ByteBuffer> { continuation in
                continuation.yield(ByteBuffer(string: "--x\r\n"))
                Task {
                    try? await Task.sleep(for: .seconds(30))
                    continuation.finish()
                }
            }
            var request = HTTPClientRequest(url: "\(base)/v1/renders")
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "multipart/form-data; boundary=x")
            request.body = .stream(chunks, length: .known(Int64(10_000_000_000)))
            let clock = ContinuousClock(), started = clock.now
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(20))
            #expect(response.status.code == 413)
            // The server hangs up soon after: a keep-alive client must not reuse the connection.
            #expect(response.headers.first(name: "connection") == "close")
            #expect(clock.now - started < .seconds(5))
        }
    }

    @Test func aRefusedUploadDoesNotCutOffTheNextRequestOnItsConnection() async throws {
        try await withLiveService { base, _ in
            // One connection per host: the second request goes where the refused one went.
            var configuration = HTTPClient.Configuration()
            configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 1)
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            do {
                // Refused mid-body (a field over 64 KB): the server hangs up on this connection soon after.
                var refused = MultipartBody()
                refused.field("style_params", "{" + String(repeating: " ", count: 70_000) + "}")
                refused.file(contents: try Data(contentsOf: URL(fileURLWithPath: Photos.dune)))
                var first = HTTPClientRequest(url: "\(base)/v1/renders")
                first.method = .POST
                first.headers.add(name: "Content-Type", value: refused.contentType)
                first.body = .bytes(ByteBuffer(data: refused.finished()))
                let answer = try await client.execute(first, timeout: .seconds(30))
                #expect(answer.status == .badRequest)
                _ = try await answer.body.collect(upTo: 1 << 16)
                // An upload still being sent when that hang-up falls due (3.6 s for 2 s).
                let form = try MultipartBody.render()
                let upload = form.finished()
                let chunks = AsyncStream<ByteBuffer> { continuation in
                    Task {
                        let size = (upload.count + 5) / 6
                        for start in stride(from: 0, to: upload.count, by: size) {
                            continuation.yield(ByteBuffer(data: upload[start..<min(start + size, upload.count)]))
                            try? await Task.sleep(for: .milliseconds(600))
                        }
                        continuation.finish()
                    }
                }
                var second = HTTPClientRequest(url: "\(base)/v1/renders")
                second.method = .POST
                second.headers.add(name: "Content-Type", value: form.contentType)
                second.body = .stream(chunks, length: .known(Int64(upload.count)))
                let accepted = try await client.execute(second, timeout: .seconds(30))
                #expect(accepted.status == .created)
            } catch {
                try? await client.shutdown()
                throw error
            }
            try await client.shutdown()
        }
    }

    @Test func fiftyConcurrentUploadsAllCompleteExactlyOnce() async throws {
        try await withLiveService(["WORKER_CONCURRENCY": "2"]) { base, service in
            let photos = [Photos.dune, Photos.storm, Photos.flower].map { try! Data(contentsOf: URL(fileURLWithPath: $0)) }
            let ids = try await withThrowingTaskGroup(of: String.self) { group in
                for index in 0..<50 {
                    group.addTask {
                        var body = MultipartBody()
                        body.file(contents: photos[index % photos.count])
                        body.field("style_id", IDs.photo)
                        body.field("size_preset_id", IDs.preset9x12)
                        let response = try await body.post(to: "\(base)/v1/renders", timeout: .seconds(60))
                        let data = try await response.body.collect(upTo: 1 << 16)
                        #expect(response.status.code == 201, "\(String(buffer: data))")
                        let object = try JSONSerialization.jsonObject(with: Data(buffer: data)) as? [String: Any]
                        return try #require(object?["render_id"] as? String)
                    }
                }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            #expect(ids.count == 50 && Set(ids).count == 50)

            let deadline = ContinuousClock.now + .seconds(300)
            var statuses: [String: String] = [:]
            while ContinuousClock.now < deadline {
                statuses = [:]
                for id in ids {
                    let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "\(base)/v1/renders/\(id)"), timeout: .seconds(10))
                    let object = try JSONSerialization.jsonObject(with: Data(buffer: try await response.body.collect(upTo: 1 << 16))) as? [String: Any]
                    statuses[id] = object?["status"] as? String
                }
                if statuses.values.allSatisfy({ $0 == "completed" || $0 == "failed" }) { break }
                try await Task.sleep(for: .seconds(2))
            }
            #expect(statuses.values.filter { $0 == "completed" }.count == 50, "\(statuses.values.sorted())")
            #expect(try await service.components.store.count(status: .completed) == 50)
            #expect(try await service.components.queue.depth() == 0)
            let outputs = try FileManager.default.contentsOfDirectory(atPath: "\(service.directory)/objects/renders")
            #expect(Set(outputs) == Set(ids), "one output directory per render, no strays")
            for id in ids {
                let files = try FileManager.default.contentsOfDirectory(atPath: "\(service.directory)/objects/renders/\(id)")
                #expect(files.sorted() == ["output.tiff", "preview.jpg"])
            }
        }
    }
}

/// The port the live server bound, delivered from its start-up callback.
final class PortBox: Sendable {
    private let port = Mutex<Int?>(nil)
    func set(_ value: Int) { port.withLock { $0 = value } }
    func wait() async throws -> Int {
        for _ in 0..<200 {
            if let value = port.withLock({ $0 }) { return value }
            try await Task.sleep(for: .milliseconds(25))
        }
        throw CancellationError()
    }
}

enum Shell {
    /// Runs `script` with bash and returns its standard output. The waiting happens on a
    /// Dispatch thread, never on one of Swift's cooperative threads: the servers under test run
    /// in this process on those (two on a two-core machine), and a test blocking one while its
    /// client waits for such a server can deadlock the suite.
    static func run(_ script: String) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/bin/bash")
                process.arguments = ["-c", script]
                let pipe = Pipe()
                process.standardOutput = pipe
                process.standardError = FileHandle.nullDevice
                do {
                    try process.run()
                } catch {
                    continuation.resume(throwing: error)
                    return
                }
                let data = pipe.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                continuation.resume(returning: String(decoding: data, as: UTF8.self))
            }
        }
    }
}
