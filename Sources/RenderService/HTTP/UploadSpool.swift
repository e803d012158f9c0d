import Foundation
import Hummingbird
import NIOPosix

/// Where the API receives multipart bodies before the intake takes the photo, and how much it
/// takes: what `POST /v1/renders` and `POST /v1/assets` share, so both apply the same limits
/// and answer with the same errors.
struct UploadSpool: Sendable {
    let directory: String
    let maxFileBytes: Int
    let maxFormBytes: Int
    var maxRequestBytes: Int { maxFileBytes + maxFormBytes }

    init(directory: String, configuration: ServiceConfiguration) {
        self.directory = directory
        maxFileBytes = configuration.maxUploadBytes
        maxFormBytes = configuration.maxFormBytes
    }

    /// A multipart form received to a temporary file.
    struct ReceivedForm: Sendable {
        let upload: MultipartUpload

        /// The `file` part, for the intake to move into the object store.
        var photo: RenderIntake.Photo? {
            upload.file.map { RenderIntake.Photo(path: $0.path, size: $0.size, isTemporary: true) }
        }
    }

    /// Streams the multipart body to a temporary file (never whole in memory), refusing a body
    /// declared or found over the limits, and any part not named `file` or in `fields`; runs
    /// `body` with the form, then removes the file (on the thread pool: an unlink may block).
    func receive<T>(_ request: Request, fields: Set<String>, hint: String, _ body: (ReceivedForm) async throws -> T) async throws -> T {
        guard let contentType = request.headers[.contentType], let boundary = MultipartUpload.boundary(contentType: contentType) else {
            throw APIError(.badRequest, "Expected multipart/form-data", message: hint)
        }
        // A declared length far over the limit is refused before a byte is read.
        if let length = request.headers[.contentLength].flatMap(Int.init), length > maxRequestBytes {
            throw APIError.fileTooLarge
        }
        // On error `receive` removes the temporary file itself.
        let temporary = "\(directory)/upload-\(UUID().uuidString)"
        let upload = try await MultipartUpload.receive(
            body: request.body, boundary: boundary, temporaryPath: temporary, fields: fields, maxFileBytes: maxFileBytes, maxFormBytes: maxFormBytes)
        do {
            let result = try await body(ReceivedForm(upload: upload))
            await MultipartUpload.remove(temporary)
            return result
        } catch {
            await MultipartUpload.remove(temporary)
            throw error
        }
    }

    /// Reads and drops a body the answer refuses anyway (never stored), so ordinary HTTP
    /// clients see the answer instead of a reset connection.
    func discard(_ body: RequestBody) async throws {
        var discarded = 0
        for try await chunk in body {
            discarded += chunk.readableBytes
            if discarded > maxRequestBytes { break }
        }
    }
}
