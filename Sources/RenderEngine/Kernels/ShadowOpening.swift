import Foundation

/// A draughtsman's answer to a dark subject (a black dog on a lawn, a dark coat): large dark
/// shapes are raised towards a mid-dark value with their own variation amplified, so their
/// form survives stylisation instead of printing as one flat blob. The order of values is
/// kept (a darker shape stays darker), the full dark is left to the deepest shadows inside
/// them, and the base is edge-aware, so a dark shape's border gets no halo.
enum ShadowOpening {
    /// The opened lightness of a grey plane (0...1).
    static func opened(_ grey: Plane) -> Plane {
        let short = Double(min(grey.width, grey.height))
        let base = DomainTransform.smooth(PlanarImage(planes: [grey]), sigmaSpatial: max(2, 0.05 * short), sigmaRange: 0.15).planes[0]
        return PlaneMath.combine(grey, base) { l, m in
            let weight = smoothstep(0.38, 0.12, m)
            // Dark bases compressed upwards (0 → 0.18, 0.38 stays), detail amplified.
            let opened = 0.18 + 0.53 * m + 1.6 * (l - m)
            return max(0, l + weight * (opened - l))
        }
    }
}
