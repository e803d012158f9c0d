import AsyncHTTPClient
import Foundation
import NIOCore
import RenderEngine
import Testing

@testable import RenderService

/// What the optional upload fields (`seed`, `style_params`, `orientation`, `fit`) do to the
/// pictures, checked end to end: multipart over a socket to an `aso-render serve` process,
/// rendered by its workers, outputs fetched through the signed URLs the API hands out, pixels
/// compared here. The engine tests check the same features one layer down; these catch a field
/// that is parsed and stored but never reaches the engine (or reaches it swapped).
@Suite("Render options through the API (separate process)", .serialized, .timeLimit(.minutes(20)))
struct RenderOptionsThroughTheAPITests {
    /// A fresh embedded `aso-render serve` with two render threads, stopped after `body`.
    static func withServer(name: String = #function, _ body: (ServerProcess, String) async throws -> Void) async throws {
        let directory = temporaryDirectory(name)
        let server = try await ServerProcess(environment: ["DATA_DIR": directory, "WORKER_CONCURRENCY": "2", "LOG_LEVEL": "INFO"])
        do {
            try await body(server, directory)
        } catch {
            await server.terminate()
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
        await server.terminate()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Waits for every render to finish and requires each to have completed.
    static func requireCompleted(_ base: String, _ ids: [String], timeout: Duration = .seconds(600)) async throws {
        let results = try await ProductionStackTests.waitForAll(base, ids, timeout: timeout)
        for id in ids {
            try #require(results[id]?["status"] as? String == "completed", "\(id): \(results[id] ?? [:])")
        }
    }

    /// The bytes behind `/v1/renders/{id}/download` or `/preview`, fetched through the signed
    /// URL (its host is `PUBLIC_BASE_URL`'s, so the path and query go to this server).
    static func output(_ server: ServerProcess, _ id: String, _ kind: String) async throws -> Data {
        let link = try await ProductionStackTests.json("\(server.baseURL)/v1/renders/\(id)/\(kind)")
        try #require(link.status == 200, "\(kind) of \(id): \(link.body)")
        let url = try #require(link.body["url"] as? String)
        let response = try await HTTPClient.shared.execute(
            HTTPClientRequest(url: server.baseURL + (try EmbeddedTestService.pathAndQuery(url))), timeout: .seconds(60))
        try #require(response.status.code == 200)
        return Data(buffer: try await response.body.collect(upTo: 300 << 20))
    }

    /// Decoded pixels of image bytes.
    static func pixels(_ data: Data, in directory: String) throws -> RasterImage {
        let path = "\(directory)/inspect-\(UUID().uuidString.prefix(8))"
        try data.write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try RasterImage.load(path: path)
    }

    /// Mean absolute difference per sample, in 8-bit levels.
    static func meanAbsoluteDifference(_ a: RasterImage, _ b: RasterImage) throws -> Double {
        try #require(a.width == b.width && a.height == b.height && a.bands == b.bands, "\(a.width)x\(a.height) vs \(b.width)x\(b.height)")
        var total = 0
        for index in 0..<a.pixels.count { total += abs(Int(a.pixels[index]) - Int(b.pixels[index])) }
        return Double(total) / Double(a.pixels.count)
    }

    /// Fraction of pixels where some channel differs by more than `levels`.
    static func changedShare(_ a: RasterImage, _ b: RasterImage, by levels: Int) throws -> Double {
        try #require(a.width == b.width && a.height == b.height && a.bands == b.bands, "\(a.width)x\(a.height) vs \(b.width)x\(b.height)")
        var changed = 0
        for pixel in stride(from: 0, to: a.pixels.count, by: a.bands) {
            for band in 0..<a.bands where abs(Int(a.pixels[pixel + band]) - Int(b.pixels[pixel + band])) > levels {
                changed += 1
                break
            }
        }
        return Double(changed) / Double(a.width * a.height)
    }

    // MARK: seed

    @Test func theSameSeedTwiceGivesIdenticalBytesAndAnotherSeedAnotherPicture() async throws {
        try await Self.withServer { server, directory in
            let base = server.baseURL
            // Watercolor seeds its paper grain and pigment turbulence.
            let first = try await ProductionStackTests.upload(base, style: IDs.watercolor, extra: ["seed": "1234567"])
            let again = try await ProductionStackTests.upload(base, style: IDs.watercolor, extra: ["seed": "1234567"])
            let other = try await ProductionStackTests.upload(base, style: IDs.watercolor, extra: ["seed": "7654321"])
            try await Self.requireCompleted(base, [first, again, other])

            let masters = [try await Self.output(server, first, "download"), try await Self.output(server, again, "download")]
            #expect(masters[0].count > 1_000_000)
            #expect(masters[0] == masters[1], "the same seed gives the same TIFF bytes (\(masters[0].count) vs \(masters[1].count) bytes)")
            let previews = try await [first, again, other].asyncMap { try await Self.output(server, $0, "preview") }
            #expect(previews[0] == previews[1], "the same seed gives the same preview bytes")
            // Another seed moves the textures: the seed reached the engine.
            let difference = try Self.meanAbsoluteDifference(try Self.pixels(previews[0], in: directory), try Self.pixels(previews[2], in: directory))
            #expect(difference > 1.0, "another seed changes the picture (mean difference \(difference) levels)")
        }
    }

    // MARK: style parameters

    /// Styles with parameters (the photo style has none).
    static let parameterisedStyles = StyleCatalog.all.filter { !$0.info.parameters.isEmpty }.map(\.info.slug)

    /// Each parameter of `slug`, as `GET /v1/styles` describes it, rendered at its minimum and at
    /// its maximum with everything else (seed included) equal: the previews must differ
    /// measurably, so a parameter that is accepted but ignored, or clamped to one end, fails.
    @Test(arguments: parameterisedStyles)
    func eachStyleParameterChangesThePictureBetweenItsMinimumAndMaximum(_ slug: String) async throws {
        try await Self.withServer { server, directory in
            let base = server.baseURL
            let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "\(base)/v1/styles"), timeout: .seconds(10))
            let styles = try #require(try JSONSerialization.jsonObject(with: Data(buffer: try await response.body.collect(upTo: 1 << 20))) as? [[String: Any]])
            let style = try #require(styles.first { $0["slug"] as? String == slug })
            let styleID = try #require(style["id"] as? String)
            let parameters = try #require(style["parameters"] as? [[String: Any]])
            try #require(!parameters.isEmpty)

            var pairs: [(name: String, minimum: String, maximum: String)] = []
            for parameter in parameters {
                let name = try #require(parameter["name"] as? String)
                let minimum = try #require((parameter["minimum"] as? NSNumber)?.doubleValue)
                let maximum = try #require((parameter["maximum"] as? NSNumber)?.doubleValue)
                try #require(minimum < maximum, "\(slug).\(name): \(minimum)…\(maximum)")
                let at = { (value: Double) in
                    try await ProductionStackTests.upload(
                        base, photo: Photos.storm, style: styleID, extra: ["style_params": "{\"\(name)\": \(value)}", "seed": "42"])
                }
                pairs.append((name, try await at(minimum), try await at(maximum)))
            }
            try await Self.requireCompleted(base, pairs.flatMap { [$0.minimum, $0.maximum] })

            for pair in pairs {
                let low = try Self.pixels(try await Self.output(server, pair.minimum, "preview"), in: directory)
                let high = try Self.pixels(try await Self.output(server, pair.maximum, "preview"), in: directory)
                // Measurable: a broad change (the whole picture moves by a level on average, as
                // watercolor's wash size does) or a local but visible one (a quarter percent of
                // the pixels change by more than 24 levels, as comic's line weight does). An
                // ignored or clamped parameter gives identical pixels: 0 on both.
                let difference = try Self.meanAbsoluteDifference(low, high)
                let changed = try Self.changedShare(low, high, by: 24)
                #expect(
                    difference >= 1.0 || changed >= 0.0025,
                    "\(slug).\(pair.name): minimum and maximum differ by \(difference) levels on average, visibly in \(changed * 100) % of pixels")
            }
        }
    }

    // MARK: orientation and fit

    @Test func portraitOrientationGivesAPortraitPrintOfALandscapePhoto() async throws {
        try await Self.withServer { server, directory in
            // Dune is 1680x1050: without the field it would print 3600x2700.
            let id = try await ProductionStackTests.upload(server.baseURL, extra: ["orientation": "portrait"])
            try await Self.requireCompleted(server.baseURL, [id])
            let master = try Self.pixels(try await Self.output(server, id, "download"), in: directory)
            #expect(master.width == 2700 && master.height == 3600, "master \(master.width)x\(master.height)")
            let preview = try Self.pixels(try await Self.output(server, id, "preview"), in: directory)
            #expect(preview.width == 900 && preview.height == 1200, "preview \(preview.width)x\(preview.height)")
            let record = try await ProductionStackTests.json("\(server.baseURL)/v1/renders/\(id)")
            // Covering 9x12 in upright, the photo's 1050 rows span 12 in: 87.5 DPI (116.7 on 12x9).
            #expect((record.body["effective_dpi"] as? Double).map { abs($0 - 87.5) < 0.1 } == true, "\(record.body)")
        }
    }

    /// `fit=contain`: the whole 16:10 photo on 4:3 paper, so white bands of equal height above
    /// and below it and none at the sides.
    @Test func containKeepsTheWholePhotoBetweenEqualWhiteMargins() async throws {
        try await Self.withServer { server, directory in
            let id = try await ProductionStackTests.upload(server.baseURL, extra: ["fit": "contain"])
            try await Self.requireCompleted(server.baseURL, [id])
            let master = try Self.pixels(try await Self.output(server, id, "download"), in: directory)
            try #require(master.width == 3600 && master.height == 2700 && master.bands == 3, "\(master.width)x\(master.height)x\(master.bands)")

            func row(_ y: Int) -> ArraySlice<UInt8> { master.pixels[(y * master.width * 3)..<((y + 1) * master.width * 3)] }
            func isPaper(_ y: Int) -> Bool { row(y).allSatisfy { $0 >= 254 } }
            // 3600 px wide holds 1680x1050 at 3600x2250: 225 rows of paper above and below.
            let top = (0..<master.height).first { !isPaper($0) } ?? master.height
            let bottom = master.height - 1 - ((0..<master.height).reversed().first { !isPaper($0) } ?? -1)
            #expect(abs(top - 225) <= 2 && abs(bottom - 225) <= 2, "margins \(top) above and \(bottom) below, 225 expected")
            #expect(abs(top - bottom) <= 1, "centred: \(top) above, \(bottom) below")
            // The margins are flat paper (every sample white), the photo spans the full width.
            let margin = (0..<min(top, 200)).flatMap { Array(row($0)) } + (0..<min(bottom, 200)).flatMap { Array(row(master.height - 1 - $0)) }
            #expect(!margin.isEmpty && margin.allSatisfy { $0 >= 254 }, "margins are uniform white")
            for y in stride(from: top + 10, to: master.height - bottom - 10, by: 200) {
                let line = row(y)
                let left = line.prefix(30), right = line.suffix(30)
                #expect(!left.allSatisfy { $0 >= 254 } && !right.allSatisfy { $0 >= 254 }, "row \(y): the photo reaches both sides")
            }
        }
    }

    // MARK: form fields

    /// A field sent twice is refused, so a second value never silently replaces the first
    /// (small fields after the file, the way a client's bug would send them).
    @Test func aFieldSentTwiceIsRefusedAndNothingIsRendered() async throws {
        try await Self.withServer { server, directory in
            // `render()` sends file, style_id and size_preset_id; then the repeated field.
            for (name, values) in [("style_id", [IDs.watercolor]), ("orientation", ["portrait", "landscape"]), ("seed", ["1", "2"])] {
                var body = try MultipartBody.render()
                for value in values { body.field(name, value) }
                let response = try await body.post(to: "\(server.baseURL)/v1/renders")
                let text = String(buffer: try await response.body.collect(upTo: 1 << 16))
                #expect(response.status.code == 400, "\(name) twice: \(response.status.code) \(text)")
                #expect(text.contains("\"error\":\"Duplicate form field\"") && text.contains("'\(name)'"), "\(name) twice: \(text)")
            }
            let objects = (try? FileManager.default.contentsOfDirectory(atPath: "\(directory)/objects/uploads")) ?? []
            #expect(objects.isEmpty, "no photo stored for a refused upload: \(objects)")
        }
    }
}

extension Array where Element: Sendable {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
