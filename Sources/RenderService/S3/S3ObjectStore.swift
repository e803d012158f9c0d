import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// Where the S3 (or MinIO) bucket is and who we are to it.
public struct S3Configuration: Sendable {
    /// How this process reaches the server, e.g. `http://minio-service:9000`.
    public var endpoint: URL
    /// How clients reach it: presigned URLs are signed for this host (a signed Host header
    /// cannot be rewritten later).
    public var publicEndpoint: URL
    /// Buckets of uploaded photos, of TIFFs and of previews (the spec's scaling notes keep them
    /// apart); one bucket for all unless told otherwise.
    public var uploadsBucket: String
    public var rendersBucket: String
    public var previewsBucket: String
    public var region: String
    public var accessKey: String
    public var secretKey: String
    /// Objects larger than this go up in parts, so a 150 MB TIFF never sits in memory.
    public var multipartThreshold: Int = 16 * 1024 * 1024
    public var partSize: Int = 16 * 1024 * 1024
    /// Deadline of a request without a body. AsyncHTTPClient retries a refused connection
    /// until the deadline, so this is also how long an unreachable server takes to fail.
    public var requestTimeout: Duration = .seconds(10)
    /// Slowest upload rate tolerated: a request's deadline grows by its body size at this rate.
    public var minimumUploadBytesPerSecond: Int = 2 * 1024 * 1024
    /// Tries of an idempotent request (every one but POST) that met a 5xx, `SlowDown` or a
    /// dropped connection, and the waits between them.
    public var maxAttempts = 4
    public var retryBackoff = Backoff(base: .milliseconds(100), cap: .seconds(2))

    public init(endpoint: URL, publicEndpoint: URL? = nil, bucket: String, region: String, accessKey: String, secretKey: String) {
        self.endpoint = endpoint
        self.publicEndpoint = publicEndpoint ?? endpoint
        uploadsBucket = bucket
        rendersBucket = bucket
        previewsBucket = bucket
        self.region = region
        self.accessKey = accessKey
        self.secretKey = secretKey
    }
}

extension S3Configuration {
    /// The bucket a key of `ObjectKeys` lives in.
    func bucket(for key: String) -> String {
        if key.hasPrefix("uploads/") { return uploadsBucket }
        return key.hasSuffix("/preview.jpg") ? previewsBucket : rendersBucket
    }

    var buckets: [String] { [uploadsBucket, rendersBucket, previewsBucket].reduce(into: []) { if !$0.contains($1) { $0.append($1) } } }
}

public struct S3Error: Error, CustomStringConvertible, Sendable {
    public let status: Int
    public let code: String
    public let message: String
    public var description: String { "S3 \(status) \(code): \(message)" }
}

/// `ObjectStore` on S3/MinIO over AsyncHTTPClient, path-style addressing, SigV4. The local files
/// it sends and receives are read and written on NIO's thread pool: a slow disk blocks a pool
/// thread, never the concurrency threads serving requests.
public struct S3ObjectStore: ObjectStore {
    public let configuration: S3Configuration
    let http: HTTPClient
    let signer: SigV4Signer

    public init(configuration: S3Configuration, http: HTTPClient = .shared) {
        self.configuration = configuration
        self.http = http
        signer = SigV4Signer(accessKey: configuration.accessKey, secretKey: configuration.secretKey, region: configuration.region)
    }

    /// Creates the buckets that do not exist (start-up). Replicas starting together race to
    /// create the same bucket: a create answered 409 (another replica's landed first) is done,
    /// and one answered 404 NoSuchBucket (SeaweedFS, while another's is landing) looks again.
    public func ensureBucket() async throws {
        var body: ByteBuffer?
        if configuration.region != "us-east-1" {
            body = ByteBuffer(
                string:
                    "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>\(configuration.region)</LocationConstraint></CreateBucketConfiguration>"
            )
        }
        for bucket in configuration.buckets {
            var attempt = 1
            while true {
                let head = try await send("HEAD", bucket: bucket)
                if head.status == .ok { break }
                guard head.status == .notFound else { throw try await failure(head, operation: "HeadBucket") }
                let created = try await send("PUT", bucket: bucket, body: body)
                if created.status == .ok || created.status == .conflict { break }
                guard created.status == .notFound, attempt < configuration.maxAttempts else { throw try await failure(created, operation: "CreateBucket") }
                _ = try? await created.body.collect(upTo: Self.maxAnswerBytes)
                try await Task.sleep(for: configuration.retryBackoff.delay(attempt: attempt))
                attempt += 1
            }
        }
    }

    public func put(key: String, fileAt path: String, contentType: String, consume: Bool) async throws {
        guard ObjectKey.isValid(key) else { throw ObjectStoreError("invalid object key") }
        let threshold = configuration.multipartThreshold
        // A file up to the threshold is read whole; a larger one goes up in parts.
        let small = try await NIOThreadPool.singleton.runIfActive { () -> Data? in
            let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0
            return size <= threshold ? try Data(contentsOf: URL(fileURLWithPath: path)) : nil
        }
        if let small {
            let response = try await send("PUT", key: key, headers: [("Content-Type", contentType)], body: ByteBuffer(data: small))
            guard response.status == .ok else { throw try await failure(response, operation: "PutObject") }
        } else {
            try await multipartPut(key: key, path: path, contentType: contentType)
        }
        if consume { _ = try? await NIOThreadPool.singleton.runIfActive { unlink(path) } }
    }

    /// CreateMultipartUpload, one part in memory at a time, CompleteMultipartUpload; aborted on
    /// any failure so no half-written object ever becomes visible.
    private func multipartPut(key: String, path: String, contentType: String) async throws {
        let created = try await send("POST", key: key, query: [("uploads", "")], headers: [("Content-Type", contentType)])
        guard created.status == .ok else { throw try await failure(created, operation: "CreateMultipartUpload") }
        let createdBody = String(buffer: try await created.body.collect(upTo: Self.maxAnswerBytes))
        guard let uploadID = Self.element("UploadId", in: createdBody) else {
            throw S3Error(status: 200, code: "MalformedResponse", message: "no UploadId")
        }
        do {
            let handle = try await NIOThreadPool.singleton.runIfActive {
                guard let handle = FileHandle(forReadingAtPath: path) else { throw ObjectStoreError("cannot read \(path)") }
                return handle
            }
            defer { try? handle.close() }
            var etags: [String] = []
            var partNumber = 1
            let partSize = configuration.partSize
            while true {
                guard let chunk = try await NIOThreadPool.singleton.runIfActive({ try handle.read(upToCount: partSize) }), !chunk.isEmpty else { break }
                let response = try await send(
                    "PUT", key: key, query: [("partNumber", String(partNumber)), ("uploadId", uploadID)], body: ByteBuffer(data: chunk))
                guard response.status == .ok, let etag = response.headers.first(name: "ETag") else {
                    throw try await failure(response, operation: "UploadPart")
                }
                _ = try await response.body.collect(upTo: Self.maxAnswerBytes)
                etags.append(etag)
                partNumber += 1
            }
            let parts = etags.enumerated().map { "<Part><PartNumber>\($0.offset + 1)</PartNumber><ETag>\($0.element)</ETag></Part>" }.joined()
            let complete = try await send(
                "POST", key: key, query: [("uploadId", uploadID)],
                body: ByteBuffer(string: "<CompleteMultipartUpload>\(parts)</CompleteMultipartUpload>"))
            let completeBody = String(buffer: try await complete.body.collect(upTo: Self.maxAnswerBytes))
            // S3 can answer 200 and still report an error in the body.
            guard complete.status == .ok, !completeBody.contains("<Error>") else {
                throw S3Error(
                    status: Int(complete.status.code), code: Self.element("Code", in: completeBody) ?? "CompleteFailed",
                    message: Self.element("Message", in: completeBody) ?? "")
            }
        } catch {
            _ = try? await send("DELETE", key: key, query: [("uploadId", uploadID)])
            throw error
        }
    }

    public func download(key: String, to path: String) async throws {
        let response = try await send("GET", key: key)
        guard response.status == .ok else { throw try await failure(response, operation: "GetObject") }
        let handle = try await NIOThreadPool.singleton.runIfActive {
            guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
                throw ObjectStoreError("cannot write \(path)")
            }
            return handle
        }
        defer { try? handle.close() }
        var gathered = ByteBuffer()
        for try await chunk in response.body {
            gathered.writeImmutableBuffer(chunk)
            if gathered.readableBytes >= Self.downloadWriteBytes { try await write(&gathered, to: handle) }
        }
        try await write(&gathered, to: handle)
    }

    /// A download is written in batches of this size: one hop to the thread pool per
    /// megabyte, not per network chunk.
    static let downloadWriteBytes = 1 << 20

    /// Writes and empties `buffer`, on the thread pool.
    private func write(_ buffer: inout ByteBuffer, to handle: FileHandle) async throws {
        let bytes = buffer
        try await NIOThreadPool.singleton.runIfActive { try bytes.withUnsafeReadableBytes { try handle.write(contentsOf: $0) } }
        buffer.clear()
    }

    public func head(key: String) async throws -> StoredObject? {
        let response = try await send("HEAD", key: key)
        if response.status == .notFound { return nil }
        guard response.status == .ok else { throw try await failure(response, operation: "HeadObject") }
        let size = response.headers.first(name: "Content-Length").flatMap(Int.init) ?? 0
        return StoredObject(key: key, size: size, contentType: response.headers.first(name: "Content-Type"))
    }

    public func delete(key: String) async throws {
        guard ObjectKey.isValid(key) else { throw ObjectStoreError("invalid object key") }
        let response = try await send("DELETE", key: key)
        guard response.status == .noContent || response.status == .ok || response.status == .notFound else {
            throw try await failure(response, operation: "DeleteObject")
        }
    }

    /// The most of an S3 answer read: XML documents and error bodies, never objects.
    static let maxAnswerBytes = 1 << 20
    /// SigV4 presigned URLs live at most 7 days (in seconds).
    static let maximumURLLifetime = 604_800

    public func signedURL(key: String, expiresIn seconds: Int, downloadName: String) async throws -> URL {
        guard ObjectKey.isValid(key) else { throw ObjectStoreError("invalid object key") }
        let endpoint = configuration.publicEndpoint
        return signer.presign(
            scheme: endpoint.scheme ?? "http", host: Self.hostHeader(endpoint), path: "/\(configuration.bucket(for: key))/\(key)",
            extraQuery: [("response-content-disposition", FilesContentDisposition.header(downloadName))],
            expires: min(seconds, Self.maximumURLLifetime), date: Date())
    }

    public func ping() async throws {
        for bucket in configuration.buckets {
            let response = try await send("HEAD", bucket: bucket)
            guard response.status == .ok else { throw try await failure(response, operation: "HeadBucket") }
        }
    }

    // MARK: transport

    static func hostHeader(_ url: URL) -> String {
        let host = url.host ?? "localhost"
        guard let port = url.port else { return host }
        let defaultPort = url.scheme == "https" ? 443 : 80
        return port == defaultPort ? host : "\(host):\(port)"
    }

    /// One S3 request. GET, HEAD, PUT and DELETE of a key are idempotent, so they are tried again
    /// when the server is overloaded or failing (5xx, including `SlowDown`) or the connection
    /// drops; a POST (create or complete a multipart upload) is never sent twice.
    private func send(
        _ method: String, key: String, query: [(String, String)] = [], headers: [(String, String)] = [], body: ByteBuffer? = nil
    ) async throws -> HTTPClientResponse {
        try await send(method, bucket: configuration.bucket(for: key), key: key, query: query, headers: headers, body: body)
    }

    private func send(
        _ method: String, bucket: String, key: String? = nil, query: [(String, String)] = [], headers: [(String, String)] = [], body: ByteBuffer? = nil
    ) async throws -> HTTPClientResponse {
        let retries = method == "POST" ? 1 : configuration.maxAttempts
        var attempt = 1
        while true {
            do {
                let response = try await sendOnce(method, bucket: bucket, key: key, query: query, headers: headers, body: body)
                guard attempt < retries, response.status.code >= 500 else { return response }
                _ = try? await response.body.collect(upTo: Self.maxAnswerBytes)
            } catch  where attempt < retries && Self.isDroppedConnection(error) {
            }
            try await Task.sleep(for: configuration.retryBackoff.delay(attempt: attempt))
            attempt += 1
        }
    }

    /// A connection reset or closed under a request: the request may not have been processed.
    static func isDroppedConnection(_ error: any Error) -> Bool {
        if let error = error as? HTTPClientError { return error == .remoteConnectionClosed }
        if let error = error as? IOError { return [ECONNRESET, EPIPE].contains(error.errnoCode) }
        return false
    }

    private func sendOnce(
        _ method: String, bucket: String, key: String?, query: [(String, String)], headers: [(String, String)], body: ByteBuffer?
    ) async throws -> HTTPClientResponse {
        let path = key.map { "/\(bucket)/\($0)" } ?? "/\(bucket)"
        let host = Self.hostHeader(configuration.endpoint)
        let payloadHash = body.map { buffer in SHA256.hash(data: buffer.readableBytesView).hex } ?? SigV4Signer.emptyPayloadHash
        let signed = signer.sign(method: method, path: path, query: query, headers: [("host", host)] + headers, payloadHash: payloadHash, date: Date())
        let queryString = SigV4Signer.canonicalQuery(query)
        var request = HTTPClientRequest(
            url: "\(configuration.endpoint.scheme ?? "http")://\(host)\(SigV4Signer.encodePath(path))\(queryString.isEmpty ? "" : "?" + queryString)")
        request.method = HTTPMethod(rawValue: method)
        for (name, value) in headers + signed { request.headers.add(name: name, value: value) }
        if let body {
            request.body = .bytes(body)
        }
        let uploadAllowance = Duration.seconds(Double(body?.readableBytes ?? 0) / Double(configuration.minimumUploadBytesPerSecond))
        let timeout = TimeAmount.nanoseconds((configuration.requestTimeout + uploadAllowance).nanoseconds)
        let response = try await http.execute(request, timeout: timeout)
        return response
    }

    private func failure(_ response: HTTPClientResponse, operation: String) async throws -> S3Error {
        let text = String(buffer: (try? await response.body.collect(upTo: Self.maxAnswerBytes)) ?? ByteBuffer())
        return S3Error(
            status: Int(response.status.code), code: Self.element("Code", in: text) ?? response.status.reasonPhrase,
            message: "\(operation): \(Self.element("Message", in: text) ?? "")")
    }

    /// The text of the first `<name>…</name>` element (S3's XML answers are flat enough).
    static func element(_ name: String, in xml: String) -> String? {
        guard let start = xml.range(of: "<\(name)>"), let end = xml.range(of: "</\(name)>", range: start.upperBound..<xml.endIndex) else { return nil }
        return String(xml[start.upperBound..<end.lowerBound])
    }
}

/// `Content-Disposition` for downloads (shared by the local file server and S3 presigning).
enum FilesContentDisposition {
    static func header(_ filename: String) -> String {
        let safe = String(filename.map { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) ? $0 : "_" })
        let encoded = filename.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? safe
        return "attachment; filename=\"\(safe)\"; filename*=UTF-8''\(encoded)"
    }
}
