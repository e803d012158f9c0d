import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import RenderEngine
import Testing

@testable import RenderService

/// The studio's API (issue 11): assets, style previews, long-polling, and the pages.
@Suite("HTTP API: the studio")
struct StudioAPITests {
    static let alice = "alice-key-0123456789abcdef-AAAA"
    static let bob = "bob-key-0123456789abcdef-BBBB"

    static func assetForm(_ photo: String = Photos.dune, extra: [String: String] = [:]) throws -> MultipartBody {
        var body = MultipartBody()
        body.file(contents: try Data(contentsOf: URL(fileURLWithPath: photo)))
        for (name, value) in extra { body.field(name, value) }
        return body
    }

    static func headers(_ body: MultipartBody, key: String? = nil) -> HTTPFields {
        var headers: HTTPFields = [.contentType: body.contentType]
        if let key { headers[.authorization] = "Bearer \(key)" }
        return headers
    }

    static func byAsset(_ assetID: String, style: String = IDs.photo, extra: [String: String] = [:]) -> MultipartBody {
        var body = MultipartBody()
        body.field("asset_id", assetID)
        body.field("style_id", style)
        body.field("size_preset_id", IDs.preset9x12)
        for (name, value) in extra { body.field(name, value) }
        return body
    }

    @Test func anAssetUploadedOnceIsRenderedTwiceByItsID() async throws {
        let service = try await EmbeddedTestService.make()
        defer { service.cleanUp() }
        let probe = try ImageProbe.read(path: Photos.dune)
        try await service.app.test(.router) { client in
            let form = try Self.assetForm()
            let created = try await client.execute(uri: "/v1/assets", method: .post, headers: Self.headers(form), body: ByteBuffer(data: form.finished()))
            #expect(created.status == .created, "\(String(buffer: created.body))")
            let asset = try created.json
            let assetID = try #require(asset["asset_id"] as? String)
            #expect(created.headers[.location] == "/v1/assets/\(assetID)")
            #expect(asset["width"] as? Int == probe.orientedWidth && asset["height"] as? Int == probe.orientedHeight)
            #expect(asset["format"] as? String == "jpeg")
            let dpi = try #require(asset["effective_dpi"] as? [String: Double])
            #expect(Set(dpi.keys) == Set(SizePreset.all.map(\.id.lowercased)))
            // Cover on the 9x12, turned to suit the photo: the short side limits.
            let expected9x12 = Double(min(probe.orientedWidth, probe.orientedHeight)) / 9
            let expected24x36 = min(Double(max(probe.orientedWidth, probe.orientedHeight)) / 36, Double(min(probe.orientedWidth, probe.orientedHeight)) / 24)
            #expect(abs((dpi[IDs.preset9x12] ?? 0) - min(expected9x12, Double(max(probe.orientedWidth, probe.orientedHeight)) / 12)) < 0.1)
            #expect(abs((dpi[IDs.preset24x36] ?? 0) - expected24x36) < 0.1)
            #expect(try await client.get("/v1/assets/\(assetID)").json["asset_id"] as? String == assetID)

            var renderIDs: [String] = []
            for style in [IDs.photo, IDs.watercolor] {
                let body = Self.byAsset(assetID, style: style)
                let response = try await client.upload(body)
                #expect(response.status == .created, "\(String(buffer: response.body))")
                renderIDs.append(try #require(try response.json["render_id"] as? String))
            }
            try await service.drainQueue()
            for id in renderIDs {
                let render = try await client.get("/v1/renders/\(id)").json
                #expect(render["status"] as? String == "completed", "\(render)")
                #expect(render["asset_id"] as? String == assetID)
            }
            // The original is stored once, under the asset, and the spec's form still works.
            let stored = try await service.components.store.asset(id: try #require(UUID(uuidString: assetID)))
            #expect(stored?.storageKey == "uploads/assets/\(assetID)/original.jpg")
            #expect(try await client.upload(try MultipartBody.render()).status == .created)
        }
    }

    @Test func photoFieldsAreExactlyOneAndAssetsAreCheckedLikeRenders() async throws {
        let service = try await EmbeddedTestService.make()
        defer { service.cleanUp() }
        try await service.app.test(.router) { client in
            let form = try Self.assetForm()
            let asset = try await client.execute(uri: "/v1/assets", method: .post, headers: Self.headers(form), body: ByteBuffer(data: form.finished()))
            let assetID = try #require(try asset.json["asset_id"] as? String)

            var both = try MultipartBody.render()
            both.field("asset_id", assetID)
            try await client.upload(both).expectError(.badRequest, "Conflicting photo")
            var neither = MultipartBody()
            neither.field("style_id", IDs.photo)
            neither.field("size_preset_id", IDs.preset9x12)
            try await client.upload(neither).expectError(.badRequest, "No file provided")
            try await client.upload(Self.byAsset("not-a-uuid")).expectError(.badRequest, "Invalid UUID format for asset_id")
            try await client.upload(Self.byAsset("")).expectError(.badRequest, "Invalid UUID format for asset_id")
            try await client.upload(Self.byAsset(UUID().uuidString.lowercased())).expectError(.notFound, "Asset not found")
            try await client.upload(Self.byAsset(assetID, extra: ["style_params": "{\"nope\": 1}"])).expectError(.badRequest, "Invalid style_params")

            func postAsset(_ body: MultipartBody) async throws -> TestResponse {
                try await client.execute(uri: "/v1/assets", method: .post, headers: Self.headers(body), body: ByteBuffer(data: body.finished()))
            }
            var empty = MultipartBody()
            empty.file(contents: Data())
            try await postAsset(empty).expectError(.badRequest, "Empty file")
            var text = MultipartBody()
            text.file(contents: Data("not a photo at all, just words".utf8))
            try await postAsset(text).expectError(.badRequest, "Unsupported image format")
            var truncated = MultipartBody()
            truncated.file(contents: try Data(contentsOf: URL(fileURLWithPath: Photos.dune)).prefix(40_000))
            try await postAsset(truncated).expectError(.badRequest, "Corrupt image")
            try await postAsset(try Self.assetForm(extra: ["style_id": IDs.photo])).expectError(.badRequest, "Unknown form field")
            var noFile = MultipartBody()
            noFile.field("x", "y")
            try await postAsset(noFile).expectError(.badRequest)
            try await client.execute(uri: "/v1/assets", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: "{}"))
                .expectError(.badRequest, "Expected multipart/form-data")
            try await client.get("/v1/assets/\(UUID().uuidString)").expectError(.notFound, "Asset not found")
        }
    }

    @Test func assetsBelongToTheKeyThatUploadedThem() async throws {
        let service = try await EmbeddedTestService.make(["API_KEYS": "\(Self.alice),\(Self.bob)"])
        defer { service.cleanUp() }
        try await service.app.test(.router) { client in
            let form = try Self.assetForm()
            try await client.execute(uri: "/v1/assets", method: .post, headers: Self.headers(form), body: ByteBuffer(data: form.finished()))
                .expectError(.unauthorized)
            let created = try await client.execute(
                uri: "/v1/assets", method: .post, headers: Self.headers(form, key: Self.alice), body: ByteBuffer(data: form.finished()))
            let assetID = try #require(try created.json["asset_id"] as? String)
            let preview = "/v1/assets/\(assetID)/styles/\(IDs.photo)/preview.jpg"
            for (key, status) in [(Self.alice, HTTPResponse.Status.ok), (Self.bob, .notFound)] {
                let auth: HTTPFields = [.authorization: "Bearer \(key)"]
                #expect(try await client.get("/v1/assets/\(assetID)", headers: auth).status == status)
                #expect(try await client.get(preview, headers: auth).status == status)
                let render = Self.byAsset(assetID)
                let response = try await client.execute(
                    uri: "/v1/renders", method: .post, headers: Self.headers(render, key: key), body: ByteBuffer(data: render.finished()))
                #expect(response.status == (status == .ok ? .created : .notFound), "\(String(buffer: response.body))")
            }
        }
    }

    @Test func stylePreviewsAreSmallFaithfulCachedAndConditional() async throws {
        let service = try await EmbeddedTestService.make()
        defer { service.cleanUp() }
        let scratch = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        try await service.app.test(.router) { client in
            let form = try Self.assetForm(Photos.elephants)
            let assetID = try #require(
                try await client.execute(
                    uri: "/v1/assets", method: .post, headers: Self.headers(form), body: ByteBuffer(data: form.finished())
                ).json["asset_id"] as? String)
            func probe(_ response: TestResponse) throws -> ImageProbe {
                let path = "\(scratch)/\(UUID().uuidString).jpg"
                try Data(buffer: response.body).write(to: URL(fileURLWithPath: path))
                return try ImageProbe.read(path: path)
            }
            let path = "/v1/assets/\(assetID)/styles/\(IDs.watercolor)/preview.jpg"
            let first = try await client.get(path)
            #expect(first.status == .ok)
            #expect(first.headers[.contentType] == "image/jpeg" && first.headers[.previewCache] == "miss")
            #expect(first.headers[.cacheControl] == "private, max-age=86400")
            let etag = try #require(first.headers[.eTag])
            // The whole photo (5640x3172) at 600 px on the long edge.
            let whole = try probe(first)
            #expect(whole.format == .jpeg && whole.width == 600 && abs(whole.height - 337) <= 1)

            let second = try await client.get(path)
            #expect(second.headers[.previewCache] == "hit" && second.headers[.eTag] == etag && second.body == first.body)
            let notModified = try await client.get(path, headers: [.ifNoneMatch: etag])
            #expect(notModified.status == .notModified && notModified.body.readableBytes == 0 && notModified.headers[.eTag] == etag)

            // On a 9x12 the crop is the paper's: 3:4, turned as asked.
            let portrait = try await client.get("\(path)?size_preset_id=\(IDs.preset9x12)&orientation=portrait")
            let tall = try probe(portrait)
            #expect(tall.height == 600 && tall.width == 450)
            #expect(portrait.headers[.eTag] != etag)
            let landscape = try probe(try await client.get("\(path)?size_preset_id=\(IDs.preset9x12)&fit=contain"))
            #expect(landscape.width == 600 && landscape.height == 450)
            // Parameters change the picture and the validator; invalid ones are refused as in a render.
            // Written as URLSearchParams writes it: a space is `+`.
            let stronger = try await client.get("\(path)?style_params=%7B%22paper_texture%22%3A+1%7D")
            #expect(stronger.status == .ok && stronger.headers[.eTag] != etag && stronger.body != first.body)
            try await client.get("\(path)?style_params=%7B%22nope%22%3A1%7D").expectError(.badRequest, "Invalid style_params")
            try await client.get("\(path)?orientation=sideways").expectError(.badRequest, "Invalid orientation")
            try await client.get("\(path)?size_preset_id=\(UUID().uuidString)").expectError(.badRequest, "Unknown size_preset_id")
            try await client.get("/v1/assets/\(assetID)/styles/\(UUID().uuidString)/preview.jpg").expectError(.badRequest, "Unknown style_id")

            let metrics = String(buffer: try await client.get("/metrics").body)
            #expect(metrics.contains("preview_renders_total{style=\"watercolor\"} 4"), "\(metrics)")
            #expect(metrics.contains("preview_cache_requests_total{result=\"hit\"} 1"))
            #expect(metrics.contains("preview_cache_requests_total{result=\"not_modified\"} 1"))
            #expect(metrics.contains("assets_uploaded_total 1"))
            #expect(service.logSink.lines.contains { $0.contains("Style preview rendered") && $0.contains(assetID) })
        }
    }

    @Test func previewQueriesAreReadAsFormsWriteThem() {
        #expect(
            AssetController.formQuery("style_params=%7B%22a%22%3A+1%7D&fit=cover&fit=contain&x") == ["style_params": "{\"a\": 1}", "fit": "cover", "x": ""])
        #expect(AssetController.formQuery("a=%2B1") == ["a": "+1"])
        #expect(AssetController.formQuery(nil).isEmpty)
    }

    @Test func previewPaperKeepsThePrintsShapeAtSixHundredPixels() {
        let asset = AssetRecord(
            id: UUID(), storageKey: "k", contentType: "image/jpeg", sizeBytes: 1, width: 4000, height: 3000, format: "jpeg", createdAt: Date())
        for preset in SizePreset.all {
            let paper = StylePreviews.paper(for: preset, asset: asset)
            #expect(abs(max(paper.widthPixels, paper.heightPixels) - 600) <= 40, "\(preset.name): \(paper.widthPixels)x\(paper.heightPixels)")
            let ratio = Double(paper.widthPixels) / Double(paper.heightPixels), printRatio = Double(preset.widthPixels) / Double(preset.heightPixels)
            #expect(abs(ratio - printRatio) < 0.03, "\(preset.name)")
        }
        let own = StylePreviews.paper(for: nil, asset: asset)
        #expect(own.heightPixels == 600 && own.widthPixels == 450)
    }

    @Test func preferWaitAnswersWhenTheStatusChangesNotBefore() async throws {
        let service = try await EmbeddedTestService.make()
        defer { service.cleanUp() }
        try await service.app.test(.router) { client in
            let id = try #require(try await client.upload(try MultipartBody.render()).json["render_id"] as? String)
            let clock = ContinuousClock()
            // Nothing happens: the answer comes after the wait, still queued.
            var started = clock.now
            let idle = try await client.get("/v1/renders/\(id)", headers: [.prefer: "wait=1"])
            #expect(clock.now - started >= .milliseconds(950))
            #expect(try idle.json["status"] as? String == "queued" && idle.headers[.preferenceApplied] == "wait=1")

            // A worker picks it up: the waiting request is woken by the change, long before its 20 s.
            async let waited = client.get("/v1/renders/\(id)", headers: [.prefer: "wait=20"])
            try await Task.sleep(for: .milliseconds(300))
            started = clock.now
            let worker = Task { try await service.drainQueue() }
            let woken = try await waited
            // Woken by `processing` (the render itself takes longer), far sooner than the 1 s re-read.
            #expect(clock.now - started < .seconds(5))
            #expect(try woken.json["status"] as? String == "processing")
            try await worker.value

            // Terminal: at once, whatever the wait; the wait is capped at 60 s.
            started = clock.now
            let done = try await client.get("/v1/renders/\(id)", headers: [.prefer: "respond-async, wait=1000"])
            // Far below the 60 s cap it would wait if it did not see the terminal status (1 s
            // was missed at 1.4 s on a loaded machine).
            #expect(clock.now - started < .seconds(5))
            #expect(try done.json["status"] as? String == "completed" && done.headers[.preferenceApplied] == "wait=60")
            // Without Prefer, or with a malformed one, nothing waits.
            #expect(try await client.get("/v1/renders/\(id)", headers: [.prefer: "wait=soon"]).headers[.preferenceApplied] == nil)
        }
        #expect(
            RenderController.preferredWait(
                Request(
                    head: .init(method: .get, scheme: nil, authority: nil, path: "/", headerFields: [.prefer: "wait=-3"]), body: .init(buffer: ByteBuffer())))
                == nil)
    }

    @Test func changeSignalWakesWatchesKeepsEarlyNewsAndForgetsEndedWatches() async throws {
        let signal = RenderChangeSignal()
        let id = UUID(), clock = ContinuousClock()
        await signal.watching(id) { watch in
            // Nothing happens: the wait lasts its timeout.
            var started = clock.now
            await watch.wait(timeout: .milliseconds(200))
            #expect(clock.now - started >= .milliseconds(190))

            // A change between the caller's read and its wait is kept: the wait returns at once
            // (bounds far under the 30 s timeout: a loaded machine took 1.9 s once).
            signal.signal(id)
            started = clock.now
            await watch.wait(timeout: .seconds(30))
            #expect(clock.now - started < .seconds(10))
            // ... once: the next wait waits again.
            started = clock.now
            await watch.wait(timeout: .milliseconds(200))
            #expect(clock.now - started >= .milliseconds(190))

            // A change while waiting wakes it; another render's change does not.
            started = clock.now
            async let woken: Void = watch.wait(timeout: .seconds(30))
            try? await Task.sleep(for: .milliseconds(100))
            signal.signal(UUID())
            try? await Task.sleep(for: .milliseconds(100))
            signal.signal(id)
            await woken
            #expect(clock.now - started < .seconds(10) && clock.now - started >= .milliseconds(190))

            // The cross-process feed coming back wakes everyone.
            started = clock.now
            async let all: Void = watch.wait(timeout: .seconds(30))
            try? await Task.sleep(for: .milliseconds(100))
            signal.signalAll()
            await all
            #expect(clock.now - started < .seconds(10))
            #expect(signal.watches(on: id) == 1)
        }
        #expect(signal.watches(on: id) == 0, "an ended watch is forgotten")
    }

    @Test func theStudioIsServedWithAStrictPolicyAndCanBeTurnedOff() async throws {
        let service = try await EmbeddedTestService.make()
        defer { service.cleanUp() }
        try await service.app.test(.router) { client in
            let page = try await client.get("/", headers: [.accept: "text/html,application/xhtml+xml"])
            #expect(page.status == .ok && page.headers[.contentType] == "text/html; charset=utf-8")
            let policy = try #require(page.headers[.contentSecurityPolicy])
            #expect(policy.contains("script-src 'self'") && policy.contains("style-src 'self'") && policy.contains("default-src 'none'"))
            #expect(!policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"))
            let html = String(buffer: page.body)
            #expect(html.contains("<script type=\"module\" src=\"/studio/files/studio.js\">"))
            #expect(html.firstMatch(of: /<script(?![^>]*\bsrc=)[^>]*>/) == nil, "no inline script")
            #expect(html.firstMatch(of: /\sstyle=|<style|\son[a-z]+=/) == nil, "no inline style or handlers")
            #expect(!html.contains("http://") && !html.contains("https://"), "nothing from another origin")
            // API clients keep the JSON index at /.
            #expect(try await client.get("/").json["service"] as? String == "aso-render")
            #expect(try await client.get("/studio").status == .ok)
            #expect(String(buffer: try await client.get("/docs").body).contains("/studio/files/docs.js"))
            for (file, type) in [("studio.js", "text/javascript"), ("api.js", "text/javascript"), ("docs.js", "text/javascript"), ("studio.css", "text/css")] {
                let response = try await client.get("/studio/files/\(file)")
                #expect(response.status == .ok && response.headers[.contentType]?.hasPrefix(type) == true, "\(file)")
            }
            try await client.get("/studio/files/..%2FPackage.swift").expectError(.notFound)
            try await client.get("/studio/files/nope.js").expectError(.notFound)
            #expect(try await client.get("/studio/config.json").json["api_keys_required"] as? Bool == false)
        }
        let keyed = try await EmbeddedTestService.make(["API_KEYS": Self.alice])
        defer { keyed.cleanUp() }
        try await keyed.app.test(.router) { client in
            // The page and what it needs before it has a key are open; the API is not.
            #expect(try await client.get("/studio").status == .ok)
            #expect(try await client.get("/studio/config.json").json["api_keys_required"] as? Bool == true)
            try await client.get("/v1/styles").expectError(.unauthorized)
        }
        let off = try await EmbeddedTestService.make(["STUDIO_ENABLED": "false"])
        defer { off.cleanUp() }
        try await off.app.test(.router) { client in
            #expect(try await client.get("/", headers: [.accept: "text/html"]).json["service"] as? String == "aso-render")
            try await client.get("/studio").expectError(.notFound)
            try await client.get("/docs").expectError(.notFound)
        }
        #expect(throws: ConfigurationError.self) { try ServiceConfiguration(environment: ["STUDIO_ENABLED": "perhaps"]) }
    }
}
