import NIOCore

/// A RESP2 value (the Redis serialisation protocol).
public enum RESPValue: Sendable, Equatable {
    case simpleString(String)
    case error(String)
    case integer(Int64)
    /// nil is RESP's null bulk string.
    case bulkString(ByteBuffer?)
    /// nil is RESP's null array.
    case array([RESPValue]?)

    public var string: String? {
        switch self {
        case .simpleString(let text): text
        case .bulkString(let buffer?): String(buffer: buffer)
        case .integer(let value): String(value)
        default: nil
        }
    }

    public var integer: Int64? {
        switch self {
        case .integer(let value): value
        case .bulkString(let buffer?): Int64(String(buffer: buffer))
        case .simpleString(let text): Int64(text)
        default: nil
        }
    }

    public var array: [RESPValue]? {
        if case .array(let values?) = self { return values }
        return nil
    }

    public var isNull: Bool {
        switch self {
        case .bulkString(nil), .array(nil): true
        default: false
        }
    }
}

/// Why a RESP frame was refused.
public struct RESPError: Error, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Decodes one RESP value per frame. A frame is validated whole before anything is consumed,
/// so partial input waits for more bytes; bulk lengths, array sizes and nesting are bounded so
/// a hostile or broken peer cannot make the client allocate without limit.
public struct RESPDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = RESPValue

    public let maxBulkLength: Int
    public let maxArrayCount: Int
    public let maxDepth: Int

    public init(maxBulkLength: Int = 64 * 1024 * 1024, maxArrayCount: Int = 1_000_000, maxDepth: Int = 16) {
        self.maxBulkLength = maxBulkLength
        self.maxArrayCount = maxArrayCount
        self.maxDepth = maxDepth
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> RESPValue? {
        var cursor = buffer.readerIndex
        guard let value = try parse(buffer, at: &cursor, depth: 0) else { return nil }
        buffer.moveReaderIndex(to: cursor)
        return value
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> RESPValue? {
        try decode(buffer: &buffer)
    }

    /// Parses the value starting at `cursor` without consuming; nil when incomplete.
    private func parse(_ buffer: ByteBuffer, at cursor: inout Int, depth: Int) throws -> RESPValue? {
        guard depth <= maxDepth else { throw RESPError("nesting deeper than \(maxDepth)") }
        guard let type = buffer.getInteger(at: cursor, as: UInt8.self) else { return nil }
        var position = cursor + 1
        guard let line = try readLine(buffer, at: &position) else { return nil }
        switch type {
        case UInt8(ascii: "+"):
            cursor = position
            return .simpleString(line)
        case UInt8(ascii: "-"):
            cursor = position
            return .error(line)
        case UInt8(ascii: ":"):
            guard let value = Int64(line) else { throw RESPError("bad integer '\(line.prefix(32))'") }
            cursor = position
            return .integer(value)
        case UInt8(ascii: "$"):
            guard let length = Int(line), length >= -1 else { throw RESPError("bad bulk length '\(line.prefix(32))'") }
            if length == -1 {
                cursor = position
                return .bulkString(nil)
            }
            guard length <= maxBulkLength else { throw RESPError("bulk string of \(length) bytes exceeds \(maxBulkLength)") }
            guard buffer.writerIndex - position >= length + 2 else { return nil }
            guard buffer.getInteger(at: position + length, as: UInt8.self) == 13,
                buffer.getInteger(at: position + length + 1, as: UInt8.self) == 10
            else { throw RESPError("bulk string not terminated by CRLF") }
            let slice = buffer.getSlice(at: position, length: length)
            cursor = position + length + 2
            return .bulkString(slice)
        case UInt8(ascii: "*"):
            guard let count = Int(line), count >= -1 else { throw RESPError("bad array length '\(line.prefix(32))'") }
            if count == -1 {
                cursor = position
                return .array(nil)
            }
            guard count <= maxArrayCount else { throw RESPError("array of \(count) elements exceeds \(maxArrayCount)") }
            var values: [RESPValue] = []
            values.reserveCapacity(min(count, 1024))
            for _ in 0..<count {
                guard let element = try parse(buffer, at: &position, depth: depth + 1) else { return nil }
                values.append(element)
            }
            cursor = position
            return .array(values)
        default:
            throw RESPError("unknown type byte \(type)")
        }
    }

    /// A line up to CRLF, advancing past the CRLF; nil if incomplete. Header lines are short
    /// (a type byte and a number or a status text): more than 64 KB without CRLF is an error.
    private func readLine(_ buffer: ByteBuffer, at position: inout Int) throws -> String? {
        let maxLine = 64 * 1024
        let limit = min(buffer.writerIndex, position + maxLine)
        var index = position
        while index + 1 < limit {
            if buffer.getInteger(at: index, as: UInt8.self) == 13 && buffer.getInteger(at: index + 1, as: UInt8.self) == 10 {
                let text = buffer.getString(at: position, length: index - position) ?? ""
                position = index + 2
                return text
            }
            index += 1
        }
        if buffer.writerIndex - position >= maxLine { throw RESPError("line longer than \(maxLine) bytes") }
        return nil
    }
}

/// Encodes a command as a RESP array of bulk strings.
public struct RESPCommandEncoder: MessageToByteEncoder {
    public typealias OutboundIn = [ByteBuffer]

    public init() {}

    public func encode(data: [ByteBuffer], out: inout ByteBuffer) throws {
        out.writeString("*\(data.count)\r\n")
        for var argument in data {
            out.writeString("$\(argument.readableBytes)\r\n")
            out.writeBuffer(&argument)
            out.writeStaticString("\r\n")
        }
    }
}
