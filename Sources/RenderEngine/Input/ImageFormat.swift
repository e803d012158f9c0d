import Foundation

/// The photo formats accepted as input, recognised from their first bytes only.
///
/// The file name and any declared content type are never trusted: a text file named
/// `photo.jpg` is not a JPEG, and an SVG or PDF never reaches a decoder.
public enum ImageFormat: String, Sendable, CaseIterable, Codable {
    case jpeg, png, webp, tiff, gif, heif

    /// File extension used when the original is stored.
    public var fileExtension: String {
        switch self {
        case .jpeg: "jpg"
        case .png: "png"
        case .webp: "webp"
        case .tiff: "tiff"
        case .gif: "gif"
        case .heif: "heic"
        }
    }

    public var mediaType: String {
        switch self {
        case .jpeg: "image/jpeg"
        case .png: "image/png"
        case .webp: "image/webp"
        case .tiff: "image/tiff"
        case .gif: "image/gif"
        case .heif: "image/heif"
        }
    }

    /// Bytes needed to recognise every format.
    public static let sniffLength = 32

    /// The format whose signature starts `bytes`, or nil.
    public static func sniff<Bytes: Collection>(_ bytes: Bytes) -> ImageFormat? where Bytes.Element == UInt8 {
        let b = Array(bytes.prefix(sniffLength))
        func starts(_ signature: [UInt8], at offset: Int = 0) -> Bool {
            b.count >= offset + signature.count && Array(b[offset..<offset + signature.count]) == signature
        }
        if starts([0xFF, 0xD8, 0xFF]) { return .jpeg }
        if starts([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        if starts(Array("RIFF".utf8)) && starts(Array("WEBP".utf8), at: 8) { return .webp }
        if starts([0x49, 0x49, 0x2A, 0x00]) || starts([0x4D, 0x4D, 0x00, 0x2A])
            || starts([0x49, 0x49, 0x2B, 0x00]) || starts([0x4D, 0x4D, 0x00, 0x2B])
        {
            return .tiff
        }
        if starts(Array("GIF87a".utf8)) || starts(Array("GIF89a".utf8)) { return .gif }
        // ISO base media file: a box size, then "ftyp", then a brand naming a HEIF image.
        if starts(Array("ftyp".utf8), at: 4), b.count >= 12 {
            let brand = String(decoding: b[8..<12], as: UTF8.self)
            let heifBrands: Set = ["heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1", "avif", "avis"]
            if heifBrands.contains(brand) { return .heif }
        }
        return nil
    }

    /// Sniffs the first bytes of a file.
    public static func sniff(fileAt path: String) throws(RenderError) -> ImageFormat? {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw RenderError(.io, "The input file could not be opened", detail: path)
        }
        defer { try? handle.close() }
        let head: Data
        do {
            head = try handle.read(upToCount: sniffLength) ?? Data()
        } catch {
            throw RenderError(.io, "The input file could not be read", detail: "\(error)")
        }
        if head.isEmpty { throw RenderError(.emptyFile, "The file is empty") }
        return sniff(head)
    }
}
