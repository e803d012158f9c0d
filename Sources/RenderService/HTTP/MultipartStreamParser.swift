import Foundation
import NIOCore

/// A streaming `multipart/form-data` parser (RFC 7578) that finds boundaries with `memchr`.
///
/// Written because MultipartKit's byte-at-a-time state machine parsed about 20 MB/s here, which
/// made a 50 MB upload take seconds before the render was even accepted; this one runs at
/// memory speed. It never holds more than one chunk plus a delimiter's length of a part body.
struct MultipartStreamParser {
    enum Event {
        /// A part starts; its header fields (names lower-cased).
        case partBegin([String: String])
        /// Bytes of the current part's body, in order.
        case body(ByteBuffer)
        case partEnd
    }

    struct Failure: Error, Equatable {
        let reason: String
    }

    private enum State {
        case preamble
        case headers
        case body
        /// Just after a delimiter: "--" ends the body, CRLF starts another part.
        case afterDelimiter
        case done
    }

    private let firstDelimiter: [UInt8]  // "--boundary"
    private let delimiter: [UInt8]  // "\r\n--boundary"
    private var state = State.preamble
    private var carry = ByteBuffer()
    private let maxHeaderBytes: Int

    /// Unread input shorter than this is moved to the buffer's start after each chunk.
    static let compactBelowBytes = 64 * 1024

    init(boundary: String, maxHeaderBytes: Int = 16 * 1024) {
        firstDelimiter = Array("--\(boundary)".utf8)
        delimiter = Array("\r\n--\(boundary)".utf8)
        self.maxHeaderBytes = maxHeaderBytes
    }

    var isFinished: Bool {
        if case .done = state { return true }
        return false
    }

    mutating func feed(_ input: ByteBuffer, _ emit: (Event) throws -> Void) throws {
        if carry.readableBytes == 0 {
            carry = input
        } else {
            var input = input
            carry.writeBuffer(&input)
        }
        try process(emit)
        // Keep the carry small and compact.
        if carry.readerIndex > 0 && carry.readableBytes < Self.compactBelowBytes { carry.discardReadBytes() }
    }

    private mutating func process(_ emit: (Event) throws -> Void) throws {
        while true {
            switch state {
            case .preamble:
                // The body normally starts with the delimiter; anything before it is ignored.
                guard let index = find(firstDelimiter) else {
                    let keep = firstDelimiter.count - 1
                    if carry.readableBytes > keep { carry.moveReaderIndex(forwardBy: carry.readableBytes - keep) }
                    return
                }
                carry.moveReaderIndex(forwardBy: index + firstDelimiter.count)
                state = .afterDelimiter
            case .afterDelimiter:
                guard carry.readableBytes >= 2 else { return }
                let next = carry.getBytes(at: carry.readerIndex, length: 2)!
                if next == [0x2D, 0x2D] {  // "--": closing delimiter
                    carry.moveReaderIndex(forwardBy: 2)
                    state = .done
                    carry.clear()
                    return
                }
                // Transport padding (spaces, tabs) may precede the CRLF.
                var offset = 0
                while offset < carry.readableBytes, let byte = carry.getInteger(at: carry.readerIndex + offset, as: UInt8.self), byte == 0x20 || byte == 0x09 {
                    offset += 1
                }
                guard carry.readableBytes >= offset + 2 else { return }
                guard carry.getBytes(at: carry.readerIndex + offset, length: 2) == [0x0D, 0x0A] else {
                    throw Failure(reason: "expected CRLF after a boundary")
                }
                carry.moveReaderIndex(forwardBy: offset + 2)
                state = .headers
            case .headers:
                guard let end = find([0x0D, 0x0A, 0x0D, 0x0A]) else {
                    if carry.readableBytes > maxHeaderBytes { throw Failure(reason: "part headers too large") }
                    return
                }
                guard end <= maxHeaderBytes else { throw Failure(reason: "part headers too large") }
                let block = carry.readString(length: end) ?? ""
                carry.moveReaderIndex(forwardBy: 4)
                try emit(.partBegin(Self.parseHeaders(block)))
                state = .body
            case .body:
                if let index = find(delimiter) {
                    if index > 0, let slice = carry.readSlice(length: index) { try emit(.body(slice)) }
                    carry.moveReaderIndex(forwardBy: delimiter.count)
                    try emit(.partEnd)
                    state = .afterDelimiter
                } else {
                    // Everything except a tail that could be the start of a delimiter.
                    let safe = carry.readableBytes - (delimiter.count - 1)
                    if safe > 0, let slice = carry.readSlice(length: safe) { try emit(.body(slice)) }
                    return
                }
            case .done:
                carry.clear()  // epilogue: ignored
                return
            }
        }
    }

    /// Offset of `needle` from the reader index, or nil.
    private func find(_ needle: [UInt8]) -> Int? {
        carry.withUnsafeReadableBytes { haystack -> Int? in
            guard haystack.count >= needle.count, let base = haystack.baseAddress else { return nil }
            return needle.withUnsafeBytes { pattern -> Int? in
                // memchr for the first byte, memcmp for the rest (glibc's memmem is not exported
                // to Swift without _GNU_SOURCE).
                let first = Int32(needle[0])
                let last = haystack.count - needle.count
                var offset = 0
                while offset <= last {
                    guard let hit = memchr(base + offset, first, last - offset + 1) else { return nil }
                    let position = base.distance(to: UnsafeRawPointer(hit))
                    if memcmp(base + position, pattern.baseAddress!, needle.count) == 0 { return position }
                    offset = position + 1
                }
                return nil
            }
        }
    }

    static func parseHeaders(_ block: String) -> [String: String] {
        var fields: [String: String] = [:]
        for line in block.split(separator: "\r\n", omittingEmptySubsequences: true) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            fields[name] = value
        }
        return fields
    }
}
