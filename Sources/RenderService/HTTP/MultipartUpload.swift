import Foundation
import Hummingbird
import MultipartKit

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

    /// Reads the whole body. The temporary file is the caller's to remove (also on error:
    /// it is removed here before throwing).
    static func receive(
        body: RequestBody, boundary: String, temporaryPath: String, maxFileBytes: Int, maxFieldBytes: Int = 64 * 1024
    ) async throws -> MultipartUpload {
        let state = ParserState(temporaryPath: temporaryPath, maxFileBytes: maxFileBytes, maxFieldBytes: maxFieldBytes)
        let parser = MultipartParser(boundary: boundary)
        parser.onHeader = { name, value in state.header(name: name, value: value) }
        parser.onBody = { buffer in state.body(&buffer) }
        parser.onPartComplete = { state.partComplete() }
        do {
            for try await buffer in body {
                do {
                    try parser.execute(buffer)
                } catch {
                    throw APIError(.badRequest, "Malformed multipart body", message: "The request body is not valid multipart/form-data")
                }
                if let failure = state.failure { throw failure }
            }
            if let failure = state.failure { throw failure }
            guard state.sawPart, !state.inPart else {
                throw APIError(.badRequest, "Malformed multipart body", message: "The multipart body ended before its closing boundary")
            }
        } catch {
            state.close()
            unlink(temporaryPath)
            throw error
        }
        state.close()
        var upload = MultipartUpload()
        upload.fields = state.fields
        if state.fileSeen {
            upload.file = File(path: temporaryPath, size: state.fileBytes, clientFilename: state.clientFilename)
        }
        return upload
    }

    /// Parser callbacks are synchronous closures; they run one at a time on the receiving task.
    private final class ParserState {
        let temporaryPath: String
        let maxFileBytes: Int
        let maxFieldBytes: Int
        var fields: [String: String] = [:]
        var failure: APIError?
        var sawPart = false
        var inPart = false
        var fileSeen = false
        var fileBytes = 0
        var clientFilename: String?
        private var partName: String?
        private var partFilename: String?
        private var partIsFile = false
        private var fieldData = Data()
        private var handle: FileHandle?

        init(temporaryPath: String, maxFileBytes: Int, maxFieldBytes: Int) {
            self.temporaryPath = temporaryPath
            self.maxFileBytes = maxFileBytes
            self.maxFieldBytes = maxFieldBytes
        }

        func header(name: String, value: String) {
            if !inPart { startPart() }
            guard name.lowercased() == "content-disposition" else { return }
            let disposition = ContentDisposition(value)
            partName = disposition.parameters["name"]
            partFilename = disposition.parameters["filename"]
            partIsFile = partName == "file"
            if partIsFile {
                guard !fileSeen else {
                    failure = APIError(.badRequest, "Multiple files provided", message: "Send exactly one 'file' part")
                    return
                }
                fileSeen = true
                clientFilename = partFilename
                guard FileManager.default.createFile(atPath: temporaryPath, contents: nil, attributes: [.posixPermissions: 0o600]),
                      let handle = FileHandle(forWritingAtPath: temporaryPath)
                else {
                    failure = APIError(.internalServerError, "Internal server error")
                    return
                }
                self.handle = handle
            }
        }

        private func startPart() {
            inPart = true
            sawPart = true
            partName = nil
            partFilename = nil
            partIsFile = false
            fieldData = Data()
        }

        func body(_ buffer: inout ByteBuffer) {
            if !inPart { startPart() }
            guard failure == nil else { return }
            if partIsFile {
                fileBytes += buffer.readableBytes
                if fileBytes > maxFileBytes {
                    failure = .fileTooLarge
                    return
                }
                buffer.withUnsafeReadableBytes { handle?.write(Data($0)) }
            } else if partName != nil {
                fieldData.append(contentsOf: buffer.readableBytesView)
                if fieldData.count > maxFieldBytes {
                    failure = APIError(.badRequest, "Form field too large", message: "Field '\(partName ?? "")' exceeds \(maxFieldBytes / 1024) KB")
                }
            }
        }

        func partComplete() {
            if !inPart { startPart() }
            if partIsFile {
                try? handle?.close()
                handle = nil
            } else if let name = partName, fields[name] == nil {
                guard let text = String(data: fieldData, encoding: .utf8) else {
                    failure = APIError(.badRequest, "Invalid form field", message: "Field '\(name)' is not valid UTF-8")
                    inPart = false
                    return
                }
                fields[name] = text
            }
            inPart = false
        }

        func close() {
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
