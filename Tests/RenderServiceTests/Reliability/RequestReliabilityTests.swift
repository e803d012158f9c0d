import Foundation
import Testing

@testable import RenderService

extension ServerProcess {
    /// A GET sent byte for byte (the path is not normalised): its status and `error`.
    func rawGet(_ path: String) async throws -> (status: Int?, error: String?) {
        let request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n\r\n"
        let answer = try await RawConnection.exchange(port: port, Data(request.utf8))
        return (answer.statusCode, answer.jsonError)
    }
}

/// Signed download URLs tampered with, traversal in file keys and hostile render ids.
@Suite("Reliability: signed URLs and ids", .serialized, .tags(.reliability), .timeLimit(.minutes(10)))
struct SignedURLReliabilityTests {
    static let secret = "reliability-signing-secret-5b1e-0123456789"

    @Test func tamperedURLsTraversalAndHostileIdsAreRefused() async throws {
        try await EmbeddedDeployment.withServer(["URL_SIGNING_SECRET": Self.secret]) { _, server in
            let id = try await server.acceptedUpload(.renderForm(try Data(contentsOf: URL(fileURLWithPath: Photos.dune))))
            try #require(try await server.waitFor(id) == "completed", "render did not complete")
            let link = try #require(try await server.request("/v1/renders/\(id)/download").json["url"] as? String)
            let url = try #require(URLComponents(string: link))
            let query = Dictionary(uniqueKeysWithValues: (url.queryItems ?? []).map { ($0.name, $0.value ?? "") })
            let key = String(url.path.dropFirst("/v1/files/".count))
            let signer = URLSigner(secret: Data(Self.secret.utf8))
            func path(_ base: String, _ parameters: [String: String]) -> String {
                var components = URLComponents()
                components.queryItems = parameters.sorted { $0.key < $1.key }.map { URLQueryItem(name: $0.key, value: $0.value) }
                return base + "?" + (components.percentEncodedQuery ?? "")
            }
            let genuine = path(url.percentEncodedPath, query)
            try #require(try await server.request(genuine).status == 200, "the signed URL does not work")
            let expires = Int(query["expires"] ?? "") ?? 0, expired = Int(Date().timeIntervalSince1970) - 10
            var cases: [(String, String, Int)] = [
                ("expiry moved later", path(url.percentEncodedPath, query.merging(["expires": String(expires + 3600)]) { $1 }), 403),
                ("signature altered", path(url.percentEncodedPath, query.merging(["signature": String(repeating: "0", count: 64)]) { $1 }), 403),
                ("download name altered", path(url.percentEncodedPath, query.merging(["filename": "other.tiff"]) { $1 }), 403),
                ("signature removed", path(url.percentEncodedPath, ["expires": query["expires"] ?? ""]), 403),
                (
                    "validly signed but expired",
                    path(
                        url.percentEncodedPath,
                        query.merging([
                            "expires": String(expired), "signature": signer.signature(key: key, expires: expired, filename: query["filename"] ?? ""),
                        ]) { $1 }),
                    403
                ),
            ]
            // Traversal: raw paths (not normalised by any client) and validly signed bad keys.
            let traversals = ["../aso-render.sqlite", "renders/../../aso-render.sqlite", "renders/%2e%2e/%2e%2e/url-signing.key", "..%2F..%2Fetc%2Fpasswd"]
            for bad in traversals {
                let future = Int(Date().timeIntervalSince1970) + 600
                let signature = signer.signature(key: bad.removingPercentEncoding ?? bad, expires: future, filename: "x")
                cases.append(("key `\(bad)`", path("/v1/files/\(bad)", ["expires": String(future), "filename": "x", "signature": signature]), 404))
            }
            let hostileIDs = ["..%2F..%2Fhealth", "%2e%2e", "00000000-0000-0000-0000-00000000000g", "'%20OR%201=1%20--"]
            for bad in hostileIDs { cases.append(("render id `\(bad)`", "/v1/renders/\(bad)", 400)) }
            cases.append(("render id of no render", "/v1/renders/00000000-0000-4000-8000-000000000000", 404))
            for (name, target, want) in cases {
                let (status, error) = try await server.rawGet(target)
                try #require(status == want && error != nil, "\(name): \(status.map(String.init) ?? "no answer") \(error ?? "no error body")")
            }
            try #require(try await server.request(genuine).status == 200, "the URL stopped working")
            try ReliabilityReport.record(
                .signedURLs,
                [
                    ReliabilityRow(
                        fault: "signed download URLs: expiry, signature, name altered; expired; unsigned", tries: 5,
                        result: "403 Invalid signature / URL expired; the genuine URL keeps working"),
                    ReliabilityRow(
                        fault: "path traversal in file keys (raw and %-encoded, validly signed)", tries: traversals.count,
                        result: "404, nothing outside the object store served"),
                    ReliabilityRow(
                        fault: "malformed and hostile render ids", tries: hostileIDs.count, result: "400 Invalid UUID format for render_id; unknown id 404"),
                ])
        }
    }
}

/// One Idempotency-Key retried at once, reused for another request, and guessed.
@Suite("Reliability: idempotency", .serialized, .tags(.reliability), .timeLimit(.minutes(10)))
struct IdempotencyReliabilityTests {
    @Test func concurrentRetriesMakeOneRenderAndGuessedKeysRevealNothing() async throws {
        try await EmbeddedDeployment.withServer { deployment, server in
            let photo = try Data(contentsOf: URL(fileURLWithPath: Photos.dune))
            let answers = try await withThrowingTaskGroup(of: Reply.self) { group in
                for _ in 0..<10 { group.addTask { try await server.upload(.renderForm(photo), headers: ["Idempotency-Key": "order-7731"]) } }
                return try await group.reduce(into: [Reply]()) { $0.append($1) }
            }
            let ids = Set(answers.compactMap { $0.json["render_id"] as? String })
            try #require(answers.allSatisfy { $0.status == 201 } && ids.count == 1, "concurrent retries: \(answers.map(\.status)) \(ids)")
            try #require(try deployment.renderCount == 1, "renders recorded: more than one")
            let other = try await server.upload(.renderForm(photo, style: IDs.watercolor), headers: ["Idempotency-Key": "order-7731"])
            try #require(other.status == 422, "reuse with another style: \(other.status)")
            try #require(try deployment.renderCount == 1, "a second render was recorded")
            // Harvesting: with API keys off every client shares the key namespace; guessing keys
            // (order numbers) must not reveal anyone's render id.
            let victim = Data(try #require(ids.first).utf8)
            let probe = Data("GIF89a".utf8) + Data(count: 64)
            let guesses = 7700..<7760
            for number in guesses {
                let answer = try await server.upload(.renderForm(probe, filename: "probe.gif"), headers: ["Idempotency-Key": "order-\(number)"])
                try #require(answer.body.range(of: victim) == nil, "order-\(number): the answer names the earlier render")
            }
            try #require(other.body.range(of: victim) == nil, "the 422 names the earlier render")
            try ReliabilityReport.record(
                .idempotency,
                [
                    ReliabilityRow(
                        fault: "the same upload retried 10 times at once with one Idempotency-Key", tries: answers.count,
                        result: "ten 201s with one render_id, one render recorded"),
                    ReliabilityRow(fault: "Idempotency-Key reused with a different request", tries: 1, result: "422, nothing recorded"),
                    ReliabilityRow(
                        fault: "id harvesting: guessed Idempotency-Keys (order-7700…7759) with another file, API keys off", tries: guesses.count,
                        result: "no answer contains another client's render id (the 422 says only that the key was used)"),
                ])
        }
    }
}
