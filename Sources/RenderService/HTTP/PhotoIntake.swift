import Foundation
import Hummingbird
import NIOPosix
import RenderEngine

/// Receiving a photo: what `POST /v1/renders` and `POST /v1/assets` share, so both apply the
/// same limits and checks and answer with the same errors.
struct PhotoIntake: Sendable {
    let services: ServiceComponents

    /// A multipart form received to a temporary file; `discard()` removes the file.
    struct ReceivedForm: Sendable {
        let upload: MultipartUpload
        let temporaryPath: String
        func discard() { unlink(temporaryPath) }
    }

    /// A photo that passed every check, and where its bytes are.
    struct CheckedPhoto: Sendable {
        let path: String
        let size: Int
        let probe: ImageProbe
    }

    /// Streams the multipart body to a temporary file (never whole in memory), refusing a body
    /// declared or found over the limits, and any part not named `file` or in `fields`.
    func receive(_ request: Request, fields: Set<String>, hint: String) async throws -> ReceivedForm {
        let configuration = services.configuration
        guard let contentType = request.headers[.contentType], let boundary = MultipartUpload.boundary(contentType: contentType) else {
            throw APIError(.badRequest, "Expected multipart/form-data", message: hint)
        }
        // A declared length far over the limit is refused before a byte is read.
        if let length = request.headers[.contentLength].flatMap(Int.init), length > configuration.maxRequestBytes {
            throw APIError.fileTooLarge
        }
        // On error `receive` removes the temporary file itself.
        let temporary = "\(services.uploadDirectory)/upload-\(UUID().uuidString)"
        let upload = try await MultipartUpload.receive(
            body: request.body, boundary: boundary, temporaryPath: temporary, fields: fields,
            maxFileBytes: configuration.maxUploadBytes, maxFormBytes: configuration.maxFormBytes)
        return ReceivedForm(upload: upload, temporaryPath: temporary)
    }

    /// Non-empty, then the header, then the whole file checked (a JPEG's markers, a
    /// low-resolution decode of other formats), off the event loops.
    func check(_ file: MultipartUpload.File) async throws -> CheckedPhoto {
        guard file.size > 0 else { throw APIError(.badRequest, "Empty file", message: "The uploaded file has no content") }
        do {
            let engine = services.engine, path = file.path
            let probe = try await NIOThreadPool.singleton.runIfActive {
                let probe = try engine.probe(path: path)
                try ImageProbe.verifyUpload(path: path, format: probe.format)
                return probe
            }
            return CheckedPhoto(path: file.path, size: file.size, probe: probe)
        } catch let error as RenderError {
            throw APIError.image(error)
        }
    }

    /// Moves the checked photo into the object store under `key` and describes it as an asset.
    func store(_ photo: CheckedPhoto, assetID: UUID, key: String, owner: String?, at date: Date) async throws -> AssetRecord {
        try await services.objects.put(key: key, fileAt: photo.path, contentType: photo.probe.format.mediaType, consume: true)
        return AssetRecord(
            id: assetID, storageKey: key, contentType: photo.probe.format.mediaType, sizeBytes: photo.size, width: photo.probe.orientedWidth,
            height: photo.probe.orientedHeight, format: photo.probe.format.rawValue, createdAt: date, owner: owner)
    }

    /// An asset this request may use: 404 for an unknown id or another key's asset (it does
    /// not exist as far as this key can tell), 410 once retention removed the original.
    func asset(_ text: String?, owner: String?) async throws -> AssetRecord {
        guard let text, let id = UUID(uuidString: text) else { throw APIError.invalidUUID("asset_id") }
        guard let asset = try await services.store.asset(id: id) else { throw APIError.assetNotFound }
        if services.configuration.apiKeys.isEnabled, asset.owner != owner { throw APIError.assetNotFound }
        if let deleted = asset.deletedAt {
            throw APIError(
                .gone, "Asset expired",
                message: "The photo was deleted on \(Timestamps.rfc3339(deleted)) at the end of the retention period; upload it again")
        }
        return asset
    }
}

extension APIError {
    static let assetNotFound = APIError(.notFound, "Asset not found", message: "No photo with this asset_id was uploaded with this API key")
}

extension Optional {
    /// `map` for an async transform.
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let self else { return nil }
        return try await transform(self)
    }
}
