import Foundation
import GRDB
import Testing

@testable import RenderService

/// The intake on its own, without HTTP: what `POST /v1/renders` does once the body is received.
@Suite("Render intake")
struct RenderIntakeTests {
    static let fields = ["style_id": IDs.photo, "size_preset_id": IDs.preset9x12]

    static func photo(_ path: String = Photos.dune) throws -> RenderIntake.Photo {
        let size = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        return RenderIntake.Photo(path: path, size: size, isTemporary: false)
    }

    /// Every file the object store holds.
    static func storedFiles(_ service: EmbeddedTestService) -> [String] {
        let root = "\(service.directory)/objects"
        return (FileManager.default.subpaths(atPath: root) ?? []).filter { path in
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: "\(root)/\(path)", isDirectory: &isDirectory) && !isDirectory.boolValue
        }
    }

    @Test func aRepeatedKeyGetsTheSameRenderAndStoresNothingNew() async throws {
        let service = try await EmbeddedTestService.make()
        defer { service.cleanUp() }
        let intake = service.components.intake
        let first = try await intake.submit(fields: Self.fields, photo: try Self.photo(), idempotencyKey: "order-1", logger: service.logger)
        let again = try await intake.submit(fields: Self.fields, photo: try Self.photo(), idempotencyKey: "order-1", logger: service.logger)
        #expect(!first.isReplay && again.isReplay)
        #expect(again.renderID == first.renderID && Timestamps.rfc3339(again.createdAt) == Timestamps.rfc3339(first.createdAt))
        #expect(try await service.components.store.count(status: .queued) == 1)
        #expect(Self.storedFiles(service).count == 1, "one original")
        // The photo named by the caller is copied, never moved.
        #expect(FileManager.default.fileExists(atPath: Photos.dune))
    }

    @Test func aKeyReusedForAnotherRequestIsRefused() async throws {
        let service = try await EmbeddedTestService.make()
        defer { service.cleanUp() }
        let intake = service.components.intake
        _ = try await intake.submit(fields: Self.fields, photo: try Self.photo(), idempotencyKey: "order-2", logger: service.logger)
        var other = Self.fields
        other["style_id"] = IDs.watercolor
        let refusal = try await #require(throws: IntakeError.self) {
            try await intake.submit(fields: other, photo: try Self.photo(), idempotencyKey: "order-2", logger: service.logger)
        }
        #expect(refusal.kind == .keyReused)
        #expect(APIError(refusal).status == .unprocessableContent)
        #expect(try await service.components.store.count(status: .queued) == 1)
    }

    @Test func newWorkIsRefusedWhileTheQueueIsFullButARetryIsAnswered() async throws {
        let service = try await EmbeddedTestService.make(["MAX_QUEUED_RENDERS": "1", "OVERLOAD_RETRY_AFTER_SECONDS": "7"])
        defer { service.cleanUp() }
        let intake = service.components.intake
        let first = try await intake.submit(fields: Self.fields, photo: try Self.photo(), idempotencyKey: "order-3", logger: service.logger)
        let refusal = try await #require(throws: IntakeError.self) {
            try await intake.submit(fields: Self.fields, photo: try Self.photo(), logger: service.logger)
        }
        #expect(refusal.kind == .overloaded && refusal.retryAfterSeconds == 7)
        let answer = APIError(refusal)
        #expect(answer.status == .serviceUnavailable && answer.headers[.retryAfter] == "7")
        let retry = try await intake.submit(fields: Self.fields, photo: try Self.photo(), idempotencyKey: "order-3", logger: service.logger)
        #expect(retry.isReplay && retry.renderID == first.renderID)
        #expect(Self.storedFiles(service).count == 1)
    }

    @Test func badFieldsAreRefusedBeforeAnythingIsStored() async throws {
        let service = try await EmbeddedTestService.make()
        defer { service.cleanUp() }
        let intake = service.components.intake
        let text = "\(service.directory)/notes.jpg"
        try Data("not a photo".utf8).write(to: URL(fileURLWithPath: text))
        let empty = RenderIntake.Photo(path: text, size: 0, isTemporary: false)
        let cases: [(fields: [String: String], photo: RenderIntake.Photo?, kind: IntakeError.Kind, error: String)] = [
            (Self.fields, nil, .invalid, "No file provided"),
            (Self.fields.merging(["style_id": "watercolour"]) { $1 }, try Self.photo(), .invalid, "Invalid UUID format for style_id"),
            (Self.fields.merging(["style_id": UUID().uuidString]) { $1 }, try Self.photo(), .invalid, "Unknown style_id"),
            (Self.fields.merging(["style_parms": "{}"]) { $1 }, try Self.photo(), .invalid, "Unknown form field"),
            (Self.fields.merging(["seed": "-1"]) { $1 }, try Self.photo(), .invalid, "Invalid seed"),
            (Self.fields.merging(["asset_id": UUID().uuidString]) { $1 }, nil, .notFound, "Asset not found"),
            (Self.fields.merging(["asset_id": UUID().uuidString]) { $1 }, try Self.photo(), .invalid, "Conflicting photo"),
            (Self.fields, empty, .invalid, "Empty file"),
            (Self.fields, try Self.photo(text), .invalid, "Unsupported image format"),
        ]
        for (fields, photo, kind, error) in cases {
            let refusal = try await #require(throws: IntakeError.self, "\(error)") {
                try await intake.submit(fields: fields, photo: photo, logger: service.logger)
            }
            #expect(refusal.kind == kind && refusal.error == error)
        }
        #expect(try await service.components.store.count(status: .queued) == 0)
        #expect(Self.storedFiles(service).isEmpty)
    }

    @Test func theOriginalIsRemovedWhenTheRenderCannotBeRecorded() async throws {
        let service = try await EmbeddedTestService.make()
        defer { service.cleanUp() }
        let store = try #require(service.components.store.base as? SQLiteRenderStore)
        try await store.database.pool.write { db in
            try db.execute(sql: "CREATE TRIGGER refuse_renders BEFORE INSERT ON renders BEGIN SELECT RAISE(ABORT, 'disk full'); END")
        }
        // A spooled upload, as the API hands it over: moved into the store, then removed.
        let spooled = "\(service.directory)/tmp/upload-1"
        try FileManager.default.copyItem(atPath: Photos.dune, toPath: spooled)
        let photo = RenderIntake.Photo(path: spooled, size: try Self.photo().size, isTemporary: true)
        await #expect(throws: (any Error).self) {
            try await service.components.intake.submit(fields: Self.fields, photo: photo, logger: service.logger)
        }
        #expect(Self.storedFiles(service).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: spooled))
    }

    /// `aso-render submit` takes a photo through the same intake: checked, stored and queued in
    /// the data directory for `serve`, with the API's idempotency and field checks.
    @Test func theSubmitCommandQueuesARenderThroughTheIntake() async throws {
        let deployment = EmbeddedDeployment()
        defer { deployment.cleanUp() }
        let output = "\(deployment.dataDirectory)/submit.log"
        func submit(_ arguments: [String]) async throws -> (status: Int32, answer: [String: Any]) {
            let status = try await ChildProcess.run(
                ServerProcess.binary, ["submit", Photos.dune] + arguments, environment: deployment.environment, outputPath: output)
            let printed = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n").last { $0.contains("\"render_id\"") }
            return (status, printed.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] } ?? [:])
        }
        let first = try await submit(["--style", "watercolor", "--field", "fit=contain", "--idempotency-key", "cli-1"])
        #expect(first.status == 0 && first.answer["status"] as? String == "queued" && first.answer["replayed"] as? Bool == false)
        let again = try await submit(["--style", "watercolor", "--field", "fit=contain", "--idempotency-key", "cli-1"])
        #expect(again.answer["render_id"] as? String == first.answer["render_id"] as? String && again.answer["replayed"] as? Bool == true)
        let misspelt = try await submit(["--field", "fitt=contain"])
        let log = try String(contentsOfFile: output, encoding: .utf8)
        #expect(misspelt.status == 2 && log.contains("error: Unknown form field"))
        #expect(try deployment.statuses() == ["queued": 1])
    }
}
