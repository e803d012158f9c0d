import Crypto
import Foundation

/// HMAC-SHA256 signatures for embedded-mode download URLs: the API serves the file only when
/// the key, expiry and download name are exactly the ones it signed, and the expiry has not
/// passed. The secret never leaves the server.
public struct URLSigner: Sendable {
    private let key: SymmetricKey

    /// The shortest secret accepted, and the size of a generated one: an HMAC-SHA256 key
    /// shorter than the hash's 32 bytes weakens it.
    public static let minimumSecretBytes = 32

    public init(secret: Data) {
        key = SymmetricKey(data: secret)
    }

    public func signature(key objectKey: String, expires: Int, filename: String) -> String {
        let message = "GET\n\(objectKey)\n\(expires)\n\(filename)"
        let mac = HMAC<SHA256>.authenticationCode(for: Data(message.utf8), using: key)
        return mac.map { String(format: "%02x", $0) }.joined()
    }

    /// Constant-time check of a presented signature.
    public func isValid(signature presented: String, key objectKey: String, expires: Int, filename: String) -> Bool {
        let expected = Array(signature(key: objectKey, expires: expires, filename: filename).utf8)
        let given = Array(presented.lowercased().utf8)
        guard expected.count == given.count else { return false }
        var difference: UInt8 = 0
        for (a, b) in zip(expected, given) { difference |= a ^ b }
        return difference == 0
    }

    /// The signing secret: from configuration, or generated once and kept in the data
    /// directory (mode 0600) so URLs survive restarts.
    public static func loadOrCreateSecret(configured: String?, directory: String) throws -> Data {
        if let configured, !configured.isEmpty { return Data(configured.utf8) }
        let path = "\(directory)/url-signing.key"
        if let existing = FileManager.default.contents(atPath: path), existing.count >= minimumSecretBytes { return existing }
        var bytes = [UInt8](repeating: 0, count: minimumSecretBytes)
        var generator = SystemRandomNumberGenerator()
        for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255, using: &generator) }
        let data = Data(bytes)
        guard FileManager.default.createFile(atPath: path, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw ObjectStoreError("could not write the URL signing key to \(path)")
        }
        return data
    }
}
