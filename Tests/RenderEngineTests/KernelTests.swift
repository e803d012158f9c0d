import Foundation
import Testing

@testable import RenderEngine

@Suite("Image kernels the styles rely on")
struct KernelTests {
    /// A vertical step edge of `contrast` L* in the middle of a 120 px square, blurred by `blur` px.
    private func stepEdge(contrast: Float, blur: Double) -> Plane {
        let plane = Plane(width: 120, height: 120)
        for y in 0..<120 {
            let row = plane.row(y)
            for x in 0..<120 { row[x] = x < 60 ? 40 : 40 + contrast }
        }
        return Blur.gaussian(plane, sigma: blur)
    }

    /// Watercolor dries its washes hard only where the photo is in focus: the crispness of an
    /// edge must tell sharp from defocused whatever its contrast, and leave flat areas soft.
    @Test func crispnessTellsASharpEdgeFromADefocusedOneWhateverItsContrast() {
        func crispness(contrast: Float, blur: Double) -> Float {
            Gradient.crispness(stepEdge(contrast: contrast, blur: blur), fine: 1, coarse: 4, window: 6)[60, 60]
        }
        let sharpFaint = crispness(contrast: 10, blur: 0.5), sharpStrong = crispness(contrast: 60, blur: 0.5)
        let softFaint = crispness(contrast: 10, blur: 6), softStrong = crispness(contrast: 60, blur: 6)
        #expect(sharpFaint > 2.6 && sharpStrong > 2.6, "sharp edges: \(sharpFaint), \(sharpStrong)")
        #expect(softFaint < 1.5 && softStrong < 1.5, "defocused edges: \(softFaint), \(softStrong)")
        #expect(abs(sharpFaint - sharpStrong) / sharpStrong < 0.15, "contrast should not matter: \(sharpFaint) vs \(sharpStrong)")
        let flat = Gradient.crispness(Plane(width: 120, height: 120, fill: 50), fine: 1, coarse: 4, window: 6)[60, 60]
        #expect(abs(flat - 1) < 1e-3, "a flat area reads as soft: \(flat)")
    }

    /// The comic's clean-up: a speck merges whatever its colour, a larger patch only when it is
    /// barely different from its surround (posterised shading), and a small shape that stands
    /// out (a star on a flag) is kept.
    @Test func celCleanUpMergesLookalikePatchesAndKeepsShapesThatStandOut() {
        let w = 40, h = 20
        var labels = [Int32](repeating: 0, count: w * h)
        func square(_ x0: Int, _ y0: Int, side: Int, label: Int32) {
            for y in y0..<(y0 + side) { for x in x0..<(x0 + side) { labels[y * w + x] = label } }
        }
        square(2, 2, side: 2, label: 9)  // a speck, unlike its surround: merges
        square(10, 5, side: 6, label: 1)  // a patch like its surround: merges
        square(25, 5, side: 6, label: 9)  // a patch unlike its surround: kept
        let changed = labels.withUnsafeMutableBufferPointer { buffer in
            CelRegions.removeIslands(buffer, width: w, height: h, minimumArea: { _ in 10 }, blendArea: 6, alike: { p, q in abs(p - q) == 1 })
        }
        #expect(labels[3 * w + 3] == 0 && changed[3 * w + 3])
        #expect(labels[7 * w + 12] == 0 && changed[7 * w + 12])
        #expect(labels[7 * w + 27] == 9 && !changed[7 * w + 27])
        #expect(changed.filter { $0 }.count == 4 + 36)
    }

    /// The comic's palette gives a small subject of a distinct colour its own ink (the porch
    /// dog's red bike was printed grey): a red patch on 0.3 % of a brown-grey scene of varied
    /// tone keeps a red hue among the ten.
    @Test func comicPaletteKeepsASmallDistinctColourItsOwnHue() {
        let w = 200, h = 150
        let lab = PlanarImage(width: w, height: h, channels: 3)
        for y in 0..<h {
            let l = lab.planes[0].row(y), a = lab.planes[1].row(y), b = lab.planes[2].row(y)
            for x in 0..<w {
                let inPatch = (94..<106).contains(x) && (64..<72).contains(y)
                if inPatch {
                    (l[x], a[x], b[x]) = (45, 55, 35)
                } else {
                    // Weathered wood, grass and shadow: brown, olive and grey at every lightness.
                    let t = Float(x) / Float(w), u = Float(y) / Float(h)
                    (l[x], a[x], b[x]) = (20 + 65 * u, 10 * sin(9 * t) + 4, 16 + 14 * cos(7 * t + 3 * u))
                }
            }
        }
        let palette = ComicPalette(lab, count: 10, levels: 3, boost: 1, skinBoost: 1)
        let reddest = palette.hues.map(\.centreA).max() ?? 0
        #expect(reddest > 35, "the red patch lost its hue: the reddest colour has a* \(reddest)")
    }

    /// Pointillism paints its subject in finer dabs than the same detail elsewhere (blind
    /// rounds 95 and 97): with the photo's detail everywhere just below what earns the finest
    /// dabs, only the half of the picture that is subject gets them.
    @Test func pointillismPaintsTheSubjectInFinerDabs() {
        let w = 400, h = 300
        let image = PlanarImage(width: w, height: h, channels: 3, fill: 0.5)
        func plane(_ value: (Int) -> Float) -> ReducedPlane {
            let p = Plane(width: w, height: h)
            for y in 0..<h {
                let r = p.row(y)
                for x in 0..<w { r[x] = value(x) }
            }
            return ReducedPlane(reduced: p, factor: 1)
        }
        let grey = (0..<3).map { _ in plane { _ in 0.5 } }
        let threshold: Float = 0.05
        var lattice = DotLattice(pitch: 8, width: w, height: h, anchor: (0, 0))
        PointillismStyle.place(
            &lattice, layer: 2, size: (w, h), sharp: grey, broad: grey, gain: 1, ground: grey, detail: plane { _ in 0.6 * threshold },
            subject: plane { $0 < w / 2 ? 1 : 0 }, thresholds: [threshold, threshold], tone: PointillismStyle.Tone(image),
            anchor: (0, 0), palette: PointillismStyle.pigments, split: 0.3, seed: 7)
        let painted = lattice.dots.filter { $0.radius > 0 }
        let onSubject = painted.filter { $0.x < Float(w / 2) - 8 }.count, elsewhere = painted.filter { $0.x > Float(w / 2) + 8 }.count
        #expect(onSubject > 500 && elsewhere == 0, "finest dabs on the subject \(onSubject), elsewhere \(elsewhere)")
    }
}
