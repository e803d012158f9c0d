import Foundation

/// Clean-up of a label map for the comic's flat colour: connected regions smaller than a
/// minimum area take the label that surrounds them (a cartoonist does not paint specks).
enum CelRegions {
    /// Relabels, in place, every 4-connected region of `labels` smaller than its minimum area
    /// (`minimumArea` of the region's first pixel, in pixels) with the label most common along
    /// its border. Regions are visited smallest first, so specks inside specks merge outwards.
    /// A region up to `blendArea` times larger also merges when `alike(own, surrounding)`: a
    /// patch barely different from what surrounds it is shading noise (the "camouflage" of
    /// posterised fur and feathers), while a small shape that stands out (a star on a flag,
    /// a catchlight) is kept. Returns a mask of the pixels whose label changed.
    static func removeIslands(
        _ labels: UnsafeMutableBufferPointer<Int32>, width w: Int, height h: Int, minimumArea: (Int) -> Int,
        blendArea: Int = 1, alike: (Int32, Int32) -> Bool = { _, _ in false }
    ) -> [Bool] {
        let n = w * h
        var component = [Int32](repeating: -1, count: n)
        // Pixels grouped by component, in flood order; `starts[c]` indexes into `order`.
        var order = [Int32](repeating: 0, count: n)
        var starts: [Int] = []
        var queue = 0, filled = 0
        for seed in 0..<n where component[seed] < 0 {
            let id = Int32(starts.count)
            starts.append(filled)
            let label = labels[seed]
            component[seed] = id
            order[filled] = Int32(seed)
            filled += 1
            queue = starts[Int(id)]
            while queue < filled {
                let p = Int(order[queue])
                queue += 1
                forNeighbours(p, width: w, height: h) { q in
                    if component[q] < 0 && labels[q] == label {
                        component[q] = id
                        order[filled] = Int32(q)
                        filled += 1
                    }
                }
            }
        }
        starts.append(n)
        let count = starts.count - 1
        var small: [Int] = []
        var tiny = Set<Int>()
        for c in 0..<count {
            let area = starts[c + 1] - starts[c], minimum = minimumArea(Int(order[starts[c]]))
            if area < minimum { tiny.insert(c) }
            if area < minimum * blendArea { small.append(c) }
        }
        small.sort { (starts[$0 + 1] - starts[$0], $0) < (starts[$1 + 1] - starts[$1], $1) }
        var changed = [Bool](repeating: false, count: n)
        var votes: [Int32: Int] = [:]
        for c in small {
            votes.removeAll(keepingCapacity: true)
            let own = labels[Int(order[starts[c]])]
            for i in starts[c]..<starts[c + 1] {
                forNeighbours(Int(order[i]), width: w, height: h) { q in
                    let other = labels[q]
                    if other != own { votes[other, default: 0] += 1 }
                }
            }
            guard let winner = votes.max(by: { ($0.value, -$0.key) < ($1.value, -$1.key) })?.key,
                tiny.contains(c) || alike(own, winner)
            else { continue }
            for i in starts[c]..<starts[c + 1] {
                let p = Int(order[i])
                labels[p] = winner
                changed[p] = true
            }
        }
        return changed
    }

    /// Calls `body` with the index of each 4-neighbour of pixel `p` inside the image.
    @inline(__always) private static func forNeighbours(_ p: Int, width w: Int, height h: Int, _ body: (Int) -> Void) {
        let x = p % w
        if x + 1 < w { body(p + 1) }
        if x > 0 { body(p - 1) }
        if p + w < w * h { body(p + w) }
        if p >= w { body(p - w) }
    }
}
