import Foundation
@testable import RenderService
import Testing

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

    @Test(arguments: Implementations.objectStores)
    func signedURLCarriesExpiryAndName(_ impl: ObjectStoreUnderTest) async throws {
        let (store, cleanUp) = try await impl.make()
        defer { Task { await cleanUp() } }
        let scratch = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let (path, _) = try file(10, in: scratch)
        let key = "renders/\(UUID().lowercased)/preview.jpg"
        try await store.put(key: key, fileAt: path, contentType: "image/jpeg", consume: false)
        let url = try await store.signedURL(key: key, expiresIn: 604_800, downloadName: "watercolor-9x12-x-preview.jpg")
        let text = url.absoluteString
        #expect(text.contains(key))
        #expect(text.contains("watercolor-9x12-x-preview.jpg"))
        #expect(text.contains("604800") || text.contains("expires="))
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
