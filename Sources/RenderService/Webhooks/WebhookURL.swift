import Foundation
import NIOPosix

/// A webhook URL, checked: http or https, a host, no user info, at most 2048 characters.
/// Where it may point is `WebhookAddress`'s business.
public enum WebhookURL {
    public struct Invalid: Error, Sendable {
        public let message: String
    }

    /// The OpenAPI document's `maxLength` of `webhook_url`.
    public static let maxLength = 2048

    public static func parse(_ text: String) throws(Invalid) -> URL {
        guard text.utf8.count <= maxLength else { throw Invalid(message: "webhook_url is longer than \(maxLength) characters") }
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let host = url.host, !host.isEmpty
        else { throw Invalid(message: "webhook_url must be an absolute http:// or https:// URL") }
        guard url.user == nil, url.password == nil else { throw Invalid(message: "webhook_url must not carry a user name or password") }
        return url
    }
}

/// Where webhooks may go: the host's addresses, resolved once, and refused when any of them is
/// loopback, private, link-local, unique-local, multicast, unspecified or otherwise not a public
/// unicast address (unless private addresses are allowed). The delivery then connects to the
/// address checked here, never to a second resolution of the name (no DNS rebinding).
public enum WebhookAddress {
    public struct Refused: Error, Sendable, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    /// The address to connect to.
    public static func resolve(host: String, allowPrivate: Bool) async throws(Refused) -> String {
        let result: Result<[[UInt8]], Refused> = await withCheckedContinuation { continuation in
            // getaddrinfo blocks: off the cooperative pool.
            NIOThreadPool.singleton.submit { _ in continuation.resume(returning: Self.lookup(host)) }
        }
        let addresses = try result.get()
        guard let first = addresses.first else { throw Refused(message: "webhook_url's host has no address") }
        if !allowPrivate, addresses.contains(where: { !isPublic($0) }) {
            throw Refused(message: "webhook_url resolves to a loopback, private, link-local or otherwise non-public address")
        }
        return text(first)
    }

    static func lookup(_ host: String) -> Result<[[UInt8]], Refused> {
        let name = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(name, nil, &hints, &list) == 0, let list else { return .failure(Refused(message: "webhook_url's host does not resolve")) }
        defer { freeaddrinfo(list) }
        var addresses: [[UInt8]] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = list
        while let entry = cursor {
            if let address = entry.pointee.ai_addr {
                switch Int32(address.pointee.sa_family) {
                case AF_INET:
                    address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { v4 in
                        addresses.append(withUnsafeBytes(of: v4.pointee.sin_addr) { Array($0) })
                    }
                case AF_INET6:
                    address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { v6 in
                        addresses.append(withUnsafeBytes(of: v6.pointee.sin6_addr) { Array($0) })
                    }
                default: break
                }
            }
            cursor = entry.pointee.ai_next
        }
        return .success(addresses)
    }

    /// Whether an address (4 or 16 bytes) is public unicast.
    static func isPublic(_ bytes: [UInt8]) -> Bool {
        if bytes.count == 4 {
            let (a, b) = (bytes[0], bytes[1])
            if a == 0 || a == 10 || a == 127 || a >= 224 { return false }  // this network, private, loopback, multicast, reserved, broadcast
            if a == 100 && (b & 0xC0) == 64 { return false }  // 100.64/10 shared (carrier-grade NAT)
            if a == 169 && b == 254 { return false }  // link-local (cloud metadata)
            if a == 172 && (b & 0xF0) == 16 { return false }  // 172.16/12
            if a == 192 && b == 168 { return false }
            if a == 192 && b == 0 && bytes[2] == 0 { return false }  // IETF protocol assignments
            if a == 198 && (b & 0xFE) == 18 { return false }  // benchmarking
            return true
        }
        guard bytes.count == 16 else { return false }
        if bytes[0..<15].allSatisfy({ $0 == 0 }) { return false }  // :: and ::1
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF { return isPublic(Array(bytes[12...])) }  // v4-mapped
        if bytes[0..<12].allSatisfy({ $0 == 0 }) { return isPublic(Array(bytes[12...])) }  // v4-compatible
        if Array(bytes[0..<12]) == [0, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0] { return isPublic(Array(bytes[12...])) }  // NAT64
        if (bytes[0] & 0xFE) == 0xFC { return false }  // unique local fc00::/7
        if bytes[0] == 0xFE && (bytes[1] & 0xC0) == 0x80 { return false }  // link-local fe80::/10
        if bytes[0] == 0xFE && (bytes[1] & 0xC0) == 0xC0 { return false }  // site-local (deprecated)
        if bytes[0] == 0xFF { return false }  // multicast
        if bytes[0] == 0x20 && bytes[1] == 0x01 && bytes[2] == 0x0D && bytes[3] == 0xB8 { return false }  // documentation
        return true
    }

    static func text(_ bytes: [UInt8]) -> String {
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let written = bytes.withUnsafeBytes { raw in inet_ntop(AF_INET6, raw.baseAddress, &buffer, socklen_t(buffer.count)) != nil }
        guard written else { return "::" }
        return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }
}
