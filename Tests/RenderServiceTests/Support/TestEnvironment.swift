import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import RenderEngine

@testable import RenderService

/// A fresh embedded deployment in a temporary data directory.
struct EmbeddedTestService {
    let deployment: Deployment
    var components: ServiceComponents { deployment.components }
    let directory: String
    let logSink: LogSink
    let logger: Logger

    static func make(_ overrides: [String: String] = [:], name: String = #function) async throws -> EmbeddedTestService {
        let directory = temporaryDirectory(name)
        var environment = ["DATA_DIR": directory, "API_PORT": "0", "URL_SIGNING_SECRET": "test-signing-secret-0123456789abcdef", "WORKER_CONCURRENCY": "1"]
        environment.merge(overrides) { $1 }
        let configuration = try ServiceConfiguration(environment: environment)
        let sink = LogSink.capturing()
        let logger = Logger(label: "aso-render") { label in JSONLogHandler(label: label, level: .debug, sink: sink) }
        let deployment = try await Deployment.embedded(configuration: configuration, logger: logger)
        return EmbeddedTestService(deployment: deployment, directory: directory, logSink: sink, logger: logger)
    }

    func workers(retryBaseDelay: Duration = .milliseconds(50)) -> RenderWorkers {
        components.workers(concurrency: components.configuration.workerConcurrency, logger: logger) { $0.retryBaseDelay = retryBaseDelay }
    }

    func cleanUp() {
        try? FileManager.default.removeItem(atPath: directory)
    }
}

func temporaryDirectory(_ name: String = #function) -> String {
    let safe = name.filter { $0.isLetter || $0.isNumber }.prefix(40)
    let path = NSTemporaryDirectory() + "aso-service-tests/\(safe)-\(UUID().uuidString.prefix(8))"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Real photos at their original sizes, made by `scripts/test-photos.sh` from the small copies
/// in `Tests/Fixtures/photos` (no wallpaper package needed).
enum Photos {
    static var dune: String { "\(directory)/dune.jpg" }
    static var flower: String { "\(directory)/flower.jpg" }
    static var elephants: String { "\(directory)/elephants.jpg" }
    static var storm: String { "\(directory)/storm.jpg" }

    /// Made once per test process (and kept between processes); a failure shows as missing files.
    private static let directory: String = {
        let process = Process()
        process.executableURL = TestServers.root.appendingPathComponent("scripts/test-photos.sh")
        let output = Pipe()
        process.standardOutput = output
        guard (try? process.run()) != nil else { return "/nonexistent" }
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }()
}

enum IDs {
    static let watercolor = "550e8400-e29b-41d4-a716-446655440000"
    static let oil = "550e8400-e29b-41d4-a716-446655440001"
    static let photo = "550e8400-e29b-41d4-a716-446655440008"
    static let preset9x12 = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
    static let preset24x36 = "6ba7b814-9dad-11d1-80b4-00c04fd430c8"
}

/// A multipart/form-data body built by hand, as any HTTP client would send it.
struct MultipartBody {
    let boundary = "----aso-test-\(UUID().uuidString)"
    private(set) var data = Data()

    mutating func field(_ name: String, _ value: String) {
        field(name, bytes: Data(value.utf8))
    }

    /// A field whose value is any bytes, valid UTF-8 or not.
    mutating func field(_ name: String, bytes: Data) {
        data.append(Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n".utf8) + bytes + Data("\r\n".utf8))
    }

    mutating func file(_ name: String = "file", filename: String = "photo.jpg", contentType: String = "image/jpeg", contents: Data) {
        data.append(
            Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"; filename=\"\(filename)\"\r\nContent-Type: \(contentType)\r\n\r\n".utf8))
        data.append(contents)
        data.append(Data("\r\n".utf8))
    }

    func finished() -> Data { data + Data("--\(boundary)--\r\n".utf8) }
    var contentType: String { "multipart/form-data; boundary=\(boundary)" }

    /// POSTs the form to `url` (`/v1/renders`, over real HTTP).
    func post(to url: String, timeout: TimeAmount = .seconds(30)) async throws -> HTTPClientResponse {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: contentType)
        request.body = .bytes(ByteBuffer(data: finished()))
        return try await HTTPClient.shared.execute(request, timeout: timeout)
    }

    /// A render upload; `preset: nil` sends no size_preset_id (a custom size comes in `extra`).
    static func render(photo: String = Photos.dune, style: String = IDs.photo, preset: String? = IDs.preset9x12, extra: [String: String] = [:]) throws
        -> MultipartBody
    {
        var body = MultipartBody()
        body.file(contents: try Data(contentsOf: URL(fileURLWithPath: photo)))
        body.field("style_id", style)
        if let preset { body.field("size_preset_id", preset) }
        for (key, value) in extra.sorted(by: { $0.key < $1.key }) { body.field(key, value) }
        return body
    }
}
