import Foundation

/// Pointillism (Seurat, Signac): layers of round dabs of nearly pure colour on a seeded
/// jittered grid, their hue and value jittered so that colours mix in the eye; paper shows
/// between the dabs. Stroke-based rendering in the manner of Hertzmann (SIGGRAPH 1998).
public struct PointillismStyle: RenderStyle {
    public init() {}

    public let info = StyleInfo(
        id: uuid("550e8400-e29b-41d4-a716-446655440006"),
        slug: "pointillism",
        name: "Pointillism",
        description: "Thousands of small dabs of pure colour that blend in the eye, in the manner of Seurat.",
        parameters: [
            StyleParameter(name: "dot_size", description: "Size of the dabs, relative to the default.", defaultValue: 1, minimum: 0.5, maximum: 2.5),
            StyleParameter(name: "colour_jitter", description: "How far each dab's colour strays from the photo (0 = faithful).", defaultValue: 0.5, minimum: 0, maximum: 1),
        ]
    )

    public func abstract(_ image: PlanarImage, context: StyleContext) throws(RenderError) -> StyledImage {
        let s = context.workingScale
        let dot = context.parameters["dot_size"]
        let jitter = Float(context.parameters["colour_jitter"])
        let w = image.width, h = image.height
        // An underpainting, pale and blurred, shows between the dabs (Seurat's canvases were
        // covered; bare white paper between dots reads as snow).
        let paper: [Float] = [0.97, 0.955, 0.92]
        let under = PlanarImage(planes: image.planes.enumerated().map { channel, plane in
            PlaneMath.map(Blur.gaussian(plane, sigma: 10 * s)) { $0 * 0.85 + paper[channel] * 0.15 }
        })
        let canvas = StrokeCanvas(underpainting: under)
        let detail = Gradient.sobelMagnitude(Colour.luma(image))
        // Coarse to fine: a ground of larger dabs, then smaller ones everywhere, then the
        // smallest where the photo has detail.
        let layers: [(radius: Double, spacing: Double, detailOnly: Bool)] = [(10, 1.5, false), (7, 1.6, false), (4.5, 1.5, true)]
        for (index, layer) in layers.enumerated() {
            let radius = Float(max(1.2, layer.radius * s * dot))
            let reference = Colour.srgbToLab(PlanarImage(planes: image.planes.map { Blur.gaussian($0, sigma: Double(radius) * 0.6) }))
            let spacing = radius * Float(layer.spacing)
            // The grid is laid over the whole photo (anchor), so dabs sit on the same photo
            // points whatever the crop.
            let anchor = context.workingAnchor
            let firstColumn = Int((anchor.x / spacing).rounded(.down)) - 1, lastColumn = Int(((anchor.x + Float(w)) / spacing).rounded(.up))
            let firstRow = Int((anchor.y / spacing).rounded(.down)) - 1, lastRow = Int(((anchor.y + Float(h)) / spacing).rounded(.up))
            var marks: [PaintMark] = []
            marks.reserveCapacity((lastColumn - firstColumn + 1) * (lastRow - firstRow + 1))
            for row in firstRow...lastRow {
                for column in firstColumn...lastColumn {
                    let key = markKey(index, column, row, seed: context.seed)
                    let x = (Float(column) + keyUnit(key, 1)) * spacing - anchor.x, y = (Float(row) + keyUnit(key, 2)) * spacing - anchor.y
                    guard x > -spacing, y > -spacing, x < Float(w) + spacing, y < Float(h) + spacing else { continue }
                    let sx = min(max(Int(x), 0), w - 1), sy = min(max(Int(y), 0), h - 1)
                    if layer.detailOnly && detail[sx, sy] < 0.04 { continue }
                    var l = reference.planes[0][sx, sy], a = reference.planes[1][sx, sy], b = reference.planes[2][sx, sy]
                    // Divisionist colour: more chroma, and each dab's hue and value nudged.
                    let angle = (keyUnit(key, 3) - 0.5) * 2 * .pi * 0.3 * jitter
                    let (ca, sa) = (cos(angle), sin(angle))
                    (a, b) = ((a * ca - b * sa) * 1.5, (a * sa + b * ca) * 1.5)
                    l += (keyUnit(key, 4) - 0.5) * 24 * jitter
                    let colour = Colour.labToSrgb(lightness: min(max(l, 0), 100), a: a, b: b)
                    let size = radius * (0.85 + 0.3 * keyUnit(key, 5))
                    marks.append(PaintMark(points: [(x, y)], radius: size, colour: colour, key: key, opacity: 0.95))
                }
            }
            canvas.paint(marks)
        }
        return StyledImage(planes: canvas.image, finish: PaperGrain(printScale: Float(context.printScale), origin: context.printAnchor, seed: Noise.stream(context.seed, 21), strength: 0.05))
    }
}
