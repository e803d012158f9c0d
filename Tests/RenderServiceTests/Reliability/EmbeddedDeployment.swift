import AsyncHTTPClient
import Foundation
import GRDB
import NIOCore
import NIOHTTP1

/// An embedded deployment run as `aso-render serve` processes on one data directory, so a
/// check can signal, kill and restart it and read what it left behind.
struct EmbeddedDeployment: Sendable {
    let dataDirectory: String
    let environment: [String: String]

    init(_ overrides: [String: String] = [:], name: String = #function) {
        dataDirectory = temporaryDirectory(name)
        environment = ["DATA_DIR": dataDirectory, "API_HOST": "127.0.0.1", "WORKER_CONCURRENCY": "1"].merging(overrides) { $1 }
    }

    func start() async throws -> ServerProcess {
        try await ServerProcess(environment: environment)
    }

    /// A server on a fresh deployment for `body`; stopped, and its data removed, afterwards
    /// whether `body` passed or threw.
    static func withServer(
        _ overrides: [String: String] = [:], name: String = #function, _ body: (EmbeddedDeployment, ServerProcess) async throws -> Void
    ) async throws {
        let deployment = EmbeddedDeployment(overrides, name: name)
        defer { deployment.cleanUp() }
        let server = try await deployment.start()
        do {
            try await body(deployment, server)
        } catch {
            await server.terminate()
            throw error
        }
        await server.terminate()
    }

    /// The database the server keeps, opened read-only beside it.
    func database() throws -> DatabaseQueue {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(10)
        return try DatabaseQueue(path: "\(dataDirectory)/aso-render.sqlite", configuration: configuration)
    }

    /// How many renders are in each status, from the database itself.
    func statuses() throws -> [String: Int] {
        try database().read { db in
            try Row.fetchAll(db, sql: "SELECT status, COUNT(*) AS n FROM renders GROUP BY status").reduce(into: [:]) { $0[$1["status"]] = $1["n"] }
        }
    }

    var renderCount: Int { get throws { try statuses().values.reduce(0, +) } }

    /// Upload spool files still on disk (an upload's file lives there only while it is received).
    func temporaryFiles() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "\(dataDirectory)/tmp")) ?? []).sorted()
    }

    func cleanUp() {
        try? FileManager.default.removeItem(atPath: dataDirectory)
    }
}

/// One HTTP answer, read whole.
struct Reply: Sendable {
    let status: Int
    let headers: HTTPHeaders
    let body: Data

    var json: [String: Any] { ((try? JSONSerialization.jsonObject(with: body)) as? [String: Any]) ?? [:] }
    /// The spec's `error` text of a refusal.
    var error: String? { json["error"] as? String }
    func header(_ name: String) -> String? { headers.first(name: name) }
}

extension ServerProcess {
    static let terminalStatuses: Set<String> = ["completed", "failed", "canceled"]

    func request(
        _ path: String, method: HTTPMethod = .GET, headers: [String: String] = [:], body: Data? = nil, timeout: TimeAmount = .seconds(60)
    ) async throws -> Reply {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(data: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: timeout)
        let data = try await response.body.collect(upTo: 256 << 20)
        return Reply(status: Int(response.status.code), headers: response.headers, body: Data(buffer: data))
    }

    func upload(_ form: MultipartBody, headers: [String: String] = [:], timeout: TimeAmount = .seconds(60)) async throws -> Reply {
        try await request(
            "/v1/renders", method: .POST, headers: headers.merging(["Content-Type": form.contentType]) { $1 }, body: form.finished(), timeout: timeout)
    }

    /// A render upload that must be accepted: its id.
    func acceptedUpload(_ form: MultipartBody, headers: [String: String] = [:]) async throws -> String {
        let reply = try await upload(form, headers: headers)
        guard reply.status == 201, let id = reply.json["render_id"] as? String else {
            throw ServerFailure(description: "upload: \(reply.status) \(String(decoding: reply.body.prefix(300), as: UTF8.self))")
        }
        return id
    }

    func renderStatus(_ id: String, headers: [String: String] = [:]) async throws -> String? {
        try await request("/v1/renders/\(id)", headers: headers).json["status"] as? String
    }

    /// Polls the render until its status is one of `statuses`; its last status either way.
    func waitFor(
        _ id: String, statuses: Set<String> = terminalStatuses, timeout: Duration = .seconds(300), headers: [String: String] = [:]
    ) async throws -> String? {
        let deadline = ContinuousClock.now + timeout
        while true {
            let status = try await renderStatus(id, headers: headers)
            if let status, statuses.contains(status) { return status }
            if ContinuousClock.now > deadline { return status }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    /// A size from /proc/<pid>/status in MB: `VmRSS` now, `VmHWM` the peak.
    func residentMegabytes(_ field: String = "VmRSS") -> Double {
        let text = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = text.split(separator: "\n").first { $0.hasPrefix(field + ":") }
        return (line?.split(separator: " ").dropFirst().first).flatMap { Double($0) }.map { $0 / 1024 } ?? 0
    }
}

extension MultipartBody {
    /// A render form the way the reliability checks send it: fields first, then the file.
    static func renderForm(
        _ photo: Data, filename: String = "photo.jpg", style: String = IDs.photo, preset: String = IDs.preset9x12, extra: [(String, String)] = []
    ) -> MultipartBody {
        var body = MultipartBody()
        body.field("style_id", style)
        body.field("size_preset_id", preset)
        for (name, value) in extra { body.field(name, value) }
        body.file(filename: filename, contentType: "application/octet-stream", contents: photo)
        return body
    }
}
