import Foundation
import Testing

/// Real photos at their original sizes, made by `scripts/test-photos.sh` from the small copies
/// in `Tests/Fixtures/photos` (no wallpaper package needed).
enum Photos {
    static var elephants: String { photo("elephants") }
    static var elephantsSmall: String { photo("elephants-small") }
    static var dune: String { photo("dune") }
    static var flower: String { photo("flower") }
    static var storm: String { photo("storm") }
    /// A dark, low-key forest.
    static var forest: String { photo("forest") }
    /// Rowing boats at a lake shore at sunset: many shapes, water, sky, gravel.
    static var boats: String { photo("boats") }
    /// A ladybird on a grass blade among small blue flowers.
    static var ladybird: String { photo("ladybird") }
    /// A portrait photo (1622x2880).
    static var portrait: String { photo("portrait") }

    static func require(_ path: String) throws -> String {
        try #require(FileManager.default.fileExists(atPath: path), "missing test photo \(path): scripts/test-photos.sh failed")
        return path
    }

    private static func photo(_ name: String) -> String { "\(directory)/\(name).jpg" }

    /// Made once per test process (and kept between processes).
    private static let directory: String = {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../../scripts/test-photos.sh").standardized.path
        return ((try? Tools.run(script, [])) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }()
}
