import Foundation
import RenderEngine
import Testing

/// Each style must show its medium where a customer decides — the 1200 px preview — and beat
/// the cheap imitations a lazy filter would print instead (the photo itself, greyscale, a
/// blur, added noise, posterising, a brightness shift) on a measure of that medium. The fakes
/// are made from the `photo` style's preview of the same photo and crop, so the comparison is
/// pixel for pixel. Each medium's rule must accept the style and reject every fake.
@Suite("Style media beat cheap fakes", .serialized, .timeLimit(.minutes(20)))
struct StyleMediumTests {
    /// Two unlike photos: a busy lit scene and a close-up with a soft background.
    static let photos = [Photos.boats, Photos.ladybird]

    /// The style's preview and the photo's, as rendered for a customer (9x12, default parameters).
    static func previews(_ slug: String, _ photo: String) throws -> (style: MeasuredImage, photo: MeasuredImage) {
        let path = try Photos.require(photo)
        let styled = try Rendered.make(path, style: StyleCatalog.find(slug: slug)!, seed: 11, name: "\(slug)-medium")
        defer { styled.cleanUp() }
        let plain = try Rendered.make(path, seed: 11, name: "\(slug)-medium-photo")
        defer { plain.cleanUp() }
        return (MeasuredImage(try RasterImage.load(path: styled.preview)), MeasuredImage(try RasterImage.load(path: plain.preview)))
    }

    /// The style's preview of a test card that `fixture` draws into a scratch directory.
    static func fixturePreview(_ slug: String, seed: UInt64, name: String, fixture: (String) throws -> String) throws -> MeasuredImage {
        let dir = temporaryDirectory(name)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let rendered = try Rendered.make(try fixture(dir), style: StyleCatalog.find(slug: slug)!, seed: seed, name: name)
        defer { rendered.cleanUp() }
        return MeasuredImage(try RasterImage.load(path: rendered.preview))
    }

    /// Asserts `rule` holds for the style and fails for every fake, printing the measures.
    static func expectMedium(
        _ slug: String, _ photo: String, rule: String, sourceLocation: SourceLocation = #_sourceLocation,
        _ measure: (MeasuredImage, MeasuredImage) -> (passes: Bool, text: String)
    ) throws {
        let (style, plain) = try previews(slug, photo)
        let own = measure(style, plain)
        #expect(own.passes, "\(slug) on \(photo): \(own.text) fails \(rule)", sourceLocation: sourceLocation)
        var report = ["\(slug) on \((photo as NSString).lastPathComponent): \(own.text)"]
        for (name, fake) in Fakes.all(of: plain) {
            let faked = measure(fake, plain)
            report.append("\(name): \(faked.text)")
            #expect(!faked.passes, "\(name) passes as \(slug) on \(photo): \(faked.text) (\(rule); the style: \(own.text))", sourceLocation: sourceLocation)
        }
        // The margins, in the log of every run.
        print("medium — " + report.joined(separator: " | "))
    }

    static func format(_ values: [(String, Double)]) -> String {
        values.map { "\($0.0) \(String(format: "%.3f", $0.1))" }.joined(separator: ", ")
    }

    @Test("oil painting: brush-stroke texture of one mixed colour per stroke", arguments: photos)
    func oilPainting(photo: String) throws {
        // Thin paint where the photo is flat (round 53) measures texture 5.6 and 4.2, broken
        // colour 0.37 and 0.43 (boats, ladybird; before it, texture 6.3 and 5.2).
        try Self.expectMedium("oil-painting", photo, rule: "stroke texture ≥ 4 and broken colour ≤ 0.6") { image, plain in
            let m = Medium.marks(image, photo: plain)
            return (m.texture >= 4 && m.brokenColour <= 0.6, Self.format([("texture", m.texture), ("broken colour", m.brokenColour)]))
        }
    }

    @Test("impressionist: dabs of broken colour at stroke scale", arguments: photos)
    func impressionist(photo: String) throws {
        // Flat, matte dabs (round 47), three times as long as wide (round 67), measure texture
        // 5.05 and 4.05, broken colour 0.80 and 1.05 (boats, ladybird). The fakes with that
        // much texture are posterised photos, whose colour breaks harder (1.24 and more); the
        // others have at most 2.4 of texture.
        try Self.expectMedium("impressionist", photo, rule: "stroke texture ≥ 3.5 and 0.35 ≤ broken colour ≤ 1.15") { image, plain in
            let m = Medium.marks(image, photo: plain)
            return (m.texture >= 3.5 && (0.35...1.15).contains(m.brokenColour), Self.format([("texture", m.texture), ("broken colour", m.brokenColour)]))
        }
    }

    @Test("pointillism: neighbouring dots of contrasting colour", arguments: photos)
    func pointillism(photo: String) throws {
        // Dots add colour contrast at their own scale far beyond the photo's, and some lightness
        // contrast too (the ground between them). Since neighbouring dabs keep about one value
        // (210b1c7) the lightness contrast over the photo's is +1.4 on the boats and +2.3 on
        // the ladybird, the chroma 2.4× and 3.7× the photo's; a posterised photo, the closest
        // fake, reaches 3.3× the chroma but +0.9 lightness (ladybird), or +0.6 lightness but
        // 1.9× the chroma (boats).
        try Self.expectMedium("pointillism", photo, rule: "dot chroma contrast ≥ 6 and ≥ 2× the photo's, dot lightness contrast ≥ the photo's + 1.2") {
            image, plain in
            let m = Medium.dotContrast(image), p = Medium.dotContrast(plain)
            return (
                m.chroma >= 6 && m.chroma >= 2 * p.chroma && m.lightness >= p.lightness + 1.2,
                Self.format([("chroma", m.chroma), ("lightness", m.lightness)])
            )
        }
    }

    /// The Ben-Day screen has a pitch of 36 reference pixels (1.33 % of the short side): on a
    /// 1200x900 preview 12 px along the 45° axes, so it repeats every 12·√2 px along a row.
    @Test("pop art: a visible dot screen and the subject kept", arguments: photos)
    func popArt(photo: String) throws {
        let period = 36.0 * 900 / 2700 * 2.0.squareRoot()
        try Self.expectMedium("pop-art", photo, rule: "screen ≥ 0.1 and subject survival ≥ 0.85") { image, plain in
            let screen = Medium.screen(image, period: period), survival = Medium.subjectSurvival(image, photo: plain)
            return (screen >= 0.1 && survival >= 0.85, Self.format([("screen", screen), ("subject survival", survival)]))
        }
    }

    /// Pop art simplifies its subject less than the rest (blind rounds 93–95): the modelling
    /// inside a grey subject survives as tone, where the calm surround's simplification alone
    /// flattens it to one band. Measured as the spread of the preview's grey, blurred past the
    /// dot screen, inside the subject.
    @Test func popArtKeepsTheSubjectsModelling() throws {
        let image = try Self.fixturePreview("pop-art", seed: 12, name: "pop-modelling", fixture: Fixtures.texturedSubject)
        let scale = Float(image.width) / 1600
        let grey = Planes.gaussian(image.luma, image.width, image.height, 8 * scale)
        var inside: [Float] = []
        for y in 0..<image.height {
            for x in 0..<image.width {
                let dx = (Float(x) + 0.5) / scale - 800, dy = (Float(y) + 0.5) / scale - 600
                if dx * dx + dy * dy < 200 * 200 { inside.append(grey[y * image.width + x] / 255) }
            }
        }
        let mean = inside.reduce(0, +) / Float(inside.count)
        let spread = (inside.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(inside.count)).squareRoot()
        print("pop art on a modelled subject — spread of tone inside it \(String(format: "%.4f", spread))")
        #expect(spread >= 0.015, "the subject's modelling was flattened: spread \(spread)")
    }

    /// A low-key photo (a dark forest, 73 % of it below L* 20) must not print as a black
    /// sheet: the inks are chosen from the picture's own tones.
    @Test func popArtKeepsADarkPhotoInInk() throws {
        let (image, plain) = try Self.previews("pop-art", Photos.forest)
        let black = Medium.blackShare(image), survival = Medium.subjectSurvival(image, photo: plain)
        #expect(Medium.blackShare(plain) > 0.5, "the photo is dark")
        #expect(black <= 0.3, "black covers \(black) of the print")
        // 0.88 before pop art kept its subject's tone islands (blind rounds 93–95), 0.85 after:
        // the path's and the ferns' small islands scatter the tone at the dot scale.
        #expect(survival >= 0.8, "the forest's light and dark stay where they were (\(survival))")
    }

    /// A drawing rule must also reject greyscale stretched to full contrast (1 % clipped).
    static func expectDrawing(
        _ slug: String, _ photo: String, rule: String, sourceLocation: SourceLocation = #_sourceLocation,
        _ passes: ((lines: Double, paper: Double, black: Double)) -> Bool
    ) throws {
        func text(_ m: (lines: Double, paper: Double, black: Double)) -> String {
            format([("lines", m.lines), ("paper", m.paper), ("black", m.black)])
        }
        try expectMedium(slug, photo, rule: rule, sourceLocation: sourceLocation) { image, plain in
            let m = Medium.drawing(image)
            if image.red == plain.red {
                // Once per photo, alongside the plain photo: the stretched greyscale fake.
                let stretched = Medium.drawing(Fakes.greyscaleStretched(plain))
                #expect(!passes(stretched), "stretched greyscale passes as \(slug) on \(photo): \(text(stretched)) (\(rule))", sourceLocation: sourceLocation)
                print("medium — \(slug), stretched greyscale: \(text(stretched))")
            }
            return (passes(m), text(m))
        }
    }

    /// Graphite lines and hatching on white paper: nearly all the drawn pixels are marks
    /// (a photo's dark is broad shadow), and much of the sheet is left white.
    @Test("pencil sketch: dark made of lines and hatching, paper white left", arguments: photos)
    func pencilSketch(photo: String) throws {
        try Self.expectDrawing("pencil-sketch", photo, rule: "lines ≥ 0.75 and paper ≥ 0.4") { $0.lines >= 0.75 && $0.paper >= 0.4 }
    }

    /// Charcoal: stroke-built darks down to velvet black, with paper showing between. The
    /// blacks are massed at the focal point and the surround left lighter, so their share
    /// depends on the photo (2–6 %); a pencil sketch has none (0.000 on both photos).
    @Test("charcoal: deep blacks, stroke-built darks and paper", arguments: photos)
    func charcoal(photo: String) throws {
        try Self.expectDrawing("charcoal", photo, rule: "lines ≥ 0.45, paper ≥ 0.28 and black ≥ 0.02") {
            $0.lines >= 0.45 && $0.paper >= 0.28 && $0.black >= 0.02
        }
    }

    /// Comic: thin black ink lines with flat colour on both sides, over mostly flat colour.
    @Test("comic: ink outlines between flat colour areas", arguments: photos)
    func comic(photo: String) throws {
        try Self.expectMedium("comic", photo, rule: "ink on flat colour ≥ 0.0035 and flat ≥ 0.5") { image, _ in
            let m = Medium.inkOnFlatColour(image)
            return (m.ink >= 0.0035 && m.flat >= 0.5, Self.format([("ink on flat colour", m.ink), ("flat", m.flat)]))
        }
    }
}

extension StyleMediumTests {
    /// Transparent washes dry with a darker rim of pooled pigment just inside their border and
    /// a flat interior; photos, blurs and posterised copies do not (see `Medium.rims`).
    @Test("watercolor: flat washes with darker pigment rims at their borders", arguments: photos)
    func watercolor(photo: String) throws {
        // Rims are few but pure: since gaps closed by a wash dry soft (round 38) the ladybird's
        // rims are 2.9 % of its edges (were 5.1 %) at a purity of 0.41 (was 0.29), the boats'
        // 7.0 % at 0.51. A posterised photo reaches 3.1 % and 4.4 %, but never a purity above
        // 0.18: purity is what tells a pooled rim from a posterised step.
        try Self.expectMedium("watercolor", photo, rule: "rims ≥ 2 % of edges and rims/halos ≥ 0.3") { image, _ in
            let m = Medium.rims(image)
            return (m.rims >= 2 && m.purity >= 0.3, Self.format([("rims %", m.rims), ("purity", m.purity)]))
        }
    }
}

extension StyleMediumTests {
    /// Washes dry hard where the photo is in focus and run wet-in-wet where it is not: the same
    /// photo defocused (a Gaussian of 1 % of its width) keeps its shapes but loses most of its
    /// pooled rims (measured: 9.4 % in focus, 5.6 % out of focus; with every edge dried hard,
    /// 12.2 % and 13.7 %).
    @Test func watercolorRunsWetInWetWhereThePhotoIsOutOfFocus() throws {
        let dir = temporaryDirectory("wet-in-wet")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let sharp = try Photos.require(Photos.boats)
        let defocused = try Fixtures.converted(sharp, to: "defocused.jpg", in: dir, ["gaussblur", "{in}", "{out}", "25"])
        func rims(_ path: String, _ name: String) throws -> Double {
            let rendered = try Rendered.make(path, style: StyleCatalog.find(slug: "watercolor")!, seed: 11, name: name)
            defer { rendered.cleanUp() }
            return Medium.rims(MeasuredImage(try RasterImage.load(path: rendered.preview))).rims
        }
        let inFocus = try rims(sharp, "wet-in-wet-sharp"), outOfFocus = try rims(defocused, "wet-in-wet-defocused")
        print("wet-in-wet — rims % in focus \(String(format: "%.2f", inFocus)), out of focus \(String(format: "%.2f", outOfFocus))")
        #expect(outOfFocus < 0.75 * inFocus, "rims % in focus \(inFocus), out of focus \(outOfFocus)")
    }

    /// A painter lays in a clear sky with strokes that cross; strokes that follow the sky's
    /// faint gradient lie side by side in concentric arcs, which every judge of blind round 49
    /// called "mechanical sky swirls". Crossing strokes in thin paint measure a coherence of
    /// 0.57 here, strokes that only follow the flow 0.68.
    @Test func oilStrokesCrossInAClearSky() throws {
        let coherence = Medium.strokeCoherence(try Self.fixturePreview("oil-painting", seed: 11, name: "oil-sky", fixture: Fixtures.sky))
        print("oil painting on a clear sky — stroke coherence \(String(format: "%.3f", coherence))")
        #expect(coherence < 0.6, "stroke coherence \(coherence)")
    }

    /// An inker models a lit form by hatching its shade (blind rounds 60 and 61, "flat fills
    /// with hatching meant cartoon"). Outlines run every way, so without hatching comic's ink
    /// continues as often across the 45° diagonal as along it; the hatching's lines make it
    /// continue along. The ladybird's leaves and stems are hatched: along 0.86, across 0.65
    /// (without hatching 0.82 and 0.83).
    @Test func comicHatchesShadeInFortyFiveDegreeLines() throws {
        let rendered = try Rendered.make(try Photos.require(Photos.ladybird), style: StyleCatalog.find(slug: "comic")!, seed: 11, name: "comic-hatching")
        defer { rendered.cleanUp() }
        let ink = Medium.inkContinuation(MeasuredImage(try RasterImage.load(path: rendered.preview)))
        print("comic on the ladybird — ink continues along the diagonal \(ink.along), across it \(ink.across)")
        #expect(ink.along >= ink.across + 0.1, "no hatching: ink continues along the 45° diagonal \(ink.along), across it \(ink.across)")
    }

    /// An impressionist dab is a stroke, about three times as long as it is wide: dabs twice as
    /// long as wide read as "mosaic tiles" and "confetti" (blind round 67). Longer dabs lie
    /// more parallel within a dab's width: coherence 0.67 on the boats and 0.51 on the ladybird
    /// (with the short dabs 0.58 and 0.42).
    @Test("impressionist: dabs longer than wide", arguments: [(Photos.boats, 0.63), (Photos.ladybird, 0.47)])
    func impressionistDabsAreStrokes(photo: String, minimum: Double) throws {
        let rendered = try Rendered.make(try Photos.require(photo), style: StyleCatalog.find(slug: "impressionist")!, seed: 11, name: "impressionist-dabs")
        defer { rendered.cleanUp() }
        let coherence = Medium.strokeCoherence(MeasuredImage(try RasterImage.load(path: rendered.preview)))
        print("impressionist on \((photo as NSString).lastPathComponent) — stroke coherence \(String(format: "%.3f", coherence))")
        #expect(coherence >= minimum, "dabs too short: stroke coherence \(coherence)")
    }

    /// Charcoal's drags follow the forms in the calm surround too: over a field of furrows they
    /// run along the furrows, not across them on one diagonal ("heavy diagonal smears", blind
    /// rounds 74, 79 and 80). Along the forms the field measures 0.079; on the diagonal, 0.117.
    @Test func charcoalDragsFollowTheFurrowsOfAField() throws {
        let ratio = Medium.acrossOverAlong(try Self.fixturePreview("charcoal", seed: 11, name: "charcoal-furrows", fixture: Fixtures.furrows))
        print("charcoal on furrows — streak texture across over along \(String(format: "%.3f", ratio))")
        #expect(ratio <= 0.1, "drags cross the furrows: \(ratio)")
    }

    /// Comic's subject keeps its small features, as a face does: on a grey subject in the
    /// middle of the picture, six small brown features (eyes, a nose) are inked round. Within
    /// 8–20 px (of 1600) of them, 0.25 of the preview is ink (40 levels darker than the
    /// subject); cleaned off as specks, as they are off a background, they left none (blind
    /// round 91: subjects "lost in blotches", +0.46 with them kept).
    @Test func comicKeepsTheSubjectsSmallFeatures() throws {
        let image = try Self.fixturePreview("comic", seed: 11, name: "comic-features", fixture: Fixtures.subjectWithFeatures)
        let scale = Double(image.width) / 1600
        try #require(abs(Double(image.height) - 1200 * scale) < 2, "the preview is the whole fixture")
        var subject: [Float] = [], around: [Float] = []
        for y in 0..<image.height {
            for x in 0..<image.width {
                let px = (Double(x) + 0.5) / scale, py = (Double(y) + 0.5) / scale
                let nearest = Fixtures.features.centres.map { c in ((px - c.0) * (px - c.0) + (py - c.1) * (py - c.1)).squareRoot() }.min()!
                let i = y * image.width + x
                let level = (image.red[i] + image.green[i] + image.blue[i]) / 3
                if nearest >= 8 && nearest <= 20 {
                    around.append(level)
                } else if nearest > 40 && ((px - 800) * (px - 800) + (py - 600) * (py - 600)).squareRoot() < 200 {
                    subject.append(level)
                }
            }
        }
        let body = subject.reduce(0, +) / Float(subject.count)
        let ink = Double(around.filter { body - $0 > 40.0 / 255 }.count) / Double(around.count)
        print("comic on a subject with small features — ink round the features \(String(format: "%.3f", ink))")
        #expect(ink >= 0.1, "the subject's features were cleaned off: ink \(ink)")
    }

    /// Monet painted a grey facade in ochre, blue and lilac: a grey photo must come out in warm
    /// and cool dabs, not grey (a hue turned about the grey axis stays grey; blind round 11
    /// read those passages as oil).
    @Test func impressionistBreaksGreyIntoWarmAndCoolDabs() throws {
        let dir = temporaryDirectory("impressionist-grey")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let grey = try Fixtures.converted(try Photos.require(Photos.boats), to: "grey.jpg", in: dir, ["colourspace", "{in}", "{out}", "b-w"])
        let rendered = try Rendered.make(grey, style: StyleCatalog.find(slug: "impressionist")!, seed: 5, name: "impressionist-grey")
        defer { rendered.cleanUp() }
        let lab = MeasuredImage(try RasterImage.load(path: rendered.preview)).lab
        let count = Double(lab.b.count)
        let warm = Double(lab.b.filter { $0 > 5 }.count) / count, cool = Double(lab.b.filter { $0 < -5 }.count) / count
        print("impressionist on a grey photo — warm dabs \(String(format: "%.3f", warm)), cool dabs \(String(format: "%.3f", cool))")
        #expect(warm > 0.12 && cool > 0.12, "warm share \(warm), cool share \(cool)")
    }
}
