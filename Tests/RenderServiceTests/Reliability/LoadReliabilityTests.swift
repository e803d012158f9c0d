import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

/// Load past the service's limits: the queue bound under a hundred uploaders and heavy polling,
/// and a client hammering past its rate limit beside well-behaved ones.
@Suite("Reliability: overload and rate limits", .serialized, .tags(.reliability), .timeLimit(.minutes(20)))
struct LoadReliabilityTests {
    /// Counts and samples the concurrent clients collect.
    final class Tally: Sendable {
        private let state = Mutex<(statuses: [String: Int], problems: [String], latencies: [Double], accepted: [String])>(([:], [], [], []))

        func count(_ key: String) { state.withLock { $0.statuses[key, default: 0] += 1 } }
        func problem(_ text: String) { state.withLock { $0.problems.append(text) } }
        func latency(_ seconds: Double) { state.withLock { $0.latencies.append(seconds) } }
        func accept(_ id: String) { state.withLock { $0.accepted.append(id) } }

        var statuses: [String: Int] { state.withLock { $0.statuses } }
        var problems: [String] { state.withLock { $0.problems } }
        var accepted: [String] { state.withLock { $0.accepted } }
        /// The latencies' median and 99th percentile, in seconds.
        var percentiles: (p50: Double, p99: Double) {
            let sorted = state.withLock { $0.latencies }.sorted()
            guard !sorted.isEmpty else { return (0, 0) }
            return (sorted[sorted.count / 2], sorted[Int(Double(sorted.count) * 0.99)])
        }
    }

    /// An HTTP client allowed `connections` keep-alive connections to one server, for `body`.
    static func withClient<T>(connections: Int, _ body: (HTTPClient) async throws -> T) async throws -> T {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = connections
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            let value = try await body(client)
            try await client.shutdown()
            return value
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    static func exchange(
        _ client: HTTPClient, _ url: String, method: HTTPMethod = .GET, headers: [String: String], body: Data? = nil, timeout: TimeAmount = .seconds(60)
    ) async throws -> (reply: Reply, seconds: Double) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(data: body)) }
        let clock = ContinuousClock(), started = clock.now
        let response = try await client.execute(request, timeout: timeout)
        let data = try await response.body.collect(upTo: 1 << 20)
        let took = clock.now - started
        return (Reply(status: Int(response.status.code), headers: response.headers, body: Data(buffer: data)), took.seconds)
    }

    static func milliseconds(_ seconds: Double, digits: Int = 0) -> String { String(format: "%.\(digits)f", seconds * 1000) }

    // MARK: overload

    /// Real photos of 5 to 20 MB: the Elephants photo at several JPEG qualities, with a little
    /// film grain (the fixture's enlarged copy compresses far smaller than the wallpaper did).
    static func uploadPhotos(in directory: String) async throws -> [(path: String, size: Int)] {
        let grain = """
            set -e; w=$(vipsheader -f width "$1"); h=$(vipsheader -f height "$1")
            vips gaussnoise "$2/noise.v" "$w" "$h" --sigma 6
            vips add "$1" "$2/noise.v" "$2/grainy.v"
            vips cast "$2/grainy.v" "$2/grainy8.v" uchar
            for q in 95 97 99; do vips copy "$2/grainy8.v" "$2/elephants-q$q.jpg[Q=$q]"; done
            rm -f "$2/noise.v" "$2/grainy.v" "$2/grainy8.v"
            """
        try #require(try await ChildProcess.run("/bin/sh", ["-c", grain, "grain", Photos.elephants, directory]) == 0)
        let paths = [Photos.elephants] + [95, 97, 99].map { "\(directory)/elephants-q\($0).jpg" }
        let sized = try paths.map { ($0, try FileManager.default.attributesOfItem(atPath: $0)[.size] as? Int ?? 0) }
        return sized.filter { (5 << 20...21 << 20).contains($0.1) }
    }

    /// Polls each render in `ids` from `connections` curl processes (a C client leaves the cores
    /// to the server), each paced with --rate on one keep-alive connection for `seconds`. Each
    /// answer's status and time, from curl's line-buffered output (a poller still behind its
    /// pace at the end is stopped, with SIGKILL: children of the test process inherit its
    /// ignored SIGTERM; what it did is counted).
    static func poll(port: Int, _ ids: [String], rate: Int, seconds: Int, connections: Int, directory: String) async throws -> [(status: Int, seconds: Double)]
    {
        let each = rate / connections
        let pollers = (0..<connections).map { index in
            "timeout -s KILL \(seconds + 2) stdbuf -oL curl -s --rate \(each)/s -o /dev/null -w '%{http_code} %{time_total}\\n' "
                + "'http://127.0.0.1:\(port)/v1/renders/\(ids[index % ids.count])?poll=[1-\(each * seconds)]' > \(directory)/poll-\(index).txt &"
        }
        _ = try await Shell.run(pollers.joined(separator: "\n") + "\nwait")
        return (0..<connections).flatMap { index in
            let text = (try? String(contentsOfFile: "\(directory)/poll-\(index).txt", encoding: .utf8)) ?? ""
            return text.split(separator: "\n").compactMap { line -> (Int, Double)? in
                let fields = line.split(separator: " ")
                guard fields.count == 2, let status = Int(fields[0]), let time = Double(fields[1]) else { return nil }  // a line cut by the stop
                return (status, time)
            }
        }
    }

    /// `uploaders` curl clients, each uploading one of `photos` after another for `seconds`
    /// and waiting for Retry-After when refused with 503 (curl, like the pollers, so that the
    /// cores go to the server rather than to this debug-built test process). Each upload's
    /// status goes into the tally, and the render id of each one accepted.
    static func upload(_ photos: [String], port: Int, from uploaders: Int, seconds: Int, directory: String, _ tally: Tally) async throws {
        let form = "-F style_id=\(IDs.photo) -F size_preset_id=\(IDs.preset9x12)"
        _ = try await Shell.run(
            """
            photos=(\(photos.map { "'\($0)'" }.joined(separator: " ")))
            end=$((SECONDS + \(seconds)))
            uploader() {
                while ((SECONDS < end)); do
                    photo=${photos[RANDOM % ${#photos[@]}]}
                    code=$(curl -s --max-time 120 -H 'Expect:' -D \(directory)/up-$1.head -o \(directory)/up-$1.body -w '%{http_code}' \(form) \\
                        -F "file=@$photo;filename=photo.jpg;type=application/octet-stream" http://127.0.0.1:\(port)/v1/renders) || code=000
                    echo "$code $(grep -o '"render_id":"[^"]*"' \(directory)/up-$1.body | cut -d'"' -f4)" >> \(directory)/up-$1.txt
                    case $code in
                        503) sleep "$(grep -i '^retry-after:' \(directory)/up-$1.head | tr -dc 0-9)" ;;
                        000) sleep 0.5 ;;
                    esac
                done
            }
            for i in $(seq 0 \(uploaders - 1)); do uploader $i & done
            wait
            """)
        for index in 0..<uploaders {
            let text = (try? String(contentsOfFile: "\(directory)/up-\(index).txt", encoding: .utf8)) ?? ""
            for line in text.split(separator: "\n") {
                let fields = line.split(separator: " ")
                guard let code = fields.first else { continue }
                if code == "000" { tally.problem("upload: no answer") } else { tally.count(String(code)) }
                if code == "201", fields.count > 1 { tally.accept(String(fields[1])) }
            }
        }
    }

    @Test func beyondTheQueueBoundUploadsAre503AndEveryAcceptedRenderCompletes() async throws {
        let seconds = Int(ProcessInfo.processInfo.environment["ASO_RELIABILITY_LOAD_SECONDS"] ?? "") ?? 60
        let uploaders = 100, pollRate = 1000, bound = 20
        let scratch = temporaryDirectory("overload")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let photos = try await Self.uploadPhotos(in: scratch)
        let sizes = photos.map { $0.size >> 20 }.sorted(), paths = photos.map { $0.path }
        try await EmbeddedDeployment.withServer(["MAX_QUEUED_RENDERS": String(bound), "OVERLOAD_RETRY_AFTER_SECONDS": "2"]) { deployment, server in
            // Polled throughout: renders made before the load starts (completed, so outside the bound).
            let dune = try Data(contentsOf: URL(fileURLWithPath: Photos.dune))
            var uploaded: [String] = []
            for _ in 0..<4 { uploaded.append(try await server.acceptedUpload(.renderForm(dune))) }
            let polled = uploaded
            for id in polled { _ = try await server.waitFor(id) }
            let tally = Tally()
            let clock = ContinuousClock(), started = clock.now
            let polling = Task { try await Self.poll(port: server.port, polled, rate: pollRate, seconds: seconds, connections: 100, directory: scratch) }
            try await Self.upload(paths, port: server.port, from: uploaders, seconds: seconds, directory: scratch, tally)
            let elapsed = clock.now - started
            let answers = try await polling.value
            let peak = server.residentMegabytes("VmHWM")
            let accepted = tally.accepted
            var lost = 0
            for id in accepted {
                if try await server.waitFor(id, timeout: .seconds(600)) != "completed" { lost += 1 }
            }
            let uploads = tally.statuses
            let pollStatuses = Dictionary(answers.map { ($0.status, 1) }, uniquingKeysWith: +)
            let serverErrors = uploads.filter { (Int($0.key) ?? 0) >= 500 && $0.key != "503" }.merging(
                pollStatuses.filter { $0.key >= 500 }.map { ("\($0.key)", $0.value) }
            ) { $0 + $1 }
            try #require(serverErrors.isEmpty, "5xx besides 503: \(serverErrors)")
            try #require(
                tally.problems.isEmpty && pollStatuses[0] == nil,
                "transport failures: \(tally.problems.prefix(5)) (\(tally.problems.count)), polls unanswered: \(pollStatuses[0] ?? 0)")
            try #require(uploads["503", default: 0] > 0, "the queue bound was never reached")
            let recorded = try deployment.renderCount
            try #require(
                lost == 0 && recorded == accepted.count + polled.count,
                "\(lost) accepted renders did not complete; \(recorded) recorded vs \(accepted.count) accepted + \(polled.count) polled")
            try #require(try await server.request("/health").status == 200, "unhealthy after the load")
            let latencies = answers.map(\.seconds).sorted()
            try ReliabilityReport.record(
                .overload,
                [
                    ReliabilityRow(
                        fault: "\(uploaders) concurrent uploaders + polling at \(pollRate)/s for \(seconds) s, queue bound \(bound)", tries: 1,
                        result: "\(uploads.values.reduce(0, +)) uploads (\(sizes.first ?? 0)–\(sizes.last ?? 0) MB): \(uploads["201", default: 0]) × 201, "
                            + "\(uploads["503", default: 0]) × 503 + Retry-After; \(answers.count) polls (\(Int(Double(answers.count) / elapsed.seconds))/s, "
                            + "p50 \(Self.milliseconds(latencies[latencies.count / 2])) ms, p99 \(Self.milliseconds(latencies[Int(Double(latencies.count) * 0.99)])) ms) "
                            + "all \(pollStatuses.keys.sorted().map(String.init).joined(separator: "/")); no other status; every accepted render completed; "
                            + "peak RSS \(Int(peak.rounded())) MB")
                ])
        }
    }

    // MARK: rate limits

    static let rateLimitBody = Data(#"{"error":"Rate limit exceeded","status":429}"#.utf8)

    @Test func aClientPastItsRateLimitIsRefusedCheaplyAndOthersAreNot() async throws {
        let perHour = 100, uploadsPerHour = 5, hammerers = 8, hammerGets = 300, hammerUploads = 60, others = 5
        let environment = [
            "RATE_LIMIT_PER_HOUR": String(perHour), "RATE_LIMIT_UPLOADS_PER_HOUR": String(uploadsPerHour), "TRUSTED_PROXIES": "127.0.0.1",
        ]
        try await EmbeddedDeployment.withServer(environment) { deployment, server in
            let form = MultipartBody.renderForm(try Data(contentsOf: URL(fileURLWithPath: Photos.dune)))
            let upload = form.finished()
            let url = server.baseURL
            let tally = Tally()
            /// Behind the trusted proxy; the left-hand entry is the client's own (ignored) claim.
            @Sendable func headers(_ client: String, upload: Bool = false) -> [String: String] {
                ["X-Forwarded-For": "203.0.113.9, \(client)"].merging(upload ? ["Content-Type": form.contentType] : [:]) { $1 }
            }
            let rssBefore = server.residentMegabytes()
            let clock = ContinuousClock(), started = clock.now
            try await Self.withClient(connections: hammerers) { hammering in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for index in 0..<hammerers {
                        group.addTask {
                            let uploads = index < 2, kind = index < 2 ? "upload" : "get"
                            for _ in 0..<(uploads ? hammerUploads / 2 : hammerGets) {
                                let answer: (reply: Reply, seconds: Double)
                                do {
                                    answer =
                                        uploads
                                        ? try await Self.exchange(
                                            hammering, "\(url)/v1/renders", method: .POST, headers: headers("198.51.100.66", upload: true), body: upload)
                                        : try await Self.exchange(hammering, "\(url)/v1/size-presets", headers: headers("198.51.100.66"))
                                } catch {
                                    tally.problem("transport: \(error)")
                                    continue
                                }
                                let reply = answer.reply
                                tally.count("\(kind) \(reply.status)")
                                let rateHeaders = ["X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"].map { reply.header($0) ?? "" }
                                if !rateHeaders.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isNumber) }) {
                                    tally.problem("\(reply.status) without rate-limit headers")
                                }
                                switch reply.status {
                                case 429:
                                    tally.latency(answer.seconds)
                                    if reply.body != Self.rateLimitBody || (Int(reply.header("Retry-After") ?? "") ?? 0) < 1 {
                                        tally.problem(
                                            "429 answer: \(String(decoding: reply.body, as: UTF8.self)) Retry-After \(reply.header("Retry-After") ?? "none")")
                                    }
                                case 201: if let id = reply.json["render_id"] as? String { tally.accept(id) }
                                case 200: break
                                default: tally.problem("\(kind) answered \(reply.status): \(String(decoding: reply.body.prefix(200), as: UTF8.self))")
                                }
                            }
                        }
                    }
                    // Ordinary clients: a few GETs and one upload each, spread over the hammering.
                    for index in 0..<others {
                        group.addTask {
                            let client = "198.51.100.\(index + 1)"
                            var made = 0
                            for number in 0..<20 {
                                let (reply, _) = try await Self.exchange(HTTPClient.shared, "\(url)/v1/styles", headers: headers(client))
                                made += 1
                                if reply.status != 200 || reply.header("X-RateLimit-Remaining") != String(perHour - made) {
                                    tally.problem("other client \(client): \(reply.status), remaining \(reply.header("X-RateLimit-Remaining") ?? "none")")
                                }
                                if number == 10 {
                                    let (created, _) = try await Self.exchange(
                                        HTTPClient.shared, "\(url)/v1/renders", method: .POST, headers: headers(client, upload: true), body: upload)
                                    made += 1
                                    if created.status == 201, let id = created.json["render_id"] as? String {
                                        tally.accept(id)
                                    } else {
                                        tally.problem("other client \(client) upload: \(created.status)")
                                    }
                                }
                                try await Task.sleep(for: .milliseconds(50))
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
            let elapsed = clock.now - started
            let seconds = elapsed.seconds
            let statuses = tally.statuses
            try #require(tally.problems.isEmpty, "\(tally.problems.count) problems: \(tally.problems.prefix(5))")
            let passed = statuses["get 200", default: 0] + statuses["upload 201", default: 0]
            let refused = statuses["get 429", default: 0] + statuses["upload 429", default: 0]
            // GCRA refills one request every 36 s (uploads one every 720 s) while the load runs.
            try #require((perHour...perHour + 1 + Int(seconds / (3600 / Double(perHour)))).contains(passed), "\(passed) requests passed in \(Int(seconds)) s")
            try #require(
                statuses["upload 201", default: 0] <= uploadsPerHour + 1 + Int(seconds / (3600 / Double(uploadsPerHour))), "uploads passed: \(statuses)")
            try #require(try await server.request("/health").status == 200, "unhealthy after the hammering")
            for id in tally.accepted {
                let final = try await server.waitFor(id, timeout: .seconds(600))
                try #require(final == "completed", "accepted render \(id): \(final ?? "?")")
            }
            try #require(try deployment.renderCount == tally.accepted.count, "renders recorded vs accepted \(tally.accepted.count)")
            try #require(!server.log.contains(#""level":"ERROR""#), "the server logged an error")
            let (p50, p99) = tally.percentiles
            let tries = passed + refused
            let uploadsTried = statuses["upload 201", default: 0] + statuses["upload 429", default: 0]
            try ReliabilityReport.record(
                .rateLimit,
                [
                    ReliabilityRow(
                        fault: "a client hammering past the rate limit (\(perHour)/h, uploads \(uploadsPerHour)/h): \(hammerers) keep-alive connections, "
                            + "\(tries) requests (\(uploadsTried) of them uploads) in \(Int(seconds.rounded())) s",
                        tries: tries,
                        result:
                            "\(statuses["get 200", default: 0]) × 200 and \(statuses["upload 201", default: 0]) × 201 within its limits, then \(refused) × 429 "
                            + "with exactly the spec's body, Retry-After and X-RateLimit-* (p50 \(Self.milliseconds(p50, digits: 1)) ms, p99 \(Self.milliseconds(p99, digits: 1)) ms); "
                            + "refused uploads never stored; healthy, no error logged; RSS \(Int(rssBefore.rounded())) → \(Int(server.residentMegabytes().rounded())) MB"
                    ),
                    ReliabilityRow(
                        fault: "\(others) other clients behind the same proxy during the hammering (X-Forwarded-For, a spoofed left-hand entry)",
                        tries: others * 21,
                        result: "every request answered 200/201, none refused; each client counted in its own bucket (X-RateLimit-Remaining "
                            + "\(perHour - 1) down to \(perHour - 21))"),
                ])
        }
    }
}
