import Foundation
import Prometheus

/// The spec's Prometheus metrics, on a registry owned by one service instance (so tests can
/// run several instances in one process).
public final class ServiceMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let queueName: String

    static let requestBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
    ]
    static let jobBuckets: [Duration] = [
        .milliseconds(500), .seconds(1), .seconds(2), .seconds(5), .seconds(10), .seconds(20), .seconds(30), .seconds(60),
        .seconds(120), .seconds(300), .seconds(600),
    ]

    public init(queueName: String = "render-queue") {
        registry = PrometheusCollectorRegistry()
        self.queueName = queueName
        // Created up front so a scrape shows them at zero before the first job.
        _ = registry.makeCounter(descriptor: Self.describe("rq_jobs_processed_total", "Renders completed."), labels: [("queue", queueName)])
        _ = registry.makeCounter(descriptor: Self.describe("rq_jobs_failed_total", "Renders failed after their last attempt."), labels: [("queue", queueName)])
        _ = registry.makeCounter(
            descriptor: Self.describe("rq_jobs_retried_total", "Render attempts retried after a transient failure."), labels: [("queue", queueName)])
        _ = registry.makeCounter(
            descriptor: Self.describe("rq_jobs_rescued_total", "Renders re-queued after their worker stopped heartbeating."), labels: [("queue", queueName)])
        _ = registry.makeGauge(descriptor: Self.describe("rq_queue_depth", "Renders waiting to be claimed."), labels: [("queue", queueName)])
        _ = registry.makeGauge(descriptor: Self.describe("rq_jobs_in_progress", "Renders being worked on by this process."), labels: [("queue", queueName)])
        dbConnections(active: 0, idle: 0)
        for outcome in ["delivered", "retried", "failed", "refused"] {
            _ = registry.makeCounter(descriptor: Self.describe("webhook_deliveries_total", "Webhook attempts by outcome."), labels: [("outcome", outcome)])
        }
        webhooksPending(0, oldest: nil)
    }

    static let queryBuckets: [Duration] = [
        .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10),
        .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5),
    ]

    /// One render-store call (`operation` is the call's name, never SQL or an id).
    public func dbQuery(_ operation: String, duration: Duration) {
        registry.makeDurationHistogram(
            descriptor: Self.describe("db_query_duration_seconds", "Database call duration by operation."), labels: [("operation", operation)],
            buckets: Self.queryBuckets
        ).recordNanoseconds(duration.nanoseconds)
    }

    public func dbConnections(active: Int, idle: Int) {
        registry.makeGauge(descriptor: Self.describe("db_connections_active", "Database connections running a call for this process."), labels: []).set(
            Double(active))
        registry.makeGauge(descriptor: Self.describe("db_connections_idle", "Database connections this process holds open and unused."), labels: []).set(
            Double(idle))
    }

    public func request(method: String, endpoint: String, status: Int, duration: Duration) {
        registry.makeCounter(
            descriptor: Self.describe("http_requests_total", "HTTP requests by method, route template and status."),
            labels: [("method", method), ("endpoint", endpoint), ("status", String(status))]
        ).increment()
        registry.makeDurationHistogram(
            descriptor: Self.describe("http_request_duration_seconds", "HTTP request duration by route template."), labels: [("endpoint", endpoint)],
            buckets: Self.requestBuckets
        ).recordNanoseconds(duration.nanoseconds)
        if status >= 400 {
            registry.makeCounter(
                descriptor: Self.describe("http_errors_total", "HTTP error responses by route template and status."),
                labels: [("endpoint", endpoint), ("status", String(status))]
            ).increment()
        }
    }

    public func jobProcessed(duration: Duration) {
        registry.makeCounter(descriptor: Self.describe("rq_jobs_processed_total", "Renders completed."), labels: [("queue", queueName)]).increment()
        registry.makeDurationHistogram(
            descriptor: Self.describe("rq_job_duration_seconds", "Render duration from claim to completion."), labels: [("queue", queueName)],
            buckets: Self.jobBuckets
        ).recordNanoseconds(duration.nanoseconds)
    }

    public func jobFailed() {
        registry.makeCounter(descriptor: Self.describe("rq_jobs_failed_total", "Renders failed after their last attempt."), labels: [("queue", queueName)])
            .increment()
    }

    public func jobRetried() {
        registry.makeCounter(
            descriptor: Self.describe("rq_jobs_retried_total", "Render attempts retried after a transient failure."), labels: [("queue", queueName)]
        ).increment()
    }

    public func jobsRescued(_ count: Int) {
        guard count > 0 else { return }
        registry.makeCounter(
            descriptor: Self.describe("rq_jobs_rescued_total", "Renders re-queued after their worker stopped heartbeating."), labels: [("queue", queueName)]
        )
        .increment(by: Int64(count))
    }

    public func queueDepth(_ depth: Int) {
        registry.makeGauge(descriptor: Self.describe("rq_queue_depth", "Renders waiting to be claimed."), labels: [("queue", queueName)]).set(Double(depth))
    }

    public func jobsInProgress(_ count: Int) {
        registry.makeGauge(descriptor: Self.describe("rq_jobs_in_progress", "Renders being worked on by this process."), labels: [("queue", queueName)]).set(
            Double(count))
    }

    /// Stage timings reported by the engine (decode, style, print, preview).
    public func renderStage(_ stage: String, milliseconds: Double) {
        registry.makeDurationHistogram(
            descriptor: Self.describe("render_stage_duration_seconds", "Render engine time per stage."), labels: [("stage", stage)], buckets: Self.jobBuckets
        ).recordNanoseconds(Int64(milliseconds * 1_000_000))
    }

    /// A photo uploaded on its own (`POST /v1/assets`).
    public func assetUploaded() {
        registry.makeCounter(descriptor: Self.describe("assets_uploaded_total", "Photos uploaded with POST /v1/assets."), labels: []).increment()
    }

    /// A style preview rendered (a cache miss), and how long it took on its thread.
    public func previewRendered(style: String, duration: Duration) {
        registry.makeCounter(
            descriptor: Self.describe("preview_renders_total", "Style previews rendered (cache misses that rendered)."), labels: [("style", style)]
        )
        .increment()
        registry.makeDurationHistogram(
            descriptor: Self.describe("preview_render_duration_seconds", "Time to render one style preview, waiting for a thread included."),
            labels: [], buckets: Self.requestBuckets
        ).recordNanoseconds(duration.nanoseconds)
    }

    /// A style preview request answered from the cache (`hit`), rendered (`miss`), or
    /// answered 304 because the client's copy is current (`not_modified`).
    public func previewCache(_ result: String) {
        registry.makeCounter(descriptor: Self.describe("preview_cache_requests_total", "Style preview requests by cache result."), labels: [("result", result)])
            .increment()
    }

    /// Uploads refused with 503 because `MAX_QUEUED_RENDERS` renders were waiting.
    public func uploadRefused() {
        registry.makeCounter(descriptor: Self.describe("render_uploads_refused_total", "Uploads refused because the queue was full."), labels: []).increment()
    }

    /// A request refused with 429; `limit` is the bucket that refused it (`requests` or
    /// `uploads`).
    public func rateLimited(limit: String) {
        registry.makeCounter(
            descriptor: Self.describe("rate_limited_requests_total", "Requests refused with 429 by the rate limit that refused them."),
            labels: [("limit", limit)]
        )
        .increment()
    }

    /// A rate-limit decision made by this process's own counters because Redis could not
    /// answer (each replica then limits on its own).
    public func rateLimiterFallback() {
        registry.makeCounter(
            descriptor: Self.describe("rate_limiter_fallbacks_total", "Rate-limit decisions made in process because the shared limiter (Redis) failed."),
            labels: []
        )
        .increment()
    }

    /// Objects removed by the retention sweep (`kind`: original or output).
    public func objectsExpired(_ kind: String, count: Int) {
        guard count > 0 else { return }
        registry.makeCounter(
            descriptor: Self.describe("retention_objects_deleted_total", "Objects deleted at the end of their retention period."), labels: [("kind", kind)]
        )
        .increment(by: Int64(count))
    }

    static let webhookLagBuckets: [Duration] = [
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30),
        .seconds(60), .seconds(300), .seconds(900), .seconds(3600), .seconds(6 * 3600), .seconds(24 * 3600),
    ]

    /// A webhook attempt's outcome: `delivered`, `retried` (will be tried again), `failed` (given up
    /// after its retry window) or `refused` (its URL may not be delivered to).
    public func webhookOutcome(_ outcome: String) {
        registry.makeCounter(descriptor: Self.describe("webhook_deliveries_total", "Webhook attempts by outcome."), labels: [("outcome", outcome)]).increment()
    }

    /// A webhook delivered, `lag` seconds after its render reached its terminal status.
    public func webhookDelivered(lag: TimeInterval) {
        webhookOutcome("delivered")
        registry.makeDurationHistogram(
            descriptor: Self.describe("webhook_delivery_lag_seconds", "Time from a render's terminal status to its webhook's delivery."),
            labels: [], buckets: Self.webhookLagBuckets
        ).recordNanoseconds(Int64(max(0, lag) * 1_000_000_000))
    }

    /// Webhooks waiting for delivery, and the age of the oldest (0 when none).
    public func webhooksPending(_ count: Int, oldest: Date?) {
        registry.makeGauge(descriptor: Self.describe("webhook_deliveries_pending", "Webhook deliveries not yet delivered or given up."), labels: []).set(
            Double(count))
        registry.makeGauge(descriptor: Self.describe("webhook_oldest_pending_seconds", "Age of the oldest pending webhook delivery."), labels: [])
            .set(oldest.map { max(0, Date().timeIntervalSince($0)) } ?? 0)
    }

    public func gauge(_ name: String, _ value: Double, help: String) {
        registry.makeGauge(descriptor: Self.describe(name, help), labels: []).set(value)
    }

    static func describe(_ name: String, _ help: String) -> MetricNameDescriptor {
        // The full name goes in `metricName`; an empty unit adds nothing to it.
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    public func exposition() -> String { registry.emitToString() }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
