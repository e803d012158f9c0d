import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import RenderService

extension TestResponse {
    var json: [String: Any] {
        get throws {
            try #require(try JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any], "body: \(String(buffer: body))")
        }
    }

    var jsonArray: [[String: Any]] {
        get throws {
            try #require(try JSONSerialization.jsonObject(with: Data(buffer: body)) as? [[String: Any]])
        }
    }

    /// Asserts the spec's error format and returns the `error` text.
    @discardableResult
    func expectError(_ status: HTTPResponse.Status, _ error: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
        #expect(self.status == status, "body: \(String(buffer: body))", sourceLocation: sourceLocation)
        #expect(headers[.contentType] == "application/json", sourceLocation: sourceLocation)
        let object = try json
        #expect(object["status"] as? Int == Int(status.code), sourceLocation: sourceLocation)
        #expect(object["error"] is String, sourceLocation: sourceLocation)
        if let error { #expect(object["error"] as? String == error, sourceLocation: sourceLocation) }
        #expect(Set(object.keys).isSubset(of: ["error", "message", "status"]), "only the spec's keys: \(object.keys)", sourceLocation: sourceLocation)
        return object
    }
}

extension TestClientProtocol {
    func upload(_ body: MultipartBody) async throws -> TestResponse {
        try await execute(
            uri: "/v1/renders", method: .post, headers: [.contentType: body.contentType], body: ByteBuffer(data: body.finished()))
    }

    func get(_ uri: String, headers: HTTPFields = [:]) async throws -> TestResponse {
        try await execute(uri: uri, method: .get, headers: headers)
    }
}

extension EmbeddedTestService {
    var app: some ApplicationProtocol {
        deployment.api(workers: nil, logger: logger)
    }

    /// Claims and renders every queued job, in this task.
    func drainQueue() async throws {
        let workers = workers()
        while let lease = try await components.queue.claim(owner: "test", lease: .seconds(120)) {
            await workers.process(lease)
        }
        try await workers.shutdownThreads()
    }

    /// The path and query of a URL the API handed out (the router-level client takes paths).
    static func pathAndQuery(_ url: String) throws -> String {
        let components = try #require(URLComponents(string: url))
        return components.percentEncodedPath + (components.percentEncodedQuery.map { "?" + $0 } ?? "")
    }
}
