import Foundation
import RenderEngine
import Testing

@Suite("Style protocol, catalogue and determinism")
struct StyleTests {
    @Test func catalogueHasStableIdsAndUniqueSlugs() throws {
        let photo = try #require(StyleCatalog.find(slug: "photo"))
        #expect(photo.info.id.uuidString.lowercased() == "550e8400-e29b-41d4-a716-446655440008")
        #expect(photo.workingShortSide == nil)
        let watercolor = try #require(StyleCatalog.find(id: UUID(uuidString: "550e8400-e29b-41d4-a716-446655440000")!))
        #expect(watercolor.info.slug == "watercolor")
        #expect(Set(StyleCatalog.all.map(\.info.slug)).count == StyleCatalog.all.count)
        #expect(Set(StyleCatalog.all.map(\.info.id)).count == StyleCatalog.all.count)
    }

    @Test func parametersAreValidatedWithMessagesThatSayWhich() throws {
        let info = WatercolorStyle().info
        let defaults = try info.resolve([:])
        #expect(defaults["paper_texture"] == 0.35)
        #expect(try info.resolve(["edge_darkness": 1])["edge_darkness"] == 1)
        do {
            _ = try info.resolve(["paper": 1])
            Issue.record("unknown key accepted")
        } catch {
            #expect(error.code == .invalidRequest)
            #expect(error.message.contains("Unknown parameter 'paper'"))
            #expect(error.message.contains("paper_texture"))
        }
        do {
            _ = try info.resolve(["wash_size": 7])
            Issue.record("out of range accepted")
        } catch {
            #expect(error.message == "Parameter 'wash_size' for style watercolor must be between 0.5 and 2, got 7")
        }
        #expect(throws: RenderError.self) { try PhotoStyle().info.resolve(["anything": 1]) }
    }

    @Test func sameInputStyleParametersAndSeedGiveIdenticalBytes() throws {
        let photo = try Photos.require(Photos.dune)
        let a = try Rendered.make(photo, style: WatercolorStyle(), seed: 42, name: "seedA")
        defer { a.cleanUp() }
        let b = try Rendered.make(photo, style: WatercolorStyle(), seed: 42, name: "seedB")
        defer { b.cleanUp() }
        let c = try Rendered.make(photo, style: WatercolorStyle(), seed: 43, name: "seedC")
        defer { c.cleanUp() }
        #expect(a.outcome.seed == 42)
        #expect(try Data(contentsOf: URL(fileURLWithPath: a.master)) == Data(contentsOf: URL(fileURLWithPath: b.master)))
        #expect(try Data(contentsOf: URL(fileURLWithPath: a.preview)) == Data(contentsOf: URL(fileURLWithPath: b.preview)))
        #expect(try Data(contentsOf: URL(fileURLWithPath: a.master)) != Data(contentsOf: URL(fileURLWithPath: c.master)))
    }

    @Test func defaultSeedComesFromThePixels() throws {
        let photo = try Photos.require(Photos.dune)
        let a = try Rendered.make(photo, style: WatercolorStyle(), name: "pixelsA")
        defer { a.cleanUp() }
        let b = try Rendered.make(photo, style: WatercolorStyle(), name: "pixelsB")
        defer { b.cleanUp() }
        #expect(a.outcome.seed != nil && a.outcome.seed == b.outcome.seed)
        #expect(try Data(contentsOf: URL(fileURLWithPath: a.master)) == Data(contentsOf: URL(fileURLWithPath: b.master)))
    }

    @Test func photoRenderIsDeterministicToo() throws {
        let photo = try Photos.require(Photos.dune)
        let a = try Rendered.make(photo, name: "photoA")
        defer { a.cleanUp() }
        let b = try Rendered.make(photo, name: "photoB")
        defer { b.cleanUp() }
        #expect(try Data(contentsOf: URL(fileURLWithPath: a.master)) == Data(contentsOf: URL(fileURLWithPath: b.master)))
    }

    @Test func watercolorIsPrintReadyAndClearlyNotThePhoto() throws {
        let photo = try Photos.require(Photos.flower)
        let styled = try Rendered.make(photo, style: WatercolorStyle(), name: "wc")
        defer { styled.cleanUp() }
        try styled.expectPrintReady(width: 3600, height: 2700)
        let plain = try Rendered.make(photo, name: "wcref")
        defer { plain.cleanUp() }
        let a = try RasterImage.load(path: styled.preview), b = try RasterImage.load(path: plain.preview)
        #expect(meanAbsoluteDifference(a, b) > 6)
        // Same subject: its colour stays close (the middle half: the washes leave white paper
        // towards the edges, a vignette).
        let (ma, mb) = (
            a.mean(x: a.width / 4, y: a.height / 4, width: a.width / 2, height: a.height / 2),
            b.mean(x: b.width / 4, y: b.height / 4, width: b.width / 2, height: b.height / 2)
        )
        for band in 0..<3 { #expect(abs(ma[band] - mb[band]) < 60) }
    }
}
