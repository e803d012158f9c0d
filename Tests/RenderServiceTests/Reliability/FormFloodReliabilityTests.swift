import Foundation
import Synchronization
import Testing

/// The review's memory attack: up to 600 MB of form data in a chunked body (no Content-Length),
/// so the server can only count what arrives. Each flood is refused at its first offending
/// part, the client is cut off long before it finishes, and the server's memory stays flat.
@Suite("Reliability: form floods", .serialized, .tags(.reliability), .timeLimit(.minutes(10)))
struct FormFloodReliabilityTests {
    struct Flood: Sendable {
        let name: String
        let error: String
        /// The body's pieces, in order; endless or ~600 MB.
        let pieces: @Sendable () -> AnySequence<Data>
    }

    static let filler = Data(repeating: UInt8(ascii: "a"), count: 60 * 1024)
    static let limit = 600 << 20

    /// A part per piece, each `header(number)` followed by 60 KB, without end.
    static func parts(_ header: @escaping @Sendable (Int) -> String) -> @Sendable () -> AnySequence<Data> {
        { AnySequence((1...).lazy.map { Data(header($0).utf8) + filler + Data("\r\n".utf8) }) }
    }

    /// `head` then 10,000 × 60 KB of filler: ~600 MB.
    static func after(_ head: String) -> @Sendable () -> AnySequence<Data> {
        { AnySequence([Data(head.utf8)] + Array(repeating: filler, count: 10_000)) }
    }

    static let floods = [
        Flood(
            name: "distinct unknown fields of 60 KB", error: "Unknown form field",
            pieces: parts { "--b\r\nContent-Disposition: form-data; name=\"f\($0)\"\r\n\r\n" }),
        Flood(
            name: "one known field repeated", error: "Duplicate form field",
            pieces: parts { _ in "--b\r\nContent-Disposition: form-data; name=\"seed\"\r\n\r\n" }),
        Flood(name: "parts without a name", error: "Unnamed form part", pieces: parts { _ in "--b\r\nContent-Disposition: form-data\r\n\r\n" }),
        Flood(name: "a preamble that never reaches a boundary", error: "Form fields too large", pieces: { AnySequence(repeatElement(filler, count: Int.max)) }),
        Flood(
            name: "one field of 600 MB", error: "Form field too large", pieces: after("--b\r\nContent-Disposition: form-data; name=\"style_params\"\r\n\r\n")),
        Flood(name: "part headers that never end", error: "Malformed multipart body", pieces: after("--b\r\nX-Filler: ")),
    ]

    /// Streams one flood as a chunked upload: the status and `error` answered, and bytes sent.
    static func send(_ flood: Flood, port: Int) async throws -> (status: Int?, error: String?, sent: Int) {
        try await RawConnection.run {
            let connection = try RawConnection(port: port)
            connection.send(
                Data("POST /v1/renders HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: multipart/form-data; boundary=b\r\n\r\n".utf8))
            let chunks = flood.pieces().lazy.map { Data(String($0.count, radix: 16).utf8) + Data("\r\n".utf8) + $0 + Data("\r\n".utf8) }
            let (answer, sent) = connection.stream(chunks, limit: limit)
            return (answer.statusCode, answer.httpBody.jsonError, sent)
        }
    }

    @Test func everyFloodIsRefusedAtItsFirstOffendingPartAndMemoryStaysFlat() async throws {
        try await EmbeddedDeployment.withServer { deployment, server in
            try await Task.sleep(for: .seconds(1))
            let idle = server.residentMegabytes()
            let peak = Mutex(idle)
            let sampler = Task {
                while !Task.isCancelled {
                    let now = server.residentMegabytes()
                    peak.withLock { $0 = max($0, now) }
                    try? await Task.sleep(for: .milliseconds(20))
                }
            }
            defer { sampler.cancel() }
            for flood in Self.floods {
                for _ in 0..<3 {
                    let (status, error, sent) = try await Self.send(flood, port: server.port)
                    try #require(status == 400 && error == flood.error, "\(flood.name): \(status.map(String.init) ?? "no answer") \(error ?? "")")
                    try #require(sent < 100 << 20, "\(flood.name): the server read \(sent >> 20) MB before refusing")
                }
            }
            sampler.cancel()
            let highest = peak.withLock { $0 }
            try #require(highest - idle <= 50, "RSS grew from \(Int(idle)) MB to \(Int(highest)) MB")
            try #require(try await server.request("/health").status == 200, "health after the floods")
            try #require(deployment.temporaryFiles().isEmpty, "temporary files left: \(deployment.temporaryFiles())")
            try ReliabilityReport.record(
                .formFloods,
                Self.floods.map {
                    ReliabilityRow(
                        fault: "form flood in a chunked body (up to 600 MB): \($0.name)", tries: 3, result: "400 \($0.error) at the first offending part")
                } + [
                    ReliabilityRow(
                        fault: "server memory during all the floods above", tries: Self.floods.count * 3,
                        result: "RSS \(Int(idle.rounded())) MB idle, \(Int(highest.rounded())) MB at most (limit idle + 50 MB)")
                ])
        }
    }
}
