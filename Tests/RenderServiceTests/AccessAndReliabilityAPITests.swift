import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import RenderEngine
import Testing

@testable import RenderService

/// API keys, idempotency keys, load shedding and retention, through the HTTP API.
@Suite("HTTP API: access control, idempotency, overload, retention")
struct AccessAndReliabilityAPITests {
    static let alice = "alice-key-0123456789abcdef-AAAA"
    static let bob = "bob-key-0123456789abcdef-BBBB"

    func authorized(_ key: String, _ extra: HTTPFields = [:]) -> HTTPFields {
        var headers = extra
        headers[.authorization] = "Bearer \(key)"
        return headers
    }

    @Test(.tags(.reliability)) func apiKeysGuardV1AndScopeRendersToTheirKey() async throws {
        // One key given as itself, one as its digest only.
        let bobDigest = APIKeys.digest(Self.bob)
        let service = try await EmbeddedTestService.make(["API_KEYS": "\(Self.alice), sha256:\(bobDigest)", "METRICS_TOKEN": "metrics-token-xyz"])
        defer { service.cleanUp() }
        let (refusals, hidden) = try await service.app.test(.router) { client in
            var refusals = 0, hidden = 0
            let anonymous = try await client.get("/v1/size-presets").expectError(.unauthorized, "Authentication required")
            #expect((anonymous["message"] as? String)?.contains("Bearer") == true)
            #expect(try await client.get("/v1/size-presets").headers[.wwwAuthenticate] == "Bearer")
            let wrong = try await client.get("/v1/styles", headers: [.authorization: "Bearer not-a-key"])
            try wrong.expectError(.unauthorized, "Invalid API key")
            #expect(wrong.headers[.wwwAuthenticate]?.contains("invalid_token") == true)
            try await client.get("/v1/styles", headers: [.authorization: "Basic \(Self.alice)"]).expectError(.unauthorized, "Authentication required")
            // What needs no key: the OpenAPI document, health, signed file URLs (checked below).
            #expect(try await client.get("/v1/openapi.json").status == .ok)
            #expect(try await client.get("/health/liveness").status == .ok)
            #expect(try await client.get("/v1/size-presets", headers: authorized(Self.alice)).status == .ok)
            #expect(try await client.get("/v1/size-presets", headers: authorized(Self.bob)).status == .ok)

            let body = try MultipartBody.render()
            let created = try await client.execute(
                uri: "/v1/renders", method: .post, headers: authorized(Self.alice, [.contentType: body.contentType]), body: ByteBuffer(data: body.finished()))
            #expect(created.status == .created)
            let id = try #require(try created.json["render_id"] as? String)
            try await client.execute(uri: "/v1/renders", method: .post, headers: [.contentType: body.contentType], body: ByteBuffer(data: body.finished()))
                .expectError(.unauthorized)

            #expect(try await client.get("/v1/renders/\(id)", headers: authorized(Self.alice)).status == .ok)
            // Each way of not having a key, on each kind of /v1 route.
            for path in ["/v1/size-presets", "/v1/styles", "/v1/renders/\(id)"] {
                for headers: HTTPFields in [[:], [.authorization: "Bearer wrong-key"], [.authorization: "Basic \(Self.alice)"]] {
                    let refused = try await client.get(path, headers: headers)
                    #expect(refused.status == .unauthorized && refused.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true, "\(path) \(headers)")
                    refusals += 1
                }
            }
            // Bob cannot tell Alice's render exists.
            for path in ["/v1/renders/\(id)", "/v1/renders/\(id)/download", "/v1/renders/\(id)/preview"] {
                try await client.get(path, headers: authorized(Self.bob)).expectError(.notFound, "Render not found")
                hidden += 1
            }
            try await client.execute(uri: "/v1/renders/\(id)/cancel", method: .post, headers: authorized(Self.bob)).expectError(.notFound, "Render not found")
            hidden += 1
            #expect(try await client.get("/v1/renders/\(id)", headers: authorized(Self.alice)).json["status"] as? String == "queued", "the render is untouched")

            try await service.drainQueue()
            let link = try await client.get("/v1/renders/\(id)/download", headers: authorized(Self.alice)).json
            let url = try #require(link["url"] as? String)
            // The signed URL is the credential: it works without a key.
            #expect(try await client.get(try EmbeddedTestService.pathAndQuery(url)).status == .ok)

            try await client.get("/metrics").expectError(.unauthorized, "Authentication required")
            try await client.get("/metrics", headers: authorized(Self.alice)).expectError(.unauthorized, "Authentication required")
            let metrics = try await client.get("/metrics", headers: authorized("metrics-token-xyz"))
            #expect(metrics.status == .ok && String(buffer: metrics.body).contains("http_requests_total"))
            return (refusals, hidden)
        }
        // The log names keys by an owner id keyed with the deployment's secret, never by the key
        // or a plain hash of it (which would let a log reader test guesses of a weak key).
        let log = service.logSink.lines.joined()
        let secret = Data("test-signing-secret-0123456789abcdef".utf8)
        #expect(log.contains(APIKeys.ownerID(digest: APIKeys.digest(Self.alice), secret: secret)))
        #expect(!log.contains(Self.alice) && !log.contains(Self.bob) && !log.contains("metrics-token-xyz"))
        #expect(!log.contains(String(APIKeys.digest(Self.alice).prefix(12))))
        try ReliabilityReport.record(
            .accessControl, part: 1,
            [
                ReliabilityRow(
                    fault: "/v1 requests without a key, with a wrong key, with Basic auth", tries: refusals, result: "401 with WWW-Authenticate: Bearer")
            ])
        try ReliabilityReport.record(
            .accessControl, part: 3,
            [
                ReliabilityRow(
                    fault: "another API key asks for, downloads or cancels a render", tries: hidden, result: "404 Render not found; the render is untouched"),
                ReliabilityRow(fault: "/metrics without METRICS_TOKEN", tries: 1, result: "401; with the token 200"),
            ])
    }

    @Test func weakOrMalformedKeysAreRefusedAtStartWithoutEchoingThem() throws {
        #expect(throws: ConfigurationError.self) { try ServiceConfiguration(environment: ["API_KEYS": "short-secret"]) }
        #expect(throws: ConfigurationError.self) { try ServiceConfiguration(environment: ["API_KEYS": "sha256:abcd"]) }
        do {
            _ = try ServiceConfiguration(environment: ["API_KEYS": "short-secret"])
        } catch {
            #expect(!error.description.contains("short-secret"))
        }
        let configuration = try ServiceConfiguration(environment: ["API_KEYS": "\(Self.alice),\(Self.bob)"])
        #expect(configuration.apiKeys.count == 2)
        let described = configuration.describe().map { "\($0.0)=\($0.1)" }.joined(separator: "\n")
        #expect(!described.contains(Self.alice) && !described.contains(APIKeys.digest(Self.alice)))
        let generated = APIKeys.generate()
        let secret = Data("deployment-secret-0123456789abcdef".utf8)
        let keys = try APIKeys(generated.entry).keyed(with: secret)
        #expect(keys.owner(of: generated.key) == APIKeys.ownerID(digest: APIKeys.digest(generated.key), secret: secret))
        #expect(keys.owner(of: generated.key + "x") == nil)
        #expect(try APIKeys(generated.entry).owner(of: generated.key) == nil, "keys that were never keyed accept nothing")
        #expect(
            APIKeys.ownerID(digest: APIKeys.digest(generated.key), secret: Data("another-deployment-secret-0123456789".utf8))
                != keys.owner(of: generated.key), "owner ids depend on the deployment's secret")
    }

    @Test func idempotencyKeyReplaysTheSameRequestAndRefusesAnother() async throws {
        let service = try await EmbeddedTestService.make()
        defer { service.cleanUp() }
        try await service.app.test(.router) { client in
            func post(_ body: MultipartBody, key: String?) async throws -> TestResponse {
                var headers: HTTPFields = [.contentType: body.contentType]
                if let key { headers[.idempotencyKey] = key }
                return try await client.execute(uri: "/v1/renders", method: .post, headers: headers, body: ByteBuffer(data: body.finished()))
            }
            let body = try MultipartBody.render(style: IDs.watercolor)
            let first = try await post(body, key: "order-1001-print")
            #expect(first.status == .created && first.headers[.idempotentReplayed] == nil)
            let original = try first.json
            let again = try await post(body, key: "order-1001-print")
            #expect(again.status == .created && again.headers[.idempotentReplayed] == "true")
            let replayed = try again.json
            #expect(replayed["render_id"] as? String == original["render_id"] as? String)
            #expect(replayed["created_at"] as? String == original["created_at"] as? String)
            #expect(again.headers[.location] == first.headers[.location])
            #expect(try await service.components.store.count(status: .queued) == 1, "one render, not two")

            // Same key, another style or another photo: 422, nothing created.
            let otherStyle = try await post(try MultipartBody.render(style: IDs.photo), key: "order-1001-print")
            let refused = try otherStyle.expectError(.unprocessableContent, "Idempotency-Key already used for a different request")
            // The earlier render's id is never told: with keys off, keys are one namespace.
            #expect((refused["message"] as? String)?.contains(original["render_id"] as! String) == false)
            #expect(!String(buffer: otherStyle.body).contains(original["render_id"] as! String))
            try await post(try MultipartBody.render(photo: Photos.flower, style: IDs.watercolor), key: "order-1001-print")
                .expectError(.unprocessableContent)
            // Without a key, or with another key, the same request is a new render.
            #expect(try await post(body, key: nil).status == .created)
            #expect(try await post(body, key: "order-1002-print").status == .created)
            #expect(try await service.components.store.count(status: .queued) == 3)
            for bad in ["", "has space", String(repeating: "k", count: 256), "naïve"] {
                try await post(body, key: bad).expectError(.badRequest, "Invalid Idempotency-Key")
            }
        }
        // Keys expire after 24 hours: the sweep forgets them and the key is free again.
        let sweeper = service.components.retentionSweeper(logger: service.logger)
        #expect(try await sweeper.sweep(now: Date()).keys == 0)
        #expect(try await sweeper.sweep(now: Date().addingTimeInterval(86_400 + 60)).keys == 2)
    }

    @Test func fullQueueRefusesNewUploadsWith503AndRetryAfter() async throws {
        let service = try await EmbeddedTestService.make(["MAX_QUEUED_RENDERS": "2", "OVERLOAD_RETRY_AFTER_SECONDS": "45"])
        defer { service.cleanUp() }
        try await service.app.test(.router) { client in
            let body = try MultipartBody.render()
            var headers: HTTPFields = [.contentType: body.contentType, .idempotencyKey: "first"]
            #expect(try await client.execute(uri: "/v1/renders", method: .post, headers: headers, body: ByteBuffer(data: body.finished())).status == .created)
            #expect(try await client.upload(body).status == .created)
            let refused = try await client.upload(body)
            let error = try refused.expectError(.serviceUnavailable, "Service overloaded")
            #expect(refused.headers[.retryAfter] == "45")
            #expect((error["message"] as? String)?.contains("2 renders are waiting") == true)
            // A retry of an accepted request still gets its answer.
            #expect(try await client.execute(uri: "/v1/renders", method: .post, headers: headers, body: ByteBuffer(data: body.finished())).status == .created)
            headers[.idempotencyKey] = "second"
            try await client.execute(uri: "/v1/renders", method: .post, headers: headers, body: ByteBuffer(data: body.finished()))
                .expectError(.serviceUnavailable)
            #expect(try await service.components.store.count(status: .queued) == 2)
            let metrics = try await client.get("/metrics")
            #expect(String(buffer: metrics.body).contains("render_uploads_refused_total 2"))
            // Once renders are done, uploads are accepted again.
            try await service.drainQueue()
            #expect(try await client.upload(body).status == .created)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: service.components.uploadDirectory).isEmpty, "refused bodies are not kept")
    }

    @Test func retentionDeletesOriginalsAndOutputsAndDownloadsSayGone() async throws {
        let service = try await EmbeddedTestService.make(["ORIGINAL_RETENTION": "7d", "OUTPUT_RETENTION": "30d"])
        defer { service.cleanUp() }
        try await service.app.test(.router) { client in
            let finished = try await client.upload(try MultipartBody.render()).json["render_id"] as! String
            try await service.drainQueue()
            let waiting = try await client.upload(try MultipartBody.render()).json["render_id"] as! String
            let objects = service.components.objects
            let done = try #require(try await service.components.store.render(id: UUID(uuidString: finished)!))
            let original = try #require(try await service.components.store.asset(id: done.assetID)).storageKey
            let waitingRender = try #require(try await service.components.store.render(id: UUID(uuidString: waiting)!))
            let waitingOriginal = try #require(try await service.components.store.asset(id: waitingRender.assetID)).storageKey

            let sweeper = service.components.retentionSweeper(logger: service.logger)
            #expect(try await sweeper.sweep(now: Date().addingTimeInterval(6 * 86_400)) == (0, 0, 0))
            let week = try await sweeper.sweep(now: Date().addingTimeInterval(8 * 86_400))
            #expect(week.originals == 1 && week.outputs == 0, "the queued render keeps its photo")
            #expect(try await objects.head(key: original) == nil)
            #expect(try await objects.head(key: waitingOriginal) != nil)
            #expect(try await client.get("/v1/renders/\(finished)/download").status == .ok)

            let month = try await sweeper.sweep(now: Date().addingTimeInterval(31 * 86_400))
            #expect(month.outputs == 1)
            #expect(try await objects.head(key: done.outputKey!) == nil)
            #expect(try await objects.head(key: done.previewKey!) == nil)
            let gone = try await client.get("/v1/renders/\(finished)/download").expectError(.gone, "Render outputs expired")
            #expect((gone["message"] as? String)?.contains("retention") == true)
            try await client.get("/v1/renders/\(finished)/preview").expectError(.gone)
            let record = try await client.get("/v1/renders/\(finished)").json
            #expect(record["status"] as? String == "completed" && record["outputs_deleted_at"] is String)
            #expect(try await sweeper.sweep(now: Date().addingTimeInterval(31 * 86_400)) == (0, 0, 0), "nothing twice")
            let metrics = String(buffer: try await client.get("/metrics").body)
            #expect(metrics.contains(#"retention_objects_deleted_total{kind="output"} 2"#))
        }
    }

    /// Retention is opt-in: with nothing configured, a finished render's photo and print are
    /// still there ten years on.
    @Test func filesAreKeptForeverByDefault() async throws {
        let service = try await EmbeddedTestService.make()
        defer { service.cleanUp() }
        #expect(service.components.configuration.originalRetention == nil && service.components.configuration.outputRetention == nil)
        try await service.app.test(.router) { client in
            let id = try await client.upload(try MultipartBody.render()).json["render_id"] as! String
            try await service.drainQueue()
            let render = try #require(try await service.components.store.render(id: UUID(uuidString: id)!))
            let original = try #require(try await service.components.store.asset(id: render.assetID)).storageKey
            let sweeper = service.components.retentionSweeper(logger: service.logger)
            #expect(try await sweeper.sweep(now: Date().addingTimeInterval(3650 * 86_400)) == (0, 0, 0))
            for key in [original, render.outputKey!, render.previewKey!] {
                #expect(try await service.components.objects.head(key: key) != nil, "\(key) kept")
            }
            #expect(try await client.get("/v1/renders/\(id)/download").status == .ok)
        }
    }

    @Test func retentionPeriodsParse() throws {
        #expect(RetentionPeriod.parse("30d") == .seconds(30 * 86_400))
        #expect(RetentionPeriod.parse("12h") == .seconds(12 * 3600) && RetentionPeriod.parse("45s") == .seconds(45))
        #expect(RetentionPeriod.parse("0") == .zero && RetentionPeriod.parse("7") == nil && RetentionPeriod.parse("-1d") == nil)
        #expect(try ServiceConfiguration(environment: ["OUTPUT_RETENTION": "0"]).outputRetention == nil)
        #expect(throws: ConfigurationError.self) { try ServiceConfiguration(environment: ["ORIGINAL_RETENTION": "a week"]) }
    }
}
