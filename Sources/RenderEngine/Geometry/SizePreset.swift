import Foundation

/// A print size. Dimensions are stated portrait (width ≤ height), as in the spec; a landscape
/// print of the same preset swaps them.
public struct SizePreset: Sendable, Hashable, Codable, Identifiable {
    public let id: UUID
    public let name: String
    public let widthInches: Double
    public let heightInches: Double
    public let dpi: Int

    public init(id: UUID, name: String, widthInches: Double, heightInches: Double, dpi: Int = 300) {
        self.id = id
        self.name = name
        self.widthInches = widthInches
        self.heightInches = heightInches
        self.dpi = dpi
    }

    public var widthPixels: Int { Int((widthInches * Double(dpi)).rounded()) }
    public var heightPixels: Int { Int((heightInches * Double(dpi)).rounded()) }

    /// The spec's five presets, 300 DPI. Their ids are permanent: clients store them.
    public static let all: [SizePreset] = [
        SizePreset(id: uuid("6ba7b810-9dad-11d1-80b4-00c04fd430c8"), name: "9x12", widthInches: 9, heightInches: 12),
        SizePreset(id: uuid("6ba7b811-9dad-11d1-80b4-00c04fd430c8"), name: "12x16", widthInches: 12, heightInches: 16),
        SizePreset(id: uuid("6ba7b812-9dad-11d1-80b4-00c04fd430c8"), name: "16x20", widthInches: 16, heightInches: 20),
        SizePreset(id: uuid("6ba7b813-9dad-11d1-80b4-00c04fd430c8"), name: "18x24", widthInches: 18, heightInches: 24),
        SizePreset(id: uuid("6ba7b814-9dad-11d1-80b4-00c04fd430c8"), name: "24x36", widthInches: 24, heightInches: 36),
    ]

    public static func find(id: UUID) -> SizePreset? { all.first { $0.id == id } }

    /// Looks a preset up by name ("24x36"); "36x24" names the same preset.
    public static func find(name: String) -> SizePreset? {
        let parts = name.lowercased().split(separator: "x")
        if let preset = all.first(where: { $0.name == name.lowercased() }) { return preset }
        guard parts.count == 2 else { return nil }
        return all.first { $0.name == "\(parts[1])x\(parts[0])" }
    }
}

func uuid(_ string: String) -> UUID {
    guard let value = UUID(uuidString: string) else { preconditionFailure("invalid built-in UUID \(string)") }
    return value
}
