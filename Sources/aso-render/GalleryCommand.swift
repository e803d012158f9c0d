import ArgumentParser
import Foundation
import RenderEngine

/// `aso-render gallery`: every style on a few real photos, as a contact sheet and a web page.
struct GalleryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gallery",
        abstract: "Render every style on a few photos into DIR/contact-sheet.png and DIR/index.html."
    )

    /// Real photos from Debian's wallpaper packages: a sunset landscape with boats (high
    /// contrast), a close-up leaf (warm colours, bokeh), a forest path (dark), a flower.
    static let defaultPhotos = [
        "/usr/share/wallpapers/EveningGlow/contents/images/2560x1600.jpg",
        "/usr/share/wallpapers/FallenLeaf/contents/images/2560x1600.jpg",
        "/usr/share/wallpapers/Path/contents/images/2560x1600.jpg",
        "/usr/share/backgrounds/mate/nature/YellowFlower.jpg",
    ]

    @Option(help: "Output directory.")
    var out: String

    @Option(name: .customLong("photo"), help: "A photo to include (repeatable; default: a few Debian wallpapers).")
    var photos: [String] = []

    @Option(help: "Style slugs to include, comma-separated (default: all).")
    var styles: String?

    @Option(help: "Print size to render.")
    var size: String = "9x12"

    @Option(help: "Longest side of each cell on the contact sheet.")
    var cell: Int = 320

    @Option(help: "Also write a JPEG copy of the sheet at most this many pixels wide (for the README).")
    var smallSheetWidth: Int?

    func run() throws {
        let chosen = photos.isEmpty ? Self.defaultPhotos.filter { FileManager.default.fileExists(atPath: $0) } : photos
        guard !chosen.isEmpty else { throw ValidationError("No photos: pass --photo") }
        let wanted = styles.map { Set($0.split(separator: ",").map(String.init)) }
        let catalogue = StyleCatalog.all.filter { wanted?.contains($0.info.slug) ?? true }
        guard let preset = SizePreset.find(name: size) else { throw ValidationError("Unknown size '\(size)'") }
        let engine = try RenderEngine()
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)

        let label = 28, gap = 12
        var html = "<!doctype html><meta charset=utf-8><title>ASO Render gallery</title><style>body{font-family:sans-serif}td{vertical-align:top;padding:6px}img{max-width:\(cell)px}</style><table><tr>"
        html += catalogue.map { "<th>\($0.info.name)</th>" }.joined() + "</tr>"
        var thumbs: [[RasterImage]] = []
        var details: [RasterImage] = []
        for (row, photo) in chosen.enumerated() {
            html += "<tr>"
            var rowThumbs: [RasterImage] = []
            for style in catalogue {
                let name = "\(row)-\(style.info.slug)"
                let directory = "\(out)/\(name)"
                let outcome = try engine.render(
                    RenderJob(input: photo, style: style, preset: preset, masterPath: "\(directory)/output.tiff", previewPath: "\(directory)/preview.jpg"))
                if row == 0 {
                    // A detail of the print at half its size: brush marks, dots, grain.
                    let half = try RasterImage.load(path: "\(directory)/output.tiff", maxSide: 1800)
                    details.append(half.cropped(x: half.width / 2 - cell / 2 + half.width / 8, y: half.height / 2 - cell * 3 / 8, width: cell, height: cell * 3 / 4))
                }
                try? FileManager.default.removeItem(atPath: "\(directory)/output.tiff")
                rowThumbs.append(try RasterImage.load(path: "\(directory)/preview.jpg", maxSide: cell))
                html += "<td><a href=\"\(name)/preview.jpg\"><img src=\"\(name)/preview.jpg\"></a><br>\(style.info.name), \(Int(outcome.timingsMs["total"] ?? 0)) ms</td>"
                FileHandle.standardError.write(Data("\(URL(fileURLWithPath: photo).lastPathComponent) \(style.info.slug): \(Int(outcome.timingsMs["total"] ?? 0)) ms\n".utf8))
            }
            thumbs.append(rowThumbs)
            html += "</tr>"
        }
        thumbs.insert(details, at: 1)
        // Rows as tall as their tallest picture; style names above the first row.
        let heights = thumbs.map { $0.map(\.height).max() ?? cell }
        let labelRow = label + 4
        var sheet = RasterImage(
            width: gap + catalogue.count * (cell + gap), height: labelRow + gap + heights.reduce(0) { $0 + $1 + gap }, fill: [255, 255, 255])
        for (column, style) in catalogue.enumerated() {
            let text = try RasterImage.text(style.info.name, height: label - 10)
            sheet.draw(text, x: gap + column * (cell + gap) + (cell - text.width) / 2, y: gap / 2 + 4, ink: [40, 40, 40])
        }
        var y = labelRow + gap
        for (row, rowThumbs) in thumbs.enumerated() {
            for (column, thumb) in rowThumbs.enumerated() {
                let x = gap + column * (cell + gap)
                sheet.draw(thumb, x: x + (cell - thumb.width) / 2, y: y + (heights[row] - thumb.height) / 2)
            }
            y += heights[row] + gap
        }
        html += "</table>"
        try sheet.writePNG(to: "\(out)/contact-sheet.png")
        try html.write(toFile: "\(out)/index.html", atomically: true, encoding: .utf8)
        if let smallSheetWidth {
            let reduced = try RasterImage.load(path: "\(out)/contact-sheet.png", maxSide: max(smallSheetWidth, smallSheetWidth * sheet.height / sheet.width))
            try reduced.writeJPEG(to: "\(out)/contact-sheet-small.jpg", quality: 82)
        }
        print("\(out)/contact-sheet.png")
    }
}
