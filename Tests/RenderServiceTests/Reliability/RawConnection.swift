import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A plain TCP connection for requests no HTTP client would send: paths exactly as written,
/// oversized headers, bodies cut off, streamed slowly or endlessly. Blocking, so every use
/// runs on a Dispatch thread (`RawConnection.run`), never on Swift's cooperative threads.
final class RawConnection {
    private let descriptor: Int32

    init(port: Int) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw ServerFailure(description: "connect to \(port): \(reason)")
        }
    }

    deinit { close(descriptor) }

    /// Runs `work` on a Dispatch thread.
    static func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
        }
    }

    /// Sends all of `data`; false once the server has closed or reset the connection.
    @discardableResult
    func send(_ data: Data) -> Bool {
        data.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let sent = Glibc.send(descriptor, buffer.baseAddress! + offset, buffer.count - offset, Int32(MSG_NOSIGNAL))
                if sent <= 0 { return false }
                offset += sent
            }
            return true
        }
    }

    /// What arrives within `timeout` seconds: nil when the connection is closed, empty when nothing came.
    func receive(timeout: Double) -> Data? {
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, Int32(timeout * 1000)) > 0 else { return Data() }
        var buffer = [UInt8](repeating: 0, count: 65536)
        let count = recv(descriptor, &buffer, buffer.count, 0)
        return count > 0 ? Data(buffer[..<count]) : nil
    }

    /// Reads until the server closes, `done` holds for what came (after `start`, already
    /// received), or `timeout` seconds pass.
    func read(after start: Data = Data(), timeout: Double = 10, until done: (Data) -> Bool = { _ in false }) -> Data {
        var answer = start
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline, !done(answer), let more = receive(timeout: deadline.timeIntervalSinceNow) {
            answer += more
        }
        return answer
    }

    /// Streams `frames` while listening: stops as soon as the server answers or hangs up, or
    /// `limit` bytes are sent. What the server answered (read to its JSON body) and bytes sent.
    func stream(_ frames: some Sequence<Data>, limit: Int) -> (answer: Data, sent: Int) {
        var answer = Data(), sent = 0, open = true
        frames: for frame in frames {
            if sent >= limit { break }
            var offset = 0
            while offset < frame.count {
                var poller = pollfd(fd: descriptor, events: Int16(POLLIN | POLLOUT), revents: 0)
                guard poll(&poller, 1, 10_000) > 0 else { break frames }
                if poller.revents & Int16(POLLIN) != 0 {
                    guard let more = receive(timeout: 0), !more.isEmpty else {
                        open = false
                        break frames
                    }
                    answer += more
                    if answer.headEnded { break frames }
                }
                if poller.revents & Int16(POLLERR | POLLHUP) != 0 {
                    open = false
                    break frames
                }
                if poller.revents & Int16(POLLOUT) != 0 {
                    let written = frame.withUnsafeBytes {
                        Glibc.send(descriptor, $0.baseAddress! + offset, frame.count - offset, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
                    }
                    if written < 0 && errno != EAGAIN {
                        open = false
                        break frames
                    }
                    offset += max(written, 0)
                }
            }
            sent += frame.count
        }
        if open || !answer.isEmpty { answer = read(after: answer) { $0.hasJSONBody } }
        return (answer, sent)
    }

    /// One exchange: `data` sent (as far as the server takes it), the answer read until the
    /// connection closes or a JSON body has arrived.
    static func exchange(port: Int, _ data: Data, timeout: Double = 10) async throws -> Data {
        try await run {
            let connection = try RawConnection(port: port)
            connection.send(data)
            return connection.read(timeout: timeout) { $0.hasJSONBody }
        }
    }

    /// The status of one request sent byte for byte (`path` exactly as written).
    static func status(port: Int, _ method: String, _ path: String, headers: [String] = []) async throws -> Int? {
        let lines = ["\(method) \(path) HTTP/1.1", "Host: 127.0.0.1:\(port)", "Connection: close", "Content-Length: 0"] + headers
        return try await exchange(port: port, Data((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8)).statusCode
    }
}

extension Data {
    /// The status code of a raw HTTP answer.
    var statusCode: Int? {
        let line = prefix { $0 != UInt8(ascii: "\r") }
        let fields = String(decoding: line, as: UTF8.self).split(separator: " ")
        return fields.count > 1 ? Int(fields[1]) : nil
    }

    var headEnded: Bool { range(of: Data("\r\n\r\n".utf8)) != nil }
    var hasJSONBody: Bool { headEnded && range(of: Data(#""status""#.utf8)) != nil }

    /// The `error` of the JSON object in a raw HTTP answer's body.
    var jsonError: String? {
        guard let open = firstIndex(of: UInt8(ascii: "{")), let close = lastIndex(of: UInt8(ascii: "}")), open < close else { return nil }
        return ((try? JSONSerialization.jsonObject(with: self[open...close])) as? [String: Any])?["error"] as? String
    }

    /// The body of a raw HTTP answer (after its head).
    var httpBody: Data {
        guard let end = range(of: Data("\r\n\r\n".utf8)) else { return Data() }
        return self[end.upperBound...]
    }
}
