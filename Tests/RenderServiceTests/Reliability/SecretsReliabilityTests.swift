import AsyncHTTPClient
import Foundation
import NIOHTTP1
import PostgresNIO
import Testing

/// The production stack (PostgreSQL, Redis, S3) with distinctive secrets: a walkthrough with API
/// keys, the usual errors, both processes' metrics, `aso-render config` and a failed start with a
/// wrong password. No secret may appear in any log line, body, header, metric or output.
@Suite(
    "Reliability: secrets, production stack", .serialized, .tags(.reliability), .timeLimit(.minutes(10)),
    .enabled(if: TestServers.hasPostgres && TestServers.hasRedis && TestServers.hasS3))
struct SecretsReliabilityTests {
    static let protectedRoutes = [
        ("GET", "/v1/size-presets"), ("GET", "/v1/styles"), ("POST", "/v1/renders"), ("GET", "/v1/renders/{id}"), ("GET", "/v1/renders/{id}/download"),
        ("GET", "/v1/renders/{id}/preview"), ("POST", "/v1/renders/{id}/cancel"),
    ]

    /// Every spelling of every protected route without its credential is refused; with it, most
    /// reach the route (proof that they are real paths to the handler). The requests tried.
    static func pathVariantAttack(api: ServerProcess, worker: ServerProcess, renderID: String, key: String, metricsToken: String) async throws -> Int {
        var tries = 0, reached = 0
        for (method, path) in protectedRoutes {
            for variant in SecurityTests.variants(of: path.replacingOccurrences(of: "{id}", with: renderID)) {
                let status = try await RawConnection.status(port: api.port, method, variant)
                tries += 1
                try #require(status == 401, "\(method) \(variant) without a key: \(status.map(String.init) ?? "no answer")")
                let authorized = try await RawConnection.status(port: api.port, method, variant, headers: ["Authorization: Bearer \(key)"])
                if authorized != 401 && authorized != 404 { reached += 1 }
            }
        }
        try #require(reached >= 4 * protectedRoutes.count, "only \(reached) spellings reached a route with the key")
        for port in [api.port, worker.port] {
            var metrics = 0
            for variant in SecurityTests.variants(of: "/metrics") {
                // The worker port has no API keys: a spelling that matches no route is a plain 404
                // there. Every spelling that reaches the metrics with the token is 401 without it.
                let withToken = try await RawConnection.status(port: port, "GET", variant, headers: ["Authorization: Bearer \(metricsToken)"])
                let status = try await RawConnection.status(port: port, "GET", variant)
                tries += 1
                try #require(
                    withToken == 200 ? status == 401 : [401, 404].contains(status),
                    "GET \(variant) on port \(port): \(status.map(String.init) ?? "none") without the token")
                if withToken == 200 { metrics += 1 }
            }
            try #require(metrics >= 4, "only \(metrics) spellings of /metrics reached it on port \(port)")
        }
        return tries
    }

    @Test func noSecretAppearsInAnyAnswerLogOrOutput() async throws {
        let (client, dropDatabase) = try await TestServers.postgresDatabase(migrated: false)
        var database = ""
        for try await name in try await client.query("SELECT current_database()", logger: TestServers.logger).decode(String.self) { database = name }
        let scratch = temporaryDirectory("secrets")
        let test = TestServers.environment
        let apiKey = "apikey-secret-5f0c2a9d7e13b4c6", otherKey = "apikey-secret-other-8d1e77aa02"
        var secrets = [
            "DB_PASSWORD": test["TEST_PG_PASSWORD"] ?? "", "REDIS_PASSWORD": test["TEST_REDIS_PASSWORD"] ?? "", "MINIO_SECRET_KEY": TestServers.s3SecretKey,
            "API_KEYS": apiKey, "other API key": otherKey, "METRICS_TOKEN": "metrics-secret-71c0d2",
            "URL_SIGNING_SECRET": "signing-secret-3e9b5a-0123456789abcdefghij",
        ]
        let environment = [
            "ASO_MODE": "production", "LOG_LEVEL": "DEBUG", "DB_HOST": test["TEST_PG_HOST"] ?? "", "DB_PORT": test["TEST_PG_PORT"] ?? "", "DB_NAME": database,
            "DB_USER": test["TEST_PG_USER"] ?? "", "DB_PASSWORD": secrets["DB_PASSWORD"]!, "REDIS_HOST": test["TEST_REDIS_HOST"] ?? "",
            "REDIS_PORT": test["TEST_REDIS_PORT"] ?? "", "REDIS_DB": "7", "REDIS_PASSWORD": secrets["REDIS_PASSWORD"]!,
            "MINIO_ENDPOINT": test["TEST_S3_ENDPOINT"] ?? "", "MINIO_ACCESS_KEY": TestServers.s3AccessKey, "MINIO_SECRET_KEY": secrets["MINIO_SECRET_KEY"]!,
            "MINIO_BUCKET": "secrets-\(database.suffix(8))", "API_KEYS": "\(apiKey),\(otherKey)", "METRICS_TOKEN": secrets["METRICS_TOKEN"]!,
            "MIGRATIONS_DIR": TestServers.migrations, "URL_SIGNING_SECRET": secrets["URL_SIGNING_SECRET"]!, "WORKER_METRICS_PORT": "0",
            "WORKER_COUNT": "1", "DATA_DIR": scratch,
        ]
        var seen: [String] = []  // every text the service produced
        func run(_ arguments: [String], _ extra: [String: String] = [:]) async throws -> Int32 {
            let output = "\(scratch)/command-output"
            let status = try await ChildProcess.run(
                ServerProcess.binary, arguments, environment: environment.merging(extra) { $1 }, timeout: .seconds(120), outputPath: output)
            let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            seen.append(text)
            return status
        }
        var exchanges = 0, variants = 0
        do {
            try #require(try await run(["migrate"]) == 0, "migrate failed")
            let api = try await ServerProcess(environment: environment)
            let worker = try await ServerProcess(environment: environment, arguments: ["worker", "render-queue"], ready: "Worker started")
            do {
                let auth = ["Authorization": "Bearer \(apiKey)"]
                func call(_ path: String, method: HTTPMethod = .GET, _ headers: [String: String] = [:], body: Data? = nil, on server: ServerProcess? = nil)
                    async throws -> Reply
                {
                    let reply = try await (server ?? api).request(path, method: method, headers: headers, body: body)
                    let head = reply.headers.map { "\($0.name): \($0.value)" }.joined(separator: "\n")
                    seen.append(head + String(decoding: reply.body, as: UTF8.self))
                    exchanges += 1
                    return reply
                }
                _ = try await call("/v1/size-presets", auth)
                _ = try await call("/v1/styles", auth)
                let form = MultipartBody.renderForm(try Data(contentsOf: URL(fileURLWithPath: Photos.dune)), filename: "my-photo.jpg", style: IDs.watercolor)
                let upload = auth.merging(["Content-Type": form.contentType, "Idempotency-Key": "walkthrough-1"]) { $1 }
                let created = try await call("/v1/renders", method: .POST, upload, body: form.finished())
                try #require(created.status == 201, "upload: \(created.status) \(String(decoding: created.body.prefix(200), as: UTF8.self))")
                let id = try #require(created.json["render_id"] as? String)
                try #require(try await call("/v1/renders/\(id)/download", auth).status == 409, "download before completion")
                let deadline = ContinuousClock.now + .seconds(300)
                var status = ""
                repeat {
                    status = try await call("/v1/renders/\(id)", auth).json["status"] as? String ?? ""
                    if status != "completed" && status != "failed" { try await Task.sleep(for: .milliseconds(500)) }
                } while status != "completed" && status != "failed" && ContinuousClock.now < deadline
                try #require(status == "completed", "render did not complete: \(status)")
                for route in ["download", "preview"] {
                    let url = try #require(try await call("/v1/renders/\(id)/\(route)", auth).json["url"] as? String)
                    let file = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(60))
                    let bytes = try await file.body.collect(upTo: 256 << 20).readableBytes
                    try #require(file.status == .ok && bytes > 10_000, "\(route) file: \(file.status)")
                    seen.append(url)
                }
                // The errors a client meets, with and without keys.
                _ = try await call("/v1/size-presets")
                _ = try await call("/v1/size-presets", ["Authorization": "Bearer \(apiKey)x"])
                _ = try await call("/v1/renders/not-a-uuid", auth)
                _ = try await call("/v1/renders/00000000-0000-4000-8000-000000000000", auth)
                _ = try await call("/v1/renders/\(id)", ["Authorization": "Bearer \(otherKey)"])
                var other = form
                other.field("seed", "7")
                _ = try await call("/v1/renders", method: .POST, upload.merging(["Content-Type": other.contentType]) { $1 }, body: other.finished())
                _ = try await call("/v1/size-presets", method: .DELETE, auth)
                let metrics = ["Authorization": "Bearer \(secrets["METRICS_TOKEN"]!)"]
                _ = try await call("/metrics")
                _ = try await call("/metrics", metrics)
                _ = try await call("/metrics", metrics, on: worker)
                _ = try await call("/health", on: worker)
                _ = try await call("/health")
                variants = try await Self.pathVariantAttack(api: api, worker: worker, renderID: id, key: apiKey, metricsToken: secrets["METRICS_TOKEN"]!)
                try #require(try await run(["config"]) == 0, "config failed")
                // A start that fails: the wrong password must not be echoed either.
                let wrong = "wrong-db-secret-a41f99"
                secrets["wrong DB_PASSWORD"] = wrong
                try #require(try await run(["migrate"], ["DB_PASSWORD": wrong]) != 0, "migrate with a wrong password succeeded")
            } catch {
                await api.terminate()
                await worker.terminate()
                throw error
            }
            await api.terminate()
            await worker.terminate()
            seen += [api.log, worker.log]
        } catch {
            await dropDatabase()
            try? FileManager.default.removeItem(atPath: scratch)
            throw error
        }
        await dropDatabase()
        try? FileManager.default.removeItem(atPath: scratch)
        let text = seen.joined(separator: "\n")
        let leaks = secrets.filter { text.contains($0.value) }.keys.sorted()
        try #require(leaks.isEmpty, "secrets found in the output: \(leaks)")
        try ReliabilityReport.record(
            .secrets,
            [
                ReliabilityRow(
                    fault: "path variants × every protected route, /metrics on the API and the worker port, production mode", tries: variants,
                    result: "401 for every spelling without the credential"),
                ReliabilityRow(
                    fault: "production walkthrough with distinctive DB, Redis, S3, API-key, metrics and signing secrets", tries: 1,
                    result:
                        "\(exchanges) responses, \(text.count { $0 == "\n" }) lines of logs and command output (DEBUG), `aso-render config`, a failed migrate "
                        + "with a wrong password: no secret in any of them"),
            ])
    }
}
