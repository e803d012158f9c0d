import Foundation
import Hummingbird
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

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

    /// File bytes are written in batches of `flushBytes`; every `writebackBytes` the kernel is
    /// asked, in the background, to start putting them on disk.
    static let flushBytes = 1 << 20
    static let writebackBytes = 4 << 20

    /// Removes a received file on the thread pool, off the concurrency threads.
    static func remove(_ path: String) async {
        _ = try? await NIOThreadPool.singleton.runIfActive { unlink(path) }
    }

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
        let receiver = PartReceiver(temporaryPath: temporaryPath, fieldNames: fields, maxFileBytes: maxFileBytes, maxFieldBytes: maxFieldBytes)
        do {
            try await receiver.read(body, boundary: boundary, maxFormBytes: maxFormBytes)
        } catch {
            await receiver.close()
            await remove(temporaryPath)
            switch error {
            case is HTTPParserError:
                // The client went away (or broke HTTP framing) mid-body: its fault, not a server error.
                throw APIError(.badRequest, "Incomplete upload", message: "The connection closed before the whole request body arrived")
            case var refusal as APIError:
                // Refused mid-body: answer at once and hang up rather than read the rest.
                refusal.closesConnection = true
                throw refusal
            default:
                throw error
            }
        }
        await receiver.close()
        var upload = MultipartUpload()
        upload.fields = receiver.fields
        if receiver.fileSeen {
            upload.file = File(path: temporaryPath, size: receiver.fileBytes, clientFilename: receiver.clientFilename)
        }
        return upload
    }

    /// Routes parser events: the `file` part to disk, the rest into small text fields. The
    /// parser's events only gather the file's bytes; `read` writes them between chunks of the
    /// body, on NIO's thread pool, so no write(2) or fsync ever blocks a concurrency thread.
    /// Used by one task at a time.
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
        private var fileEnded = false
        private var fieldData = Data()
        /// The file's bytes not handed to a write yet. Copied out of the body's buffers, so NIO
        /// can reuse those (holding slices of them measured 7 ms slower on a 22 MB upload).
        private var pending = ByteBuffer()
        /// The write running on the thread pool while more of the body arrives: at most one,
        /// which hands its buffer back to gather the next batch in.
        private var writing: Task<(file: Int32, buffer: ByteBuffer), any Error>?
        private var spare: ByteBuffer?
        private var descriptor: Int32?
        /// Background writeback: the store syncs the file before accepting it, and starting
        /// the flush while the rest still arrives leaves that final sync almost nothing to do.
        private var writeback: Task<Void, Never>?
        private let writebackRunning = WritebackFlag()
        private var unsyncedBytes = 0

        init(temporaryPath: String, fieldNames: Set<String>, maxFileBytes: Int, maxFieldBytes: Int) {
            self.temporaryPath = temporaryPath
            self.fieldNames = fieldNames
            self.maxFileBytes = maxFileBytes
            self.maxFieldBytes = maxFieldBytes
        }

        /// Feeds the body to the parser chunk by chunk, writing the file's bytes in between.
        func read(_ body: RequestBody, boundary: String, maxFormBytes: Int) async throws {
            var parser = MultipartStreamParser(boundary: boundary)
            var received = 0
            for try await buffer in body {
                received += buffer.readableBytes
                do {
                    try parser.feed(buffer) { event in try self.handle(event) }
                } catch let failure as MultipartStreamParser.Failure {
                    throw APIError(.badRequest, "Malformed multipart body", message: "The request body is not valid multipart/form-data: \(failure.reason)")
                }
                try await writeFile()
                if received - fileBytes > maxFormBytes {
                    throw APIError(
                        .badRequest, "Form fields too large", message: "Everything beside the file may take at most \(maxFormBytes / 1024) KB",
                        closesConnection: true)
                }
                if parser.isFinished { return try await finishWrite() }
            }
            throw APIError(.badRequest, "Malformed multipart body", message: "The multipart body ended before its closing boundary")
        }

        private func handle(_ event: MultipartStreamParser.Event) throws {
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
                } else {
                    guard fieldNames.contains(name) else { throw APIError(IntakeError.unknownField(name, fields: fieldNames)) }
                    guard fields[name] == nil else {
                        throw APIError(.badRequest, "Duplicate form field", message: "Field '\(name.prefix(64))' was sent more than once")
                    }
                }
            case .body(let buffer):
                if partIsFile {
                    fileBytes += buffer.readableBytes
                    if fileBytes > maxFileBytes { throw APIError.fileTooLarge }
                    var bytes = buffer
                    pending.writeBuffer(&bytes)
                } else if let name = partName {
                    fieldData.append(contentsOf: buffer.readableBytesView)
                    if fieldData.count > maxFieldBytes {
                        throw APIError(.badRequest, "Form field too large", message: "Field '\(name)' exceeds \(maxFieldBytes / 1024) KB")
                    }
                }
            case .partEnd:
                if partIsFile {
                    fileEnded = true
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

        /// Hands the file's gathered bytes to a write on the thread pool once there are
        /// `flushBytes` of them, and the rest when its part ends; the first write creates the
        /// file (owner-only). The body keeps arriving while a write runs.
        private func writeFile() async throws {
            let created = descriptor != nil || writing != nil
            guard fileSeen, pending.readableBytes >= MultipartUpload.flushBytes || (fileEnded && (pending.readableBytes > 0 || !created)) else {
                return
            }
            try await finishWrite()
            let full = pending
            pending = spare ?? ByteBuffer()
            spare = nil
            let path = temporaryPath
            let existing = descriptor
            writing = Task { try await PartReceiver.write(full, to: existing, creating: path) }
        }

        /// Writes `buffer` to `file`, or to the file created at `path`, on the thread pool.
        private static func write(_ buffer: ByteBuffer, to file: Int32?, creating path: String) async throws -> (file: Int32, buffer: ByteBuffer) {
            try await NIOThreadPool.singleton.runIfActive {
                let opened = try file ?? create(path)
                do {
                    try write(buffer, to: opened)
                } catch {
                    // A file this write created is not known to the receiver yet: close it here.
                    if file == nil { Glibc.close(opened) }
                    throw error
                }
                return (opened, buffer)
            }
        }

        /// Waits for the write in flight; every `writebackBytes` written, starts a writeback
        /// unless one is still running (the bytes written meanwhile go with the next).
        func finishWrite() async throws {
            guard let task = writing else { return }
            writing = nil
            let (file, written) = try await task.value
            descriptor = file
            unsyncedBytes += written.readableBytes
            spare = written
            spare?.clear()
            if unsyncedBytes >= MultipartUpload.writebackBytes, writebackRunning.start() {
                unsyncedBytes = 0
                let running = writebackRunning
                writeback = Task {
                    _ = try? await NIOThreadPool.singleton.runIfActive { fdatasync(file) }
                    running.finish()
                }
            }
        }

        private static func create(_ path: String) throws -> Int32 {
            let file = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard file >= 0 else { throw APIError(.internalServerError, "Internal server error") }
            return file
        }

        /// write(2) from the buffer's memory, through short writes and interruptions.
        private static func write(_ buffer: ByteBuffer, to file: Int32) throws {
            try buffer.withUnsafeReadableBytes { bytes in
                var offset = 0
                while offset < bytes.count {
                    let written = Glibc.write(file, bytes.baseAddress! + offset, bytes.count - offset)
                    if written < 0 {
                        if errno == EINTR { continue }
                        throw APIError(.internalServerError, "Internal server error", message: "The upload could not be stored")
                    }
                    offset += written
                }
            }
        }

        /// Waits for the write and the writeback in flight, then closes the file.
        func close() async {
            if let (file, _) = try? await writing?.value { descriptor = file }
            writing = nil
            await writeback?.value
            guard let file = descriptor else { return }
            descriptor = nil
            _ = try? await NIOThreadPool.singleton.runIfActive { Glibc.close(file) }
        }
    }

    /// Whether a file's background writeback is running, read by the receiving task and
    /// cleared by the thread that ran it.
    private final class WritebackFlag: Sendable {
        private let running = Atomic<Bool>(false)

        /// True when no writeback was running and the caller may start one.
        func start() -> Bool { running.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged }
        func finish() { running.store(false, ordering: .releasing) }
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
