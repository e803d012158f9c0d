import Foundation
import RenderEngine
import Testing

/// The artistic styles, each checked for a property of its medium measured on the pixels.
@Suite("Style catalogue", .serialized, .timeLimit(.minutes(30)))
struct StyleCatalogueTests {
    static let artistic: [String] = ["watercolor", "oil-painting", "pencil-sketch", "charcoal", "comic", "pop-art", "pointillism", "impressionist"]
    /// Styles whose textures or stroke placement come from the seed.
    static let seeded: Set<String> = ["watercolor", "oil-painting", "pencil-sketch", "charcoal", "pointillism", "impressionist"]

    static func style(_ slug: String) -> any RenderStyle { StyleCatalog.find(slug: slug)! }

    @Test func catalogueHasTheIssuesIdsAndParameters() throws {
        let expected = [
            "watercolor": "550e8400-e29b-41d4-a716-446655440000", "oil-painting": "550e8400-e29b-41d4-a716-446655440001",
            "pencil-sketch": "550e8400-e29b-41d4-a716-446655440002", "charcoal": "550e8400-e29b-41d4-a716-446655440003",
            "comic": "550e8400-e29b-41d4-a716-446655440004", "pop-art": "550e8400-e29b-41d4-a716-446655440005",
            "pointillism": "550e8400-e29b-41d4-a716-446655440006", "impressionist": "550e8400-e29b-41d4-a716-446655440007",
            "photo": "550e8400-e29b-41d4-a716-446655440008",
        ]
        #expect(StyleCatalog.all.count == expected.count)
        for (slug, id) in expected {
            let style = try #require(StyleCatalog.find(slug: slug), "\(slug) missing")
            #expect(style.info.id.uuidString.lowercased() == id)
            if slug != "photo" {
                #expect((1...4).contains(style.info.parameters.count), "\(slug) documents 1–4 parameters")
                #expect(style.info.parameters.allSatisfy { $0.minimum <= $0.defaultValue && $0.defaultValue <= $0.maximum && !$0.description.isEmpty })
            }
        }
    }

    /// How far each style is from the photo is the medium tests' business (StyleMediumTests):
    /// a mean difference says nothing about the medium.
    @Test("renders at the preset's size, same bytes for the same seed", arguments: artistic)
    func rendersDeterministically(slug: String) throws {
        let photo = try Photos.require(Photos.flower)
        let a = try Rendered.make(photo, style: Self.style(slug), seed: 7, name: "\(slug)-a")
        defer { a.cleanUp() }
        try a.expectPrintReady(width: 3600, height: 2700)
        let b = try Rendered.make(photo, style: Self.style(slug), seed: 7, name: "\(slug)-b")
        defer { b.cleanUp() }
        #expect(try Data(contentsOf: URL(fileURLWithPath: a.master)) == Data(contentsOf: URL(fileURLWithPath: b.master)), "\(slug): same seed, same bytes")
        if Self.seeded.contains(slug) {
            let c = try Rendered.make(photo, style: Self.style(slug), seed: 8, name: "\(slug)-c")
            defer { c.cleanUp() }
            #expect(try Data(contentsOf: URL(fileURLWithPath: a.master)) != Data(contentsOf: URL(fileURLWithPath: c.master)), "\(slug): another seed differs")
        }
    }

    @Test("the same photo gives the same picture at 9x12 and 24x36 (SSIM ≥ 0.85)", arguments: artistic)
    func consistentAcrossSizes(slug: String) throws {
        let photo = try Photos.require(Photos.elephants)
        let small = try Rendered.make(photo, style: Self.style(slug), preset: "9x12", seed: 3, name: "\(slug)-9x12")
        defer { small.cleanUp() }
        let large = try Rendered.make(photo, style: Self.style(slug), preset: "24x36", seed: 3, name: "\(slug)-24x36")
        defer { large.cleanUp() }
        // Both prints are centred crops of the landscape photo at full height; the 9x12 (4:3)
        // is the middle 9600 of the 24x36's 10800 print pixels. Compare that region.
        let a = try RasterImage.load(path: small.master, maxSide: 1200)
        let b = try RasterImage.load(path: try Fixtures.crop(large.master, x: 600, y: 0, width: 9600, height: 7200, in: large.directory), maxSide: 1200)
        let ssim = Similarity.ssim(a, b)
        #expect(ssim >= 0.85, "\(slug): SSIM 24x36 vs 9x12 = \(ssim)")
    }

    /// libvips' thread count is process-wide: each side sets its own, and the default is put
    /// back afterwards, so the "many" render really runs on many threads whatever ran before.
    @Test("tiles and threads do not show: 1 and 6 libvips threads give the same bytes", arguments: artistic)
    func noSeams(slug: String) throws {
        let photo = try Photos.require(Photos.dune)
        defer { _ = try? RenderEngine(threads: ProcessInfo.processInfo.activeProcessorCount) }
        let many = try Rendered.make(photo, style: Self.style(slug), seed: 5, renderThreads: 6, name: "\(slug)-many")
        defer { many.cleanUp() }
        let one = try Rendered.make(photo, style: Self.style(slug), seed: 5, renderThreads: 1, name: "\(slug)-one")
        defer { one.cleanUp() }
        #expect(try Data(contentsOf: URL(fileURLWithPath: many.master)) == Data(contentsOf: URL(fileURLWithPath: one.master)))
    }

    // MARK: properties of each medium

    @Test func pencilAndCharcoalAreGreyWithPaperWhiteHighlights() throws {
        let photo = try Photos.require(Photos.flower)
        for (slug, white) in [("pencil-sketch", 225.0), ("charcoal", 205.0)] {
            let r = try Rendered.make(photo, style: Self.style(slug), name: slug)
            defer { r.cleanUp() }
            let image = try RasterImage.load(path: r.master, maxSide: 1200)
            var chroma = 0.0
            var lumas: [Double] = []
            for i in stride(from: 0, to: image.pixels.count, by: 3) {
                let (red, green, blue) = (Double(image.pixels[i]), Double(image.pixels[i + 1]), Double(image.pixels[i + 2]))
                chroma += max(red, green, blue) - min(red, green, blue)
                lumas.append(0.2126 * red + 0.7152 * green + 0.0722 * blue)
            }
            chroma /= Double(lumas.count)
            lumas.sort()
            #expect(chroma < 10, "\(slug) is near grey (mean channel spread \(chroma))")
            #expect(lumas[lumas.count * 97 / 100] > white, "\(slug) highlights are paper white (\(lumas[lumas.count * 97 / 100]))")
            #expect(lumas[lumas.count / 20] < 150, "\(slug) has real darks (\(lumas[lumas.count / 20]))")
        }
        let coloured = try Rendered.make(photo, style: Self.style("pencil-sketch"), parameters: ["colour": 1], name: "colour-pencil")
        defer { coloured.cleanUp() }
        let mean = try RasterImage.load(path: coloured.preview).mean()
        #expect(mean[0] - mean[2] > 15, "coloured pencil keeps the yellow flower yellow: \(mean)")
    }

    @Test func comicHasInkAlongTheStrongestEdges() throws {
        let square = try Fixtures.square(in: temporaryDirectory())
        let r = try Rendered.make(square, style: Self.style("comic"), name: "comic-square")
        defer { r.cleanUp() }
        let master = try RasterImage.load(path: r.master)  // 2700x3600, the square spans 750..<1950 x 1200..<2400
        func luma(_ x: Int, _ y: Int) -> Double {
            0.2126 * Double(master.sample(x, y, 0)) + 0.7152 * Double(master.sample(x, y, 1)) + 0.0722 * Double(master.sample(x, y, 2))
        }
        var darkest = 255.0
        for x in 740..<762 { darkest = min(darkest, luma(x, 1800)) }
        #expect(darkest < 50, "an ink line on the square's left edge (darkest \(darkest))")
        #expect(luma(1350, 1800) > darkest + 30 && luma(300, 1800) > 150, "flat areas stay clear of ink")
    }

    @Test func oilPaintingIsSmootherInsideRegionsButKeepsEdges() throws {
        let square = try Fixtures.square(in: temporaryDirectory(), noise: 40)
        let oil = try Rendered.make(square, style: Self.style("oil-painting"), parameters: ["relief": 0], name: "oil-square")
        defer { oil.cleanUp() }
        let plain = try Rendered.make(square, name: "oil-square-photo")
        defer { plain.cleanUp() }
        let a = try RasterImage.load(path: oil.master), b = try RasterImage.load(path: plain.master)
        let inside = (x: 1100, y: 1500, size: 400)
        let oilNoise = Similarity.localDeviation(a, x: inside.x, y: inside.y, size: inside.size)
        let photoNoise = Similarity.localDeviation(b, x: inside.x, y: inside.y, size: inside.size)
        #expect(oilNoise < photoNoise * 0.5, "texture flattened: \(oilNoise) vs \(photoNoise)")
        // The square's edge is still a step: compare means 30 px either side.
        let outside = a.mean(x: 680, y: 1500, width: 40, height: 400)[2], within = a.mean(x: 790, y: 1500, width: 40, height: 400)[2]
        let photoOutside = b.mean(x: 680, y: 1500, width: 40, height: 400)[2], photoWithin = b.mean(x: 790, y: 1500, width: 40, height: 400)[2]
        #expect(abs(within - outside) > 0.8 * abs(photoWithin - photoOutside), "edge kept: \(within - outside) vs \(photoWithin - photoOutside)")
    }
}

/// Image comparison measures for the style tests.
enum Similarity {
    static func luma(_ image: RasterImage) -> [Double] {
        (0..<(image.width * image.height)).map { i in
            let p = i * image.bands
            return image.bands >= 3
                ? 0.2126 * Double(image.pixels[p]) + 0.7152 * Double(image.pixels[p + 1]) + 0.0722 * Double(image.pixels[p + 2])
                : Double(image.pixels[p])
        }
    }

    /// Mean SSIM of luminance over 8x8 windows (Wang et al. 2004 constants).
    static func ssim(_ a: RasterImage, _ b: RasterImage) -> Double {
        let w = min(a.width, b.width), h = min(a.height, b.height)
        let la = luma(a), lb = luma(b)
        let c1 = (0.01 * 255.0) * (0.01 * 255.0), c2 = (0.03 * 255.0) * (0.03 * 255.0)
        var total = 0.0, count = 0
        for y in stride(from: 0, to: h - 8, by: 4) {
            for x in stride(from: 0, to: w - 8, by: 4) {
                var ma = 0.0, mb = 0.0
                for j in 0..<8 {
                    for i in 0..<8 {
                        ma += la[(y + j) * a.width + x + i]
                        mb += lb[(y + j) * b.width + x + i]
                    }
                }
                ma /= 64
                mb /= 64
                var va = 0.0, vb = 0.0, cov = 0.0
                for j in 0..<8 {
                    for i in 0..<8 {
                        let da = la[(y + j) * a.width + x + i] - ma, db = lb[(y + j) * b.width + x + i] - mb
                        va += da * da
                        vb += db * db
                        cov += da * db
                    }
                }
                va /= 63
                vb /= 63
                cov /= 63
                total += ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))
                count += 1
            }
        }
        return total / Double(count)
    }

    /// Standard deviation of the luminance in a square, after removing its mean.
    static func localDeviation(_ image: RasterImage, x: Int, y: Int, size: Int) -> Double {
        var values: [Double] = []
        for j in y..<(y + size) {
            for i in x..<(x + size) {
                values.append(0.2126 * Double(image.sample(i, j, 0)) + 0.7152 * Double(image.sample(i, j, 1)) + 0.0722 * Double(image.sample(i, j, 2)))
            }
        }
        let mean = values.reduce(0, +) / Double(values.count)
        return (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)).squareRoot()
    }
}
