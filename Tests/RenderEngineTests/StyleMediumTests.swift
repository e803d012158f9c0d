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
        try Self.expectMedium("oil-painting", photo, rule: "stroke texture ≥ 4 and broken colour ≤ 0.6") { image, plain in
            let m = Medium.marks(image, photo: plain)
            return (m.texture >= 4 && m.brokenColour <= 0.6, Self.format([("texture", m.texture), ("broken colour", m.brokenColour)]))
        }
    }

    @Test("impressionist: dabs of broken colour at stroke scale", arguments: photos)
    func impressionist(photo: String) throws {
        try Self.expectMedium("impressionist", photo, rule: "stroke texture ≥ 4 and 0.35 ≤ broken colour ≤ 0.95") { image, plain in
            let m = Medium.marks(image, photo: plain)
            return (m.texture >= 4 && (0.35...0.95).contains(m.brokenColour), Self.format([("texture", m.texture), ("broken colour", m.brokenColour)]))
        }
    }

    @Test("pointillism: neighbouring dots of contrasting colour", arguments: photos)
    func pointillism(photo: String) throws {
        try Self.expectMedium("pointillism", photo, rule: "dot chroma contrast ≥ 8 and dot lightness contrast ≥ 5") { image, _ in
            let m = Medium.dotContrast(image)
            return (m.chroma >= 8 && m.lightness >= 5, Self.format([("chroma", m.chroma), ("lightness", m.lightness)]))
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

    /// A low-key photo (a dark forest, 73 % of it below L* 20) must not print as a black
    /// sheet: the inks are chosen from the picture's own tones.
    @Test func popArtKeepsADarkPhotoInInk() throws {
        let (image, plain) = try Self.previews("pop-art", Photos.forest)
        let black = Medium.blackShare(image), survival = Medium.subjectSurvival(image, photo: plain)
        #expect(Medium.blackShare(plain) > 0.5, "the photo is dark")
        #expect(black <= 0.3, "black covers \(black) of the print")
        #expect(survival >= 0.85, "the forest's light and dark stay where they were (\(survival))")
    }
}
