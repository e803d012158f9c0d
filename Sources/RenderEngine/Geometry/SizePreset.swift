import Foundation

/// A print size. Dimensions are stated portrait (width ≤ height), as in the spec; a landscape
/// print of the same preset swaps them.
public struct SizePreset: Sendable, Hashable, Codable, Identifiable {
    public let id: UUID
    public let name: String
    public let widthInches: Double
    public let heightInches: Double
    public let dpi: Int
    /// Set for sizes defined in millimetres (A4, 30x40 cm): pixels are computed from these, so
    /// A4 is the 2480x3508 labs expect rather than a rounding of 8.27x11.69 in.
    public let widthMillimetres: Double?
    public let heightMillimetres: Double?

    public init(id: UUID, name: String, widthInches: Double, heightInches: Double, dpi: Int = 300) {
        self.id = id
        self.name = name
        self.widthInches = widthInches
        self.heightInches = heightInches
        self.dpi = dpi
        widthMillimetres = nil
        heightMillimetres = nil
    }

    public init(id: UUID, name: String, widthMillimetres: Double, heightMillimetres: Double, dpi: Int = 300) {
        self.id = id
        self.name = name
        widthInches = widthMillimetres / 25.4
        heightInches = heightMillimetres / 25.4
        self.dpi = dpi
        self.widthMillimetres = widthMillimetres
        self.heightMillimetres = heightMillimetres
    }

    public var widthPixels: Int { Int(((widthMillimetres.map { $0 / 25.4 } ?? widthInches) * Double(dpi)).rounded()) }
    public var heightPixels: Int { Int(((heightMillimetres.map { $0 / 25.4 } ?? heightInches) * Double(dpi)).rounded()) }

    /// The spec's five presets, 300 DPI. Their ids are permanent: clients store them.
    public static let specification: [SizePreset] = [
        SizePreset(id: uuid("6ba7b810-9dad-11d1-80b4-00c04fd430c8"), name: "9x12", widthInches: 9, heightInches: 12),
        SizePreset(id: uuid("6ba7b811-9dad-11d1-80b4-00c04fd430c8"), name: "12x16", widthInches: 12, heightInches: 16),
        SizePreset(id: uuid("6ba7b812-9dad-11d1-80b4-00c04fd430c8"), name: "16x20", widthInches: 16, heightInches: 20),
        SizePreset(id: uuid("6ba7b813-9dad-11d1-80b4-00c04fd430c8"), name: "18x24", widthInches: 18, heightInches: 24),
        SizePreset(id: uuid("6ba7b814-9dad-11d1-80b4-00c04fd430c8"), name: "24x36", widthInches: 24, heightInches: 36),
    ]

    /// The common frame and paper sizes labs sell beside the spec's (ISO A sizes, US frame
    /// sizes, squares, metric posters), 300 DPI, with permanent ids continuing the spec's series.
    public static let international: [SizePreset] = [
        SizePreset(id: uuid("6ba7b815-9dad-11d1-80b4-00c04fd430c8"), name: "A4", widthMillimetres: 210, heightMillimetres: 297),
        SizePreset(id: uuid("6ba7b816-9dad-11d1-80b4-00c04fd430c8"), name: "A3", widthMillimetres: 297, heightMillimetres: 420),
        SizePreset(id: uuid("6ba7b817-9dad-11d1-80b4-00c04fd430c8"), name: "A2", widthMillimetres: 420, heightMillimetres: 594),
        SizePreset(id: uuid("6ba7b818-9dad-11d1-80b4-00c04fd430c8"), name: "A1", widthMillimetres: 594, heightMillimetres: 841),
        SizePreset(id: uuid("6ba7b819-9dad-11d1-80b4-00c04fd430c8"), name: "5x7", widthInches: 5, heightInches: 7),
        SizePreset(id: uuid("6ba7b81a-9dad-11d1-80b4-00c04fd430c8"), name: "8x10", widthInches: 8, heightInches: 10),
        SizePreset(id: uuid("6ba7b81b-9dad-11d1-80b4-00c04fd430c8"), name: "11x14", widthInches: 11, heightInches: 14),
        SizePreset(id: uuid("6ba7b81c-9dad-11d1-80b4-00c04fd430c8"), name: "8x8", widthInches: 8, heightInches: 8),
        SizePreset(id: uuid("6ba7b81d-9dad-11d1-80b4-00c04fd430c8"), name: "12x12", widthInches: 12, heightInches: 12),
        SizePreset(id: uuid("6ba7b81e-9dad-11d1-80b4-00c04fd430c8"), name: "16x16", widthInches: 16, heightInches: 16),
        SizePreset(id: uuid("6ba7b81f-9dad-11d1-80b4-00c04fd430c8"), name: "20x20", widthInches: 20, heightInches: 20),
        SizePreset(id: uuid("6ba7b820-9dad-11d1-80b4-00c04fd430c8"), name: "30x40cm", widthMillimetres: 300, heightMillimetres: 400),
        SizePreset(id: uuid("6ba7b821-9dad-11d1-80b4-00c04fd430c8"), name: "50x70cm", widthMillimetres: 500, heightMillimetres: 700),
    ]

    /// Every preset `GET /v1/size-presets` lists: the spec's first, in its order.
    public static let all: [SizePreset] = specification + international

    public static func find(id: UUID) -> SizePreset? { all.first { $0.id == id } }

    /// Looks a preset up by name ("24x36", "a4", "30x40cm"); "36x24" names the same preset.
    public static func find(name: String) -> SizePreset? {
        let wanted = name.lowercased()
        if let preset = all.first(where: { $0.name.lowercased() == wanted }) { return preset }
        let unit = wanted.hasSuffix("cm") ? "cm" : ""
        let parts = wanted.dropLast(unit.count).split(separator: "x")
        guard parts.count == 2 else { return nil }
        return all.first { $0.name.lowercased() == "\(parts[1])x\(parts[0])\(unit)" }
    }

    /// Print sizes a customer may ask for outside the presets: from 2 in (a wallet print) to
    /// 60 in (what large-format printers take on a roll), on each side.
    public static let customRangeInches = 2.0...60.0

    /// A size the client chose (`width_inches` + `height_inches`, or millimetres), at 300 DPI.
    /// Stated portrait like the presets, so `orientation` turns it the same way; the name says
    /// the size in the unit it was given ("8.5x11", "210x297mm").
    public static func custom(width: Double, height: Double, millimetres: Bool) throws(RenderError) -> SizePreset {
        // Checked in the unit given, so 50.8 mm is exactly the 2 in it is.
        let range = millimetres ? customRangeInches.lowerBound * 25.4...customRangeInches.upperBound * 25.4 : customRangeInches
        let unit = millimetres ? "mm" : "in"
        for (side, value) in [("width", width), ("height", height)] {
            guard value.isFinite, range.contains(value) else {
                throw RenderError(
                    .invalidRequest,
                    "The \(side) must be between \(number(range.lowerBound)) and \(number(range.upperBound)) \(unit) (got \(number(value)) \(unit))")
            }
        }
        let short = min(width, height), long = max(width, height)
        let name = "\(number(short))x\(number(long))\(millimetres ? "mm" : "")"
        return millimetres
            ? SizePreset(id: customID, name: name, widthMillimetres: short, heightMillimetres: long)
            : SizePreset(id: customID, name: name, widthInches: short, heightInches: long)
    }

    /// The id every custom size carries: no preset has it, and the service stores none for it.
    public static let customID = uuid("00000000-0000-0000-0000-000000000000")
    public var isCustom: Bool { id == Self.customID }

    /// 8.5 → "8.5", 11 → "11": sizes as people write them.
    static func number(_ value: Double) -> String {
        let rounded = (value * 100).rounded() / 100
        guard abs(rounded) < 1e12 else { return String(value) }  // also nan and infinity
        return rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)
    }
}

func uuid(_ string: String) -> UUID {
    guard let value = UUID(uuidString: string) else { preconditionFailure("invalid built-in UUID \(string)") }
    return value
}
