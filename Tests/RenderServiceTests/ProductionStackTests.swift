import AsyncHTTPClient
import Foundation
import NIOCore
import PostgresNIO
import RenderEngine
import Synchronization
import Testing

@testable import RenderService

/// The spec's deployment for real: one API process and two worker processes on PostgreSQL,
/// Redis and S3 (SeaweedFS, signatures checked), with faults injected. Needs `scripts/test-servers.sh` (run by make test).
@Suite(
    "Production stack (separate processes)", .serialized, .timeLimit(.minutes(15)),
    .enabled(if: TestServers.hasPostgres && TestServers.hasRedis && TestServers.hasS3))
struct ProductionStackTests {
    /// Environment for API and worker processes against a fresh database and bucket.
    struct Deployment {
        let environment: [String: String]
        let dataDirectory: String
        let cleanUp: @Sendable () async -> Void
        /// Every process started for this deployment, stopped when the test ends.
        let processes = ProcessRegistry()

        /// A fresh deployment for `body`; its processes are stopped and its database dropped
        /// afterwards, whether `body` passed or threw.
        static func with(overrides: [String: String] = [:], name: String = #function, _ body: (Deployment) async throws -> Void) async throws {
            let deployment = try await make(overrides: overrides, name: name)
            do {
                try await body(deployment)
            } catch {
                await deployment.tearDown()
                throw error
            }
            await deployment.tearDown()
        }

        func tearDown() async {
            for process in processes.all { await process.terminate() }
            await cleanUp()
        }

        func api() async throws -> ServerProcess {
            let process = try await ServerProcess(environment: environment)
            processes.add(process)
            return process
        }

        static func make(overrides: [String: String] = [:], name: String = #function) async throws -> Deployment {
            let (client, dropDatabase) = try await TestServers.postgresDatabase()
            var database = ""
            for try await name in try await client.query("SELECT current_database()", logger: TestServers.logger).decode(String.self) { database = name }
            let redis = RedisClient(configuration: TestServers.redisConfiguration)
            let redisDB = 3
            try await redis.command("SELECT", String(redisDB))
            try await redis.command("FLUSHDB")
            await redis.close()
            let directory = temporaryDirectory(name)
            var environment = [
                "ASO_MODE": "production", "LOG_LEVEL": "INFO", "ALLOW_ANONYMOUS": "true",
                "DB_HOST": TestServers.environment["TEST_PG_HOST"]!, "DB_PORT": TestServers.environment["TEST_PG_PORT"]!,
                "DB_NAME": database, "DB_USER": TestServers.environment["TEST_PG_USER"]!, "DB_PASSWORD": TestServers.environment["TEST_PG_PASSWORD"]!,
                "REDIS_HOST": TestServers.environment["TEST_REDIS_HOST"]!, "REDIS_PORT": TestServers.environment["TEST_REDIS_PORT"]!,
                "REDIS_DB": String(redisDB), "REDIS_PASSWORD": TestServers.environment["TEST_REDIS_PASSWORD"]!,
                "MINIO_ENDPOINT": TestServers.environment["TEST_S3_ENDPOINT"]!, "MINIO_ACCESS_KEY": TestServers.s3AccessKey,
                "MINIO_SECRET_KEY": TestServers.s3SecretKey, "MINIO_BUCKET": "prod-\(UUID().uuidString.prefix(8).lowercased())",
                "MIGRATIONS_DIR": TestServers.migrations, "WORKER_COUNT": "1", "RENDER_LEASE_SECONDS": "6",
                "DATA_DIR": directory,
            ]
            environment.merge(overrides) { $1 }
            return Deployment(
                environment: environment, dataDirectory: directory,
                cleanUp: {
                    await dropDatabase()
                    try? FileManager.default.removeItem(atPath: directory)
                })
        }

        func worker(_ index: Int, overrides: [String: String] = [:]) async throws -> ServerProcess {
            var env = environment
            env["DATA_DIR"] = "\(dataDirectory)/worker-\(index)"
            env["WORKER_METRICS_PORT"] = "0"
            env.merge(overrides) { $1 }
            let process = try await ServerProcess(environment: env, arguments: ["worker", "render-queue"], ready: "Worker started")
            processes.add(process)
            return process
        }
    }

    static func json(_ url: String) async throws -> (status: Int, body: [String: Any]) {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(15))
        let body = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), (try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any]) ?? [:])
    }

    /// A counter from a worker process's own /metrics.
    static func counter(_ name: String, at worker: ServerProcess) async throws -> Int {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "\(worker.baseURL)/metrics"), timeout: .seconds(10))
        let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
        let line = text.split(separator: "\n").first { $0.hasPrefix(name + "{") || $0.hasPrefix(name + " ") }
        return line.flatMap { $0.split(separator: " ").last }.flatMap { Double($0) }.map { Int($0) } ?? -1
    }

    /// A 24x36 render, long enough to interrupt, once a worker has started it.
    static func uploadLongRenderAndWaitUntilProcessing(_ base: String) async throws -> String {
        let id = try await upload(base, photo: Photos.elephants, preset: IDs.preset24x36)
        var processing = false
        for _ in 0..<200 where !processing {
            processing = try await json("\(base)/v1/renders/\(id)").body["status"] as? String == "processing"
            if !processing { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(processing)
        return id
    }

    static func upload(
        _ base: String, photo: String = Photos.dune, style: String = IDs.photo, preset: String? = IDs.preset9x12, extra: [String: String] = [:]
    ) async throws -> String {
        let body = try MultipartBody.render(photo: photo, style: style, preset: preset, extra: extra)
        let response = try await body.post(to: "\(base)/v1/renders")
        let data = try await response.body.collect(upTo: 1 << 16)
        #expect(response.status.code == 201, "\(String(buffer: data))")
        let object = try JSONSerialization.jsonObject(with: Data(buffer: data)) as? [String: Any]
        return try #require(object?["render_id"] as? String)
    }

    /// Polls until every render is completed or failed.
    static func waitForAll(_ base: String, _ ids: [String], timeout: Duration = .seconds(240)) async throws -> [String: [String: Any]] {
        let deadline = ContinuousClock.now + timeout
        var results: [String: [String: Any]] = [:]
        while ContinuousClock.now < deadline {
            results = [:]
            for id in ids { results[id] = (try? await json("\(base)/v1/renders/\(id)"))?.body }
            if results.values.allSatisfy({ ["completed", "failed"].contains($0["status"] as? String ?? "") }) { break }
            try await Task.sleep(for: .milliseconds(500))
        }
        return results
    }

    @Test func walkthroughWithOneAPIAndTwoWorkers() async throws {
        try await Deployment.with { deployment in
            let api = try await deployment.api()
            let workers = [try await deployment.worker(1), try await deployment.worker(2)]
            let health = try await Self.json("\(api.baseURL)/health")
            #expect(health.status == 200)
            #expect(health.body["checks"] as? [String: String] == ["database": "ok", "redis": "ok", "queue": "ok", "storage": "ok"])
            let presets = try await HTTPClient.shared.execute(HTTPClientRequest(url: "\(api.baseURL)/v1/size-presets"), timeout: .seconds(10))
            #expect(presets.status.code == 200)

            var ids: [String] = []
            for index in 0..<4 {
                ids.append(try await Self.upload(api.baseURL, photo: [Photos.dune, Photos.storm][index % 2], style: index == 0 ? IDs.watercolor : IDs.photo))
            }
            let results = try await Self.waitForAll(api.baseURL, ids)
            for id in ids {
                #expect(results[id]?["status"] as? String == "completed", "\(id): \(results[id] ?? [:])")
            }
            // Each worker serves its own counters; together they account for every render.
            var processed = 0
            for worker in workers { processed += try await Self.counter("rq_jobs_processed_total", at: worker) }
            #expect(processed == ids.count)
            // PostgreSQL's pool as the API process holds it, and its calls by operation.
            let apiMetrics = String(
                buffer: try await HTTPClient.shared.execute(HTTPClientRequest(url: "\(api.baseURL)/metrics"), timeout: .seconds(10)).body.collect(upTo: 1 << 20)
            )
            #expect(apiMetrics.contains(#"db_query_duration_seconds_count{operation="create"} 4"#), "\(apiMetrics)")
            let idle = apiMetrics.split(separator: "\n").first { $0.hasPrefix("db_connections_idle ") }.flatMap { Double($0.split(separator: " ")[1]) } ?? 0
            #expect(idle >= 1 && idle <= 10, "DB_POOL_MAX bounds the open connections: \(idle)")
            #expect(try await Self.counter("db_query_duration_seconds_count", at: workers[0]) > 0, "workers time their calls too")
            // Both workers took part.
            let served = workers.map { worker in ids.filter { worker.log.contains("\"render_id\":\"\($0)\"") }.count }
            #expect(served.allSatisfy { $0 >= 1 }, "renders per worker: \(served)")

            // The download URL is presigned for S3 and fetches the 300 DPI TIFF.
            let link = try await Self.json("\(api.baseURL)/v1/renders/\(ids[1])/download")
            #expect(link.body["expires_in"] as? Int == 604800)
            let url = try #require(link.body["url"] as? String)
            #expect(url.contains("X-Amz-Signature=") && url.contains("response-content-disposition="))
            let file = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(60))
            #expect(file.status.code == 200)
            let tiff = try await file.body.collect(upTo: 200 << 20)
            let path = "\(deployment.dataDirectory)/downloaded.tiff"
            try Data(buffer: tiff).write(to: URL(fileURLWithPath: path))
            let probe = try ImageProbe.read(path: path)
            #expect(probe.format == .tiff && probe.width == 3600 && probe.height == 2700)
            // No secret in any log line.
            for log in [api.log] + workers.map(\.log) {
                #expect(
                    !log.contains(deployment.environment["DB_PASSWORD"]!) && !log.contains(TestServers.s3SecretKey)
                        && !log.contains(deployment.environment["REDIS_PASSWORD"]!))
            }
        }
    }

    @Test func sigkilledWorkerMidRenderIsRescuedByTheOther() async throws {
        try await Deployment.with { deployment in
            let api = try await deployment.api()
            let first = try await deployment.worker(1)
            let id = try await Self.uploadLongRenderAndWaitUntilProcessing(api.baseURL)
            await first.kill()
            let second = try await deployment.worker(2)
            let result = try await Self.waitForAll(api.baseURL, [id])
            #expect(result[id]?["status"] as? String == "completed", "\(result[id] ?? [:])")
            #expect(second.log.contains("Re-queued renders whose worker stopped"), "the survivor counted a rescue")
            #expect(try await Self.counter("rq_jobs_rescued_total", at: second) == 1)
            #expect(try await Self.counter("rq_jobs_processed_total", at: second) == 1)
            #expect(second.log.contains("\"render_id\":\"\(id)\"") && second.log.contains("Render completed"))
        }
    }

    @Test func cancelStopsARenderInProgressOnItsWorker() async throws {
        try await Deployment.with { deployment in
            let api = try await deployment.api()
            let worker = try await deployment.worker(1)
            let id = try await Self.uploadLongRenderAndWaitUntilProcessing(api.baseURL)
            var request = HTTPClientRequest(url: "\(api.baseURL)/v1/renders/\(id)/cancel")
            request.method = .POST
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            #expect(response.status.code == 200)
            // The worker, in another process, hears of it through PostgreSQL's NOTIFY (its
            // safety-net re-read is every 10 s), stops at its next checkpoint and discards the work.
            let canceledAt = ContinuousClock.now
            var stopped = false
            for _ in 0..<300 where !stopped {
                stopped = worker.log.contains("Render canceled by the customer")
                if !stopped { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(stopped, "worker log: \(worker.log.suffix(2000))")
            #expect(ContinuousClock.now - canceledAt < .seconds(6), "the worker stopped \(ContinuousClock.now - canceledAt) after the cancel")
            #expect(try await Self.json("\(api.baseURL)/v1/renders/\(id)").body["status"] as? String == "canceled")
            let store = S3ObjectStore(configuration: TestServers.s3Configuration(bucket: deployment.environment["MINIO_BUCKET"]!))
            #expect(try await store.head(key: ObjectKeys.output(render: UUID(uuidString: id)!)) == nil)
        }
    }

    @Test func rendersQueuedInTheDatabaseButMissingFromRedisAreReEnqueued() async throws {
        try await Deployment.with { deployment in
            let api = try await deployment.api()
            let ids = [try await Self.upload(api.baseURL), try await Self.upload(api.baseURL)]
            // Redis loses its data, as after a restart without its append-only file.
            let redis = RedisClient(configuration: TestServers.redisConfiguration)
            try await redis.command("SELECT", deployment.environment["REDIS_DB"]!)
            try await redis.command("FLUSHDB")
            await redis.close()
            let worker = try await deployment.worker(1)
            let results = try await Self.waitForAll(api.baseURL, ids)
            #expect(ids.allSatisfy { results[$0]?["status"] as? String == "completed" }, "\(results)")
            #expect(worker.log.contains("Re-enqueued a render missing from the queue"))
        }
    }

    @Test func redisAndPostgresRestartsUnderLoadLoseNothing() async throws {
        try await Deployment.with { deployment in
            let api = try await deployment.api()
            _ = [try await deployment.worker(1), try await deployment.worker(2)]
            var ids: [String] = []
            for _ in 0..<4 { ids.append(try await Self.upload(api.baseURL)) }

            try await TestServers.control("stop-redis")
            let redisDown = try await Self.json("\(api.baseURL)/health")
            #expect(redisDown.status == 503)
            #expect((redisDown.body["checks"] as? [String: String])?["redis"]?.hasPrefix("error") == true)
            try await TestServers.control("start-redis")
            for _ in 0..<2 { ids.append(try await Self.upload(api.baseURL)) }

            try await TestServers.control("stop-postgres")
            let databaseDown = try await Self.json("\(api.baseURL)/health")
            #expect(databaseDown.status == 503)
            #expect((databaseDown.body["checks"] as? [String: String])?["database"]?.hasPrefix("error") == true)
            try await TestServers.control("start-postgres")

            var healthy = false
            for _ in 0..<60 where !healthy {
                healthy = (try? await Self.json("\(api.baseURL)/health"))?.status == 200
                if !healthy { try await Task.sleep(for: .milliseconds(500)) }
            }
            #expect(healthy, "health back to 200 after both restarts")
            for _ in 0..<2 { ids.append(try await Self.upload(api.baseURL)) }
            let results = try await Self.waitForAll(api.baseURL, ids)
            let statuses = ids.map { results[$0]?["status"] as? String ?? "?" }
            #expect(statuses.allSatisfy { $0 == "completed" }, "no render lost or stuck: \(statuses)")
        }
    }

    @Test func unreachableStorageFailsTheRenderClearlyAfterRetries() async throws {
        try await Deployment.with { deployment in
            let api = try await deployment.api()
            // This worker's S3 endpoint is a closed port: every attempt fails.
            _ = try await deployment.worker(1, overrides: ["MINIO_ENDPOINT": "127.0.0.1:9", "RENDER_MAX_ATTEMPTS": "2"])
            let id = try await Self.upload(api.baseURL)
            let result = try await Self.waitForAll(api.baseURL, [id], timeout: .seconds(90))
            #expect(result[id]?["status"] as? String == "failed")
            let message = result[id]?["error_message"] as? String ?? ""
            #expect(message.hasPrefix("Rendering failed after 2 attempts"), "\(message)")
            let download = try await Self.json("\(api.baseURL)/v1/renders/\(id)/download")
            #expect(download.status == 409)
            // Nothing half-written: the bucket has the original and no render outputs.
            let store = S3ObjectStore(configuration: TestServers.s3Configuration(bucket: deployment.environment["MINIO_BUCKET"]!))
            #expect(try await store.head(key: ObjectKeys.output(render: UUID(uuidString: id)!)) == nil)
            #expect(try await store.head(key: ObjectKeys.preview(render: UUID(uuidString: id)!)) == nil)
        }
    }
}

extension TestServers {
    /// scripts/test-servers.sh with one command (stop-redis, start-postgres, …).
    static func control(_ command: String) async throws {
        let status = try await ChildProcess.run(
            root.appendingPathComponent("scripts/test-servers.sh").path, [command],
            environment: [
                "ASO_TEST_SERVERS": environment["TEST_SERVERS_DIR"] ?? "/tmp/aso-test-servers",
                // The script's ports are those of the servers this run started, whatever the caller exported.
                "ASO_TEST_PG_PORT": environment["TEST_PG_PORT"] ?? "", "ASO_TEST_REDIS_PORT": environment["TEST_REDIS_PORT"] ?? "",
                "ASO_TEST_REDIS_TLS_PORT": environment["TEST_REDIS_TLS_PORT"] ?? "",
                "ASO_TEST_S3_PORT": URLComponents(string: environment["TEST_S3_ENDPOINT"] ?? "")?.port.map(String.init) ?? "",
                "ASO_TEST_S3_INTERNAL_PORTS": environment["TEST_S3_INTERNAL_PORTS"] ?? "",
            ].filter { !$0.value.isEmpty })
        guard status == 0 else { throw ChildProcess.Failure(description: "test-servers.sh \(command) exited with \(status)") }
    }
}

final class ProcessRegistry: Sendable {
    private let list = Mutex<[ServerProcess]>([])
    func add(_ process: ServerProcess) { list.withLock { $0.append(process) } }
    var all: [ServerProcess] { list.withLock { $0 } }
}
