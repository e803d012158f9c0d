import Foundation
import Hummingbird
import RenderEngine

/// Health checks, Prometheus metrics and the OpenAPI document.
struct OperationsController<Context: RequestContext>: Sendable {
    let services: ServiceComponents

    func register(on router: Router<Context>, routes: RouteTable) {
        registerProbes(on: router, routes: routes)
        router.get("/health/readiness") { _, _ in await self.readiness() }
        router.get("/v1/openapi.json") { _, _ in self.openAPI() }
        router.get("/") { _, _ in
            JSONBody.response(.object([("service", .string("aso-render")), ("documentation", .string("/v1/openapi.json")), ("health", .string("/health"))]))
        }
        for path in ["/health/readiness", "/v1/openapi.json", "/"] {
            routes.add(.get, path)
        }
    }

    /// Health, liveness and metrics: what an API process and a worker process both serve.
    func registerProbes(on router: Router<Context>, routes: RouteTable) {
        router.get("/health") { _, _ in await self.health() }
        router.get("/health/liveness") { _, _ in
            JSONBody.response(.object([("status", .string("alive")), ("timestamp", .string(Timestamps.rfc3339(Date())))]))
        }
        router.get("/metrics") { _, _ in await self.metrics() }
        for path in ["/health", "/health/liveness", "/metrics"] {
            routes.add(.get, path)
        }
    }

    /// Each dependency checked with a deadline; any failure makes the whole answer 503.
    func health() async -> Response {
        async let database = check { try await services.store.ping() }
        async let queue = check { try await services.queue.ping() }
        async let storage = check { try await services.objects.ping() }
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

    func readiness() async -> Response {
        let database = await check { try await services.store.ping() }
        let migrated = (try? await services.isMigrated()) ?? false
        let ready = database == "ok" && migrated
        return JSONBody.response(
            .object([
                ("status", .string(ready ? "ready" : "not ready")), ("timestamp", .string(Timestamps.rfc3339(Date()))),
                ("checks", .object([("database", .string(database)), ("migrations", .string(migrated ? "ok" : "pending"))])),
            ]),
            status: ready ? .ok : .serviceUnavailable)
    }

    private func check(_ probe: @escaping @Sendable () async throws -> Void) async -> String {
        await withTaskGroup(of: String.self) { group in
            group.addTask {
                do {
                    try await probe()
                    return "ok"
                } catch {
                    return "error: \(HealthText.describe(error))"
                }
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(3))
                return "error: timed out after 3 s"
            }
            let first = await group.next() ?? "error"
            group.cancelAll()
            return first
        }
    }

    func metrics() async -> Response {
        if let depth = try? await services.queue.depth() { services.metrics.queueDepth(depth) }
        services.metrics.gauge("process_resident_memory_bytes", Double(MemoryUsage.residentBytes()), help: "Resident memory of this process.")
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: services.metrics.exposition())))
    }

    func openAPI() -> Response {
        Response(
            status: .ok, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: OpenAPIDocument.data(serverURL: services.configuration.publicBaseURL))))
    }
}

/// Error text for health answers: the kind of failure, never connection strings or secrets.
enum HealthText {
    static func describe(_ error: any Error) -> String {
        let text = String(describing: error)
        return String(text.prefix(200))
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
