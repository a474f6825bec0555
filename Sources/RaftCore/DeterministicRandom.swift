/// A small, seeded pseudo-random generator (SplitMix64). The instance draws its randomized
/// election timeouts from it, so a seed fixes every decision it makes.
public struct DeterministicRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// Creates a generator.
    /// - Parameter seed: any value; equal seeds give equal sequences.
    public init(seed: UInt64) {
        state = seed
    }

    /// Returns the next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Returns a value in `0..<upperBound` (slightly biased for huge bounds, which is harmless
    /// for timeouts and simulation choices).
    public mutating func below(_ upperBound: Int) -> Int {
        precondition(upperBound > 0, "upper bound must be positive, got \(upperBound)")
        return Int(next() % UInt64(upperBound))
    }

    /// Returns true with probability `percent`/100.
    public mutating func chance(percent: Int) -> Bool {
        below(100) < percent
    }
}
