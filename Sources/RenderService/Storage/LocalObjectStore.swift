import Foundation
import NIOPosix

/// Objects as files under `DATA_DIR/objects`, served by the API itself behind signed URLs
/// (`/v1/files/{key}?expires=…&filename=…&signature=…`). Every file system call runs on NIO's
/// thread pool: a slow disk blocks a pool thread, never the concurrency threads serving requests.
public struct LocalObjectStore: ObjectStore {
    public let root: String
    let signer: URLSigner
    let publicBaseURL: URL

    public init(root: String, signer: URLSigner, publicBaseURL: URL) throws {
        self.root = root
        self.signer = signer
        self.publicBaseURL = publicBaseURL
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    /// The file behind a key (for the download route), or nil for an invalid key.
    public func path(for key: String) -> String? {
        ObjectKey.isValid(key) ? "\(root)/\(key)" : nil
    }

    public func put(key: String, fileAt source: String, contentType: String, consume: Bool) async throws {
        guard let destination = path(for: key) else { throw ObjectStoreError("invalid object key") }
        try await NIOThreadPool.singleton.runIfActive { try Self.place(source, at: destination, key: key, consume: consume) }
    }

    private static func place(_ source: String, at destination: String, key: String, consume: Bool) throws {
        let directory = (destination as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // Into place atomically: a temporary name in the same directory, then rename.
        let temporary = "\(directory)/.\(UUID().uuidString).partial"
        do {
            if consume, rename(source, temporary) == 0 {
                // moved within the file system
            } else {
                try FileManager.default.copyItem(atPath: source, toPath: temporary)
            }
            // Durable before it becomes visible: a crash never leaves a named but empty object.
            sync(path: temporary, flags: O_RDONLY)
            guard rename(temporary, destination) == 0 else {
                throw ObjectStoreError("could not move \(key) into place: \(String(cString: strerror(errno)))")
            }
            sync(path: directory, flags: O_RDONLY | O_DIRECTORY)
        } catch {
            unlink(temporary)
            throw error
        }
    }

    private static func sync(path: String, flags: Int32) {
        let fd = open(path, flags)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }

    public func download(key: String, to destination: String) async throws {
        guard let source = path(for: key) else { throw ObjectStoreError("invalid object key") }
        try await NIOThreadPool.singleton.runIfActive {
            if FileManager.default.fileExists(atPath: destination) { try FileManager.default.removeItem(atPath: destination) }
            // A hard link costs nothing and keeps the original intact; a copy (another file
            // system) blocks, hence the thread pool.
            if link(source, destination) != 0 {
                try FileManager.default.copyItem(atPath: source, toPath: destination)
            }
        }
    }

    public func head(key: String) async throws -> StoredObject? {
        try await file(key: key).map { StoredObject(key: key, size: $0.size, contentType: MediaTypes.forKey(key)) }
    }

    /// The regular file behind a key, its size and modification time (Unix seconds), or nil
    /// when there is none (also for an invalid key).
    func file(key: String) async throws -> (path: String, size: Int, modified: Int)? {
        guard let path = path(for: key) else { return nil }
        return try await NIOThreadPool.singleton.runIfActive {
            var info = stat()
            guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
            return (path, Int(info.st_size), info.st_mtim.tv_sec)
        }
    }

    public func delete(key: String) async throws {
        guard let file = path(for: key) else { throw ObjectStoreError("invalid object key") }
        try await NIOThreadPool.singleton.runIfActive {
            if unlink(file) != 0 && errno != ENOENT {
                throw ObjectStoreError("could not delete \(key): \(String(cString: strerror(errno)))")
            }
        }
    }

    public func signedURL(key: String, expiresIn seconds: Int, downloadName: String) async throws -> URL {
        guard ObjectKey.isValid(key) else { throw ObjectStoreError("invalid object key") }
        let expires = Int(Date().timeIntervalSince1970) + seconds
        var components = URLComponents(url: publicBaseURL.appendingPathComponent("v1/files/\(key)"), resolvingAgainstBaseURL: false)!
        components.queryItems = [
            URLQueryItem(name: "expires", value: String(expires)),
            URLQueryItem(name: "filename", value: downloadName),
            URLQueryItem(name: "signature", value: signer.signature(key: key, expires: expires, filename: downloadName)),
        ]
        return components.url!
    }

    public func ping() async throws {
        // Writable and has room: create and remove a probe file.
        let root = root, probe = "\(root)/.health-\(UUID().uuidString)"
        try await NIOThreadPool.singleton.runIfActive {
            guard FileManager.default.createFile(atPath: probe, contents: Data("ok".utf8)) else {
                throw ObjectStoreError("object directory \(root) is not writable")
            }
            unlink(probe)
        }
    }
}

/// Content types by object file extension.
public enum MediaTypes {
    public static func forKey(_ key: String) -> String {
        switch (key as NSString).pathExtension.lowercased() {
        case "tiff", "tif": "image/tiff"
        case "jpg", "jpeg": "image/jpeg"
        case "png": "image/png"
        case "webp": "image/webp"
        case "gif": "image/gif"
        case "heic", "heif": "image/heif"
        default: "application/octet-stream"
        }
    }
}
