import Foundation

/// Exponential backoff with jitter, capped: the wait before retry `n` is `base`·2ⁿ⁻¹, at most
/// `cap`, times a random factor in 0.5…1 so that clients failing together do not retry together.
public struct Backoff: Sendable {
    public var base: Duration
    public var cap: Duration

    public init(base: Duration, cap: Duration) {
        self.base = base
        self.cap = cap
    }

    public func delay(attempt: Int) -> Duration {
        let doubled = base.seconds * pow(2, Double(max(0, attempt - 1)))
        return .milliseconds(Int(min(cap.seconds, doubled) * Double.random(in: 0.5...1.0) * 1000))
    }
}
