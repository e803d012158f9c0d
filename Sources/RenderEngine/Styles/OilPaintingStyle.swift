import Foundation

/// Oil painting, alla prima: curved brush strokes in coarse-to-fine layers (Hertzmann,
/// SIGGRAPH 1998) that follow the flow of the photo's structure tensor, each stroke carrying
/// bristle streaks and depositing paint height; the height field is lit from the upper left
/// with a glossy highlight at print resolution, over a canvas weave where the paint is thin
/// (the relief of Semmo et al. 2016, but from real strokes).
///
/// Strokes are painted on a canvas of `canvasShortSide` pixels whatever the photo's size (a
/// small photo is enlarged first), so brush marks keep crisp edges and the same proportions;
/// never more than the print's own pixels, so a 600 px style preview paints at its own size.
public struct OilPaintingStyle: RenderStyle {
    public init() {}

    public let info = StyleInfo(
        id: uuid("550e8400-e29b-41d4-a716-446655440001"),
        slug: "oil-painting",
        name: "Oil Painting",
        description: "Thick, directional brush strokes that follow the forms of the photo, on lit canvas.",
        parameters: [
            StyleParameter(name: "brush_size", description: "Size of the brush strokes, relative to the default.", defaultValue: 1, minimum: 0.5, maximum: 2),
            StyleParameter(
                name: "relief", description: "How strongly the impasto and the canvas weave catch the light (0 = flat).", defaultValue: 0.5, minimum: 0,
                maximum: 1),
        ]
    )

    public var workingShortSide: Int? { Self.canvasShortSide }

    /// Short side of the canvas the strokes are painted on.
    static let canvasShortSide = 1200

    public func abstract(_ image: PlanarImage, context: StyleContext) throws(RenderError) -> StyledImage {
        let brush = Float(context.parameters["brush_size"])
        let (photo, factor) = PaintPreparation.canvas(image, shortSide: min(Self.canvasShortSide, context.layout.content.shortSide))
        let w = photo.width, h = photo.height
        // One percent of the short side, in canvas pixels: every length below is a multiple.
        let unit = Float(min(w, h)) / 100
        let anchor = (context.workingAnchor.x * factor, context.workingAnchor.y * factor)
        let rich = PaintPreparation.enrich(photo, saturation: 1.2, contrast: 0.12)

        // A toned ground (imprimatura): the photo's colours, very blurred and a little warm.
        let ground = PlanarImage(
            planes: rich.planes.enumerated().map { channel, plane in
                let warm: [Float] = [0.04, 0.01, -0.03]
                return PlaneMath.map(Blur.gaussian(plane, sigma: Double(4 * unit))) { $0 * 0.9 + warm[channel] }
            })
        let surface = PaintSurface(ground: ground)
        let (importance, skin) = PaintPreparation.importance(photo, cell: max(4, Int(unit)), anchor: anchor)
        // Where the photo is flat, strokes follow broad, slowly turning diagonals, each leaning up
        // to 0.7 rad off them, so the strokes of a sky or a lawn cross (`StrokeLayer.flatJitter`).
        let prior = StrokeFlow.prior(width: w, height: h, anchor: anchor, scale: 25 * unit, angle: 0.5, swing: 1.4, seed: Noise.stream(context.seed, 31))
        // A broad brush lays in the calm passages (sky, walls, water) in long sweeps, which the
        // finer brushes leave where the photo has nothing smaller to say: one stroke size
        // everywhere read as tiles (blind round 11: "strokes like tiles", "texture the same everywhere").
        let layers: [StrokeLayer] = [
            StrokeLayer(
                radius: 2.0 * unit * brush, spacing: 3.4 * unit * brush, threshold: 0, cover: true, minSteps: 3, maxSteps: 8, step: 1.5 * unit * brush,
                inertia: 0.4, edgeStop: 0.25, thickness: 0.8, angleJitter: 0.12, flatJitter: 0.7),
            StrokeLayer(
                radius: 1.0 * unit * brush, spacing: 1.6 * unit * brush, threshold: 0.06, cover: false, minSteps: 3, maxSteps: 7, step: 0.9 * unit * brush,
                inertia: 0.35, edgeStop: 0.22, thickness: 1, angleJitter: 0.15, flatJitter: 0.7),
            StrokeLayer(
                radius: 0.55 * unit * brush, spacing: 0.7 * unit * brush, threshold: 0.1, cover: false, minSteps: 2, maxSteps: 6, step: 0.55 * unit * brush,
                inertia: 0.35, edgeStop: 0.16, thickness: 0.6, angleJitter: 0.12, flatJitter: 0.7),
            StrokeLayer(
                radius: 0.3 * unit * brush, spacing: 0.36 * unit * brush, threshold: 0.1, cover: false, minSteps: 2, maxSteps: 6, step: 0.3 * unit * brush,
                inertia: 0.3, edgeStop: 0.12, thickness: 0.35, flatJitter: 0.7),
            StrokeLayer(
                radius: 0.17 * unit * brush, spacing: 0.2 * unit * brush, threshold: 0.12, cover: false, minSteps: 1, maxSteps: 5, step: 0.18 * unit * brush,
                inertia: 0.3, edgeStop: 0.1, thickness: 0.22, flatJitter: 0.7),
        ]
        var tensor = PlanarImage(width: 1, height: 1, channels: 3)
        for (index, layer) in layers.enumerated() {
            let reference = PlanarImage(planes: rich.planes.map { Blur.gaussian($0, sigma: Double(layer.radius) * 0.5) })
            // Coarse layers follow the large forms, fine ones the detail.
            if index % 2 == 0 { tensor = StrokeFlow.tensor(reference) }
            let flow = StrokeFlow.compute(tensor: tensor, sigma: Double(layer.radius) * 1.5, prior: prior, priorWeight: 0.04, anchor: anchor)
            var strokes = StrokePlacer.place(
                layer, index: index, reference: reference, flow: flow, canvas: surface.colour, anchor: anchor, seed: context.seed, importance: importance)
            for i in strokes.indices {
                let key = strokes[i].key
                // A loaded brush never carries quite the mixed colour: small value and warmth shifts.
                let value = 1 + (keyUnit(key, 7) - 0.5) * 0.1
                let warmth = (keyUnit(key, 8) - 0.5) * 0.05
                strokes[i].colour = strokes[i].colour * value + SIMD3(warmth, 0, -warmth)
                strokes[i].radius *= 0.8 + 0.4 * keyUnit(key, 9)
                // Skin is painted smoother and thinner than cloth or sky.
                let centre = strokes[i].points[strokes[i].points.count / 2]
                strokes[i].thickness *= 1 - 0.6 * skin.value(at: centre)
                // The impasto is heaviest where the eye goes; the background is laid in flatter.
                strokes[i].thickness *= 0.5 + 0.5 * importance.value(at: centre)
                // Thinner where the photo is flat: a sky's crossing strokes in full impasto
                // caught the light as white scratches (blind round 51: "a scratchy white crosshatch").
                strokes[i].thickness *= 1 - 0.6 * flow.flatness(centre.x, centre.y)
            }
            surface.paint(
                strokes,
                texture: BrushTexture(
                    bristleWidth: max(1.2, 0.14 * unit), bristleShade: 0.06, bristleRelief: 0.16, ridge: 0.3, tail: 0.9,
                    pickup: 0.35, softness: 1, wobble: 0.06, taper: 0.15, flatten: 0.75))
        }
        let (gx, gy) = surface.heightGradient()
        return StyledImage(
            planes: PlanarImage(planes: surface.colour.planes + [gx, gy, surface.coverage]),
            finish: ImpastoLight(
                relief: Float(context.parameters["relief"]), printScale: Float(context.printScale), origin: context.printAnchor,
                gloss: 0.3, weave: 1))
    }
}
