import Foundation
import Testing

@testable import RenderEngine

@Suite("Geometry: presets, orientation, fit")
struct GeometryTests {
    @Test func presetsHaveTheSpecsStableIdsAndExactPixels() {
        let expected: [(String, String, Int, Int)] = [
            ("9x12", "6ba7b810-9dad-11d1-80b4-00c04fd430c8", 2700, 3600),
            ("12x16", "6ba7b811-9dad-11d1-80b4-00c04fd430c8", 3600, 4800),
            ("16x20", "6ba7b812-9dad-11d1-80b4-00c04fd430c8", 4800, 6000),
            ("18x24", "6ba7b813-9dad-11d1-80b4-00c04fd430c8", 5400, 7200),
            ("24x36", "6ba7b814-9dad-11d1-80b4-00c04fd430c8", 7200, 10800),
        ]
        #expect(SizePreset.specification.count == expected.count)
        for (preset, (name, id, w, h)) in zip(SizePreset.specification, expected) {
            #expect(preset.name == name)
            #expect(preset.id.uuidString.lowercased() == id)
            #expect(preset.widthPixels == w && preset.heightPixels == h && preset.dpi == 300)
        }
        #expect(SizePreset.find(name: "36x24")?.name == "24x36")
        #expect(SizePreset.find(name: "5x9") == nil)
    }

    @Test func autoOrientationFollowsThePhoto() {
        let preset = SizePreset.all[0]
        let landscape = PrintLayout(source: PixelSize(width: 4000, height: 3000), preset: preset, orientation: .auto, fit: .cover, maxWorkingShortSide: nil)
        #expect(landscape.canvas == PixelSize(width: 3600, height: 2700))
        let portrait = PrintLayout(source: PixelSize(width: 3000, height: 4000), preset: preset, orientation: .auto, fit: .cover, maxWorkingShortSide: nil)
        #expect(portrait.canvas == PixelSize(width: 2700, height: 3600))
        let square = PrintLayout(source: PixelSize(width: 3000, height: 3000), preset: preset, orientation: .auto, fit: .cover, maxWorkingShortSide: nil)
        #expect(!square.isLandscape)
        let forced = PrintLayout(source: PixelSize(width: 4000, height: 3000), preset: preset, orientation: .portrait, fit: .cover, maxWorkingShortSide: nil)
        #expect(forced.canvas == PixelSize(width: 2700, height: 3600))
    }

    @Test func workingSizeNeverExceedsPhotoOrPrintAndHonoursTheStyleBound() {
        let big = SizePreset.all[4]
        // A 12 Mpx phone photo on 24x36: working = the photo's own pixels (cropped), upsampled to print.
        let phone = PrintLayout(source: PixelSize(width: 4000, height: 3000), preset: big, orientation: .auto, fit: .cover, maxWorkingShortSide: nil)
        #expect(phone.canvas == PixelSize(width: 10800, height: 7200))
        #expect(phone.working.width <= 4000 && phone.working.height <= 3000)
        #expect(phone.working.width == 4000)
        #expect(abs(phone.effectiveDPI - 111.1) < 0.1)
        // A style's bound caps the working size.
        let styled = PrintLayout(source: PixelSize(width: 8000, height: 6000), preset: big, orientation: .auto, fit: .cover, maxWorkingShortSide: 2700)
        #expect(styled.working.shortSide == 2700)
        // A huge photo on a small print works at print resolution.
        let small = PrintLayout(
            source: PixelSize(width: 8000, height: 6000), preset: SizePreset.all[0], orientation: .auto, fit: .cover, maxWorkingShortSide: nil)
        #expect(small.working == small.canvas)
        #expect(abs(small.effectiveDPI - 666.7) < 0.1)
    }

    @Test func containCentresThePhotoWithMargins() {
        let layout = PrintLayout(
            source: PixelSize(width: 2000, height: 1000), preset: SizePreset.all[0], orientation: .portrait, fit: .contain, maxWorkingShortSide: nil)
        #expect(layout.canvas == PixelSize(width: 2700, height: 3600))
        #expect(layout.content == PixelSize(width: 2700, height: 1350))
        #expect(layout.contentOrigin.x == 0 && layout.contentOrigin.y == 1125)
        #expect(abs(layout.effectiveDPI - 222.2) < 0.1)
    }

    // MARK: where a cover crop sits

    /// Rows of a tall photo, 100 of them: skin (0.3 of the row) from `from` to `to`.
    private func rows(skin range: Range<Int>?, level: Float = 0.3) -> [Float] {
        (0..<100).map { range?.contains($0) == true ? level : 0 }
    }

    @Test func coverCropStaysCentredWithoutAFaceToKeep() {
        // 1000 rows, crop 600: centred at 200.
        #expect(CropPlacement.top(height: 1000, cropHeight: 600, skinRows: rows(skin: nil)) == 200)
        // A face already inside the centred crop (rows 300-400, headroom 36) does not move it.
        #expect(CropPlacement.top(height: 1000, cropHeight: 600, skinRows: rows(skin: 30..<40)) == 200)
        // Skin-like colour over most rows (sand, wood) is not a face.
        #expect(CropPlacement.top(height: 1000, cropHeight: 600, skinRows: rows(skin: 5..<80)) == 200)
        // One stray warm row is not a face either; faint skin (under 5 % of a row) neither.
        #expect(CropPlacement.top(height: 1000, cropHeight: 600, skinRows: rows(skin: 10..<11)) == 200)
        #expect(CropPlacement.top(height: 1000, cropHeight: 600, skinRows: rows(skin: 10..<20, level: 0.04)) == 200)
        // No overhang, nothing to place.
        #expect(CropPlacement.top(height: 600, cropHeight: 600, skinRows: rows(skin: 10..<20)) == 0)
    }

    @Test func coverCropMovesUpJustEnoughToKeepTheTopFace() {
        // A head at rows 100-200 of 1000; the centred crop (from 200) would cut it. The crop
        // starts 6 % of its height (36 rows) above the face.
        #expect(CropPlacement.top(height: 1000, cropHeight: 600, skinRows: rows(skin: 10..<20)) == 64)
        // Hands lower down (a second band) do not pull it: the topmost face counts.
        var withHands = rows(skin: 10..<20)
        for i in 45..<50 { withHands[i] = 0.2 }
        #expect(CropPlacement.top(height: 1000, cropHeight: 600, skinRows: withHands) == 64)
        // A face at the very top: the crop starts at the top, never above it.
        #expect(CropPlacement.top(height: 1000, cropHeight: 600, skinRows: rows(skin: 1..<10)) == 0)
    }

    @Test func coverCropOfAStandingFigureKeepsTheHead() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // 500x1200 on 9x12 (3:4): the crop is 667 of 1200 rows; centred it would start at row
        // 266, below the forehead (face from row 110).
        let r = try Rendered.make(try Fixtures.standingFigure(in: dir))
        defer { r.cleanUp() }
        let preview = try RasterImage.load(path: r.preview)
        // Scaled to the preview (1200 px high), the face starts at (110 - top) x 1.8 px: the
        // top rows are the pale wall, the rows below them skin in the middle.
        let wall = preview.mean(y: 0, height: 20)
        #expect(wall.allSatisfy { $0 > 200 }, "wall above the head: \(wall)")
        let face = preview.cropped(x: preview.width / 2 - 40, y: 150, width: 80, height: 40).mean()
        #expect(face[0] > 200 && face[0] > face[2] + 60, "the face is in the print: \(face)")
    }
}
