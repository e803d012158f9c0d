import Foundation
import Testing

/// Real photos from Debian's wallpaper packages (installed by `make test`).
enum Photos {
    static let elephants = "/usr/share/backgrounds/mate/abstract/Elephants_5640x3172.jpg"
    static let elephantsSmall = "/usr/share/backgrounds/mate/abstract/Elephants.jpg"
    static let dune = "/usr/share/backgrounds/mate/nature/Dune.jpg"
    static let flower = "/usr/share/backgrounds/mate/nature/YellowFlower.jpg"
    static let storm = "/usr/share/backgrounds/mate/nature/Storm.jpg"
    /// A dark, low-key forest.
    static let forest = "/usr/share/wallpapers/Path/contents/images/2560x1600.jpg"
    /// Rowing boats at a lake shore at sunset: many shapes, water, sky, gravel.
    static let boats = "/usr/share/wallpapers/BytheWater/contents/images/2560x1440.jpg"
    /// A ladybird on a grass blade among small blue flowers.
    static let ladybird = "/usr/share/backgrounds/mate/nature/LadyBird.jpg"
    /// A portrait photo (1622x2880).
    static let portrait = "/usr/share/wallpapers/SafeLanding/contents/images/1622x2880.jpg"

    static func require(_ path: String) throws -> String {
        try #require(FileManager.default.fileExists(atPath: path), "missing test photo \(path): run make test (installs mate-backgrounds, plasma-workspace-wallpapers)")
        return path
    }
}
