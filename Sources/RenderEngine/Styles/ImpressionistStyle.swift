import Foundation

/// Impressionism after Hertzmann, "Painterly Rendering with Curved Brush Strokes of Multiple
/// Sizes" (SIGGRAPH 1998): layers of strokes from large to small brushes, each stroke placed
/// where the canvas still differs from the blurred photo and bent along its isophotes.
public struct ImpressionistStyle: RenderStyle {
    public init() {}

    public let info = StyleInfo(
        id: uuid("550e8400-e29b-41d4-a716-446655440007"),
        slug: "impressionist",
        name: "Impressionist",
        description: "Loose, curved brush strokes of several sizes that follow the light and shapes of the scene.",
        parameters: [
            StyleParameter(name: "brush_size", description: "Size of the largest brush, relative to the default.", defaultValue: 1, minimum: 0.5, maximum: 2),
            StyleParameter(name: "stroke_length", description: "How long strokes may curve along the forms, relative to the default.", defaultValue: 1, minimum: 0.3, maximum: 2),
        ]
    )

    /// Strokes are broad; painting them at half the usual working resolution costs a quarter
    /// and the print-stage enlargement keeps their edges soft like wet paint.
    public var workingShortSide: Int? { 1350 }

    public func abstract(_ image: PlanarImage, context: StyleContext) throws(RenderError) -> StyledImage {
        let s = context.workingScale
        let brush = context.parameters["brush_size"]
        let maxLength = max(2, Int((14 * context.parameters["stroke_length"]).rounded()))
        let w = image.width, h = image.height
        let canvas = StrokeCanvas(width: w, height: h, paper: (0.93, 0.9, 0.84))
        var first = true
        for (index, size) in [30.0, 15.0, 7.0].enumerated() {
            let radius = Float(max(1, size * s * brush))
            let reference = PlanarImage(planes: image.planes.map { Blur.gaussian($0, sigma: Double(radius) * 0.5) })
            let luminance = Colour.luma(reference)
            let spacing = max(1, Int(radius.rounded()))
            let threshold: Float = 0.1
            // Cells on a grid over the whole photo (anchor), clipped to this crop.
            let offsetX = Int(context.workingAnchor.x.rounded()) % spacing, offsetY = Int(context.workingAnchor.y.rounded()) % spacing
            let columns = (w + offsetX + spacing - 1) / spacing, rows = (h + offsetY + spacing - 1) / spacing
            let cellBase = (Int(context.workingAnchor.x.rounded()) / spacing, Int(context.workingAnchor.y.rounded()) / spacing)
            let current = canvas.image
            // Strokes for each grid cell, decided in parallel (each cell reads only).
            let cells = UnsafeMutableBufferPointer<PaintMark?>.allocate(capacity: columns * rows)
            cells.initialize(repeating: nil)
            defer { cells.deallocate() }
            let cellStorage = UncheckedSendable(cells)
            Parallel.rows(rows, minimumChunk: 1) { range in
                for row in range {
                    for column in 0..<columns {
                        let x0 = max(0, column * spacing - offsetX), y0 = max(0, row * spacing - offsetY)
                        let x1 = min(w, column * spacing - offsetX + spacing), y1 = min(h, row * spacing - offsetY + spacing)
                        guard x0 < x1, y0 < y1 else { continue }
                        var total: Float = 0
                        if !first {
                            for y in y0..<y1 {
                                for x in x0..<x1 { total += Self.difference(current, reference, x, y) }
                            }
                        }
                        guard first || total / Float((x1 - x0) * (y1 - y0)) > threshold else { continue }
                        // The stroke starts at a seeded point of the cell (Hertzmann starts at the
                        // worst pixel, which jumps between two renders that differ by a resampling
                        // phase; a seeded point keeps prints of different sizes alike).
                        let key = markKey(index, column + cellBase.0, row + cellBase.1, seed: context.seed)
                        let jx = Float(x0) + keyUnit(key, 1) * Float(x1 - x0), jy = Float(y0) + keyUnit(key, 2) * Float(y1 - y0)
                        cellStorage.value[row * columns + column] = Self.stroke(
                            from: (jx, jy), radius: radius, reference: reference, luminance: luminance, canvas: current,
                            maxLength: maxLength, key: key, fresh: first)
                    }
                }
            }
            canvas.paint(cells.compactMap { $0 })
            first = false
        }
        return StyledImage(planes: canvas.image, finish: PaperGrain(printScale: Float(context.printScale), origin: context.printAnchor, seed: Noise.stream(context.seed, 22), strength: 0.07))
    }

    @inline(__always) static func difference(_ a: PlanarImage, _ b: PlanarImage, _ x: Int, _ y: Int) -> Float {
        let dr = a.planes[0][x, y] - b.planes[0][x, y], dg = a.planes[1][x, y] - b.planes[1][x, y], db = a.planes[2][x, y] - b.planes[2][x, y]
        return (dr * dr + dg * dg + db * db).squareRoot()
    }

    /// Hertzmann's curved stroke: start colour fixed, each step moves one radius along the
    /// normal of the luminance gradient, until the canvas already matches the photo better
    /// than the stroke colour would.
    static func stroke(
        from start: (Float, Float), radius: Float, reference: PlanarImage, luminance: Plane, canvas: PlanarImage, maxLength: Int,
        key: UInt64, fresh: Bool
    ) -> PaintMark {
        let w = reference.width, h = reference.height
        func sample(_ image: PlanarImage, _ x: Float, _ y: Float) -> (Float, Float, Float) {
            let sx = min(max(Int(x), 0), w - 1), sy = min(max(Int(y), 0), h - 1)
            return (image.planes[0][sx, sy], image.planes[1][sx, sy], image.planes[2][sx, sy])
        }
        var colour = sample(reference, start.0, start.1)
        // A little variation between strokes, as with a loaded brush.
        let shift = (keyUnit(key, 3) - 0.5) * 0.06
        colour = (colour.0 + shift, colour.1 + shift * 0.8, colour.2 + shift * 0.6)
        var points = [start]
        var (x, y) = start
        var (lastDx, lastDy): (Float, Float) = (0, 0)
        let minLength = 3
        for step in 1..<maxLength {
            let sx = min(max(Int(x), 1), w - 2), sy = min(max(Int(y), 1), h - 2)
            if step > minLength {
                let r = sample(reference, x, y), c = sample(canvas, x, y)
                let toCanvas = abs(r.0 - c.0) + abs(r.1 - c.1) + abs(r.2 - c.2)
                let toStroke = abs(r.0 - colour.0) + abs(r.1 - colour.1) + abs(r.2 - colour.2)
                if !fresh && toCanvas < toStroke { break }
                if fresh && toStroke > 0.25 { break }
            }
            let gx = luminance[sx + 1, sy] - luminance[sx - 1, sy], gy = luminance[sx, sy + 1] - luminance[sx, sy - 1]
            let magnitude = (gx * gx + gy * gy).squareRoot()
            if magnitude * radius < 0.004 { break }
            var dx = -gy / magnitude, dy = gx / magnitude
            if lastDx * dx + lastDy * dy < 0 { (dx, dy) = (-dx, -dy) }
            // Curvature filter: blend with the previous direction.
            if step > 1 {
                dx = 0.6 * dx + 0.4 * lastDx
                dy = 0.6 * dy + 0.4 * lastDy
                let n = (dx * dx + dy * dy).squareRoot()
                if n > 0 { (dx, dy) = (dx / n, dy / n) }
            }
            x += radius * dx
            y += radius * dy
            if x < 0 || y < 0 || x >= Float(w) || y >= Float(h) { break }
            points.append((x, y))
            (lastDx, lastDy) = (dx, dy)
        }
        return PaintMark(points: points, radius: radius, colour: colour, key: key, opacity: 0.92)
    }
}
