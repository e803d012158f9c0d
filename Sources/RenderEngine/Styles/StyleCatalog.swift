import Foundation

/// Every style the service offers. Ids are permanent: they are in `db/seed.sql` and in
/// clients' code.
public enum StyleCatalog {
    public static let all: [any RenderStyle] = [
        WatercolorStyle(),
        OilPaintingStyle(),
        PencilSketchStyle(),
        CharcoalStyle(),
        ComicStyle(),
        PopArtStyle(),
        PointillismStyle(),
        ImpressionistStyle(),
        PhotoStyle(),
    ]

    public static func find(id: UUID) -> (any RenderStyle)? {
        all.first { $0.info.id == id }
    }

    public static func find(slug: String) -> (any RenderStyle)? {
        all.first { $0.info.slug == slug.lowercased() }
    }
}
