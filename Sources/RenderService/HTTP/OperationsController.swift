import Foundation
import Hummingbird
import Logging
import RenderEngine

/// Health checks, Prometheus metrics and the OpenAPI document.
struct OperationsController<Context: RequestContext>: Sendable {
    let store: MeasuredRenderStore
    let queue: any JobQueue
    let objects: any ObjectStore
    let webhookOutbox: any WebhookOutbox
    let metrics: ServiceMetrics
    let isMigrated: @Sendable () async throws -> Bool
    let publicBaseURL: URL
    /// The studio's Content-Security-Policy when the studio is on: `/` then shows it to browsers.
    let studioPolicy: String?

    func register(on routes: RouteRegistry<Context>) {
        registerProbes(on: routes)
        routes.get("/health/readiness", access: .open) { _, context in await self.readiness(logger: context.logger) }
        // Clients read the OpenAPI document before they have a key.
        routes.get("/v1/openapi.json", access: .open) { _, _ in self.openAPI() }
        routes.get("/", access: .open) { request, _ in
            // A browser gets the studio; API clients the index they always had.
            if let policy = studioPolicy, StudioController.wantsPage(request) { return try StudioController.serve(.shared, "index.html", policy: policy) }
            return JSONBody.response(
                .object([("service", .string("aso-render")), ("documentation", .string("/v1/openapi.json")), ("health", .string("/health"))]))
        }
    }

    /// Health, liveness and metrics: what an API process and a worker process both serve.
    func registerProbes(on routes: RouteRegistry<Context>) {
        routes.get("/health", access: .open) { _, context in await self.health(logger: context.logger) }
        routes.get("/health/liveness", access: .open) { _, _ in
            JSONBody.response(.object([("status", .string("alive")), ("timestamp", .string(Timestamps.rfc3339(Date())))]))
        }
        routes.get("/metrics", access: .metrics) { _, _ in await self.metrics() }
    }

    /// Each dependency checked with a deadline; any failure makes the whole answer 503.
    /// The answer is public, so it names the failing check but not its cause (hosts, paths,
    /// driver messages): that goes to the log.
    func health(logger: Logger) async -> Response {
        async let database = check("database", logger: logger) { try await store.ping() }
        async let queue = check("queue", logger: logger) { try await self.queue.ping() }
        async let storage = check("storage", logger: logger) { try await objects.ping() }
        let (d, q, s) = await (database, queue, storage)
        let healthy = d == "ok" && q == "ok" && s == "ok"
        // `redis` is the spec's name for the queue check; `queue` says what it is in any mode.
        let body = JSONValue.object([
            ("status", .string(healthy ? "healthy" : "unhealthy")),
            ("timestamp", .string(Timestamps.rfc3339(Date()))),
            ("checks", .object([("database", .string(d)), ("redis", .string(q)), ("queue", .string(q)), ("storage", .string(s))])),
        ])
        return JSONBody.response(body, status: healthy ? .ok : .serviceUnavailable)
    }

    func readiness(logger: Logger) async -> Response {
        let database = await check("database", logger: logger) { try await store.ping() }
        let migrated = (try? await isMigrated()) ?? false
        let ready = database == "ok" && migrated
        return JSONBody.response(
            .object([
                ("status", .string(ready ? "ready" : "not ready")), ("timestamp", .string(Timestamps.rfc3339(Date()))),
                ("checks", .object([("database", .string(database)), ("migrations", .string(migrated ? "ok" : "pending"))])),
            ]),
            status: ready ? .ok : .serviceUnavailable)
    }

    /// How long one dependency check may take before it counts as failed, so `/health`
    /// answers even when a dependency hangs.
    static var checkDeadlineSeconds: Int { 3 }
    /// Of a failed check's error text, what goes to the log (driver messages can be long).
    static var loggedErrorCharacters: Int { 500 }

    private func check(_ name: String, logger: Logger, _ probe: @escaping @Sendable () async throws -> Void) async -> String {
        await withTaskGroup(of: String.self) { group in
            group.addTask {
                do {
                    try await probe()
                    return "ok"
                } catch {
                    logger.warning(
                        "Health check failed", metadata: ["check": "\(name)", "error": "\(String(describing: error).prefix(Self.loggedErrorCharacters))"])
                    return "error: unavailable"
                }
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(Self.checkDeadlineSeconds))
                return "error: no answer within \(Self.checkDeadlineSeconds) s"
            }
            let first = await group.next() ?? "error"
            group.cancelAll()
            return first
        }
    }

    func metrics() async -> Response {
        if let depth = try? await queue.depth() { metrics.queueDepth(depth) }
        if let pending = try? await webhookOutbox.pending() { metrics.webhooksPending(pending.count, oldest: pending.oldest) }
        await store.recordConnections()
        metrics.gauge("process_resident_memory_bytes", Double(MemoryUsage.residentBytes()), help: "Resident memory of this process.")
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: metrics.exposition())))
    }

    func openAPI() -> Response {
        Response(
            status: .ok, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: OpenAPIDocument.data(serverURL: publicBaseURL))))
    }
}

/// The OpenAPI 3.0 document (Resources/openapi.json) with this deployment's server URL.
enum OpenAPIDocument {
    static let raw: Data = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json"), let data = try? Data(contentsOf: url) else {
            return Data("{}".utf8)
        }
        return data
    }()

    static func data(serverURL: URL) -> Data {
        guard var object = try? JSONSerialization.jsonObject(with: raw) as? [String: Any] else { return raw }
        object["servers"] = [["url": serverURL.absoluteString, "description": "This deployment"]]
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? raw
    }
}
