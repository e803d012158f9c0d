import Foundation
import Testing

/// SIGTERM while requests and renders are in flight, and the retention sweep, on
/// `aso-render serve` processes restarted on the same data directory.
@Suite("Reliability: graceful shutdown and retention", .serialized, .tags(.reliability), .timeLimit(.minutes(20)))
struct ShutdownReliabilityTests {
    static let tries = 2

    /// Sends `body` as an upload spread over `seconds`; the raw answer.
    static func slowUpload(port: Int, _ form: MultipartBody, seconds: Double) async throws -> Data {
        let body = form.finished()
        let head = "POST /v1/renders HTTP/1.1\r\nHost: x\r\nContent-Type: \(form.contentType)\r\nContent-Length: \(body.count)\r\n\r\n"
        return try await RawConnection.run {
            let connection = try RawConnection(port: port)
            connection.send(Data(head.utf8))
            let pieces = 20, step = body.count / pieces + 1
            for start in stride(from: 0, to: body.count, by: step) {
                connection.send(body[start..<min(start + step, body.count)])
                Thread.sleep(forTimeInterval: seconds / Double(pieces))
            }
            return connection.read(timeout: 60) { $0.hasJSONBody && $0.last == UInt8(ascii: "}") }
        }
    }

    static func waitUntilProcessing(_ server: ServerProcess, _ id: String) async throws {
        try #require(try await server.waitFor(id, statuses: ["processing"], timeout: .seconds(60)) == "processing", "render never started")
    }

    @Test func sigtermFinishesTheUploadInFlightAndTheRenderThenExits() async throws {
        let photo = try Data(contentsOf: URL(fileURLWithPath: Photos.dune))
        for _ in 0..<Self.tries {
            let deployment = EmbeddedDeployment(["SHUTDOWN_GRACE_SECONDS": "60"])
            defer { deployment.cleanUp() }
            let server = try await deployment.start()
            let rendering = try await server.acceptedUpload(.renderForm(photo))
            try await Self.waitUntilProcessing(server, rendering)
            let uploading = Task { try await Self.slowUpload(port: server.port, .renderForm(photo, filename: "slow.jpg"), seconds: 3) }
            try await Task.sleep(for: .seconds(1))
            server.send(SIGTERM)
            try await Task.sleep(for: .milliseconds(300))
            let refused = (try? await RawConnection.run { _ = try RawConnection(port: server.port) }) == nil
            let answer = try await uploading.value
            let code = await server.waitForExit()
            try #require(answer.statusCode == 201, "in-flight upload got \(String(decoding: answer.prefix(300), as: UTF8.self))")
            try #require(refused, "new connections were still accepted after SIGTERM")
            try #require(code == 0, "exit code \(code)")
            let statuses = try deployment.statuses()
            // The workers stop after the HTTP server: the upload accepted while draining may be rendered too.
            try #require(statuses["processing"] == nil && statuses.values.reduce(0, +) == 2, "statuses after shutdown: \(statuses)")
            try #require(Set(statuses.keys).isSubset(of: ["completed", "queued"]), "statuses after shutdown: \(statuses)")
            let restarted = try await deployment.start()
            let uploaded = try #require(((try? JSONSerialization.jsonObject(with: answer.httpBody)) as? [String: Any])?["render_id"] as? String)
            let final = try await restarted.waitFor(uploaded)
            await restarted.terminate()
            try #require(final == "completed", "the upload accepted during shutdown did not complete")
        }
        try ReliabilityReport.record(
            .gracefulShutdown, part: 1,
            [
                ReliabilityRow(
                    fault: "SIGTERM during an upload and a render (grace period long enough)", tries: Self.tries,
                    result: "upload answered 201, new connections refused, render completed, exit 0, nothing left processing; "
                        + "the upload completed (before exit or after restart)")
            ])
    }

    @Test func sigtermHandsALongRenderBackAtItsNextCheckpoint() async throws {
        let elephants = try Data(contentsOf: URL(fileURLWithPath: Photos.elephants))
        var stoppedIn = Duration.zero
        for _ in 0..<Self.tries {
            let deployment = EmbeddedDeployment(["SHUTDOWN_GRACE_SECONDS": "1"])
            defer { deployment.cleanUp() }
            let server = try await deployment.start()
            let long = try await server.acceptedUpload(.renderForm(elephants, style: IDs.oil, preset: IDs.preset24x36))
            try await Self.waitUntilProcessing(server, long)
            try await Task.sleep(for: .seconds(1))
            let clock = ContinuousClock(), started = clock.now
            let code = await server.stop(SIGTERM)
            stoppedIn = clock.now - started
            try #require(code == 0, "exit code \(code)")
            let statuses = try deployment.statuses()
            try #require(statuses == ["queued": 1], "statuses after shutdown: \(statuses)")
            let restarted = try await deployment.start()
            let final = try await restarted.waitFor(long, timeout: .seconds(600))
            await restarted.terminate()
            try #require(final == "completed", "the handed-back render did not complete")
        }
        try ReliabilityReport.record(
            .gracefulShutdown, part: 2,
            [
                ReliabilityRow(
                    fault: "SIGTERM during a 24x36 oil-painting render, 1 s grace period", tries: Self.tries,
                    result:
                        "render stopped at its next checkpoint and handed back (queued), exit 0 in \(String(format: "%.1f", stoppedIn.seconds)) s; completed after restart"
                )
            ])
    }

    @Test func expiredOriginalsAndOutputsAreDeletedAndTheRecordStays() async throws {
        try await EmbeddedDeployment.withServer(["ORIGINAL_RETENTION": "3s", "OUTPUT_RETENTION": "5s", "RETENTION_SWEEP_INTERVAL": "1s"]) {
            deployment, server in
            let id = try await server.acceptedUpload(.renderForm(try Data(contentsOf: URL(fileURLWithPath: Photos.dune))))
            try #require(try await server.waitFor(id) == "completed", "render did not complete")
            try #require(try await server.request("/v1/renders/\(id)/download").status == 200, "download before expiry")
            let objects = "\(deployment.dataDirectory)/objects"
            func stored() -> [String] {
                (FileManager.default.enumerator(atPath: objects)?.allObjects as? [String] ?? []).filter {
                    var directory: ObjCBool = false
                    return FileManager.default.fileExists(atPath: "\(objects)/\($0)", isDirectory: &directory) && !directory.boolValue
                }
            }
            try #require(stored().count == 3, "objects before: \(stored())")
            let deadline = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < deadline && !stored().isEmpty { try await Task.sleep(for: .milliseconds(500)) }
            try #require(stored().isEmpty, "objects left: \(stored())")
            let gone = try await server.request("/v1/renders/\(id)/download")
            try #require(gone.status == 410 && gone.error == "Render outputs expired", "download after expiry: \(gone.status)")
            let record = try await server.request("/v1/renders/\(id)").json
            try #require(record["status"] as? String == "completed" && record["outputs_deleted_at"] is String, "record after expiry: \(record)")
        }
        try ReliabilityReport.record(
            .retention,
            [
                ReliabilityRow(
                    fault: "retention periods passed (original 3 s, outputs 5 s, sweep every 1 s)", tries: 1,
                    result: "original, TIFF and preview deleted from the object store; download 410; the render record stays")
            ])
    }
}
