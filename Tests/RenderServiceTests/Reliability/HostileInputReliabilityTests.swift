import Foundation
import RenderEngine
import Testing

/// Hostile and awkward files (scripts/reliability/corpus.py writes them with Pillow) and
/// malformed requests, each sent three times to one `aso-render serve`: every one is answered
/// as the spec says, nothing is kept from a refused request, and memory does not grow per round.
@Suite("Reliability: hostile files and requests", .serialized, .tags(.reliability), .timeLimit(.minutes(30)))
struct HostileInputReliabilityTests {
    /// One file of the corpus and what the API must answer.
    struct Case: Decodable {
        let name: String
        let path: String
        let filename: String
        /// The final status of an accepted upload's render, or nil for a refusal.
        let render: String?
        let status: Int?
        let error: String?

        var outcome: String { render.map { "201, render \($0)" } ?? "\(status ?? 0) \(error ?? "")" }
    }

    /// A malformed request: its name, what it must answer, and how it is sent.
    struct BadRequest {
        let name: String
        /// Status and `error` (nil: no JSON body to check), or nil status for a hang-up.
        let status: Int?
        let error: String?
        let send: () async throws -> (status: Int?, error: String?)

        var outcome: String { status.map { "\($0)" + (error.map { " \($0)" } ?? "") } ?? "connection closed, nothing kept" }
    }

    static let rounds = 3

    static func corpus() async throws -> (cases: [Case], directory: String) {
        let directory = temporaryDirectory("corpus")
        let script = TestServers.root.appendingPathComponent("scripts/reliability/corpus.py").path
        let status = try await ChildProcess.run("/usr/bin/env", ["python3", script, directory], timeout: .seconds(300))
        try #require(status == 0, "scripts/reliability/corpus.py failed (\(status))")
        let manifest = try Data(contentsOf: URL(fileURLWithPath: "\(directory)/cases.json"))
        return (try JSONDecoder().decode([Case].self, from: manifest), directory)
    }

    static func badRequests(_ server: ServerProcess, _ deployment: EmbeddedDeployment, photo: Data) -> [BadRequest] {
        func post(_ contentType: String, _ body: Data) async throws -> (Int?, String?) {
            let reply = try await server.request("/v1/renders", method: .POST, headers: ["Content-Type": contentType], body: body)
            return (reply.status, reply.error)
        }
        func form(_ build: (inout MultipartBody) -> Void) -> MultipartBody {
            var body = MultipartBody()
            body.field("style_id", IDs.photo)
            body.field("size_preset_id", IDs.preset9x12)
            build(&body)
            return body
        }
        let oneFile = form { $0.file(filename: "a.jpg", contentType: "application/octet-stream", contents: photo) }
        return [
            BadRequest(name: "multipart body with two `file` parts", status: 400, error: "Multiple files provided") {
                let body = form {
                    $0.file(filename: "a.jpg", contentType: "application/octet-stream", contents: photo)
                    $0.file(filename: "b.jpg", contentType: "application/octet-stream", contents: photo)
                }
                return try await post(body.contentType, body.finished())
            },
            BadRequest(name: "multipart content type without a boundary", status: 400, error: "Expected multipart/form-data") {
                try await post("multipart/form-data", oneFile.finished())
            },
            BadRequest(name: "multipart body without its closing boundary", status: 400, error: "Malformed multipart body") {
                try await post(oneFile.contentType, oneFile.finished().dropLast(40))
            },
            BadRequest(name: "non-UTF-8 bytes in a field value", status: 400, error: "Invalid form field") {
                var body = MultipartBody()
                body.field("style_id", bytes: Data([0xFF, 0xFE, 0xFA]))
                body.field("size_preset_id", IDs.preset9x12)
                body.file(filename: "a.jpg", contentType: "application/octet-stream", contents: photo)
                return try await post(body.contentType, body.finished())
            },
            BadRequest(name: "file name `../../../../etc/passwd`", status: 201, error: nil) {
                let body = form { $0.file(filename: "../../../../etc/passwd", contentType: "application/octet-stream", contents: photo) }
                let answer = try await post(body.contentType, body.finished())
                try #require(!FileManager.default.fileExists(atPath: "\(deployment.dataDirectory)/etc"), "a path was made from the file name")
                return answer
            },
            // Refused by the HTTP parser before there is a request to answer in JSON.
            BadRequest(name: "200 KB request header", status: 400, error: nil) {
                let head = "POST /v1/renders HTTP/1.1\r\nHost: x\r\nX-Filler: \(String(repeating: "a", count: 200_000))\r\nContent-Length: 0\r\n\r\n"
                return (try await RawConnection.exchange(port: server.port, Data(head.utf8)).statusCode, nil)
            },
            BadRequest(name: "10 GB Content-Length that never arrives", status: 413, error: "File too large (maximum 50MB)") {
                let head =
                    "POST /v1/renders HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                    + "Content-Length: 10737418240\r\n\r\n--b\r\n"
                let clock = ContinuousClock(), started = clock.now
                let answer = try await RawConnection.exchange(port: server.port, Data(head.utf8))
                try #require(clock.now - started < .seconds(5), "the 10 GB request was not refused at once")
                return (answer.statusCode, answer.jsonError)
            },
            BadRequest(name: "client disconnects half-way through a 10 MB upload", status: nil, error: nil) {
                let body = form { $0.file(filename: "a.jpg", contentType: "application/octet-stream", contents: photo + photo + photo + photo) }
                let payload = body.finished()
                let head = "POST /v1/renders HTTP/1.1\r\nHost: x\r\nContent-Type: \(body.contentType)\r\nContent-Length: \(payload.count)\r\n\r\n"
                try await RawConnection.run {
                    let connection = try RawConnection(port: server.port)
                    connection.send(Data(head.utf8) + payload.prefix(payload.count / 2))
                    Thread.sleep(forTimeInterval: 0.3)
                }
                try await Task.sleep(for: .milliseconds(500))
                return (nil, nil)
            },
            BadRequest(name: "JSON body instead of multipart", status: 400, error: "Expected multipart/form-data") {
                try await post("application/json", Data(#"{"style_id": "x"}"#.utf8))
            },
            BadRequest(name: "misspelt field `styel_params`", status: 400, error: "Unknown form field") {
                let body = form {
                    $0.field("styel_params", "{}")
                    $0.file(filename: "a.jpg", contentType: "application/octet-stream", contents: photo)
                }
                return try await post(body.contentType, body.finished())
            },
            BadRequest(name: "70 KB style_params field", status: 400, error: "Form field too large") {
                let body = form {
                    $0.field("style_params", "{" + String(repeating: " ", count: 70_000) + "}")
                    $0.file(filename: "a.jpg", contentType: "application/octet-stream", contents: photo)
                }
                return try await post(body.contentType, body.finished())
            },
        ]
    }

    @Test func everyHostileFileAndRequestIsAnsweredAndNothingIsKept() async throws {
        let (cases, corpusDirectory) = try await Self.corpus()
        defer { try? FileManager.default.removeItem(atPath: corpusDirectory) }
        try await EmbeddedDeployment.withServer { deployment, server in
            let photo = try Data(contentsOf: URL(fileURLWithPath: Photos.dune))
            let requests = Self.badRequests(server, deployment, photo: photo)
            let warmUp = try await server.acceptedUpload(.renderForm(photo))
            _ = try await server.waitFor(warmUp)
            let baseline = server.residentMegabytes()
            var afterRound: [Double] = []
            for _ in 0..<Self.rounds {
                var accepted: [(Case, String)] = []
                for item in cases {
                    let data = try Data(contentsOf: URL(fileURLWithPath: item.path))
                    let reply = try await Self.naming(item.name) { try await server.upload(.renderForm(data, filename: item.filename)) }
                    let answer = "\(item.name): \(reply.status) \(String(decoding: reply.body.prefix(200), as: UTF8.self))"
                    if item.render != nil {
                        try #require(reply.status == 201, "\(answer)")
                        accepted.append((item, try #require(reply.json["render_id"] as? String)))
                    } else {
                        try #require(reply.status == item.status && reply.error == item.error, "\(answer)")
                    }
                }
                for request in requests {
                    let (status, error) = try await Self.naming(request.name) { try await request.send() }
                    try #require(
                        status == request.status && (request.error == nil || error == request.error),
                        "\(request.name): got \(String(describing: status)) \(error ?? "")")
                }
                for (item, id) in accepted {
                    let final = try await server.waitFor(id)
                    try #require(final == item.render, "\(item.name): render ended \(final ?? "?")")
                }
                try #require(try await server.request("/health").status == 200, "unhealthy after the corpus")
                try #require(deployment.temporaryFiles().isEmpty, "temporary files left: \(deployment.temporaryFiles())")
                afterRound.append(server.residentMegabytes())
            }
            let errors = server.log.split(separator: "\n").filter { $0.contains(#""level":"ERROR""#) }
            try #require(errors.isEmpty, "the server logged errors: \(errors.prefix(3))")
            // Memory: later rounds must not grow past the first (no leak per request).
            let growth = afterRound.last! - afterRound.first!
            try #require(growth < 48, "RSS grew \(Int(growth)) MB between round 1 and round \(Self.rounds)")
            // Exactly the accepted uploads became renders (and the path-traversal one, a 201).
            let expected = 1 + Self.rounds * (cases.count { $0.render != nil } + 1)
            let statuses = try deployment.statuses()
            try #require(statuses.values.reduce(0, +) == expected, "\(statuses) renders, \(expected) expected")
            let gps = try await Self.outputsCarryNoMetadata(server, try #require(cases.first { $0.name.contains("GPS") }))
            let rounds = Self.rounds
            try ReliabilityReport.record(
                .hostileInputs,
                cases.map { ReliabilityRow(fault: "upload: \($0.name)", tries: rounds, result: $0.outcome) }
                    + requests.map { ReliabilityRow(fault: "request: \($0.name)", tries: rounds, result: $0.outcome) }
                    + [
                        ReliabilityRow(
                            fault: "server after the whole corpus", tries: rounds,
                            result: "healthy, no error logged; renders recorded = uploads accepted (\(expected)); no temporary file left; "
                                + "RSS \(Int(baseline.rounded())) MB before, \(Int(afterRound[0].rounded())) MB after round 1, "
                                + "\(Int(afterRound[rounds - 1].rounded())) MB after round \(rounds)"),
                        gps,
                    ])
        }
    }

    /// Runs one exchange; a transport error (the connection reset before the answer was read)
    /// is recorded with the case's name, which the error alone does not say.
    static func naming<T>(_ name: String, _ exchange: () async throws -> T) async throws -> T {
        do {
            return try await exchange()
        } catch {
            Issue.record("\(name): \(error)")
            throw error
        }
    }

    /// The GPS-tagged, rotated upload: master and preview carry no EXIF or GPS, and are upright.
    static func outputsCarryNoMetadata(_ server: ServerProcess, _ item: Case) async throws -> ReliabilityRow {
        let id = try await server.acceptedUpload(.renderForm(try Data(contentsOf: URL(fileURLWithPath: item.path))))
        try #require(try await server.waitFor(id) == "completed", "GPS photo did not complete")
        let scratch = temporaryDirectory("gps-outputs")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        for route in ["download", "preview"] {
            let url = try #require(try await server.request("/v1/renders/\(id)/\(route)").json["url"] as? String)
            let file = try await server.request(try EmbeddedTestService.pathAndQuery(url))
            let path = "\(scratch)/\(route)"
            try file.body.write(to: URL(fileURLWithPath: path))
            // exiftool reads every tag; libvips writes a minimal block of its own into JPEGs
            // (orientation 1 and the resolution), so only the upload's own fields are looked for.
            let tags = try #require(try JSONSerialization.jsonObject(with: Data(try await Shell.run("exiftool -j -n '\(path)'").utf8)) as? [[String: Any]])
            let fields = try #require(tags.first)
            try #require(!fields.keys.contains { $0.hasPrefix("GPS") }, "\(route) carries GPS: \(fields.keys.sorted())")
            try #require(fields["Make"] == nil && file.body.range(of: Data("ASO-Test-Camera".utf8)) == nil, "\(route) carries the upload's EXIF")
            try #require((fields["Orientation"] as? Int ?? 1) == 1, "\(route) still says orientation \(fields["Orientation"] ?? "")")
            let probe = try ImageProbe.read(path: path)
            try #require(probe.height > probe.width, "\(route) is not upright (orientation 6 → portrait)")
        }
        return ReliabilityRow(
            fault: "GPS-tagged photo with EXIF orientation 6: outputs checked", tries: 1,
            result: "TIFF and preview upright (portrait); neither carries the GPS position or any EXIF field of the upload")
    }
}
