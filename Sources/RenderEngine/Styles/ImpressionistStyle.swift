import Foundation

/// Impressionism (Monet, Renoir) after Litwinowicz (SIGGRAPH 1997) and Hertzmann (SIGGRAPH
/// 1998): short, straight, thick dabs of broken colour laid side by side in coarse-to-fine
/// layers, oriented across the photo's gradients with a little angle jitter, each dab's hue
/// and value nudged so neighbouring dabs differ, light brightened and shadows given
/// complementary cool accents. Soft edges, some toned ground left between the dabs, and flat,
/// matte dabs with hardly any relief (streaky, glossy impasto is the oil painting's signature).
public struct ImpressionistStyle: RenderStyle {
    public init() {}

    public let info = StyleInfo(
        id: uuid("550e8400-e29b-41d4-a716-446655440007"),
        slug: "impressionist",
        name: "Impressionist",
        description: "Short, thick dabs of broken, luminous colour laid side by side, in the manner of Monet.",
        parameters: [
            StyleParameter(name: "brush_size", description: "Size of the dabs, relative to the default.", defaultValue: 1, minimum: 0.5, maximum: 2),
            StyleParameter(name: "stroke_length", description: "Length of the dabs, relative to the default.", defaultValue: 1, minimum: 0.5, maximum: 2),
        ]
    )

    public var workingShortSide: Int? { Self.canvasShortSide }

    /// Short side of the canvas the dabs are painted on (at most the print's own).
    static let canvasShortSide = 1200

    public func abstract(_ image: PlanarImage, context: StyleContext) throws(RenderError) -> StyledImage {
        let brush = Float(context.parameters["brush_size"])
        let lengthFactor = Float(context.parameters["stroke_length"])
        let (photo, factor) = PaintPreparation.canvas(image, shortSide: min(Self.canvasShortSide, context.layout.content.shortSide))
        let w = photo.width, h = photo.height
        let unit = Float(min(w, h)) / 100
        let anchor = (context.workingAnchor.x * factor, context.workingAnchor.y * factor)
        // Brighter light and purer colour than the photo, painted in a high key: no blacks,
        // the shadows coloured. Only a little lifted (gamma 0.92, blacks raised by 3 %; were
        // 0.85 and 8 %): the higher key read as "washed out, low contrast" (blind round 16) and
        // lost 4 to 16 paired comparisons against this key on the tuning photos (slight margins).
        let bright = Self.pleinAir(PaintPreparation.brighten(photo, saturation: 1.4, gamma: 0.92))

        // A pale, warm ground with a thin, very loose lay-in of the scene's colours; under dark
        // passages the lay-in is dark too, so the gaps between dabs there do not glint as
        // stray white specks (blind round 13: "white specks", "halos around figures").
        let layIn = bright.planes.map { Blur.gaussian($0, sigma: Double(3 * unit)) }
        let layInValue = PlaneMath.map(Colour.luma(PlanarImage(planes: layIn))) { 0.45 * smoothstep(0.15, 0.6, $0) }
        let ground = PlanarImage(
            planes: layIn.enumerated().map { channel, plane in
                let tone: [Float] = [0.93, 0.88, 0.78]
                return PlaneMath.combine(plane, layInValue) { $0 * (1 - $1) + tone[channel] * $1 }
            })
        let surface = PaintSurface(ground: ground)
        let (importance, skin) = PaintPreparation.importance(photo, cell: max(4, Int(unit)), anchor: anchor)
        let prior = StrokeFlow.prior(width: w, height: h, anchor: anchor, scale: 30 * unit, angle: 0.2, swing: 1.2, seed: Noise.stream(context.seed, 41))
        // Up to five steps: a dab's path about three times its width. At three steps (twice
        // its width) the dabs read as "mosaic tiles" and "confetti" (blind round 67).
        let steps = max(1, Int((5 * lengthFactor).rounded()))
        let layers: [StrokeLayer] = [
            StrokeLayer(
                radius: 0.95 * unit * brush, spacing: 1.8 * unit * brush, threshold: 0, cover: true, minSteps: min(2, steps), maxSteps: steps,
                step: 1.25 * unit * brush, inertia: 1, edgeStop: 0.3, thickness: 0.6, angleJitter: 0.25),
            StrokeLayer(
                radius: 0.6 * unit * brush, spacing: 1.1 * unit * brush, threshold: 0.09, cover: false, minSteps: min(2, steps), maxSteps: steps,
                step: 0.8 * unit * brush, inertia: 1, edgeStop: 0.25, thickness: 0.5, angleJitter: 0.2),
            StrokeLayer(
                radius: 0.42 * unit * brush, spacing: 0.75 * unit * brush, threshold: 0.12, cover: false, minSteps: 1, maxSteps: steps,
                step: 0.45 * unit * brush, inertia: 1, edgeStop: 0.2, thickness: 0.4, angleJitter: 0.15),
            StrokeLayer(
                radius: 0.25 * unit * brush, spacing: 0.45 * unit * brush, threshold: 0.15, cover: false, minSteps: 1, maxSteps: steps,
                step: 0.27 * unit * brush, inertia: 1, edgeStop: 0.16, thickness: 0.3, angleJitter: 0.1),
        ]
        var tensor = PlanarImage(width: 1, height: 1, channels: 3)
        for (index, layer) in layers.enumerated() {
            let reference = PlanarImage(planes: bright.planes.map { Blur.gaussian($0, sigma: Double(layer.radius) * 0.6) })
            if index % 2 == 0 { tensor = StrokeFlow.tensor(reference) }
            let flow = StrokeFlow.compute(tensor: tensor, sigma: Double(layer.radius) * 2, prior: prior, priorWeight: 0.06, anchor: anchor)
            var strokes = StrokePlacer.place(
                layer, index: index, reference: reference, flow: flow, canvas: surface.colour, anchor: anchor, seed: context.seed, importance: importance)
            // Detail dabs stay closer to the local colour: eyes and mouths must read.
            let jitter: Float = [1, 0.8, 0.55, 0.35][index]
            for i in strokes.indices {
                // Skin is modelled with softer, closer colour (Renoir's faces, not his foliage).
                let centre = strokes[i].points[strokes[i].points.count / 2]
                strokes[i] = Self.broken(strokes[i], jitter: jitter * (1 - 0.6 * skin.value(at: centre)))
            }
            // Flat, matte dabs: little bristle shading and almost no relief. With streaky, lit
            // bristles (shade 0.14, relief 0.1) judges took a sixth of these paintings for oil,
            // "rich impasto" (blind round 45: 83 % recognised; round 47, flat: 95 %).
            surface.paint(
                strokes,
                texture: BrushTexture(
                    bristleWidth: max(1.2, 0.16 * unit), bristleShade: 0.04, bristleRelief: 0.5, ridge: 0.05, tail: 0.45,
                    pickup: 0.08, softness: max(1.2, 0.12 * unit), wobble: 0.1, taper: 0.2, flatten: 0.5))
        }
        let (gx, gy) = surface.heightGradient()
        return StyledImage(
            planes: PlanarImage(planes: surface.colour.planes + [gx, gy, surface.coverage]),
            finish: ImpastoLight(
                relief: 0.02, printScale: Float(context.printScale), origin: context.printAnchor, gloss: 0.04, weave: 0.4))
    }

    /// A dab of broken colour: its value, hue and purity
    /// nudged, cool complementary accents in the shadows and warm ones in the light.
    static func broken(_ stroke: BrushStroke, jitter baseJitter: Float) -> BrushStroke {
        var stroke = stroke
        // Dark passages are broken more quietly: strong hue swings in a navy suit or black fur
        // read as muddy noise, not colour (blind round 12).
        let value = (stroke.colour * SIMD3(0.2126, 0.7152, 0.0722)).sum()
        let jitter = baseJitter * (0.45 + 0.55 * smoothstep(0.1, 0.35, value))
        let key = stroke.key
        let points = stroke.points
        let centre = points.reduce(SIMD2<Float>.zero, +) / Float(points.count)
        if stroke.points.count == 2 {
            // A lone dab is still a short stroke, not a round spot.
            let d = stroke.points[1] - stroke.points[0]
            let length = (d * d).sum().squareRoot()
            if length < stroke.radius {
                let direction = length > 1e-4 ? d / length : SIMD2(1, 0)
                stroke.points = [centre - direction * stroke.radius * 0.6, centre + direction * stroke.radius * 0.6]
            }
        }
        var colour = stroke.colour
        let luma = (colour * SIMD3(0.2126, 0.7152, 0.0722)).sum()
        // Broken colour: each dab is the local colour, or a warmer or cooler neighbour of it
        // (a painter's two or three mixtures per passage, not random noise).
        let pick = keyUnit(key, 13)
        let variant: Float = pick < 0.3 ? 0 : (pick < 0.65 ? 1 : -1)
        colour = rotateHue(colour, by: variant * jitter * (0.3 + 0.12 * keyUnit(key, 16)))
        // A hue turned about the grey axis leaves grey grey: neutral passages (walls, sky,
        // stone) are broken instead into warm ochre, cool blue and lilac dabs, as Monet painted
        // a grey facade (blind round 11: impressionist read as oil where the photo was grey).
        let chroma = colour.max() - colour.min()
        let neutral = (1 - smoothstep(0.06, 0.22, chroma)) * jitter
        let tint: SIMD3<Float> = variant > 0 ? SIMD3(0.08, 0.035, -0.06) : (variant < 0 ? SIMD3(-0.045, 0.0, 0.08) : SIMD3(0.04, -0.025, 0.05))
        colour += tint * neutral
        colour *= 1 + ((keyUnit(key, 11) - 0.5) * 0.1 + variant * 0.03) * jitter
        let purity = 1 + 0.2 * keyUnit(key, 12) * jitter
        let grey = (colour * SIMD3(0.2126, 0.7152, 0.0722)).sum()
        colour = SIMD3(repeating: grey) + (colour - SIMD3(repeating: grey)) * purity
        let accent = keyUnit(key, 14)
        if luma < 0.4 && accent < 0.3 * jitter {
            // Shadows hold blues and violets.
            colour += SIMD3(-0.02, -0.035, 0.09) * (1 - luma / 0.4 * 0.5)
        } else if luma > 0.55 && accent < 0.3 * jitter {
            // Light is warm: touches of cream and yellow.
            colour += SIMD3(0.06, 0.04, -0.04)
        }
        stroke.colour = colour.clamped(lowerBound: SIMD3(repeating: 0), upperBound: SIMD3(repeating: 1))
        stroke.radius *= 0.85 + 0.3 * keyUnit(key, 15)
        stroke.opacity = 0.93
        return stroke
    }

    /// The plein-air key: the value range lifted a little so the darkest passage is a coloured dark
    /// rather than black (Monet used no black), and shadows cooled towards blue, light left warm.
    static func pleinAir(_ image: PlanarImage) -> PlanarImage {
        let w = image.width
        Parallel.rows(image.height) { rows in
            for y in rows {
                let r = image.planes[0].row(y), g = image.planes[1].row(y), b = image.planes[2].row(y)
                for x in 0..<w {
                    let luma = 0.2126 * r[x] + 0.7152 * g[x] + 0.0722 * b[x]
                    let shade = max(0, 1 - luma / 0.45)
                    r[x] = min(0.03 + 0.97 * r[x] - 0.02 * shade, 1)
                    g[x] = min(0.03 + 0.97 * g[x] - 0.015 * shade, 1)
                    b[x] = min(0.03 + 0.97 * b[x] + 0.04 * shade, 1)
                }
            }
        }
        return image
    }

    /// Rotates an RGB colour about the grey axis by `angle` radians.
    static func rotateHue(_ c: SIMD3<Float>, by angle: Float) -> SIMD3<Float> {
        let cosA = cos(angle), sinA = sin(angle)
        let k: Float = 0.57735  // 1/√3, the grey axis
        let dot = (c.x + c.y + c.z) * k
        let cross = SIMD3(k * (c.z - c.y), k * (c.x - c.z), k * (c.y - c.x))
        let axis = SIMD3<Float>(repeating: k)
        return c * cosA + cross * sinA + axis * dot * (1 - cosA)
    }
}
