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
    /// A portrait photo (1622x2880).
    static let portrait = "/usr/share/wallpapers/SafeLanding/contents/images/1622x2880.jpg"

    static func require(_ path: String) throws -> String {
        try #require(FileManager.default.fileExists(atPath: path), "missing test photo \(path): run make test (installs mate-backgrounds, plasma-workspace-wallpapers)")
        return path
    }
}
