/// Where a `cover` crop sits on a photo taller than the paper.
///
/// A centred crop of a full-length portrait cuts the head off (blind round 14: every style of a
/// standing man in a suit lost his head, "head cropped" in every judge's note). The crop stays
/// centred unless that cuts the topmost face; then it moves up just far enough to keep the face
/// and some headroom. Faces are found as bands of skin-coloured rows: pure arithmetic on a row
/// profile, so the rule is testable without images.
enum CropPlacement {
    /// Space kept above a face, as a share of the crop's height.
    static let headroom = 0.06

    /// The top row of a crop `cropHeight` rows tall out of `height`.
    /// - Parameter skinRows: how skin-like each row of the whole photo is (0...1: the share of
    ///   the row that is skin), top to bottom, at any resolution.
    static func top(height: Int, cropHeight: Int, skinRows: [Float]) -> Int {
        let excess = height - cropHeight
        let centred = excess / 2
        guard excess > 0, let face = faceTop(skinRows) else { return centred }
        let faceRow = Int(face * Double(height))
        let wanted = faceRow - Int(headroom * Double(cropHeight))
        // Only ever up: a crop that already shows the face keeps its centre.
        return max(0, min(centred, wanted))
    }

    /// The top of the highest band of skin rows, as a share of the height; nil when no band
    /// stands out (no skin, or skin-like colour everywhere: sand, wood, a warm wall).
    static func faceTop(_ skinRows: [Float]) -> Double? {
        guard let strongest = skinRows.max(), strongest >= 0.05 else { return nil }
        let level = max(0.05, 0.35 * strongest)
        let skinny = skinRows.map { $0 >= level }
        guard skinny.filter({ $0 }).count * 2 < skinRows.count else { return nil }
        // The first run of at least two such rows (one row alone is a stray warm stripe).
        for i in 0..<(skinRows.count - 1) where skinny[i] && skinny[i + 1] {
            return Double(i) / Double(skinRows.count)
        }
        return nil
    }
}
