import Foundation
import RenderEngine

/// Why the intake refused a photo or a render request, in the client's words. The intake knows
/// nothing of HTTP: `kind` says what sort of refusal it is and the API turns it into a status;
/// `error` and `message` are the spec's JSON fields, word for word.
public struct IntakeError: Error, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// Something the client sent is wrong: a field, the photo, a malformed id.
        case invalid
        /// No such asset, as far as this caller can tell.
        case notFound
        /// The asset's photo was deleted at the end of its retention period.
        case expired
        /// An idempotency key sent again with a different request.
        case keyReused
        /// Too many renders waiting: try again after `retryAfterSeconds`.
        case overloaded
    }

    public let kind: Kind
    public let error: String
    public let message: String?
    /// For `overloaded`: when a retry may find room.
    public var retryAfterSeconds: Int?

    init(_ kind: Kind, _ error: String, message: String? = nil) {
        self.kind = kind
        self.error = error
        self.message = message
    }

    static func invalid(_ error: String, message: String? = nil) -> IntakeError {
        IntakeError(.invalid, error, message: message)
    }

    static func invalidUUID(_ field: String) -> IntakeError {
        .invalid("Invalid UUID format for \(field)")
    }

    /// Refused, not ignored: a misspelt `style_parms` would otherwise render with defaults.
    static func unknownField(_ name: String, fields: Set<String>) -> IntakeError {
        .invalid(
            "Unknown form field",
            message: "'\(name.prefix(64))' is not a field of this request; the fields are file, \(fields.sorted().joined(separator: ", "))")
    }

    static let emptyFile = IntakeError.invalid("Empty file", message: "The uploaded file has no content")
    static let assetNotFound = IntakeError(.notFound, "Asset not found", message: "No photo with this asset_id was uploaded with this API key")

    /// A photo the engine refused, with the engine's sentence as the message; anything else
    /// the engine reports is not the client's fault and is thrown as it is.
    static func image(_ error: RenderError) -> any Error {
        switch error.code {
        case .unsupportedFormat: IntakeError.invalid("Unsupported image format", message: error.message)
        case .emptyFile: IntakeError.emptyFile
        case .tooManyPixels: IntakeError.invalid("Image too large", message: error.message)
        case .corruptImage: IntakeError.invalid("Corrupt image", message: error.message)
        case .invalidRequest: IntakeError.invalid("Invalid style_params", message: error.message)
        default: error
        }
    }
}
