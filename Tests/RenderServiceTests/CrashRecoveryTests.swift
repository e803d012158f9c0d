import AsyncHTTPClient
import Foundation
import NIOCore
import Testing

@testable import RenderService

@Suite("Crash recovery (separate process)", .serialized, .timeLimit(.minutes(10)))
struct CrashRecoveryTests {
    private func json(_ url: String) async throws -> [String: Any] {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        return try #require(try JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any])
    }

    private func upload(_ base: String, photo: String, preset: String) async throws -> String {
        let body = try MultipartBody.render(photo: photo, style: IDs.photo, preset: preset)
        let response = try await body.post(to: "\(base)/v1/renders")
        let object = try JSONSerialization.jsonObject(with: Data(buffer: try await response.body.collect(upTo: 1 << 16))) as? [String: Any]
        return try #require(object?["render_id"] as? String)
    }

    @Test(.tags(.reliability)) func sigkillWhileRenderingThenRestartCompletesEveryRender() async throws {
        let dataDirectory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dataDirectory) }
        let environment = ["DATA_DIR": dataDirectory, "WORKER_CONCURRENCY": "1", "LOG_LEVEL": "INFO"]
        let first = try await ServerProcess(environment: environment)
        // Large prints take seconds each: some will be queued and one processing when killed.
        var ids: [String] = []
        for index in 0..<5 {
            ids.append(try await upload(first.baseURL, photo: index == 0 ? Photos.elephants : Photos.dune, preset: IDs.preset24x36))
        }
        var sawProcessing = false
        for _ in 0..<200 where !sawProcessing {
            sawProcessing = try await json("\(first.baseURL)/v1/renders/\(ids[0])")["status"] as? String == "processing"
            if !sawProcessing { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(sawProcessing)
        await first.kill()

        let second = try await ServerProcess(environment: environment)
        defer { Task { await second.terminate() } }
        #expect(second.log.contains("Re-queued renders interrupted by the last shutdown"))
        var statuses: [String] = []
        for _ in 0..<600 {
            statuses = []
            for id in ids { statuses.append(try await json("\(second.baseURL)/v1/renders/\(id)")["status"] as? String ?? "?") }
            if statuses.allSatisfy({ $0 == "completed" || $0 == "failed" }) { break }
            try await Task.sleep(for: .milliseconds(500))
        }
        #expect(statuses == Array(repeating: "completed", count: ids.count), "\(statuses)")
        for id in ids {
            let files = try FileManager.default.contentsOfDirectory(atPath: "\(dataDirectory)/objects/renders/\(id)").sorted()
            #expect(files == ["output.tiff", "preview.jpg"], "exactly one output per render, no partial files: \(files)")
        }
        let metrics = try await HTTPClient.shared.execute(HTTPClientRequest(url: "\(second.baseURL)/metrics"), timeout: .seconds(10))
        let text = String(buffer: try await metrics.body.collect(upTo: 1 << 20))
        #expect(text.contains(#"rq_jobs_rescued_total{queue="render-queue"} 1"#))
        await second.terminate()
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(dataDirectory)/work").isEmpty)
        try ReliabilityReport.record(
            .crash,
            [
                ReliabilityRow(
                    fault: "SIGKILL with one render processing and four queued", tries: 1,
                    result: "all five completed after restart, each with one TIFF and one preview, no partial file; the interrupted one counted as rescued")
            ])
    }

    @Test func secondServerOnTheSameDataDirectoryIsRefused() async throws {
        let dataDirectory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dataDirectory) }
        let first = try await ServerProcess(environment: ["DATA_DIR": dataDirectory, "WORKER_CONCURRENCY": "0"])
        defer { Task { await first.terminate() } }
        await #expect(throws: ServerFailure.self) { _ = try await ServerProcess(environment: ["DATA_DIR": dataDirectory]) }
        await first.terminate()
    }
}
