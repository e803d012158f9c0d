import Foundation
import NIOCore

/// A JSON document written straight into a `ByteBuffer`.
///
/// The API's responses are small objects built per request; Foundation's JSONSerialization
/// costs more than the rest of a `GET /v1/renders/{id}` together on Linux (it held the route
/// to a tenth of a trivial route's throughput). Keys keep the order they are given in.
enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): true
        case (.bool(let x), .bool(let y)): x == y
        case (.int(let x), .int(let y)): x == y
        case (.double(let x), .double(let y)): x == y
        case (.string(let x), .string(let y)): x == y
        case (.array(let x), .array(let y)): x == y
        case (.object(let x), .object(let y)): x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: false
        }
    }

    static func optional(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
    static func optional(_ value: Int?) -> JSONValue { value.map(JSONValue.int) ?? .null }
    static func optional(_ value: Double?) -> JSONValue { value.map(JSONValue.double) ?? .null }

    var buffer: ByteBuffer {
        var out = ByteBuffer()
        out.reserveCapacity(256)
        write(into: &out)
        return out
    }

    func write(into out: inout ByteBuffer) {
        switch self {
        case .null: out.writeStaticString("null")
        case .bool(let value): out.writeStaticString(value ? "true" : "false")
        case .int(let value): out.writeString(String(value))
        case .double(let value): Self.writeNumber(value, into: &out)
        case .string(let value): Self.writeString(value, into: &out)
        case .array(let values):
            out.writeInteger(UInt8(ascii: "["))
            for (index, value) in values.enumerated() {
                if index > 0 { out.writeInteger(UInt8(ascii: ",")) }
                value.write(into: &out)
            }
            out.writeInteger(UInt8(ascii: "]"))
        case .object(let members):
            out.writeInteger(UInt8(ascii: "{"))
            for (index, (key, value)) in members.enumerated() {
                if index > 0 { out.writeInteger(UInt8(ascii: ",")) }
                Self.writeString(key, into: &out)
                out.writeInteger(UInt8(ascii: ":"))
                value.write(into: &out)
            }
            out.writeInteger(UInt8(ascii: "}"))
        }
    }

    /// Integral values print with ".0" (the spec writes `"width_inches": 9.0`); others in the
    /// shortest form that reads back exactly. Non-finite numbers have no JSON form: null.
    private static func writeNumber(_ value: Double, into out: inout ByteBuffer) {
        guard value.isFinite else {
            out.writeStaticString("null")
            return
        }
        if value == value.rounded(), abs(value) < 1e15 {
            out.writeString(String(Int64(value)))
            out.writeStaticString(".0")
        } else {
            out.writeString("\(value)")
        }
    }

    private static func writeString(_ value: String, into out: inout ByteBuffer) {
        out.writeInteger(UInt8(ascii: "\""))
        // Most strings (ids, names, times, keys) need no escape: written in one piece, which
        // is most of the cost of a page of GET /v1/renders.
        if value.utf8.allSatisfy({ $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) {
            out.writeString(value)
            out.writeInteger(UInt8(ascii: "\""))
            return
        }
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.writeStaticString("\\\"")
            case UInt8(ascii: "\\"): out.writeStaticString("\\\\")
            case 0x0A: out.writeStaticString("\\n")
            case 0x0D: out.writeStaticString("\\r")
            case 0x09: out.writeStaticString("\\t")
            case 0x00..<0x20:
                out.writeString(String(format: "\\u%04x", byte))
            default: out.writeInteger(byte)
            }
        }
        out.writeInteger(UInt8(ascii: "\""))
    }
}
