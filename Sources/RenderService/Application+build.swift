import Foundation
import Hummingbird
import Logging
import NIOCore
import RenderEngine
import ServiceLifecycle

/// The HTTP applications over a set of components, for `Deployment.api` and `Deployment.workerProcess`.
enum RenderServiceApplication {
    /// The router, its routes recorded in `routes` (for 405 answers, access rules and tests).
    static func router(_ services: ServiceComponents, routes: RouteTable) -> Router<RenderRequestContext> {
        let router = Router(context: RenderRequestContext.self)
        // Middleware first: Hummingbird applies it to the routes registered after it.
        router.middlewares.add(MetricsMiddleware(metrics: services.metrics))
        router.middlewares.add(CORSMiddleware(allowedOrigins: Set(services.configuration.corsAllowedOrigins)))
        // Outside the error middleware, so its headers reach every /v1 answer, errors included.
        if services.configuration.rateLimits.isEnabled {
            router.middlewares.add(
                RateLimitMiddleware(
                    limiter: services.rateLimiter, settings: services.configuration.rateLimits, keys: services.configuration.apiKeys,
                    metrics: services.metrics))
        }
        router.middlewares.add(ErrorMiddleware(routes: routes))
        router.middlewares.add(AccessControlMiddleware(keys: services.configuration.apiKeys, metricsToken: services.configuration.metricsToken, routes: routes))
        let registry = RouteRegistry(router: router, table: routes)
        let configuration = services.configuration
        let intake = services.intake
        let spool = UploadSpool(directory: services.uploadDirectory, configuration: configuration)
        RenderController(
            intake: intake, spool: spool, store: services.store, changes: services.store.changes, objects: services.objects,
            rendersHaveOwners: configuration.apiKeys.isEnabled, downloadURLExpiry: configuration.downloadURLExpiry
        ).register(on: registry)
        AssetController(intake: intake, spool: spool, previews: services.previews, metrics: services.metrics).register(on: registry)
        let studioPolicy = configuration.studioEnabled ? StudioController.contentSecurityPolicy(configuration) : nil
        if let studioPolicy {
            StudioController(policy: studioPolicy, keysRequired: configuration.apiKeys.isEnabled).register(on: registry)
        }
        CatalogController<RenderRequestContext>().register(on: registry)
        operations(services, studioPolicy: studioPolicy).register(on: registry)
        if let files = services.localFiles {
            FilesController<RenderRequestContext>(store: files.store, signer: files.signer).register(on: registry)
        }
        return router
    }

    /// Connections with nothing to say for this long are closed (slow clients).
    static let idleConnectionTimeout: TimeAmount = .seconds(75)

    /// The server plus, when `workers` is given, the render workers as a lifecycle service.
    /// `dependencies` (e.g. the PostgreSQL pool) run in the same service group; `prepare` runs
    /// once they are up, before the server accepts requests.
    static func build(
        _ services: ServiceComponents, workers: RenderWorkers?, dependencies: [any Service] = [],
        prepare: (@Sendable () async throws -> Void)? = nil, logger: Logger, onServerRunning: (@Sendable (Int) async -> Void)? = nil
    ) -> some ApplicationProtocol {
        var app = Application(
            router: router(services, routes: RouteTable()),
            server: .http1(
                configuration: .init(
                    additionalChannelHandlers: [ExpectContinueHandler(maxBodyBytes: services.configuration.maxRequestBytes)],
                    idleTimeout: idleConnectionTimeout)),
            configuration: .init(address: .hostname(services.configuration.host, port: services.configuration.port), serverName: "aso-render"),
            onServerRunning: { channel in await onServerRunning?(channel.localAddress?.port ?? 0) },
            logger: logger)
        app.addServices(dependencies)
        app.addServices(services.retentionSweeper(logger: logger))
        app.addServices(services.webhookDeliverer(logger: logger))
        if let workers { app.addServices(workers) }
        if let prepare { app.beforeServerStarts(perform: prepare) }
        return app
    }

    /// What a worker process serves (`WORKER_METRICS_PORT`): its own counters (processed,
    /// failed, rescued, durations; Prometheus sums them across workers), the queue depth, and
    /// health checks for an orchestrator's probes. The render workers and `dependencies` run
    /// in the same service group.
    static func workerProcess(
        _ services: ServiceComponents, workers: RenderWorkers, dependencies: [any Service], logger: Logger,
        onServerRunning: (@Sendable (Int) async -> Void)? = nil
    ) -> some ApplicationProtocol {
        let router = Router(context: RenderRequestContext.self)
        let routes = RouteTable()
        router.middlewares.add(ErrorMiddleware(routes: routes))
        router.middlewares.add(AccessControlMiddleware(keys: APIKeys.none, metricsToken: services.configuration.metricsToken, routes: routes))
        operations(services, studioPolicy: nil).registerProbes(on: RouteRegistry(router: router, table: routes))
        var app = Application(
            router: router,
            configuration: .init(
                address: .hostname(services.configuration.host, port: services.configuration.workerMetricsPort), serverName: "aso-render-worker"),
            onServerRunning: { channel in await onServerRunning?(channel.localAddress?.port ?? 0) },
            logger: logger)
        app.addServices(dependencies)
        app.addServices(services.webhookDeliverer(logger: logger))
        app.addServices(workers)
        return app
    }

    static func operations(_ services: ServiceComponents, studioPolicy: String?) -> OperationsController<RenderRequestContext> {
        OperationsController(
            store: services.store, queue: services.queue, objects: services.objects, webhookOutbox: services.webhookOutbox, metrics: services.metrics,
            isMigrated: services.migrationCheck, publicBaseURL: services.configuration.publicBaseURL, studioPolicy: studioPolicy)
    }
}
