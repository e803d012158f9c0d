import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle

/// Delivers the outbox's webhooks (a lifecycle service in every `serve` and `worker` process):
/// claims due deliveries, POSTs each signed per Standard Webhooks, and records the outcome —
/// delivered on a 2xx; on anything else (a 5xx, 4xx, timeout or refused connection) retried with
/// exponential backoff and full jitter until `retryWindow` after the event, then `failed`.
/// On graceful shutdown it stops claiming and lets the attempts in flight finish (each is bounded
/// by the timeout); an attempt cut short is claimed again once its lease runs out.
///
/// Nothing polls the outbox: with nothing to claim it sleeps until a delivery is written
/// (`wake`) or the earliest pending one falls due, and at most `safetyNet`, which bounds what a
/// missed notice costs.
public struct WebhookDeliverer: Service {
    let outbox: any WebhookOutbox
    let store: any RenderStore
    let settings: WebhookSettings
    let metrics: ServiceMetrics
    let logger: Logger
    /// This deliverer's lease name.
    let worker: String
    /// Notified when a delivery is written: `MeasuredRenderStore.deliveries`, which the
    /// production change listener also feeds with other processes' deliveries.
    let wake: WorkSignal
    let safetyNet: Duration

    public init(
        outbox: any WebhookOutbox, store: any RenderStore, settings: WebhookSettings, metrics: ServiceMetrics, logger: Logger, wake: WorkSignal,
        safetyNet: Duration = .seconds(30)
    ) {
        self.outbox = outbox
        self.store = store
        self.settings = settings
        self.metrics = metrics
        self.logger = logger
        self.wake = wake
        self.safetyNet = safetyNet
        worker = "\(ProcessInfo.processInfo.hostName)-\(getpid())-\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// Long enough for an attempt and its bookkeeping; a lease that runs out means the process died.
    var lease: Duration { settings.timeout * 2 + Self.bookkeepingAllowance }
    static let bookkeepingAllowance: Duration = .seconds(30)
    /// How soon an unreachable outbox is tried again.
    static let outageRetry: Duration = .seconds(1)
    /// An unreachable outbox is logged at most this often.
    static let complaintInterval: Duration = .seconds(60)

    public func run() async throws {
        // The outbox may be unreachable for a while (a database restart, or migrations still
        // running at start): said once a `complaintInterval`, not once a try.
        var lastComplaint: ContinuousClock.Instant?
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let batch: [WebhookDelivery]
            do {
                batch = try await outbox.claimDue(now: Date(), limit: settings.concurrency, worker: worker, lease: lease)
                lastComplaint = nil
            } catch {
                if lastComplaint.map({ ContinuousClock.now - $0 > Self.complaintInterval }) ?? true {
                    lastComplaint = .now
                    logger.warning("Webhook outbox unavailable; retrying", metadata: ["error": "\(error)"])
                }
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: Self.outageRetry) }
                continue
            }
            if batch.isEmpty {
                let pause = await idlePause()
                await cancelWhenGracefulShutdown { await wake.wait(timeout: pause) }
                continue
            }
            await withTaskGroup(of: Void.self) { group in
                for delivery in batch { group.addTask { await attempt(delivery) } }
            }
        }
    }

    /// With nothing to claim: until the earliest pending delivery can be claimed, at most
    /// `safetyNet`.
    func idlePause() async -> Duration {
        guard let pending = try? await outbox.pending() else { return Self.outageRetry }
        guard let next = pending.nextAttempt else { return safetyNet }
        return min(safetyNet, .milliseconds(max(0, Int((next.timeIntervalSinceNow * 1000).rounded(.up)))))
    }

    /// One attempt of one delivery, recorded whatever happens.
    func attempt(_ delivery: WebhookDelivery) async {
        let metadata: Logger.Metadata = [
            "webhook_id": "\(delivery.id.lowercased)", "render_id": "\(delivery.renderID.lowercased)", "event": "\(delivery.event)",
            "attempt": "\(delivery.attempts)",
        ]
        let outcome: WebhookSender.Outcome
        if let secret = settings.secret(owner: delivery.owner) {
            do {
                if let render = try await store.render(id: delivery.renderID) {
                    let body = Self.payload(delivery, render)
                    outcome = await WebhookSender(settings: settings).send(delivery, body: body, secret: secret)
                } else {
                    outcome = .refused("the render no longer exists")
                }
            } catch {
                outcome = .retry("render store unavailable")
            }
        } else {
            outcome = .refused("no webhook secret is configured (WEBHOOK_SECRET)")
        }
        let now = Date()
        do {
            switch outcome {
            case .delivered(let status):
                if try await outbox.markDelivered(delivery, worker: worker, at: now) {
                    metrics.webhookDelivered(lag: now.timeIntervalSince(delivery.createdAt))
                    logger.info("Webhook delivered", metadata: metadata.merging(["status": "\(status)"]) { $1 })
                }
            case .refused(let reason):
                if try await outbox.markFailed(delivery, worker: worker, error: reason, at: now) {
                    metrics.webhookOutcome("refused")
                    logger.warning("Webhook refused", metadata: metadata.merging(["reason": "\(reason)"]) { $1 })
                }
            case .retry(let reason):
                let next = now.addingTimeInterval(Self.delay(attempt: delivery.attempts, settings: settings).seconds)
                if next.timeIntervalSince(delivery.createdAt) > settings.retryWindow.seconds {
                    if try await outbox.markFailed(delivery, worker: worker, error: reason, at: now) {
                        metrics.webhookOutcome("failed")
                        logger.warning("Webhook given up after its retry window", metadata: metadata.merging(["reason": "\(reason)"]) { $1 })
                    }
                } else if try await outbox.scheduleRetry(delivery, worker: worker, next: next, error: reason) {
                    metrics.webhookOutcome("retried")
                    logger.info(
                        "Webhook attempt failed; retrying",
                        metadata: metadata.merging(["reason": "\(reason)", "next_attempt_at": "\(Timestamps.rfc3339(next))"]) { $1 })
                }
            }
        } catch {
            // The lease runs out and another attempt follows: at least once.
            logger.error("Could not record a webhook attempt", metadata: metadata.merging(["error": "\(error)"]) { $1 })
        }
    }

    /// The wait before the attempt after attempt `n`: random in 0…min(cap, base·2ⁿ⁻¹) ("full
    /// jitter"), but at least a second, so a receiver that fails fast is never hammered.
    static func delay(attempt: Int, settings: WebhookSettings) -> Duration {
        let ceiling = min(settings.retryCap.seconds, settings.retryBase.seconds * pow(2, Double(min(max(0, attempt - 1), 40))))
        return .milliseconds(Int(max(1, Double.random(in: 0...ceiling)) * 1000))
    }

    /// `{"type": "render.completed", "timestamp": …, "data": <the render, as GET /v1/renders/{id}>}`.
    static func payload(_ delivery: WebhookDelivery, _ render: RenderRecord) -> Data {
        let value = JSONValue.object([
            ("type", .string(delivery.event)), ("timestamp", .string(Timestamps.rfc3339(delivery.createdAt))),
            ("data", RenderJSON.object(render)),
        ])
        return Data(value.buffer.readableBytesView)
    }
}

/// One signed POST to a receiver, to the address `WebhookAddress` checked.
struct WebhookSender {
    /// Of a receiver's answer, what is read (and dropped) before the connection is reused.
    static let maxAnswerBytes = 64 * 1024
    enum Outcome: Equatable {
        case delivered(Int)
        case retry(String)
        /// Not worth retrying: the URL is refused.
        case refused(String)
    }

    let settings: WebhookSettings

    func send(_ delivery: WebhookDelivery, body: Data, secret: WebhookSecret) async -> Outcome {
        let url: URL
        do { url = try WebhookURL.parse(delivery.url) } catch { return .refused(error.message) }
        let host = url.host ?? ""
        let address: String
        do {
            address = try await WebhookAddress.resolve(host: host, allowPrivate: settings.allowPrivate)
        } catch {
            // A name that stops resolving may come back; a public name now pointing inside is refused.
            return error.message.contains("does not resolve") ? .retry(error.message) : .refused(error.message)
        }
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.timeout = .init(connect: .init(settings.timeout), read: .init(settings.timeout))
        configuration.dnsOverride = [host: address]
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        let outcome = await post(url, delivery, body: body, secret: secret, client: client)
        try? await client.shutdown()
        return outcome
    }

    private func post(_ url: URL, _ delivery: WebhookDelivery, body: Data, secret: WebhookSecret, client: HTTPClient) async -> Outcome {
        let timestamp = Int(Date().timeIntervalSince1970)
        let id = delivery.id.lowercased
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = .POST
        request.headers = [
            "Content-Type": "application/json", "User-Agent": "aso-render-webhooks/1",
            "webhook-id": id, "webhook-timestamp": String(timestamp),
            "webhook-signature": secret.signature(id: id, timestamp: timestamp, body: body),
            "webhook-attempt": String(delivery.attempts),
        ]
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let response = try await client.execute(request, timeout: .init(settings.timeout))
            _ = try? await response.body.collect(upTo: Self.maxAnswerBytes)
            if (200..<300).contains(response.status.code) { return .delivered(Int(response.status.code)) }
            return .retry("HTTP \(response.status.code)")
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            return .retry("timed out after \(Int(settings.timeout.seconds)) s")
        } catch {
            return .retry("connection failed")
        }
    }
}
