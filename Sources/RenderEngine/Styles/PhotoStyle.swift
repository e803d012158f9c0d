import Foundation

/// The print pipeline alone: orientation, colour management, crop, Lanczos3 upsampling and
/// print sharpening, no artistic effect. Also the baseline every style's cost is measured against.
public struct PhotoStyle: RenderStyle {
    public init() {}

    public let info = StyleInfo(
        id: uuid("550e8400-e29b-41d4-a716-446655440008"),
        slug: "photo",
        name: "Photo",
        description: "The photo itself, print-ready: colour-managed to sRGB, cropped to the paper, upsampled with Lanczos3 and sharpened for print.",
        parameters: []
    )

    /// No abstraction stage: the decoded photo streams straight to print resolution.
    public var workingShortSide: Int? { nil }

    public func abstract(_ image: PlanarImage, context: StyleContext) throws(RenderError) -> StyledImage {
        StyledImage(planes: image)
    }
}
