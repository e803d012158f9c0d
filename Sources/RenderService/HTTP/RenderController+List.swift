import Foundation
import Hummingbird
import RenderEngine

// MARK: GET /v1/renders

extension RenderController {
    /// The caller's renders, newest first: `{"data": [render, …], "has_more": …, "next_cursor": …}`.
    /// A client walks the list by sending `next_cursor` back as `cursor` until it is null; the
    /// cursor is a keyset position, so renders created meanwhile never repeat or hide one.
    @Sendable func list(_ request: Request, context: Context) async throws -> Response {
        // Fails closed: with keys on, a request without an owner lists nothing.
        var scope = RenderListScope.everyone
        if rendersHaveOwners {
            guard let owner = context.apiKeyOwner else { throw AccessControlMiddleware.unauthorized("Send your API key as 'Authorization: Bearer <key>'") }
            scope = .owner(owner)
        }
        let query = try RenderListRequest.query(request.uri.query, scope: scope)
        let page = try await store.listRenders(query)
        return JSONBody.response(
            .object([
                ("data", .array(page.renders.map(RenderJSON.object))),
                ("has_more", .bool(page.next != nil)),
                ("next_cursor", .optional(page.next.map(RenderListCursor.encode))),
            ]))
    }
}

/// The query string of `GET /v1/renders`. Every parameter is optional and, when given, must be
/// valid and given once; an unknown one is refused (400) rather than ignored, so a misspelt
/// filter never lists everything.
enum RenderListRequest {
    static let defaultLimit = 20
    static let maxLimit = 100
    static let parameters = ["limit", "cursor", "status", "style_id", "created_after", "created_before"]

    static func query(_ text: String?, scope: RenderListScope) throws -> RenderListQuery {
        let values = try pairs(text)
        var query = RenderListQuery(scope: scope, limit: defaultLimit)
        if let limit = values["limit"] {
            guard (1...3).contains(limit.count), limit.allSatisfy({ $0.isASCII && $0.isNumber }), let number = Int(limit), (1...maxLimit).contains(number)
            else {
                throw APIError(.badRequest, "Invalid limit", message: "limit must be a whole number from 1 to \(maxLimit) (default \(defaultLimit))")
            }
            query.limit = number
        }
        if let cursor = values["cursor"] {
            guard let position = RenderListCursor.decode(cursor) else {
                throw APIError(.badRequest, "Invalid cursor", message: "cursor must be the next_cursor of an earlier page of GET /v1/renders, unchanged")
            }
            query.after = position
        }
        if let status = values["status"] {
            guard let value = RenderStatus(rawValue: status) else {
                throw APIError(
                    .badRequest, "Invalid status",
                    message: "status must be one of \(RenderStatus.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            query.status = value
        }
        if let style = values["style_id"] {
            guard UUID(uuidString: style) != nil else {
                throw APIError(.badRequest, "Invalid UUID format for style_id", message: "style_id must be the id of a style from GET /v1/styles")
            }
            query.styleID = try RenderForm.lookupStyle(style).info.id
        }
        if let after = values["created_after"] {
            // Compared to the second, as created_at is shown: "after 10:30:00" starts at 10:30:01.
            guard let time = RFC3339.parse(after) else { throw invalidTime("created_after") }
            query.createdFrom = Date(timeIntervalSince1970: Double(time.seconds + 1))
        }
        if let before = values["created_before"] {
            guard let time = RFC3339.parse(before) else { throw invalidTime("created_before") }
            query.createdBefore = Date(timeIntervalSince1970: Double(time.seconds + (time.hasFraction ? 1 : 0)))
        }
        return query
    }

    private static func invalidTime(_ name: String) -> APIError {
        APIError(.badRequest, "Invalid \(name)", message: "\(name) must be an RFC 3339 date-time such as 2026-01-24T10:30:00Z")
    }

    /// Names and values of a query string (`+` is a space, the rest percent-decoded), each name
    /// at most once and known.
    static func pairs(_ text: String?) throws -> [String: String] {
        var values: [String: String] = [:]
        for pair in (text ?? "").split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map {
                String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
            }
            guard let name = parts[0], let value = parts.count > 1 ? parts[1] : "" else {
                throw APIError(.badRequest, "Malformed query string", message: "The query string has an invalid percent-encoding")
            }
            guard parameters.contains(name) else {
                throw APIError(
                    .badRequest, "Unknown query parameter",
                    message: "'\(name.prefix(64))' is not a parameter of GET /v1/renders; it takes \(parameters.joined(separator: ", "))")
            }
            guard values[name] == nil else {
                throw APIError(.badRequest, "Repeated query parameter", message: "'\(name)' is given more than once; give it once")
            }
            values[name] = value
        }
        return values
    }
}

/// `next_cursor`: a listing position as 32 base64url characters (created_at in microseconds,
/// 8 bytes big-endian, then the render id's 16 bytes). Opaque to clients. Every such string is
/// a position, and a made-up one only moves the start of the caller's own listing.
enum RenderListCursor {
    static func encode(_ position: RenderListPosition) -> String {
        var bytes = withUnsafeBytes(of: position.createdAtMicroseconds.bigEndian) { Array($0) }
        bytes += withUnsafeBytes(of: position.id.uuid) { Array($0) }
        return Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
    }

    static func decode(_ text: String) -> RenderListPosition? {
        guard text.utf8.count == 32,
            text.utf8.allSatisfy({
                $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0)
            }),
            let data = Data(base64Encoded: text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")), data.count == 24
        else {
            return nil
        }
        let bytes = Array(data)
        let micros = bytes[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let id = UUID(
            uuid: (
                bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15],
                bytes[16], bytes[17], bytes[18], bytes[19], bytes[20], bytes[21], bytes[22], bytes[23]
            ))
        let position = RenderListPosition(createdAtMicroseconds: Int64(bitPattern: micros), id: id)
        return RenderListPosition(createdAtMicroseconds: position.boundedMicroseconds, id: id)
    }
}

/// RFC 3339 date-times (`2026-01-24T10:30:00Z`, `2026-01-24T12:30:00.5+02:00`): upper-case `T`
/// and `Z`, any number of fraction digits, years 0001–9999, seconds up to 59 (as JSON Schema's
/// `date-time` validators check them). Exact integer arithmetic, no calendar or locale.
enum RFC3339 {
    /// Whole seconds since 1970 (UTC) and whether a non-zero fraction of a second follows.
    static func parse(_ text: String) -> (seconds: Int64, hasFraction: Bool)? {
        let bytes = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int64? {
            guard range.upperBound <= bytes.count, bytes[range].allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
            return bytes[range].reduce(Int64(0)) { $0 * 10 + Int64($1 - 0x30) }
        }
        func byte(_ index: Int, is character: Character) -> Bool { index < bytes.count && bytes[index] == character.asciiValue }
        guard let year = number(0..<4), byte(4, is: "-"), let month = number(5..<7), byte(7, is: "-"), let day = number(8..<10),
            byte(10, is: "T"), let hour = number(11..<13), byte(13, is: ":"), let minute = number(14..<16), byte(16, is: ":"),
            let second = number(17..<19)
        else { return nil }
        guard year >= 1, (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year), hour <= 23, minute <= 59, second <= 59 else {
            return nil
        }
        var index = 19
        var hasFraction = false
        if byte(index, is: ".") {
            index += 1
            let start = index
            while index < bytes.count, (0x30...0x39).contains(bytes[index]) {
                hasFraction = hasFraction || bytes[index] != 0x30
                index += 1
            }
            guard index > start else { return nil }
        }
        var offset: Int64 = 0
        if byte(index, is: "Z"), index + 1 == bytes.count {
            offset = 0
        } else if byte(index, is: "+") || byte(index, is: "-"), index + 6 == bytes.count, let hours = number(index + 1..<index + 3),
            byte(index + 3, is: ":"), let minutes = number(index + 4..<index + 6), hours <= 23, minutes <= 59
        {
            offset = (hours * 3600 + minutes * 60) * (byte(index, is: "-") ? -1 : 1)
        } else {
            return nil
        }
        let seconds = daysFromCivil(year: year, month: month, day: day) * 86_400 + hour * 3600 + minute * 60 + second - offset
        return (seconds, hasFraction)
    }

    static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (H. Hinnant's algorithm).
    static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
