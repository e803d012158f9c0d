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

    @Option(help: "Longest side of each picture on the contact sheet.")
    var cell: Int = 440

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

        // One row per style: its preview on each photo at `cell` px, then a 100 % crop of the
        // first photo's print (what the print lab receives: brush marks, dots, grain at true size).
        var html =
            "<!doctype html><meta charset=utf-8><title>ASO Render gallery</title><style>body{font-family:sans-serif}td{vertical-align:top;padding:6px}img{max-width:\(cell)px}</style><table>"
        var rows: [(name: String, cells: [RasterImage])] = []
        for style in catalogue {
            html += "<tr><th>\(style.info.name)</th>"
            var cells: [RasterImage] = []
            for (index, photo) in chosen.enumerated() {
                let name = "\(style.info.slug)-\(index)"
                let directory = "\(out)/\(name)"
                let outcome = try engine.render(
                    RenderJob(input: photo, style: style, preset: preset, masterPath: "\(directory)/output.tiff", previewPath: "\(directory)/preview.jpg"))
                cells.append(try RasterImage.load(path: "\(directory)/preview.jpg", maxSide: cell))
                if index == 0 {
                    let print = try RasterImage.load(path: "\(directory)/output.tiff")
                    let cropHeight = cells[0].height
                    cells.insert(
                        print.cropped(x: print.width * 11 / 20 - cell / 2, y: print.height * 11 / 20 - cropHeight / 2, width: cell, height: cropHeight), at: 0)
                }
                try? FileManager.default.removeItem(atPath: "\(directory)/output.tiff")
                let milliseconds = Int(outcome.timingsMs["total"] ?? 0)
                html += "<td><a href=\"\(name)/preview.jpg\"><img src=\"\(name)/preview.jpg\"></a><br>\(milliseconds) ms</td>"
                FileHandle.standardError.write(Data("\(URL(fileURLWithPath: photo).lastPathComponent) \(style.info.slug): \(milliseconds) ms\n".utf8))
            }
            // The crop sits last, after the previews it magnifies.
            cells.append(cells.removeFirst())
            rows.append((style.info.name, cells))
            html += "</tr>"
        }
        html += "</table>"

        let label = 30, gap = 12
        let columns = chosen.count + 1
        let heights = rows.map { $0.cells.map(\.height).max() ?? cell }
        var sheet = RasterImage(
            width: gap + columns * (cell + gap), height: gap + heights.reduce(0) { $0 + $1 + label + gap }, fill: [255, 255, 255])
        var y = gap
        for (row, entry) in rows.enumerated() {
            let title = try RasterImage.text(row == 0 ? "\(entry.name)  ·  last column: 100 % of the \(preset.name) print" : entry.name, height: label - 12)
            sheet.draw(title, x: gap, y: y + 4, ink: [40, 40, 40])
            y += label
            for (column, picture) in entry.cells.enumerated() {
                let x = gap + column * (cell + gap)
                sheet.draw(picture, x: x + (cell - picture.width) / 2, y: y + (heights[row] - picture.height) / 2)
            }
            y += heights[row] + gap
        }
        try sheet.writePNG(to: "\(out)/contact-sheet.png")
        try html.write(toFile: "\(out)/index.html", atomically: true, encoding: .utf8)
        if let smallSheetWidth {
            let reduced = try RasterImage.load(path: "\(out)/contact-sheet.png", maxSide: max(smallSheetWidth, smallSheetWidth * sheet.height / sheet.width))
            try reduced.writeJPEG(to: "\(out)/contact-sheet-small.jpg", quality: 82)
        }
        print("\(out)/contact-sheet.png")
    }
}
