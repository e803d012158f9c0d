import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import RenderEngine
import Testing

@testable import RenderService

@Suite("HTTP API, embedded mode")
struct APITests {
    @Test func sizePresetsHaveTheSpecsShape() async throws {
        let service = try await EmbeddedTestService.make()
        defer { service.cleanUp() }
        try await service.app.test(.router) { client in
            let response = try await client.get("/v1/size-presets")
            #expect(response.status == .ok)
            let presets = try response.jsonArray
            #expect(presets.count == SizePreset.all.count)
            let a4 = try #require(presets.first { $0["name"] as? String == "A4" })
            #expect(a4["id"] as? String == "6ba7b815-9dad-11d1-80b4-00c04fd430c8" && a4["width_px"] as? Int == 2480 && a4["height_px"] as? Int == 3508)
            #expect(a4["width_inches"] as? Double == 8.27 && a4["width_mm"] as? Double == 210 && a4["height_mm"] as? Double == 297)
            let first = presets[0]
            #expect(first["id"] as? String == IDs.preset9x12)
            #expect(first["name"] as? String == "9x12")
            #expect(first["width_inches"] as? Double == 9.0 && first["height_inches"] as? Double == 12.0)
            #expect(first["dpi"] as? Int == 300 && first["width_px"] as? Int == 2700 && first["height_px"] as? Int == 3600)
            #expect(Set(first.keys) == ["id", "name", "width_inches", "height_inches", "dpi", "width_px", "height_px"])
            #expect(presets[4]["id"] as? String == IDs.preset24x36)
        }
    }

    @Test func stylesListTheCatalogueWithParameters() async throws {
        let service = try await EmbeddedTestService.make()
        defer { service.cleanUp() }
        try await service.app.test(.router) { client in
            let styles = try await client.get("/v1/styles").jsonArray
            let watercolor = try #require(styles.first { $0["slug"] as? String == "watercolor" })
            #expect(watercolor["id"] as? String == IDs.watercolor)
            #expect(watercolor["name"] as? String == "Watercolor")
            let parameters = try #require(watercolor["parameters"] as? [[String: Any]])
            #expect(parameters.contains { $0["name"] as? String == "edge_darkness" && $0["minimum"] as? Double == 0 && $0["maximum"] as? Double == 1 })
            #expect(styles.contains { $0["id"] as? String == IDs.photo })
        }
    }

    @Test func uploadPollDownloadAndPreview() async throws {
        let service = try await EmbeddedTestService.make()
        defer { service.cleanUp() }
        try await service.app.test(.router) { client in
            let created = try await client.upload(try MultipartBody.render(style: IDs.watercolor))
            #expect(created.status == .created)
            let body = try created.json
            #expect(Set(body.keys) == ["render_id", "status", "created_at"])
            #expect(body["status"] as? String == "queued")
            let id = try #require(body["render_id"] as? String)
            #expect(UUID(uuidString: id) != nil && id == id.lowercased())
            #expect(created.headers[.location] == "/v1/renders/\(id)")
            let createdAt = try #require(body["created_at"] as? String)
            #expect(createdAt.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"#, options: .regularExpression) != nil)

            let queued = try await client.get("/v1/renders/\(id)").json
            #expect(queued["status"] as? String == "queued")
            for key in ["started_at", "completed_at", "duration_ms", "error_message"] { #expect(queued[key] is NSNull, "\(key) is null") }
            try await client.get("/v1/renders/\(id)/download").expectError(.conflict, "Render not completed (current status: queued)")
            try await client.get("/v1/renders/\(id)/preview").expectError(.conflict, "Render not completed (current status: queued)")

            try await service.drainQueue()

            let done = try await client.get("/v1/renders/\(id)").json
            #expect(done["status"] as? String == "completed")
            #expect(done["id"] as? String == id)
            #expect(UUID(uuidString: done["asset_id"] as? String ?? "") != nil)
            let style = try #require(done["style"] as? [String: Any])
            #expect(style["id"] as? String == IDs.watercolor && style["name"] as? String == "Watercolor" && style["slug"] as? String == "watercolor")
            let preset = try #require(done["size_preset"] as? [String: Any])
            #expect(preset["name"] as? String == "9x12" && preset["width_px"] as? Int == 2700)
            let started = try #require(done["started_at"] as? String), completed = try #require(done["completed_at"] as? String)
            #expect(started >= createdAt && completed >= started)
            #expect((done["duration_ms"] as? Int ?? 0) > 0)
            #expect(done["error_message"] is NSNull)
            #expect((done["effective_dpi"] as? Double).map { abs($0 - 116.7) < 0.1 } == true)

            let link = try await client.get("/v1/renders/\(id)/download").json
            #expect(link["expires_in"] as? Int == 604800)
            let url = try #require(link["url"] as? String)
            #expect(url.hasPrefix("http://localhost:8089/v1/files/renders/\(id)/output.tiff?"))
            let file = try await client.get(try EmbeddedTestService.pathAndQuery(url))
            #expect(file.status == .ok)
            #expect(file.headers[.contentType] == "image/tiff")
            #expect(file.headers[.contentDisposition]?.contains("filename=\"watercolor-9x12-\(id).tiff\"") == true)
            #expect(file.headers[.contentLength] == String(file.body.readableBytes))
            #expect(file.body.readableBytes > 1_000_000)
            // It is the 300 DPI master: TIFF magic and the size the preset promises.
            let scratch = temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: scratch) }
            try Data(buffer: file.body).write(to: URL(fileURLWithPath: "\(scratch)/out.tiff"))
            let probe = try ImageProbe.read(path: "\(scratch)/out.tiff")
            #expect(probe.format == .tiff && probe.width == 3600 && probe.height == 2700)

            let previewLink = try await client.get("/v1/renders/\(id)/preview").json
            let preview = try await client.get(try EmbeddedTestService.pathAndQuery(try #require(previewLink["url"] as? String)))
            #expect(preview.status == .ok && preview.headers[.contentType] == "image/jpeg")
            #expect(preview.headers[.contentDisposition]?.contains("watercolor-9x12-\(id)-preview.jpg") == true)
        }
    }

    @Test func cancelStopsQueuedRendersAndRefusesFinishedOnes() async throws {
        let service = try await EmbeddedTestService.make()
        defer { service.cleanUp() }
        try await service.app.test(.router) { client in
            let first = try #require(try await client.upload(try MultipartBody.render()).json["render_id"] as? String)
            let second = try #require(try await client.upload(try MultipartBody.render()).json["render_id"] as? String)
            let canceled = try await client.execute(uri: "/v1/renders/\(first)/cancel", method: .post)
            #expect(canceled.status == .ok)
            let body = try canceled.json
            #expect(body["status"] as? String == "canceled" && body["completed_at"] is String && body["started_at"] is NSNull)
            // Retrying the cancel is harmless.
            #expect(try await client.execute(uri: "/v1/renders/\(first)/cancel", method: .post).json["status"] as? String == "canceled")

            try await service.drainQueue()
            #expect(try await client.get("/v1/renders/\(first)").json["status"] as? String == "canceled", "the worker dropped it")
            #expect(try await client.get("/v1/renders/\(second)").json["status"] as? String == "completed")
            try await client.get("/v1/renders/\(first)/download").expectError(.conflict, "Render not completed (current status: canceled)")
            try await client.execute(uri: "/v1/renders/\(second)/cancel", method: .post)
                .expectError(.conflict, "Render cannot be canceled (current status: completed)")
            try await client.execute(uri: "/v1/renders/not-a-uuid/cancel", method: .post).expectError(.badRequest, "Invalid UUID format for render_id")
            try await client.execute(uri: "/v1/renders/\(UUID().uuidString)/cancel", method: .post).expectError(.notFound, "Render not found")
            let wrongMethod = try await client.get("/v1/renders/\(first)/cancel")
            try wrongMethod.expectError(.methodNotAllowed)
        }
    }

    @Test func downloadsSupportRangesAndRefuseAlteredOrExpiredURLs() async throws {
        let service = try await EmbeddedTestService.make()
        defer { service.cleanUp() }
        try await service.app.test(.router) { client in
            let id = try #require(try await client.upload(try MultipartBody.render()).json["render_id"] as? String)
            try await service.drainQueue()
            let url = try #require(try await client.get("/v1/renders/\(id)/download").json["url"] as? String)
            let path = try EmbeddedTestService.pathAndQuery(url)
            let whole = try await client.get(path)
            let size = whole.body.readableBytes

            let part = try await client.get(path, headers: [.range: "bytes=100-199"])
            #expect(part.status == .partialContent)
            #expect(part.headers[.contentRange] == "bytes 100-199/\(size)")
            #expect(Data(buffer: part.body) == Data(buffer: whole.body)[100..<200])
            let tail = try await client.get(path, headers: [.range: "bytes=-10"])
            #expect(tail.status == .partialContent && tail.body.readableBytes == 10)
            let open = try await client.get(path, headers: [.range: "bytes=\(size - 5)-"])
            #expect(open.body.readableBytes == 5)
            try await client.get(path, headers: [.range: "bytes=\(size + 10)-"]).expectError(.rangeNotSatisfiable)

            let altered = path.replacingOccurrences(of: "output.tiff", with: "preview.jpg")
            try await client.get(altered).expectError(.forbidden, "Invalid signature")
            var components = try #require(URLComponents(string: url))
            components.queryItems = components.queryItems?.map { $0.name == "filename" ? URLQueryItem(name: "filename", value: "other.tiff") : $0 }
            try await client.get(try EmbeddedTestService.pathAndQuery(components.url!.absoluteString)).expectError(.forbidden, "Invalid signature")
            try await client.get("/v1/files/renders/\(id)/output.tiff").expectError(.forbidden)

            // An expired URL with a valid signature.
            let signer = try #require(service.components.localFiles?.signer)
            let key = "renders/\(id)/output.tiff"
            let past = Int(Date().timeIntervalSince1970) - 10
            let expired = "/v1/files/\(key)?expires=\(past)&filename=x.tiff&signature=\(signer.signature(key: key, expires: past, filename: "x.tiff"))"
            try await client.get(expired).expectError(.forbidden, "URL expired")
            try await client.get("/v1/files/../aso-render.sqlite?expires=1&filename=x&signature=00").expectError(.notFound)
        }
    }

    @Test func uploadValidationErrors() async throws {
        let service = try await EmbeddedTestService.make()
        defer { service.cleanUp() }
        let photo = try Data(contentsOf: URL(fileURLWithPath: Photos.dune))
        try await service.app.test(.router) { client in
            var noFile = MultipartBody()
            noFile.field("style_id", IDs.photo)
            noFile.field("size_preset_id", IDs.preset9x12)
            try await client.upload(noFile).expectError(.badRequest, "No file provided")

            var noStyle = MultipartBody()
            noStyle.file(contents: photo)
            noStyle.field("size_preset_id", IDs.preset9x12)
            try await client.upload(noStyle).expectError(.badRequest, "style_id is required")

            try await client.upload(try MultipartBody.render(style: "not-a-uuid")).expectError(.badRequest, "Invalid UUID format for style_id")
            try await client.upload(try MultipartBody.render(preset: "6ba7b810")).expectError(.badRequest, "Invalid UUID format for size_preset_id")
            try await client.upload(try MultipartBody.render(style: UUID().uuidString)).expectError(.badRequest, "Unknown style_id")
            try await client.upload(try MultipartBody.render(preset: UUID().uuidString)).expectError(.badRequest, "Unknown size_preset_id")
            try await client.upload(try MultipartBody.render(extra: ["orientation": "sideways"])).expectError(.badRequest, "Invalid orientation")
            try await client.upload(try MultipartBody.render(extra: ["fit": "stretch"])).expectError(.badRequest, "Invalid fit")
            try await client.upload(try MultipartBody.render(extra: ["seed": "-1"])).expectError(.badRequest, "Invalid seed")

            let unknownKey = try await client.upload(try MultipartBody.render(style: IDs.watercolor, extra: ["style_params": #"{"paper": 1}"#]))
            #expect(
                try unknownKey.expectError(.badRequest, "Invalid style_params")["message"] as? String
                    == "Unknown parameter 'paper' for style watercolor (accepted: paper_texture, edge_darkness, wash_size, back_runs)")
            let outOfRange = try await client.upload(try MultipartBody.render(style: IDs.watercolor, extra: ["style_params": #"{"edge_darkness": 3}"#]))
            #expect((try outOfRange.expectError(.badRequest)["message"] as? String)?.contains("'edge_darkness'") == true)
            let notNumber = try await client.upload(try MultipartBody.render(style: IDs.watercolor, extra: ["style_params": #"{"edge_darkness": "dark"}"#]))
            #expect(try notNumber.expectError(.badRequest)["message"] as? String == "Parameter 'edge_darkness' must be a number")
            try await client.upload(try MultipartBody.render(style: IDs.watercolor, extra: ["style_params": "[1,2]"])).expectError(
                .badRequest, "Invalid style_params")

            try await client.execute(uri: "/v1/renders", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: "{}"))
                .expectError(.badRequest, "Expected multipart/form-data")
            try await client.execute(
                uri: "/v1/renders", method: .post, headers: [.contentType: "multipart/form-data; boundary=abc"],
                body: ByteBuffer(string: "--abc\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n\r\nabc")
            ).expectError(.badRequest, "Malformed multipart body")

            var twoFiles = try MultipartBody.render()
            twoFiles.file(contents: photo)
            try await client.upload(twoFiles).expectError(.badRequest, "Multiple files provided")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(service.directory)/tmp").isEmpty, "no temporary upload left behind")
        #expect(try await service.components.store.count(status: .queued) == 0)
    }

    @Test func imagesTheEngineRefusesAreRefusedAtUploadSayingWhy() async throws {
        let service = try await EmbeddedTestService.make()
        defer { service.cleanUp() }
        @Sendable func body(_ contents: Data, filename: String = "photo.jpg") -> MultipartBody {
            var body = MultipartBody()
            body.file(filename: filename, contents: contents)
            body.field("style_id", IDs.photo)
            body.field("size_preset_id", IDs.preset9x12)
            return body
        }
        var bomb = try Data(contentsOf: URL(fileURLWithPath: Photos.dune))
        // Patch the frame header (after the EXIF thumbnail's) to claim 60000x60000.
        let bytes = [UInt8](bomb)
        let sofs = (0..<(bytes.count - 9)).filter { bytes[$0] == 0xFF && (bytes[$0 + 1] == 0xC0 || bytes[$0 + 1] == 0xC2) }
        let sof = try #require(sofs.last)
        bomb.replaceSubrange((sof + 5)..<(sof + 9), with: [0xEA, 0x60, 0xEA, 0x60])
        let bombBody = body(bomb)
        try await service.app.test(.router) { client in
            try await client.upload(body(Data("plain text, not a photo".utf8))).expectError(.badRequest, "Unsupported image format")
            try await client.upload(body(Data("<svg xmlns='http://www.w3.org/2000/svg'/>".utf8), filename: "x.svg")).expectError(
                .badRequest, "Unsupported image format")
            try await client.upload(body(Data())).expectError(.badRequest, "Empty file")
            try await client.upload(body(Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + [UInt8](repeating: 7, count: 40)))).expectError(
                .badRequest, "Corrupt image")
            let tooLarge = try await client.upload(bombBody).expectError(.badRequest, "Image too large")
            #expect((tooLarge["message"] as? String)?.contains("60000x60000") == true)
        }
    }

    /// A JPEG, PNG or WebP cut short has a valid header but cannot be decoded: it is refused
    /// while the client waits (400, saying so), nothing is stored or queued; whole files pass.
    @Test(arguments: ["jpg", "png", "webp"])
    func truncatedPhotosAreRefusedAtUpload(_ format: String) async throws {
        let service = try await EmbeddedTestService.make()
        defer { service.cleanUp() }
        let whole = "\(service.directory)/whole.\(format)"
        let made = try await ChildProcess.run("/usr/bin/vips", ["thumbnail", Photos.dune, whole, "1600"])
        try #require(made == 0, "vips thumbnail → \(format)")
        let data = try Data(contentsOf: URL(fileURLWithPath: whole))
        @Sendable func body(_ contents: Data) -> MultipartBody {
            var body = MultipartBody()
            body.file(filename: "photo.\(format)", contents: contents)
            body.field("style_id", IDs.photo)
            body.field("size_preset_id", IDs.preset9x12)
            return body
        }
        try await service.app.test(.router) { client in
            let started = ContinuousClock.now
            let refused = try await client.upload(body(data.prefix(data.count * 6 / 10))).expectError(.badRequest, "Corrupt image")
            #expect((refused["message"] as? String)?.contains("corrupt or truncated") == true, "\(refused)")
            #expect(ContinuousClock.now - started < .seconds(5), "answered while the client waits")
            #expect(try await service.components.store.count(status: .queued) == 0)
            #expect(try FileManager.default.contentsOfDirectory(atPath: "\(service.directory)/objects").isEmpty, "nothing stored")
            #expect(try await client.upload(body(data)).status == .created, "the whole file is accepted")
        }
    }

    @Test func renderIdErrorsAndUnknownRoutes() async throws {
        let service = try await EmbeddedTestService.make()
        defer { service.cleanUp() }
        try await service.app.test(.router) { client in
            for suffix in ["", "/download", "/preview"] {
                try await client.get("/v1/renders/not-a-uuid\(suffix)").expectError(.badRequest, "Invalid UUID format for render_id")
                try await client.get("/v1/renders/\(UUID().uuidString)\(suffix)").expectError(.notFound, "Render not found")
            }
            try await client.get("/v1/nothing-here").expectError(.notFound, "Not found")
            let wrongMethod = try await client.execute(uri: "/v1/renders/\(UUID().uuidString)", method: .delete)
            try wrongMethod.expectError(.methodNotAllowed)
            #expect(wrongMethod.headers[.allow] == "GET")
            let put = try await client.execute(uri: "/v1/size-presets", method: .put)
            try put.expectError(.methodNotAllowed)
        }
    }

    @Test func healthLivenessReadiness() async throws {
        let service = try await EmbeddedTestService.make()
        defer { service.cleanUp() }
        try await service.app.test(.router) { client in
            let health = try await client.get("/health")
            #expect(health.status == .ok)
            let body = try health.json
            #expect(body["status"] as? String == "healthy")
            #expect(body["checks"] as? [String: String] == ["database": "ok", "redis": "ok", "queue": "ok", "storage": "ok"])
            #expect(try await client.get("/health/liveness").status == .ok)
            #expect(try await client.get("/health/readiness").json["status"] as? String == "ready")
        }
        // Storage gone (the directory is removed and replaced by a file): 503, and says which.
        let objects = "\(service.directory)/objects"
        try FileManager.default.removeItem(atPath: objects)
        #expect(FileManager.default.createFile(atPath: objects, contents: Data()))
        try await service.app.test(.router) { client in
            let health = try await client.get("/health")
            #expect(health.status == .serviceUnavailable)
            let checks = try #require(try health.json["checks"] as? [String: String])
            #expect(checks["database"] == "ok" && checks["storage"]?.hasPrefix("error") == true)
            #expect(try health.json["status"] as? String == "unhealthy")
        }
    }

    @Test func metricsUseTheSpecsNamesAndRouteTemplates() async throws {
        let service = try await EmbeddedTestService.make()
        defer { service.cleanUp() }
        try await service.app.test(.router) { client in
            let id = try #require(try await client.upload(try MultipartBody.render()).json["render_id"] as? String)
            _ = try await client.get("/v1/renders/\(id)")
            _ = try await client.get("/v1/renders/\(UUID().uuidString)")
            try await service.drainQueue()
            let text = String(buffer: try await client.get("/metrics").body)
            #expect(text.contains(#"http_requests_total{method="POST",endpoint="/v1/renders",status="201"} 1"#))
            #expect(text.contains(#"http_requests_total{method="GET",endpoint="/v1/renders/{id}",status="200"} 1"#))
            #expect(text.contains(#"http_errors_total{endpoint="/v1/renders/{id}",status="404"} 1"#))
            #expect(text.contains(#"http_request_duration_seconds_bucket{endpoint="/v1/renders/{id}""#))
            #expect(text.contains(#"rq_queue_depth{queue="render-queue"} 0"#))
            #expect(text.contains(#"rq_jobs_processed_total{queue="render-queue"} 1"#))
            #expect(text.contains(#"rq_job_duration_seconds_count{queue="render-queue"} 1"#))
            // The database's: each store call by name (one upload: one create), and SQLite's
            // pool (one writer, eight readers) idle between requests.
            #expect(text.contains(#"db_query_duration_seconds_count{operation="create"} 1"#), "\(text)")
            #expect(text.contains(#"db_query_duration_seconds_count{operation="mark_completed"} 1"#))
            #expect(text.contains("db_connections_active 0") && text.contains("db_connections_idle 9"))
            #expect(!text.contains("SELECT") && !text.contains("INSERT"), "no SQL in labels")
            #expect(!text.contains(id), "no raw ids in metric labels")
        }
    }

    @Test func openAPIDocumentIsValidAndCoversEveryRoute() async throws {
        let service = try await EmbeddedTestService.make()
        defer { service.cleanUp() }
        try await service.app.test(.router) { client in
            let response = try await client.get("/v1/openapi.json")
            #expect(response.status == .ok)
            let document = try response.json
            #expect(document["openapi"] as? String == "3.0.3")
            let paths = try #require(document["paths"] as? [String: Any])
            // Every API route the router registers is documented with its method (the studio's
            // pages are not API; HEAD comes with GET). `/v1/files/**` is `{key}` in OpenAPI.
            let routes = RouteTable()
            _ = RenderServiceApplication.router(service.components, routes: routes)
            let api = routes.all.filter { route in
                route.method != "HEAD" && ["/v1/", "/health", "/metrics"].contains { route.template.hasPrefix($0) }
            }
            #expect(api.count >= 16, "\(api.map(\.template))")
            for route in api {
                let path = route.template.replacingOccurrences(of: "**", with: "{key}")
                #expect((paths[path] as? [String: Any])?[route.method.lowercased()] != nil, "\(route.method) \(path) documented")
            }
            let servers = try #require(document["servers"] as? [[String: Any]])
            #expect(servers.first?["url"] as? String == "http://localhost:8089")
            // The upload's id fields list exactly the catalogue (the fuzzer generates from them).
            let post = try #require((paths["/v1/renders"] as? [String: Any])?["post"] as? [String: Any])
            let form = try #require(
                ((((post["requestBody"] as? [String: Any])?["content"] as? [String: Any])?["multipart/form-data"]
                    as? [String: Any])?["schema"] as? [String: Any])?["properties"] as? [String: [String: Any]])
            #expect(Set(form["style_id"]?["enum"] as? [String] ?? []) == Set(StyleCatalog.all.map(\.info.id.lowercased)))
            #expect(Set(form["size_preset_id"]?["enum"] as? [String] ?? []) == Set(SizePreset.all.map(\.id.lowercased)))
            #expect(Set(form.keys) == RenderForm.fields.union(["file"]))
            // The listing's query parameters are exactly the ones it takes.
            let list = try #require((paths["/v1/renders"] as? [String: Any])?["get"] as? [String: Any])
            let parameters = try #require(list["parameters"] as? [[String: Any]])
            #expect(parameters.compactMap { $0["name"] as? String } == RenderListRequest.parameters)
            #expect(parameters.allSatisfy { $0["in"] as? String == "query" && $0["required"] as? Bool == false })
            let scratch = temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: scratch) }
            try Data(buffer: response.body).write(to: URL(fileURLWithPath: "\(scratch)/openapi.json"))
            let validator = Process()
            validator.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            validator.arguments = [
                "python3", "-c", "import json,sys; from openapi_spec_validator import validate; validate(json.load(open(sys.argv[1])))",
                "\(scratch)/openapi.json",
            ]
            try validator.run()
            validator.waitUntilExit()
            #expect(validator.terminationStatus == 0, "openapi-spec-validator accepts the document")
        }
    }

    @Test func corsOnlyForConfiguredOrigins() async throws {
        let service = try await EmbeddedTestService.make(["CORS_ALLOWED_ORIGINS": "https://shop.example, https://admin.example"])
        defer { service.cleanUp() }
        try await service.app.test(.router) { client in
            let preflight = try await client.execute(
                uri: "/v1/renders", method: .options,
                headers: [.origin: "https://shop.example", .accessControlRequestMethod: "POST", .accessControlRequestHeaders: "content-type"])
            #expect(preflight.status == .noContent)
            #expect(preflight.headers[.accessControlAllowOrigin] == "https://shop.example")
            #expect(preflight.headers[.accessControlAllowMethods]?.contains("POST") == true)
            let simple = try await client.get("/v1/size-presets", headers: [.origin: "https://admin.example"])
            #expect(simple.headers[.accessControlAllowOrigin] == "https://admin.example")
            let stranger = try await client.get("/v1/size-presets", headers: [.origin: "https://evil.example"])
            #expect(stranger.headers[.accessControlAllowOrigin] == nil)
            let strangerPreflight = try await client.execute(
                uri: "/v1/renders", method: .options, headers: [.origin: "https://evil.example", .accessControlRequestMethod: "POST"])
            #expect(strangerPreflight.headers[.accessControlAllowOrigin] == nil)
        }
        let closed = try await EmbeddedTestService.make()
        defer { closed.cleanUp() }
        try await closed.app.test(.router) { client in
            let response = try await client.get("/v1/size-presets", headers: [.origin: "https://shop.example"])
            #expect(response.headers[.accessControlAllowOrigin] == nil)
        }
    }

    @Test func logsAreJSONLinesWithTheSpecsFields() async throws {
        let service = try await EmbeddedTestService.make()
        defer { service.cleanUp() }
        try await service.app.test(.router) { client in
            let id = try #require(try await client.upload(try MultipartBody.render()).json["render_id"] as? String)
            try await service.drainQueue()
            let lines = service.logSink.lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            #expect(lines.count == service.logSink.lines.count, "every line is JSON")
            let created = try #require(lines.first { $0["message"] as? String == "Render created successfully" })
            #expect(created["render_id"] as? String == id)
            #expect(created["asset_id"] is String && created["duration_ms"] is Int)
            #expect(created["level"] as? String == "INFO" && created["logger"] as? String == "aso-render")
            #expect((created["timestamp"] as? String)?.hasSuffix("Z") == true)
            let completed = try #require(lines.first { $0["message"] as? String == "Render completed" })
            #expect(completed["render_id"] as? String == id && completed["duration_ms"] is Int)
            #expect(!service.logSink.lines.joined().contains("test-signing-secret"))
        }
    }
}
