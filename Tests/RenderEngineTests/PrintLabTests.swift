import Foundation
import RenderEngine
import Testing

/// What a print lab checks on the options it asks for (issue 15): sizes, bleed, crop marks,
/// output profiles, ink limit and colour round trips, read from the files with tiffinfo-style
/// tag parsing, exiftool and libvips rather than from what the engine says it did.
@Suite("Print lab options: sizes, bleed, crop marks, output colour")
struct PrintLabTests {
    /// One engine render of `input` into a fresh directory.
    static func render(
        _ input: String, preset: SizePreset, style: any RenderStyle = PhotoStyle(), fit: FitPolicy = .cover,
        orientation: OrientationPolicy = .auto, print: PrintOptions = PrintOptions(), name: String = #function
    ) throws -> Rendered {
        let directory = temporaryDirectory(name)
        let outcome = try RenderEngine().render(
            RenderJob(
                input: input, style: style, preset: preset, orientation: orientation, fit: fit, print: print,
                masterPath: "\(directory)/output.tiff", previewPath: "\(directory)/preview.jpg"))
        return Rendered(outcome: outcome, directory: directory)
    }

    /// A 600x600 chart of 8x8 flat 75 px patches: primaries, secondaries, their dark and light
    /// shades, greys, skin and sky tones, and the deepest colours (where presses run out of ink).
    static let patches: [[UInt8]] = {
        var colours: [[UInt8]] = []
        for level in [0, 64, 128, 192, 255] as [UInt8] {
            colours += [[level, level, level]]
        }
        for (r, g, b) in [(255, 0, 0), (0, 255, 0), (0, 0, 255), (0, 255, 255), (255, 0, 255), (255, 255, 0)] as [(UInt8, UInt8, UInt8)] {
            colours += [[r, g, b], [r / 2, g / 2, b / 2], [r / 4, g / 4, b / 4], [max(r, 160), max(g, 160), max(b, 160)]]
        }
        colours += [[224, 172, 142], [198, 134, 103], [141, 85, 60], [94, 148, 210], [135, 190, 235], [60, 110, 50], [120, 80, 30], [30, 20, 60]]
        colours += [[20, 0, 0], [0, 20, 0], [0, 0, 20], [40, 10, 10], [10, 30, 40], [200, 30, 90], [90, 200, 30], [30, 90, 200]]
        colours += [[250, 240, 200], [210, 240, 250], [240, 210, 240], [100, 100, 120], [120, 100, 100], [100, 120, 100], [20, 20, 20], [10, 10, 30]]
        colours += [[255, 128, 0], [128, 255, 0], [0, 128, 255], [255, 0, 128], [128, 0, 255], [0, 255, 128], [180, 40, 40], [40, 180, 40]]
        colours += [[60, 0, 90], [90, 60, 0], [0, 90, 60]]
        precondition(colours.count == 64)
        return colours
    }()

    static func chart(in directory: String) throws -> String {
        var ppm = Data("P6\n600 600\n255\n".utf8)
        for y in 0..<600 {
            for x in 0..<600 { ppm.append(contentsOf: patches[(y / 75) * 8 + x / 75]) }
        }
        try ppm.write(to: URL(fileURLWithPath: "\(directory)/chart.ppm"))
        // PPM is no upload format: the chart goes in as the PNG a customer could send.
        try Tools.vips("copy", "\(directory)/chart.ppm", "\(directory)/chart.png")
        return "\(directory)/chart.png"
    }

    /// Mean of the centre 35x35 of each patch of a 600x600 render of the chart.
    static func patchMeans(_ image: RasterImage) -> [[Double]] {
        (0..<64).map { index in image.mean(x: (index % 8) * 75 + 20, y: (index / 8) * 75 + 20, width: 35, height: 35) }
    }

    /// CIE L*a*b* (D65) of an 8-bit sRGB colour.
    static func lab(_ rgb: [Double]) -> (Double, Double, Double) {
        func linear(_ c: Double) -> Double {
            let v = c / 255
            return v <= 0.04045 ? v / 12.92 : pow((v + 0.055) / 1.055, 2.4)
        }
        let (r, g, b) = (linear(rgb[0]), linear(rgb[1]), linear(rgb[2]))
        let x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
        let y = 0.2126 * r + 0.7152 * g + 0.0722 * b
        let z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883
        func f(_ t: Double) -> Double { t > 0.008856 ? cbrt(t) : 7.787 * t + 16.0 / 116 }
        return (116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z)))
    }

    /// CIE76 colour difference (at least as strict as ΔE2000 for these patches).
    static func deltaE(_ a: [Double], _ b: [Double]) -> Double {
        let (l1, a1, b1) = lab(a), (l2, a2, b2) = lab(b)
        return ((l1 - l2) * (l1 - l2) + (a1 - a2) * (a1 - a2) + (b1 - b2) * (b1 - b2)).squareRoot()
    }

    /// The master converted back to sRGB through its embedded profile, as a lab's RIP would.
    static func backToSRGB(_ master: String, intent: String, in directory: String) throws -> RasterImage {
        let path = "\(directory)/back-\(intent).png"
        try Tools.vips("icc_transform", master, path, "srgb", "--embedded", "--intent", intent)
        return try RasterImage.load(path: path)
    }

    static func profileDescription(_ path: String) throws -> String {
        try Tools.run("exiftool", ["-s3", "-ICC_Profile:ProfileDescription", path]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    // MARK: sizes

    @Test func internationalAndSquarePresetsFollowTheSpecsFiveWithExactPixels() throws {
        #expect(SizePreset.all.prefix(5).map(\.name) == ["9x12", "12x16", "16x20", "18x24", "24x36"])
        let expected: [String: (Int, Int)] = [
            "A4": (2480, 3508), "A3": (3508, 4961), "A2": (4961, 7016), "A1": (7016, 9933), "5x7": (1500, 2100), "8x10": (2400, 3000),
            "11x14": (3300, 4200), "8x8": (2400, 2400), "12x12": (3600, 3600), "16x16": (4800, 4800), "20x20": (6000, 6000),
            "30x40cm": (3543, 4724), "50x70cm": (5906, 8268),
        ]
        #expect(Set(SizePreset.international.map(\.name)) == Set(expected.keys))
        for preset in SizePreset.international {
            let (width, height) = try #require(expected[preset.name])
            #expect(preset.widthPixels == width && preset.heightPixels == height && preset.dpi == 300, "\(preset.name)")
            #expect(SizePreset.find(id: preset.id) == preset)
        }
        #expect(Set(SizePreset.all.map(\.id)).count == SizePreset.all.count, "ids are unique")
        #expect(SizePreset.find(name: "a4")?.name == "A4")
        #expect(SizePreset.find(name: "40x30cm")?.name == "30x40cm")
        #expect(SizePreset.find(name: "14x11")?.name == "11x14")
    }

    @Test func customSizesAreValidatedIn2To60InchesAndStatedPortrait() throws {
        let letter = try SizePreset.custom(width: 11, height: 8.5, millimetres: false)
        #expect(letter.name == "8.5x11" && letter.widthPixels == 2550 && letter.heightPixels == 3300 && letter.isCustom)
        let a4 = try SizePreset.custom(width: 210, height: 297, millimetres: true)
        #expect(a4.name == "210x297mm" && a4.widthPixels == 2480 && a4.heightPixels == 3508)
        #expect(try SizePreset.custom(width: 2, height: 60, millimetres: false).heightPixels == 18000)
        #expect(try SizePreset.custom(width: 50.8, height: 1524, millimetres: true).widthPixels == 600)
        for (width, height, millimetres) in [
            (1.99, 10, false), (10, 60.01, false), (50.7, 100, true), (100, 1524.1, true), (.nan, 10, false), (.infinity, 10, false),
        ] {
            #expect(throws: RenderError.self, "\(width)x\(height)") { try SizePreset.custom(width: width, height: height, millimetres: millimetres) }
        }
        do {
            _ = try SizePreset.custom(width: 1, height: 10, millimetres: false)
        } catch {
            #expect(error.code == .invalidRequest && error.message == "The width must be between 2 and 60 in (got 1 in)")
        }
    }

    @Test func customSizeRendersAtItsPixelsAndWarnsAtLowResolution() throws {
        // 1920x1080 on 30x20 in: 1080 px over 20 in limits, 54 DPI, under the 150 DPI warning.
        let r = try Self.render(try Photos.require(Photos.elephantsSmall), preset: try SizePreset.custom(width: 20, height: 30, millimetres: false))
        defer { r.cleanUp() }
        try r.expectPrintReady(width: 9000, height: 6000)
        #expect(r.outcome.preset == "20x30")
        #expect(r.outcome.warnings.first?.contains("54 DPI at 30x20 in") == true, "\(r.outcome.warnings)")
    }

    // MARK: bleed and crop marks

    @Test func bleedGrowsTheMasterAndCoverFillsItWithPicture() throws {
        let r = try Self.render(try Photos.require(Photos.elephants), preset: SizePreset.specification[0], print: PrintOptions(bleedInches: 0.125))
        defer { r.cleanUp() }
        // (12 + 2 × 0.125) × 300 by (9 + 2 × 0.125) × 300, still 300 DPI, LZW, sRGB.
        try r.expectPrintReady(width: 3675, height: 2775)
        #expect(r.outcome.trimWidthInches == 12 && r.outcome.trimHeightInches == 9 && r.outcome.print.bleedInches == 0.125)
        #expect(try Self.profileDescription(r.master).hasPrefix("sRGB"))
        let master = try RasterImage.load(path: r.master)
        // The outermost bleed pixels are picture, not paper.
        for strip in [master.mean(x: 0, y: 0, width: 10, height: master.height), master.mean(x: 0, y: 0, width: master.width, height: 10)] {
            #expect(strip.reduce(0, +) / 3 < 230, "bleed filled with the photo: \(strip)")
        }
        // The preview outlines the trim box with a dashed black-and-white line.
        let preview = try RasterImage.load(path: r.preview)
        let y = Int((Double(37) * Double(preview.height) / 2775).rounded())
        let line = (0..<preview.width).map { Int(preview.sample($0, y, 0)) }
        #expect(line.filter { $0 < 60 }.count > preview.width / 4 && line.filter { $0 > 200 }.count > preview.width / 4, "dashed trim line")
    }

    /// A watercolor's washes stop short of the paper's edge, raggedly: that deckled border runs
    /// along the trim, so the cut never leaves a sliver of it, and the bleed beyond is paper.
    @Test func watercolorKeepsItsDeckledBorderInsideTheTrim() throws {
        let r = try Self.render(
            try Photos.require(Photos.elephants), preset: SizePreset.specification[0], style: WatercolorStyle(),
            print: PrintOptions(bleedInches: 0.5))
        defer { r.cleanUp() }
        try r.expectPrintReady(width: 3900, height: 3000)
        let master = try RasterImage.load(path: r.master)
        func grey(_ m: [Double]) -> Double { m.reduce(0, +) / 3 }
        // The 150 px bleed on each side is bare paper; 300 px inside the trim is washed.
        for (x, y, w, h) in [(0, 0, 3900, 140), (0, 2860, 3900, 140), (0, 0, 140, 3000), (3760, 0, 140, 3000)] {
            #expect(grey(master.mean(x: x, y: y, width: w, height: h)) > 243, "bleed strip at \(x),\(y) is paper")
        }
        for (x, y, w, h) in [(450, 450, 3000, 60), (450, 2490, 3000, 60), (450, 450, 60, 2100), (3390, 450, 60, 2100)] {
            #expect(grey(master.mean(x: x, y: y, width: w, height: h)) < 235, "washed inside the trim at \(x),\(y)")
        }
    }

    @Test func containKeepsThePhotoInsideTheTrimAndTheBleedWhite() throws {
        let r = try Self.render(
            try Photos.require(Photos.elephants), preset: SizePreset.specification[0], fit: .contain, orientation: .portrait,
            print: PrintOptions(bleedInches: 0.5))
        defer { r.cleanUp() }
        try r.expectPrintReady(width: 3000, height: 3900)
        let master = try RasterImage.load(path: r.master)
        // The photo (2700 wide, never stretched) sits inside the trim; the 150 px bleed is white.
        #expect(master.mean(x: 0, y: 1900, width: 150, height: 100).allSatisfy { $0 > 253 }, "left bleed is paper")
        #expect(master.mean(x: 150, y: 1900, width: 2700, height: 100).reduce(0, +) / 3 < 200, "photo across the trim")
        #expect(master.mean(x: 2850, y: 1900, width: 150, height: 100).allSatisfy { $0 > 253 }, "right bleed is paper")
    }

    @Test func cropMarksSitInTheSlugOutsideTheBleed() throws {
        let r = try Self.render(
            try Photos.require(Photos.portrait), preset: SizePreset.specification[0], print: PrintOptions(bleedInches: 0.125, cropMarks: true))
        defer { r.cleanUp() }
        // Trim 2700x3600 + 75 px bleed + 2 × 75 px slug.
        try r.expectPrintReady(width: 2925, height: 3825)
        let master = try RasterImage.load(path: r.master)
        let trimLeft = 75 + 37, trimTop = 75 + 37
        func grey(_ x: Int, _ y: Int) -> Int { (0..<3).map { Int(master.sample(x, y, $0)) }.reduce(0, +) / 3 }
        // Vertical marks above and below on the trim lines, horizontal ones left and right.
        #expect(grey(trimLeft, 10) < 30 && grey(trimLeft - 1, 40) < 30 && grey(trimLeft + 2700, 10) < 30)
        #expect(grey(trimLeft, 3825 - 10) < 30)
        #expect(grey(10, trimTop) < 30 && grey(2925 - 10, trimTop + 3600) < 30)
        // The gap between marks and bleed, the slug's corners and beside the marks are white.
        #expect(grey(trimLeft, 70) > 250 && grey(10, 10) > 250 && grey(trimLeft + 20, 10) > 250)
        // The bleed itself is picture.
        #expect(master.mean(x: 75, y: 75, width: 30, height: 3675).reduce(0, +) / 3 < 240)
    }

    @Test func bleedOutsideItsRangeIsRefused() throws {
        for bleed in [-0.1, 0.51, .nan] {
            #expect(throws: RenderError.self) {
                _ = try Self.render(Photos.elephantsSmall, preset: SizePreset.specification[0], print: PrintOptions(bleedInches: bleed))
            }
        }
    }

    // MARK: output colour

    @Test func adobeRGBMasterEmbedsItsProfileAndRoundTripsSRGBBelowOneDeltaE() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let chart = try Self.chart(in: directory)
        let square = try SizePreset.custom(width: 2, height: 2, millimetres: false)
        for intent in RenderingIntent.allCases {
            let r = try Self.render(chart, preset: square, print: PrintOptions(outputProfile: .adobeRGB, renderingIntent: intent))
            defer { r.cleanUp() }
            try r.expectPrintReady(width: 600, height: 600)
            #expect(try Self.profileDescription(r.master) == "Compatible with Adobe RGB (1998)")
            let back = Self.patchMeans(try Self.backToSRGB(r.master, intent: "relative", in: directory))
            let differences = zip(Self.patches, back).map { Self.deltaE($0.0.map(Double.init), $0.1) }
            let worst = differences.max() ?? 0, mean = differences.reduce(0, +) / Double(differences.count)
            #expect(worst < 1, "sRGB → Adobe RGB (\(intent)) → sRGB: worst ΔE \(worst), mean \(mean)")
            // Adobe RGB holds every sRGB colour: the soft proof looks like the sRGB picture.
            let proof = Self.patchMeans(try RasterImage.load(path: r.preview, maxSide: 600))
            let proofWorst = zip(Self.patches, proof).map { Self.deltaE($0.0.map(Double.init), $0.1) }.max() ?? 0
            #expect(proofWorst < 3, "soft proof of Adobe RGB: worst ΔE \(proofWorst)")
        }
    }

    @Test func cmykMasterIsSeparatedUnder300PercentInkAndItsPreviewIsTheSoftProof() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let chart = try Self.chart(in: directory)
        let square = try SizePreset.custom(width: 2, height: 2, millimetres: false)
        var proofs: [RenderingIntent: [[Double]]] = [:]
        for intent in RenderingIntent.allCases {
            let r = try Self.render(chart, preset: square, print: PrintOptions(outputProfile: .cmyk, renderingIntent: intent))
            defer { r.cleanUp() }
            let tags = try TIFFTags(path: r.master)
            #expect(tags.integer(TIFFTags.Tag.photometric) == 5, "separated")
            #expect(tags.integer(TIFFTags.Tag.samplesPerPixel) == 4 && tags.integer(TIFFTags.Tag.bitsPerSample) == 8)
            #expect(tags.integer(TIFFTags.Tag.compression) == 5 && tags.integer(TIFFTags.Tag.resolutionUnit) == 2)
            #expect(abs((tags.rational(TIFFTags.Tag.xResolution) ?? 0) - 300) < 0.01 && abs((tags.rational(TIFFTags.Tag.yResolution) ?? 0) - 300) < 0.01)
            #expect(try Self.profileDescription(r.master) == PrintOptions.cmykProfileName)

            // Total ink of every pixel of the saturated chart.
            let cmyk = try RasterImage.load(path: r.master)
            try #require(cmyk.bands == 4)
            var most = 0
            for pixel in stride(from: 0, to: cmyk.pixels.count, by: 4) {
                most = max(most, (0..<4).reduce(0) { $0 + Int(cmyk.pixels[pixel + $1]) })
            }
            let percent = Double(most) / 255 * 100
            #expect(percent <= 300, "total ink \(percent) % (\(intent))")
            #expect(percent > 200, "the chart's darkest patches do use heavy ink (\(percent) %)")

            // In-gamut colours (greys from dark to white, skin tones) survive the press profile;
            // screen black and saturated colours are what paper and ink cannot reach.
            let back = Self.patchMeans(try Self.backToSRGB(r.master, intent: "relative", in: directory))
            let greys = (1..<5).map { Self.deltaE(Self.patches[$0].map(Double.init), back[$0]) }
            let skin = (29..<32).map { Self.deltaE(Self.patches[$0].map(Double.init), back[$0]) }
            #expect((greys + skin).max() ?? 99 < 6, "greys \(greys), skin \(skin) (\(intent))")
            let pressBlack = Self.lab(back[0]).0
            #expect(pressBlack > 5 && pressBlack < 25, "black prints as the press's black, L* \(pressBlack)")

            // The preview shows the press's colours: the soft proof, not the sRGB chart.
            let proof = Self.patchMeans(try RasterImage.load(path: r.preview, maxSide: 600))
            let blue = Self.deltaE(back[13], proof[13]), original = Self.deltaE(Self.patches[13].map(Double.init), proof[13])
            #expect(blue < 4 && original > 10, "saturated blue: proof vs master ΔE \(blue), vs sRGB ΔE \(original)")
            proofs[intent] = proof
        }
        // Perceptual and relative colorimetric differ somewhere on the chart.
        let perceptual = try #require(proofs[.perceptual]), relative = try #require(proofs[.relative])
        #expect(zip(perceptual, relative).map { Self.deltaE($0.0, $0.1) }.max() ?? 0 > 2)
    }
}
