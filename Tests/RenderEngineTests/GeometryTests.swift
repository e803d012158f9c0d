import Foundation
import RenderEngine
import Testing

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
}
