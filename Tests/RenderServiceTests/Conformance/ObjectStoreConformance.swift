import AsyncHTTPClient
import Foundation
import NIOCore
import Testing

@testable import RenderService

/// What every `ObjectStore` must do, run against each implementation.
@Suite("ObjectStore conformance")
struct ObjectStoreConformance {
    private func file(_ bytes: Int, in directory: String) throws -> (String, Data) {
        var data = Data(count: bytes)
        for i in 0..<bytes { data[i] = UInt8(truncatingIfNeeded: i &* 31 &+ 7) }
        let path = "\(directory)/\(UUID().uuidString).bin"
        try data.write(to: URL(fileURLWithPath: path))
        return (path, data)
    }

    @Test(arguments: Implementations.objectStores)
    func putHeadDownloadDelete(_ impl: ObjectStoreUnderTest) async throws {
        let (store, cleanUp) = try await impl.make()
        defer { Task { await cleanUp() } }
        let scratch = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let (path, data) = try file(300_000, in: scratch)
        let key = "renders/\(UUID().lowercased)/output.tiff"
        #expect(try await store.head(key: key) == nil)
        try await store.put(key: key, fileAt: path, contentType: "image/tiff", consume: false)
        #expect(FileManager.default.fileExists(atPath: path), "not consumed")
        let head = try #require(try await store.head(key: key))
        #expect(head.size == 300_000 && head.contentType == "image/tiff")
        let copy = "\(scratch)/copy.bin"
        try await store.download(key: key, to: copy)
        #expect(try Data(contentsOf: URL(fileURLWithPath: copy)) == data)
        try await store.delete(key: key)
        #expect(try await store.head(key: key) == nil)
        try await store.delete(key: key)  // deleting twice is fine
        try await store.ping()
    }

    @Test(arguments: Implementations.objectStores)
    func putReplacesWholeObjects(_ impl: ObjectStoreUnderTest) async throws {
        let (store, cleanUp) = try await impl.make()
        defer { Task { await cleanUp() } }
        let scratch = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let key = "uploads/\(UUID().lowercased)/original.jpg"
        let (first, _) = try file(1000, in: scratch)
        let (second, secondData) = try file(2000, in: scratch)
        try await store.put(key: key, fileAt: first, contentType: "image/jpeg", consume: true)
        try await store.put(key: key, fileAt: second, contentType: "image/jpeg", consume: true)
        let copy = "\(scratch)/copy.bin"
        try await store.download(key: key, to: copy)
        #expect(try Data(contentsOf: URL(fileURLWithPath: copy)) == secondData)
    }

    @Test(arguments: Implementations.objectStores)
    func largeObjectsGoUpInPartsAndComeBackWhole(_ impl: ObjectStoreUnderTest) async throws {
        let (store, cleanUp) = try await impl.make()
        defer { Task { await cleanUp() } }
        let scratch = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        // Over the S3 store's (test) multipart threshold: three parts.
        let (path, data) = try file(12 * 1024 * 1024 + 123, in: scratch)
        let key = "renders/\(UUID().lowercased)/output.tiff"
        try await store.put(key: key, fileAt: path, contentType: "image/tiff", consume: false)
        #expect(try await store.head(key: key)?.size == data.count)
        try await store.download(key: key, to: "\(scratch)/back.bin")
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(scratch)/back.bin")) == data)
    }

    /// The URL names the key and the download name and expires in the requested time (S3: the
    /// signed `X-Amz-Expires`; embedded: an absolute `expires` time), and it fetches the object
    /// (S3 over HTTP; embedded by its signature, which the files route checks).
    @Test(arguments: Implementations.objectStores)
    func signedURLCarriesExpiryAndNameAndFetchesTheObject(_ impl: ObjectStoreUnderTest) async throws {
        let (store, cleanUp) = try await impl.make()
        defer { Task { await cleanUp() } }
        let scratch = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let (path, data) = try file(10, in: scratch)
        let key = "renders/\(UUID().lowercased)/preview.jpg"
        try await store.put(key: key, fileAt: path, contentType: "image/jpeg", consume: false)
        let before = Int(Date().timeIntervalSince1970)
        let url = try await store.signedURL(key: key, expiresIn: 604_800, downloadName: "watercolor-9x12-x-preview.jpg")
        let after = Int(Date().timeIntervalSince1970)
        let text = url.absoluteString
        #expect(text.contains(key))
        #expect(text.contains("watercolor-9x12-x-preview.jpg"))
        let items = URLComponents(url: url, resolvingAgainstBaseURL: false)?.queryItems ?? []
        func item(_ name: String) -> String? { items.first { $0.name == name }?.value }
        if let signedLifetime = item("X-Amz-Expires") {
            #expect(signedLifetime == "604800", "\(text)")
            let signedAt = try #require(item("X-Amz-Date").flatMap(Self.amzDate), "\(text)")
            #expect(abs(Int(signedAt.timeIntervalSince1970) - before) <= 5 + (after - before), "signed now: \(signedAt)")
            let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: text), timeout: .seconds(30))
            #expect(response.status.code == 200, "\(text)")
            #expect(Data(buffer: try await response.body.collect(upTo: 1 << 20)) == data)
        } else {
            let expires = try #require(item("expires").flatMap(Int.init), "\(text)")
            #expect((before + 604_800)...(after + 604_800) ~= expires, "expires \(expires - before) s from now")
            let signature = try #require(item("signature"))
            #expect(signature == URLSigner(secret: Data("secret".utf8)).signature(key: key, expires: expires, filename: "watercolor-9x12-x-preview.jpg"))
        }
    }

    /// SigV4's `X-Amz-Date` (`20130524T000000Z`).
    static func amzDate(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return formatter.date(from: text)
    }

    @Test("keys that could escape the store are refused", arguments: ["../etc/passwd", "/abs", "a//b", "a/./b", "a/../b", "", "with space", "x/"])
    func invalidKeys(key: String) async throws {
        #expect(!ObjectKey.isValid(key))
        for impl in Implementations.objectStores {
            let (store, cleanUp) = try await impl.make()
            await #expect(throws: (any Error).self) { try await store.delete(key: key) }
            await cleanUp()
        }
    }
}
