import Crypto
import Foundation
import NIOPosix

/// What makes two `POST /v1/renders` requests "the same" for `Idempotency-Key`: the bytes of
/// the photo (or, for an uploaded asset, its id among the fields) and the normalised fields.
/// Read off the event loops, on NIO's blocking pool.
enum RenderRequestDigest {
    static func hex(file path: String?, fields: [String]) async throws -> String {
        try await NIOThreadPool.singleton.runIfActive {
            var hasher = SHA256()
            for field in fields {
                hasher.update(data: Data(field.utf8))
                hasher.update(data: Data([0]))
            }
            guard let path else { return hasher.finalize().hex }
            guard let handle = FileHandle(forReadingAtPath: path) else { throw CocoaError(.fileReadNoSuchFile) }
            defer { try? handle.close() }
            while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
                hasher.update(data: chunk)
            }
            return hasher.finalize().hex
        }
    }
}
