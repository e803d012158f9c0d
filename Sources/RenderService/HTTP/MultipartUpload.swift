import Foundation
import Hummingbird
import NIOCore
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#endif

/// A `multipart/form-data` request body, received as a stream: the `file` part goes straight
/// to a temporary file (never whole into memory) and stops with 413 as soon as it crosses the
/// limit; other parts are small text fields.
struct MultipartUpload {
    struct File {
        let path: String
        let size: Int
        /// As the client sent it: for logs only, never used as a path.
        let clientFilename: String?
    }

    var fields: [String: String] = [:]
    var file: File?

    /// The boundary parameter of a multipart/form-data content type, or nil.
    /// File bytes are gathered into writes of `flushBytes`; a slice of at least
    /// `directWriteBytes` arriving with nothing pending is written as it is.
    static let flushBytes = 1 << 20
    static let directWriteBytes = 64 * 1024

    static func boundary(contentType: String) -> String? {
        let parts = contentType.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard let type = parts.first, type.lowercased() == "multipart/form-data" else { return nil }
        for parameter in parts.dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2, pair[0].trimmingCharacters(in: .whitespaces).lowercased() == "boundary" else { continue }
            var value = pair[1].trimmingCharacters(in: .whitespaces)
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            return (1...70).contains(value.count) ? value : nil
        }
        return nil
    }

    /// Reads the whole body. On error the temporary file is removed before throwing; on
    /// success it belongs to the caller.
    ///
    /// Memory stays bounded whatever the client sends, chunked or not: only the `file` part
    /// and the named `fields` are accepted, each once, and a part with another name is refused
    /// as soon as its headers arrive (so at most `fields.count + 1` parts); everything that is
    /// not file content — field values, part headers, boundaries, preamble — counts towards
    /// `maxFormBytes`, so the whole body never exceeds `maxFileBytes + maxFormBytes`.
    static func receive(
        body: RequestBody, boundary: String, temporaryPath: String, fields: Set<String>, maxFileBytes: Int, maxFormBytes: Int,
        maxFieldBytes: Int = 64 * 1024
    ) async throws -> MultipartUpload {
        var parser = MultipartStreamParser(boundary: boundary)
        let receiver = PartReceiver(temporaryPath: temporaryPath, fieldNames: fields, maxFileBytes: maxFileBytes, maxFieldBytes: maxFieldBytes)
        defer { receiver.close() }
        var received = 0
        do {
            for try await buffer in body {
                received += buffer.readableBytes
                do {
                    try parser.feed(buffer) { event in try receiver.handle(event) }
                } catch let failure as MultipartStreamParser.Failure {
                    throw APIError(.badRequest, "Malformed multipart body", message: "The request body is not valid multipart/form-data: \(failure.reason)")
                }
                if received - receiver.fileBytes > maxFormBytes {
                    throw APIError(
                        .badRequest, "Form fields too large", message: "Everything beside the file may take at most \(maxFormBytes / 1024) KB",
                        closesConnection: true)
                }
                if parser.isFinished { break }
            }
            guard parser.isFinished else {
                throw APIError(.badRequest, "Malformed multipart body", message: "The multipart body ended before its closing boundary")
            }
        } catch is HTTPParserError {
            // The client went away (or broke HTTP framing) mid-body: its fault, not a server error.
            receiver.close()
            unlink(temporaryPath)
            throw APIError(.badRequest, "Incomplete upload", message: "The connection closed before the whole request body arrived")
        } catch var error as APIError {
            receiver.close()
            unlink(temporaryPath)
            // Refused mid-body: answer at once and hang up rather than read the rest.
            error.closesConnection = true
            throw error
        } catch {
            receiver.close()
            unlink(temporaryPath)
            throw error
        }
        var upload = MultipartUpload()
        upload.fields = receiver.fields
        if receiver.fileSeen {
            upload.file = File(path: temporaryPath, size: receiver.fileBytes, clientFilename: receiver.clientFilename)
        }
        return upload
    }

    /// Routes parser events: the `file` part to disk in large writes, the rest into small
    /// text fields. Used by one task at a time.
    private final class PartReceiver {
        let temporaryPath: String
        let fieldNames: Set<String>
        let maxFileBytes: Int
        let maxFieldBytes: Int
        var fields: [String: String] = [:]
        var fileSeen = false
        var fileBytes = 0
        var clientFilename: String?
        private var partName: String?
        private var partIsFile = false
        private var fieldData = Data()
        private var handle: FileHandle?
        private var pending = ByteBuffer()
        /// Background writeback: the store syncs the file before accepting it, and starting
        /// the flush while the rest still arrives leaves that final sync almost nothing to do.
        private let writeback = DispatchGroup()
        private var unsyncedBytes = 0

        init(temporaryPath: String, fieldNames: Set<String>, maxFileBytes: Int, maxFieldBytes: Int) {
            self.temporaryPath = temporaryPath
            self.fieldNames = fieldNames
            self.maxFileBytes = maxFileBytes
            self.maxFieldBytes = maxFieldBytes
        }

        func handle(_ event: MultipartStreamParser.Event) throws {
            switch event {
            case .partBegin(let headers):
                let disposition = ContentDisposition(headers["content-disposition"] ?? "")
                guard let name = disposition.parameters["name"], !name.isEmpty else {
                    throw APIError(.badRequest, "Unnamed form part", message: "Every part needs a Content-Disposition with a name")
                }
                partName = name
                partIsFile = name == "file"
                fieldData = Data()
                if partIsFile {
                    guard !fileSeen else { throw APIError(.badRequest, "Multiple files provided", message: "Send exactly one 'file' part") }
                    fileSeen = true
                    clientFilename = disposition.parameters["filename"]
                    guard FileManager.default.createFile(atPath: temporaryPath, contents: nil, attributes: [.posixPermissions: 0o600]),
                        let handle = FileHandle(forWritingAtPath: temporaryPath)
                    else { throw APIError(.internalServerError, "Internal server error") }
                    self.handle = handle
                } else {
                    guard fieldNames.contains(name) else { throw APIError(IntakeError.unknownField(name, fields: fieldNames)) }
                    guard fields[name] == nil else {
                        throw APIError(.badRequest, "Duplicate form field", message: "Field '\(name.prefix(64))' was sent more than once")
                    }
                }
            case .body(var buffer):
                if partIsFile {
                    fileBytes += buffer.readableBytes
                    if fileBytes > maxFileBytes { throw APIError.fileTooLarge }
                    if pending.readableBytes == 0 && buffer.readableBytes >= MultipartUpload.directWriteBytes {
                        try write(buffer)  // large slices go straight to disk
                    } else {
                        pending.writeBuffer(&buffer)
                        if pending.readableBytes >= MultipartUpload.flushBytes { try flush() }
                    }
                } else if let name = partName {
                    fieldData.append(contentsOf: buffer.readableBytesView)
                    if fieldData.count > maxFieldBytes {
                        throw APIError(.badRequest, "Form field too large", message: "Field '\(name)' exceeds \(maxFieldBytes / 1024) KB")
                    }
                }
            case .partEnd:
                if partIsFile {
                    try flush()
                    close()
                } else if let name = partName {
                    guard let text = String(data: fieldData, encoding: .utf8) else {
                        throw APIError(.badRequest, "Invalid form field", message: "Field '\(name)' is not valid UTF-8")
                    }
                    fields[name] = text
                }
                partName = nil
                partIsFile = false
            }
        }

        private func flush() throws {
            guard pending.readableBytes > 0 else { return }
            try write(pending)
            pending.clear()
        }

        /// write(2) straight from the buffer's memory, no intermediate copy.
        private func write(_ buffer: ByteBuffer) throws {
            guard let descriptor = handle?.fileDescriptor else { return }
            try buffer.withUnsafeReadableBytes { bytes in
                var offset = 0
                while offset < bytes.count {
                    let written = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                    if written < 0 {
                        if errno == EINTR { continue }
                        throw APIError(.internalServerError, "Internal server error", message: "The upload could not be stored")
                    }
                    offset += written
                }
            }
            unsyncedBytes += buffer.readableBytes
            if unsyncedBytes >= 4 << 20, writeback.wait(timeout: .now()) == .success {
                unsyncedBytes = 0
                DispatchQueue.global().async(group: writeback) { _ = fdatasync(descriptor) }
            }
        }

        func close() {
            writeback.wait()
            try? handle?.close()
            handle = nil
        }
    }
}

/// `form-data; name="file"; filename="photo.jpg"`, with quoted-string unescaping.
struct ContentDisposition {
    var type = ""
    var parameters: [String: String] = [:]

    init(_ value: String) {
        var scanner = Substring(value)
        type = String(scanner.prefix { $0 != ";" }).trimmingCharacters(in: .whitespaces).lowercased()
        scanner = scanner.drop { $0 != ";" }
        while scanner.first == ";" {
            scanner = scanner.dropFirst().drop { $0 == " " || $0 == "\t" }
            let name = String(scanner.prefix { $0 != "=" && $0 != ";" }).trimmingCharacters(in: .whitespaces).lowercased()
            scanner = scanner.dropFirst(name.count).drop { $0 == " " }
            guard scanner.first == "=" else { continue }
            scanner = scanner.dropFirst().drop { $0 == " " }
            var parsed = ""
            if scanner.first == "\"" {
                scanner = scanner.dropFirst()
                var escaped = false
                while let character = scanner.first {
                    scanner = scanner.dropFirst()
                    if escaped {
                        parsed.append(character)
                        escaped = false
                    } else if character == "\\" {
                        escaped = true
                    } else if character == "\"" {
                        break
                    } else {
                        parsed.append(character)
                    }
                }
                scanner = scanner.drop { $0 != ";" }
            } else {
                parsed = String(scanner.prefix { $0 != ";" }).trimmingCharacters(in: .whitespaces)
                scanner = scanner.drop { $0 != ";" }
            }
            if !name.isEmpty { parameters[name] = parsed }
        }
    }
}
