import Foundation

/// An IPv4 or IPv6 address as bytes. An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, what a
/// dual-stack socket reports for an IPv4 client) is the IPv4 address.
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    /// 4 bytes (IPv4) or 16 (IPv6).
    public let bytes: [UInt8]

    public init?(_ text: String) {
        var text = text.trimmingCharacters(in: .whitespaces)
        if let zone = text.firstIndex(of: "%") { text = String(text[..<zone]) }  // fe80::1%eth0
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            bytes = withUnsafeBytes(of: &v4) { Array($0) }
            return
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        let raw = withUnsafeBytes(of: &v6) { Array($0) }
        bytes = raw.prefix(12).elementsEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF]) ? Array(raw.suffix(4)) : raw
    }

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// One entry of `X-Forwarded-For`: an address, possibly with a port (`192.0.2.1:4711`,
    /// `[2001:db8::1]:4711`) or in brackets; nil for `unknown`, obfuscated ids and garbage.
    init?(forwardedHop hop: Substring) {
        var text = hop.trimmingCharacters(in: .whitespaces)
        if text.hasPrefix("\""), text.hasSuffix("\""), text.count >= 2 { text = String(text.dropFirst().dropLast()) }
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            text = String(text[text.index(after: text.startIndex)..<close])
        } else if text.filter({ $0 == ":" }).count == 1, let colon = text.firstIndex(of: ":") {
            text = String(text[..<colon])
        }
        self.init(text)
    }

    public var isIPv4: Bool { bytes.count == 4 }

    public var description: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let family = isIPv4 ? AF_INET : AF_INET6
        let written = bytes.withUnsafeBytes { raw in inet_ntop(family, raw.baseAddress, &buffer, socklen_t(buffer.count)) }
        guard written != nil else { return "?" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The first `bits` bits kept, the rest zero.
    func masked(to bits: Int) -> IPAddress {
        IPAddress(
            bytes: bytes.enumerated().map { index, byte in
                let keep = min(8, max(0, bits - index * 8))
                return keep == 8 ? byte : byte & ~(0xFF >> keep)
            })
    }

    /// Whom a rate limit counts: an IPv4 address on its own; an IPv6 address by its /64, the
    /// block one subscriber is given (a client could otherwise take a fresh address from its
    /// /64 for every request).
    var rateLimitClient: String {
        isIPv4 ? "ip:\(self)" : "ip:\(masked(to: 64))/64"
    }
}

/// An address block (`10.0.0.0/8`, `2001:db8::/32`), or one address.
public struct IPNetwork: Hashable, Sendable, CustomStringConvertible {
    public let address: IPAddress
    public let prefixLength: Int

    public init?(_ text: String) {
        let parts = text.trimmingCharacters(in: .whitespaces).split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let address = IPAddress(String(parts[0])) else { return nil }
        // `::ffff:10.0.0.0/104` names IPv4 addresses: its length counts the mapped prefix.
        let mapped = parts[0].contains(":") && address.isIPv4
        var length = address.bytes.count * 8
        if parts.count == 2 {
            guard let parsed = Int(parts[1]), (0...(mapped ? 128 : length)).contains(parsed) else { return nil }
            length = parsed - (mapped ? 96 : 0)
            guard length >= 0 else { return nil }
        }
        self.address = address.masked(to: length)
        prefixLength = length
    }

    public func contains(_ candidate: IPAddress) -> Bool {
        candidate.bytes.count == address.bytes.count && candidate.masked(to: prefixLength) == address
    }

    public var description: String { "\(address)/\(prefixLength)" }
}

/// Who sent a request: the connection's peer, or, when the peer is one of `TRUSTED_PROXIES`,
/// the address the proxies recorded in `X-Forwarded-For`. The header is read from the right
/// (each proxy appends the address it received the request from), skipping trusted proxies;
/// the first address that is not one is the client. Entries left of it were written by the
/// client itself and are never believed.
public struct ClientAddressResolver: Sendable {
    public let trustedProxies: [IPNetwork]

    public init(trustedProxies: [IPNetwork]) {
        self.trustedProxies = trustedProxies
    }

    func isTrusted(_ address: IPAddress) -> Bool {
        trustedProxies.contains { $0.contains(address) }
    }

    /// `forwardedFor`: every `X-Forwarded-For` field of the request, in order.
    public func client(peer: IPAddress?, forwardedFor: [String]) -> IPAddress? {
        guard let peer, isTrusted(peer) else { return peer }
        var client = peer
        let hops = forwardedFor.flatMap { $0.split(separator: ",") }
        for hop in hops.reversed() {
            // Not an address: the proxies wrote nothing usable beyond this point.
            guard let address = IPAddress(forwardedHop: hop) else { break }
            client = address
            if !isTrusted(address) { break }
        }
        return client
    }
}
