import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import ServiceLifecycle
import Testing

@testable import RenderService

@Suite("Webhooks")
struct WebhookTests {
    // MARK: Signing, addresses, schedule

    /// The Standard Webhooks specification's own example (also checked in Python by the receiver).
    @Test func signatureMatchesTheStandardWebhooksExample() throws {
        let secret = try WebhookSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        let signature = secret.signature(id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330, body: Data(#"{"test": 2432232314}"#.utf8))
        #expect(signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        #expect(try WebhookSecret(WebhookSecret.generate()).key.count == 32)
        for bad in ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_", "whsec_c2hvcnQ=", "whsec_not base64!"] {
            #expect(throws: ConfigurationError.self) { try WebhookSecret(bad) }
        }
    }

    @Test func onlyPublicUnicastAddressesArePublic() {
        for v4 in [
            "0.0.0.0", "10.1.2.3", "127.0.0.1", "100.64.0.1", "169.254.169.254", "172.16.0.1", "172.31.255.255", "192.168.1.1", "192.0.0.8",
            "198.18.0.1", "224.0.0.1", "255.255.255.255",
        ] {
            #expect(!WebhookAddress.isPublic(v4.split(separator: ".").map { UInt8($0)! }), "\(v4)")
        }
        for v4 in ["8.8.8.8", "172.32.0.1", "100.128.0.1", "93.184.216.34"] {
            #expect(WebhookAddress.isPublic(v4.split(separator: ".").map { UInt8($0)! }), "\(v4)")
        }
        func v6(_ text: String) -> [UInt8] {
            var address = in6_addr()
            _ = inet_pton(AF_INET6, text, &address)
            return withUnsafeBytes(of: address) { Array($0) }
        }
        for text in ["::", "::1", "fc00::1", "fd12:3456::1", "fe80::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a9fe:a9fe", "2001:db8::1"] {
            #expect(!WebhookAddress.isPublic(v6(text)), "\(text)")
        }
        for text in ["2606:4700::1111", "::ffff:8.8.8.8"] { #expect(WebhookAddress.isPublic(v6(text)), "\(text)") }
    }

    @Test func namesResolvingInsideAreRefusedUnlessPrivateIsAllowed() async throws {
        for host in ["localhost", "127.0.0.1", "[::1]", "169.254.169.254", "10.0.0.1", "0.0.0.0"] {
            await #expect(throws: WebhookAddress.Refused.self, "\(host)") { try await WebhookAddress.resolve(host: host, allowPrivate: false) }
        }
        #expect(try await WebhookAddress.resolve(host: "127.0.0.1", allowPrivate: true) == "127.0.0.1")
        #expect(try await WebhookAddress.resolve(host: "localhost", allowPrivate: true).contains(":") || true)
    }

    /// Full jitter under an exponential ceiling capped at an hour; the default window keeps
    /// retrying for more than a day.
    @Test func backoffScheduleIsExponentialWithFullJitterAndCapped() {
        let settings = WebhookSettings()
        #expect(settings.retryWindow >= .seconds(24 * 3600))
        for attempt in 1...40 {
            let ceiling = min(3600, 5 * pow(2, Double(attempt - 1)))
            let delays = (0..<50).map { _ in WebhookDeliverer.delay(attempt: attempt, settings: settings).seconds }
            #expect(delays.allSatisfy { $0 >= 1 && $0 <= ceiling + 0.001 }, "attempt \(attempt)")
            if attempt >= 3 { #expect(Set(delays.map { Int($0 * 1000) }).count > 10, "jittered") }
        }
    }

    @Test func webhookKeysParsesPerKeyDefaults() throws {
        let key = "test-key-abcdefghijklmnopqrstuvwxyz"
        let secret = WebhookSecret.generate()
        var configuration = try ServiceConfiguration(environment: [
            "API_KEYS": key, "WEBHOOK_KEYS": "\(key) url=https://shop.example/hooks secret=\(secret)",
        ])
        configuration.webhooks = configuration.webhooks.keyed(with: Data("s".utf8))
        let owner = APIKeys.ownerID(digest: APIKeys.digest(key), secret: Data("s".utf8))
        #expect(configuration.webhooks.defaultURL(owner: owner) == "https://shop.example/hooks")
        #expect(configuration.webhooks.secret(owner: owner) == (try WebhookSecret(secret)))
        #expect(configuration.webhooks.secret(owner: "key_other") == nil)
        #expect(!configuration.describe().contains { $0.1.contains("whsec_") || $0.1.contains(key) }, "no secret in aso-render config")
        for bad in ["\(key) url=ftp://x", "short url=https://x.example", "\(key) secret=nope", "\(key) colour=blue"] {
            #expect(throws: ConfigurationError.self) { try ServiceConfiguration(environment: ["WEBHOOK_KEYS": bad]) }
        }
    }

    // MARK: The API

    @Test func invalidOrInsideWebhookURLsAreRefusedWith400() async throws {
        let service = try await EmbeddedTestService.make(["WEBHOOK_SECRET": WebhookReceiver.secret])
        defer { service.cleanUp() }
        try await service.app.test(.router) { client in
            for url in [
                "ftp://shop.example/hooks", "not a url", "/relative", "http://user:pw@shop.example/", "http://127.0.0.1:9/x",
                "http://localhost/hooks", "http://[::1]/", "http://169.254.169.254/latest/meta-data", "http://10.0.0.1/",
                "https://" + String(repeating: "a", count: 2100) + ".example/",
            ] {
                let response = try await client.upload(try .render(extra: ["webhook_url": url]))
                try response.expectError(.badRequest, "Invalid webhook_url")
            }
        }
        let unsigned = try await EmbeddedTestService.make(["WEBHOOK_ALLOW_PRIVATE": "true"])
        defer { unsigned.cleanUp() }
        try await unsigned.app.test(.router) { client in
            let response = try await client.upload(try .render(extra: ["webhook_url": "http://127.0.0.1:9/x"]))
            try response.expectError(.badRequest, "Webhooks are not configured")
        }
    }

    /// Upload with a webhook_url, render, and the deliverer posts the render: the first attempt
    /// gets a 500, the retry is delivered; Python checks both signatures.
    @Test func completedRenderIsDeliveredSignedAfterARetry() async throws {
        let receiver = try await WebhookReceiver(failFirst: 1)
        defer { receiver.stop() }
        let service = try await EmbeddedTestService.make([
            "WEBHOOK_SECRET": WebhookReceiver.secret, "WEBHOOK_ALLOW_PRIVATE": "true", "WEBHOOK_RETRY_BASE_SECONDS": "1",
        ])
        defer { service.cleanUp() }
        let renderID = try await service.app.test(.router) { client in
            let created = try await client.upload(try .render(extra: ["webhook_url": receiver.url]))
            #expect(created.status == .created)
            let id = try #require(try created.json["render_id"] as? String)
            #expect(try await client.get("/v1/renders/\(id)").json["webhook_url"] as? String == receiver.url)
            return id
        }
        try await service.drainQueue()
        let deliverer = Task { try await service.components.webhookDeliverer(logger: service.logger).run() }
        defer { deliverer.cancel() }
        let requests = try await receiver.wait { $0.count >= 2 }
        #expect(requests.map(\.answered) == [500, 200])
        #expect(requests.map(\.attempt) == ["1", "2"])
        #expect(Set(requests.map(\.id)).count == 1, "one webhook-id across attempts")
        #expect(requests.allSatisfy { $0.hmac_valid && $0.reference_valid != false })
        #expect(requests.allSatisfy { $0.type == "render.completed" && $0.render_id == renderID && $0.render_status == "completed" })
        let uuid = try #require(UUID(uuidString: renderID))
        try await eventually { try await service.components.webhookOutbox.deliveries(renderID: uuid).first?.status == .delivered }
        let metrics = service.components.metrics.exposition()
        #expect(metrics.contains(#"webhook_deliveries_total{outcome="delivered"} 1"#))
        #expect(metrics.contains(#"webhook_deliveries_total{outcome="retried"} 1"#))
        #expect(metrics.contains("webhook_delivery_lag_seconds_count 1"))
        #expect(!service.logSink.lines.joined().contains(WebhookReceiver.secret.dropFirst(6)), "no secret in logs")
    }

    /// A key's default URL and its own secret come from WEBHOOK_KEYS.
    @Test func aKeysDefaultURLAndSecretApply() async throws {
        let key = "test-key-abcdefghijklmnopqrstuvwxyz"
        let secret = WebhookSecret.generate()
        let receiver = try await WebhookReceiver(secret: secret)
        defer { receiver.stop() }
        let service = try await EmbeddedTestService.make([
            "API_KEYS": key, "WEBHOOK_KEYS": "\(key) url=\(receiver.url) secret=\(secret)", "WEBHOOK_ALLOW_PRIVATE": "true",
        ])
        defer { service.cleanUp() }
        let auth: HTTPFields = [.authorization: "Bearer \(key)"]
        let renderID = try await service.app.test(.router) { client in
            let body = try MultipartBody.render()
            var headers = auth
            headers[.contentType] = body.contentType
            let created = try await client.execute(uri: "/v1/renders", method: .post, headers: headers, body: ByteBuffer(data: body.finished()))
            #expect(created.status == .created)
            let id = try #require(try created.json["render_id"] as? String)
            #expect(try await client.get("/v1/renders/\(id)", headers: auth).json["webhook_url"] as? String == receiver.url)
            return id
        }
        try await service.drainQueue()
        let deliverer = Task { try await service.components.webhookDeliverer(logger: service.logger).run() }
        defer { deliverer.cancel() }
        let requests = try await receiver.wait { !$0.isEmpty }
        #expect(requests.first?.render_id == renderID && requests.first?.hmac_valid == true && requests.first?.reference_valid != false)
    }

    // MARK: Delivery across processes

    static func settings(base: Duration = .seconds(1)) throws -> WebhookSettings {
        var settings = WebhookSettings()
        settings.secret = try WebhookSecret(WebhookReceiver.secret)
        settings.allowPrivate = true
        settings.retryBase = base
        settings.timeout = .seconds(5)
        return settings
    }

    /// The first attempt fails, the process stops before the retry, a new one delivers it once.
    @Test(arguments: OutboxUnderTest.all)
    func aRetryPendingAtShutdownIsDeliveredOnceAfterRestart(_ impl: OutboxUnderTest) async throws {
        let receiver = try await WebhookReceiver(failFirst: 1)
        defer { receiver.stop() }
        let ((store, outbox), reopen, cleanUp) = try await impl.make()
        defer { Task { await cleanUp() } }
        let id = try await endedRender(store, url: receiver.url)
        let logger = Logger(label: "test")
        var settings = try Self.settings(base: .seconds(2))
        settings.retryCap = .seconds(2)
        let first = WebhookDeliverer(
            outbox: outbox, store: store, settings: settings, metrics: ServiceMetrics(), logger: logger, wake: WorkSignal())
        let group = ServiceGroup(configuration: .init(services: [first], logger: logger))
        let running = Task { try await group.run() }
        try await receiver.wait { $0.count == 1 }
        await group.triggerGracefulShutdown()
        try await running.value
        #expect(try await outbox.deliveries(renderID: id).first?.status == .pending, "retry recorded before stopping")

        let (store2, outbox2) = try await reopen()
        let second = WebhookDeliverer(
            outbox: outbox2, store: store2, settings: settings, metrics: ServiceMetrics(), logger: logger, wake: WorkSignal())
        let restarted = Task { try await second.run() }
        defer { restarted.cancel() }
        try await eventually(timeout: .seconds(90)) { try await outbox2.deliveries(renderID: id).first?.status == .delivered }
        try await Task.sleep(for: .seconds(1))
        let requests = receiver.requests
        #expect(requests.map(\.answered) == [500, 200], "delivered once after the restart")
        #expect(requests.map(\.attempt) == ["1", "2"])
    }

    /// Nothing polls the outbox: a delivery written while the deliverer sleeps is sent as soon
    /// as the store ends the render, and its retry when it falls due, 1 s later (the safety net
    /// here is an hour; the bounds leave room for a busy machine).
    @Test(arguments: OutboxUnderTest.all)
    func anIdleDelivererWakesForANewDeliveryAndForItsRetry(_ impl: OutboxUnderTest) async throws {
        let receiver = try await WebhookReceiver(failFirst: 1)
        defer { receiver.stop() }
        let ((base, outbox), _, cleanUp) = try await impl.make()
        defer { Task { await cleanUp() } }
        let store = MeasuredRenderStore(base, metrics: ServiceMetrics())
        var settings = try Self.settings()
        settings.retryCap = .seconds(1)
        let deliverer = WebhookDeliverer(
            outbox: outbox, store: store, settings: settings, metrics: ServiceMetrics(), logger: Logger(label: "test"), wake: store.deliveries,
            safetyNet: .seconds(3600))
        let running = Task { try await deliverer.run() }
        defer { running.cancel() }
        try await Task.sleep(for: .milliseconds(500))
        let started = ContinuousClock.now
        _ = try await endedRender(store, url: receiver.url)
        try await receiver.wait(timeout: .seconds(30)) { $0.count == 1 }
        #expect(ContinuousClock.now - started < .seconds(15), "sent at once")
        try await receiver.wait(timeout: .seconds(30)) { $0.count == 2 }
        #expect(ContinuousClock.now - started < .seconds(20), "retried when due")
        #expect(receiver.requests.map(\.answered) == [500, 200])
    }

    /// Two deliverers (two processes) on one outbox: every delivery made once, no attempt twice.
    @Test(arguments: OutboxUnderTest.all)
    func twoDeliverersNeverMakeTheSameAttempt(_ impl: OutboxUnderTest) async throws {
        let receiver = try await WebhookReceiver(delay: 0.05)
        defer { receiver.stop() }
        let ((store, outbox), reopen, cleanUp) = try await impl.make()
        defer { Task { await cleanUp() } }
        var ids: Set<String> = []
        for _ in 0..<16 { ids.insert(try await endedRender(store, url: receiver.url).lowercased) }
        let (store2, outbox2) = try await reopen()
        var settings = try Self.settings()
        settings.concurrency = 3
        let logger = Logger(label: "test")
        let a = Task {
            try await WebhookDeliverer(
                outbox: outbox, store: store, settings: settings, metrics: ServiceMetrics(), logger: logger, wake: WorkSignal()
            ).run()
        }
        let b = Task {
            try await WebhookDeliverer(
                outbox: outbox2, store: store2, settings: settings, metrics: ServiceMetrics(), logger: logger, wake: WorkSignal()
            ).run()
        }
        defer {
            a.cancel()
            b.cancel()
        }
        try await receiver.wait { $0.count >= 16 }
        try await Task.sleep(for: .seconds(1))
        let requests = receiver.requests
        #expect(requests.count == 16)
        #expect(Set(requests.compactMap(\.render_id)) == ids)
        #expect(Set(requests.map(\.id)).count == 16 && requests.allSatisfy { $0.attempt == "1" && $0.hmac_valid })
    }
}

/// Polls until `condition` holds.
func eventually(timeout: Duration = .seconds(90), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        guard ContinuousClock.now < deadline else { throw ConfigurationError("condition not met within \(timeout)") }
        try await Task.sleep(for: .milliseconds(50))
    }
}
