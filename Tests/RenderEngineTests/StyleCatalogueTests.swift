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
                #expect((1...3).contains(style.info.parameters.count), "\(slug) documents 1–3 parameters")
                #expect(style.info.parameters.allSatisfy { $0.minimum <= $0.defaultValue && $0.defaultValue <= $0.maximum && !$0.description.isEmpty })
            }
        }
    }

    @Test("renders at the preset's size, clearly unlike the photo, same bytes for the same seed", arguments: artistic)
    func rendersDeterministicallyAndUnlikeThePhoto(slug: String) throws {
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
        let plain = try Rendered.make(photo, name: "\(slug)-photo")
        defer { plain.cleanUp() }
        let difference = meanAbsoluteDifference(try RasterImage.load(path: a.preview), try RasterImage.load(path: plain.preview))
        #expect(difference > 3.5, "\(slug) differs from the photo by only \(difference)")
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

    @Test func popArtHasFewColoursAndAPeriodicDotScreen() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A light warm flat colour: pop art prints it as Ben-Day dots on white.
        try Tools.vips("black", "\(dir)/b.v", "900", "1200", "--bands", "3")
        try Tools.vips("linear", "\(dir)/b.v", "\(dir)/pink.png", "1 1 1", "245 190 185", "--uchar")
        let r = try Rendered.make("\(dir)/pink.png", style: Self.style("pop-art"), name: "pop-flat")
        defer { r.cleanUp() }
        let master = try RasterImage.load(path: r.master)
        // Dot pitch on a 9x12 print: 30 reference pixels along the 45° screen, so the pattern
        // repeats every 30·√2 ≈ 42.4 pixels along a row.
        let row = (0..<1200).map { x in Double(master.sample(600 + x, 1500, 1)) }
        let period = 30 * 2.0.squareRoot()
        let atPeriod = Similarity.autocorrelation(row, lag: Int(period.rounded()))
        let atHalf = Similarity.autocorrelation(row, lag: Int((period / 2).rounded()))
        #expect(atPeriod > 0.6, "dots repeat at the pitch (r = \(atPeriod))")
        #expect(atHalf < atPeriod - 0.4, "and not at half of it (r = \(atHalf))")
        let strongest = Similarity.dominantPeriod(row, range: 10...120)
        #expect(abs(Double(strongest) - period) <= 2, "spectral peak at \(strongest) px, expected \(period)")

        let photo = try Rendered.make(try Photos.require(Photos.flower), style: Self.style("pop-art"), name: "pop-photo")
        defer { photo.cleanUp() }
        let coverage = Similarity.topColourCoverage(try RasterImage.load(path: photo.preview), colours: 6)
        #expect(coverage > 0.6, "a few flat inks cover most of the picture (\(coverage))")
    }

    /// A low-key photo must not print as a black sheet: its palette is stretched in lightness.
    @Test func popArtKeepsColourAndDotsInADarkPhoto() throws {
        let r = try Rendered.make(try Photos.require(Photos.forest), style: Self.style("pop-art"), name: "pop-dark")
        defer { r.cleanUp() }
        let preview = try RasterImage.load(path: r.preview)
        var black = 0, coloured = 0
        for y in stride(from: 0, to: preview.height, by: 4) {
            for x in stride(from: 0, to: preview.width, by: 4) {
                let c = (0..<3).map { Int(preview.sample(x, y, $0)) }
                if c.max()! < 50 { black += 1 }
                if c.max()! - c.min()! > 60 { coloured += 1 }
            }
        }
        let samples = Double(((preview.height + 3) / 4) * ((preview.width + 3) / 4))
        #expect(Double(black) / samples < 0.7, "black covers \(Double(black) / samples) of the print")
        #expect(Double(coloured) / samples > 0.2, "inks cover \(Double(coloured) / samples) of the print")
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

    @Test func pointillismIsMadeOfDistinctDabs() throws {
        let square = try Fixtures.square(in: temporaryDirectory())
        let r = try Rendered.make(square, style: Self.style("pointillism"), name: "points")
        defer { r.cleanUp() }
        let master = try RasterImage.load(path: r.master)
        // Inside the flat blue square: the colour varies dab to dab, around the square's colour.
        let deviation = Similarity.localDeviation(master, x: 1100, y: 1500, size: 400)
        let mean = master.mean(x: 1100, y: 1500, width: 400, height: 400)
        #expect(deviation > 6, "dabs of jittered colour (deviation \(deviation))")
        #expect(mean[2] > mean[0] + 40, "still the blue square on average: \(mean)")
    }

    @Test func impressionistStrokesFollowTheIsophotes() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Brightness grows downwards: isophotes, and so strokes, run horizontally.
        try Tools.vips("xyz", "\(dir)/xy.v", "900", "1200")
        try Tools.vips("extract_band", "\(dir)/xy.v", "\(dir)/y.v", "1")
        try Tools.vips("linear", "\(dir)/y.v", "\(dir)/ramp1.v", "0.18", "20", "--uchar")
        try Tools.vips("bandjoin", "\(dir)/ramp1.v \(dir)/ramp1.v \(dir)/ramp1.v", "\(dir)/ramp.png")
        let r = try Rendered.make("\(dir)/ramp.png", style: Self.style("impressionist"), name: "impression-ramp")
        defer { r.cleanUp() }
        let master = try RasterImage.load(path: r.master)
        // Lag beyond a stroke's width (30 px on this print) but within its length.
        let (along, across) = Similarity.directionalCorrelation(master, x: 800, y: 1200, size: 600, lag: 45)
        #expect(along > across + 0.05, "texture correlates more along the isophotes (\(along)) than across (\(across))")
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
                for j in 0..<8 { for i in 0..<8 { ma += la[(y + j) * a.width + x + i]; mb += lb[(y + j) * b.width + x + i] } }
                ma /= 64; mb /= 64
                var va = 0.0, vb = 0.0, cov = 0.0
                for j in 0..<8 {
                    for i in 0..<8 {
                        let da = la[(y + j) * a.width + x + i] - ma, db = lb[(y + j) * b.width + x + i] - mb
                        va += da * da; vb += db * db; cov += da * db
                    }
                }
                va /= 63; vb /= 63; cov /= 63
                total += ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))
                count += 1
            }
        }
        return total / Double(count)
    }

    /// Normalised autocorrelation of a signal at one lag.
    static func autocorrelation(_ signal: [Double], lag: Int) -> Double {
        let mean = signal.reduce(0, +) / Double(signal.count)
        var numerator = 0.0, denominator = 0.0
        for i in 0..<signal.count {
            let d = signal[i] - mean
            denominator += d * d
            if i + lag < signal.count { numerator += d * (signal[i + lag] - mean) }
        }
        return denominator > 0 ? numerator / denominator * Double(signal.count) / Double(signal.count - lag) : 0
    }

    /// Period (in samples) of the strongest component of the DFT power spectrum within `range`.
    static func dominantPeriod(_ signal: [Double], range: ClosedRange<Int>) -> Int {
        let n = signal.count
        let mean = signal.reduce(0, +) / Double(n)
        var bestPower = -1.0, best = range.lowerBound
        for k in 1..<(n / 2) {
            let period = Double(n) / Double(k)
            guard Double(range.lowerBound) <= period, period <= Double(range.upperBound) else { continue }
            var re = 0.0, im = 0.0
            for (i, value) in signal.enumerated() {
                let angle = 2 * Double.pi * Double(k * i) / Double(n)
                re += (value - mean) * cos(angle)
                im -= (value - mean) * sin(angle)
            }
            let power = re * re + im * im
            if power > bestPower { (bestPower, best) = (power, Int(period.rounded())) }
        }
        return best
    }

    /// Share of pixels whose colour (quantised to 32 levels per channel) is one of the
    /// `colours` most common.
    static func topColourCoverage(_ image: RasterImage, colours: Int) -> Double {
        var counts: [Int: Int] = [:]
        for i in stride(from: 0, to: image.pixels.count, by: image.bands) {
            let key = Int(image.pixels[i] >> 3) << 10 | Int(image.pixels[i + 1] >> 3) << 5 | Int(image.pixels[i + 2] >> 3)
            counts[key, default: 0] += 1
        }
        let top = counts.values.sorted(by: >).prefix(colours).reduce(0, +)
        return Double(top) / Double(image.width * image.height)
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

    /// Correlation of the high-passed luminance with itself shifted horizontally vs vertically.
    static func directionalCorrelation(_ image: RasterImage, x: Int, y: Int, size: Int, lag: Int) -> (horizontal: Double, vertical: Double) {
        func l(_ i: Int, _ j: Int) -> Double {
            0.2126 * Double(image.sample(i, j, 0)) + 0.7152 * Double(image.sample(i, j, 1)) + 0.0722 * Double(image.sample(i, j, 2))
        }
        // The input varies only down the image: subtracting each row's mean leaves the strokes.
        var detail = [[Double]](repeating: [Double](repeating: 0, count: size + lag), count: size + lag)
        for j in 0..<(size + lag) {
            let row = (0..<(size + lag)).map { l(x + $0, y + j) }
            let mean = row.reduce(0, +) / Double(row.count)
            for i in 0..<(size + lag) { detail[j][i] = row[i] - mean }
        }
        func correlation(_ dx: Int, _ dy: Int) -> Double {
            var n = 0.0, da = 0.0, db = 0.0
            for j in 0..<size {
                for i in 0..<size {
                    let a = detail[j][i], b = detail[j + dy][i + dx]
                    n += a * b; da += a * a; db += b * b
                }
            }
            return n / (da * db).squareRoot()
        }
        return (correlation(lag, 0), correlation(0, lag))
    }
}
