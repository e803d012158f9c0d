import Foundation
import RenderEngine

/// The four statuses of the spec, plus `canceled`.
public enum RenderStatus: String, Codable, Sendable, CaseIterable {
    case queued, processing, completed, failed, canceled

    /// A render in a terminal status never changes again.
    public var isTerminal: Bool { self == .completed || self == .failed || self == .canceled }
}

/// An uploaded original photo.
public struct AssetRecord: Sendable, Equatable, Codable {
    public var id: UUID
    /// Object-store key of the original (`uploads/{render_id}/original.{ext}`).
    public var storageKey: String
    public var contentType: String
    public var sizeBytes: Int
    public var width: Int
    public var height: Int
    public var format: String
    public var createdAt: Date
    /// The API key that uploaded it (`APIKeys.owner`); nil when API keys are off. Only that key
    /// may render or preview it.
    public var owner: String?
    /// When the retention sweep removed the original.
    public var deletedAt: Date?

    public init(
        id: UUID, storageKey: String, contentType: String, sizeBytes: Int, width: Int, height: Int, format: String, createdAt: Date,
        owner: String? = nil, deletedAt: Date? = nil
    ) {
        self.id = id
        self.owner = owner
        self.deletedAt = deletedAt
        self.storageKey = storageKey
        self.contentType = contentType
        self.sizeBytes = sizeBytes
        self.width = width
        self.height = height
        self.format = format
        self.createdAt = createdAt
    }
}

/// One render job and everything the API reports about it.
public struct RenderRecord: Sendable, Equatable {
    public var id: UUID
    public var assetID: UUID
    public var styleID: UUID
    /// `SizePreset.customID` for a custom size (stored as no preset at all).
    public var presetID: UUID
    public var status: RenderStatus
    public var orientation: OrientationPolicy
    public var fit: FitPolicy
    /// The size the client chose instead of a preset.
    public var customSize: CustomSize?
    /// Bleed, crop marks and output colour.
    public var print: PrintOptions
    public var styleParameters: [String: Double]
    public var seed: UInt64?
    public var outputKey: String?
    public var previewKey: String?
    public var errorMessage: String?
    public var effectiveDPI: Double?
    public var warnings: [String]
    public var createdAt: Date
    public var startedAt: Date?
    public var completedAt: Date?
    public var durationMs: Int?
    /// The API key that created the render (`APIKeys.owner`); nil when API keys are off.
    public var owner: String?
    /// When the retention sweep removed the TIFF and preview.
    public var outputsDeletedAt: Date?
    /// Where the render's terminal status is posted (`webhook_url`, or its key's default).
    public var webhookURL: String?

    public init(
        id: UUID, assetID: UUID, styleID: UUID, presetID: UUID, status: RenderStatus = .queued,
        orientation: OrientationPolicy = .auto, fit: FitPolicy = .cover, customSize: CustomSize? = nil,
        print: PrintOptions = PrintOptions(), styleParameters: [String: Double] = [:],
        seed: UInt64? = nil, outputKey: String? = nil, previewKey: String? = nil, errorMessage: String? = nil,
        effectiveDPI: Double? = nil, warnings: [String] = [], createdAt: Date, startedAt: Date? = nil,
        completedAt: Date? = nil, durationMs: Int? = nil, owner: String? = nil, outputsDeletedAt: Date? = nil,
        webhookURL: String? = nil
    ) {
        self.webhookURL = webhookURL
        self.id = id
        self.assetID = assetID
        self.styleID = styleID
        self.presetID = presetID
        self.status = status
        self.orientation = orientation
        self.fit = fit
        self.customSize = customSize
        self.print = print
        self.styleParameters = styleParameters
        self.seed = seed
        self.outputKey = outputKey
        self.previewKey = previewKey
        self.errorMessage = errorMessage
        self.effectiveDPI = effectiveDPI
        self.warnings = warnings
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.completedAt = completedAt
        self.durationMs = durationMs
        self.owner = owner
        self.outputsDeletedAt = outputsDeletedAt
    }
}

extension RenderRecord {
    /// The paper this render prints on: its preset, or its custom size (nil only when a
    /// stored preset id is no longer in the catalogue).
    public var paper: SizePreset? {
        if let customSize { return try? customSize.preset() }
        return SizePreset.find(id: presetID)
    }
}

/// A print size given as `width_inches` + `height_inches` or `width_mm` + `height_mm`, kept in
/// the unit the client used.
public struct CustomSize: Sendable, Equatable {
    public var width: Double
    public var height: Double
    public var millimetres: Bool

    public init(width: Double, height: Double, millimetres: Bool) {
        self.width = width
        self.height = height
        self.millimetres = millimetres
    }

    /// Validated against `SizePreset.customRangeInches`.
    public func preset() throws(RenderError) -> SizePreset {
        try SizePreset.custom(width: width, height: height, millimetres: millimetres)
    }
}

/// A render's print options as stored (the `print_options` column): a JSON object of
/// `PrintOptions`' fields plus the custom size, if any, in its unit. `{}` is the spec's print.
enum PrintOptionsJSON {
    private struct Stored: Codable {
        var options: PrintOptions
        var widthInches, heightInches, widthMM, heightMM: Double?

        enum CodingKeys: String, CodingKey {
            case widthInches = "width_inches", heightInches = "height_inches", widthMM = "width_mm", heightMM = "height_mm"
        }

        init(options: PrintOptions, custom: CustomSize?) {
            self.options = options
            if let custom, custom.millimetres {
                (widthMM, heightMM) = (custom.width, custom.height)
            } else if let custom {
                (widthInches, heightInches) = (custom.width, custom.height)
            }
        }

        init(from decoder: any Decoder) throws {
            options = try PrintOptions(from: decoder)
            let container = try decoder.container(keyedBy: CodingKeys.self)
            widthInches = try container.decodeIfPresent(Double.self, forKey: .widthInches)
            heightInches = try container.decodeIfPresent(Double.self, forKey: .heightInches)
            widthMM = try container.decodeIfPresent(Double.self, forKey: .widthMM)
            heightMM = try container.decodeIfPresent(Double.self, forKey: .heightMM)
        }

        func encode(to encoder: any Encoder) throws {
            try options.encode(to: encoder)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(widthInches, forKey: .widthInches)
            try container.encodeIfPresent(heightInches, forKey: .heightInches)
            try container.encodeIfPresent(widthMM, forKey: .widthMM)
            try container.encodeIfPresent(heightMM, forKey: .heightMM)
        }
    }

    static func encode(_ options: PrintOptions, custom: CustomSize?) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return (try? String(decoding: encoder.encode(Stored(options: options, custom: custom)), as: UTF8.self)) ?? "{}"
    }

    static func decode(_ text: String?) -> (PrintOptions, CustomSize?) {
        // `{}`, the spec's print, is most renders': no JSONDecoder for it.
        guard let text, text != "{}", let stored = try? JSONDecoder().decode(Stored.self, from: Data(text.utf8)) else { return (PrintOptions(), nil) }
        if let width = stored.widthMM, let height = stored.heightMM {
            return (stored.options, CustomSize(width: width, height: height, millimetres: true))
        }
        if let width = stored.widthInches, let height = stored.heightInches {
            return (stored.options, CustomSize(width: width, height: height, millimetres: false))
        }
        return (stored.options, nil)
    }
}

/// An `Idempotency-Key` as the store keeps it: scoped to the API key that sent it, with a
/// digest of the request it first came with.
public struct IdempotencyKey: Sendable, Equatable {
    /// `RenderRecord.owner`, or "" when API keys are off.
    public var owner: String
    public var key: String
    /// SHA-256 of the upload's bytes and fields (`RenderRequestDigest`).
    public var requestHash: String
    /// Uses recorded before this are expired: the key is free again.
    public var validAfter: Date

    public init(owner: String, key: String, requestHash: String, validAfter: Date) {
        self.owner = owner
        self.key = key
        self.requestHash = requestHash
        self.validAfter = validAfter
    }
}

/// An earlier, unexpired use of an idempotency key.
public struct IdempotentRequest: Sendable, Equatable {
    public var renderID: UUID
    public var requestHash: String
    public var createdAt: Date

    public init(renderID: UUID, requestHash: String, createdAt: Date) {
        self.renderID = renderID
        self.requestHash = requestHash
        self.createdAt = createdAt
    }
}

/// What a worker records when a render finishes.
public struct CompletedRender: Sendable, Equatable {
    public var outputKey: String
    public var previewKey: String
    public var completedAt: Date
    public var durationMs: Int
    public var effectiveDPI: Double
    public var warnings: [String]
    public var seed: UInt64?

    public init(outputKey: String, previewKey: String, completedAt: Date, durationMs: Int, effectiveDPI: Double, warnings: [String], seed: UInt64?) {
        self.outputKey = outputKey
        self.previewKey = previewKey
        self.completedAt = completedAt
        self.durationMs = durationMs
        self.effectiveDPI = effectiveDPI
        self.warnings = warnings
        self.seed = seed
    }
}

/// Object-store keys, in one place (the architecture guide's layout).
public enum ObjectKeys {
    public static func original(render: UUID, format: ImageFormat) -> String {
        "uploads/\(render.lowercased)/original.\(format.fileExtension)"
    }
    /// An original uploaded on its own (`POST /v1/assets`), before any render.
    public static func original(asset: UUID, format: ImageFormat) -> String {
        "uploads/assets/\(asset.lowercased)/original.\(format.fileExtension)"
    }
    /// A cached style preview of an asset (`StylePreviews`); the name is a digest of what it shows.
    public static func stylePreview(asset: UUID, digest: String) -> String { "previews/\(asset.lowercased)/\(digest).jpg" }
    public static func output(render: UUID) -> String { "renders/\(render.lowercased)/output.tiff" }
    public static func preview(render: UUID) -> String { "renders/\(render.lowercased)/preview.jpg" }
}

extension UUID {
    /// The spec writes UUIDs in lower case.
    public var lowercased: String { uuidString.lowercased() }
}
