/// A set of Unicode scalar values, kept as sorted, disjoint, non-adjacent closed ranges: the
/// character classes of the regex engine (`[a-z]`, `\w`, `\p{Greek}`, `.`).
///
/// Surrogate code points (U+D800...U+DFFF) are never members: a range may span them, as Rust's
/// `ClassUnicode` does, but no `Unicode.Scalar` can be one, so they are never tested.
struct ScalarSet: Hashable, Sendable {
    /// The ranges as flattened pairs `[start0, end0, start1, end1, ...]`.
    // Invariant: starts and ends alternate, each start <= its end, and each end + 1 < the
    // next start (sorted, disjoint, not adjacent).
    private(set) var bounds: [UInt32]

    /// The largest Unicode scalar value.
    static let maxScalar: UInt32 = 0x10_FFFF

    /// The empty set (a class that matches nothing, such as `[a&&b]`).
    init() {
        bounds = []
    }

    /// Creates a set from ranges in any order, overlapping or not.
    ///
    /// - Parameter ranges: closed ranges of scalar values; each `lowerBound <= upperBound`.
    init(ranges: [ClosedRange<UInt32>]) {
        var set = ScalarSet()
        set.bounds = Self.canonical(ranges.map { ($0.lowerBound, $0.upperBound) })
        self = set
    }

    /// Creates a set of one range.
    init(_ lower: UInt32, _ upper: UInt32) {
        precondition(lower <= upper, "ScalarSet range \(lower)...\(upper) is reversed")
        bounds = [lower, upper]
    }

    // MARK: - Queries

    /// The number of ranges.
    var rangeCount: Int { bounds.count / 2 }

    /// Whether no scalar is a member.
    var isEmpty: Bool { bounds.isEmpty }

    /// Whether every member is ASCII (the empty set is).
    var isASCII: Bool { bounds.last.map { $0 <= 0x7F } ?? true }

    /// The ranges, in order.
    var ranges: [ClosedRange<UInt32>] {
        stride(from: 0, to: bounds.count, by: 2).map { bounds[$0]...bounds[$0 + 1] }
    }

    /// Whether `value` is a member; a binary search over the ranges.
    func contains(_ value: UInt32) -> Bool {
        var low = 0
        var high = rangeCount
        while low < high {
            let middle = (low + high) / 2
            if value < bounds[2 * middle] {
                high = middle
            } else if value > bounds[2 * middle + 1] {
                low = middle + 1
            } else {
                return true
            }
        }
        return false
    }

    // MARK: - Set operations

    /// Adds every member of `other`.
    mutating func formUnion(_ other: ScalarSet) {
        if other.isEmpty { return }
        if isEmpty {
            bounds = other.bounds
            return
        }
        var pairs: [(UInt32, UInt32)] = []
        pairs.reserveCapacity(rangeCount + other.rangeCount)
        for index in stride(from: 0, to: bounds.count, by: 2) { pairs.append((bounds[index], bounds[index + 1])) }
        for index in stride(from: 0, to: other.bounds.count, by: 2) {
            pairs.append((other.bounds[index], other.bounds[index + 1]))
        }
        bounds = Self.canonical(pairs)
    }

    /// Replaces the set by its complement within U+0000...U+10FFFF.
    mutating func negate() {
        var result: [UInt32] = []
        result.reserveCapacity(bounds.count + 2)
        var next: UInt32 = 0
        var reachedEnd = false
        for index in stride(from: 0, to: bounds.count, by: 2) {
            let start = bounds[index]
            let end = bounds[index + 1]
            if start > next { result.append(contentsOf: [next, start - 1]) }
            if end == Self.maxScalar {
                reachedEnd = true
                break
            }
            next = end + 1
        }
        if !reachedEnd { result.append(contentsOf: [next, Self.maxScalar]) }
        bounds = result
    }

    /// Keeps only the members that are also in `other`.
    mutating func formIntersection(_ other: ScalarSet) {
        var result: [UInt32] = []
        var left = 0
        var right = 0
        while left < bounds.count, right < other.bounds.count {
            let start = max(bounds[left], other.bounds[right])
            let end = min(bounds[left + 1], other.bounds[right + 1])
            if start <= end { result.append(contentsOf: [start, end]) }
            if bounds[left + 1] < other.bounds[right + 1] { left += 2 } else { right += 2 }
        }
        bounds = result
    }

    /// Removes the members of `other`.
    mutating func subtract(_ other: ScalarSet) {
        var complement = other
        complement.negate()
        formIntersection(complement)
    }

    /// Keeps the members of exactly one of the two sets.
    mutating func formSymmetricDifference(_ other: ScalarSet) {
        var both = self
        both.formIntersection(other)
        formUnion(other)
        subtract(both)
    }

    /// Adds, for every member, the scalars equivalent to it under Unicode simple case folding
    /// (Rust's `ClassUnicode::case_fold_simple`; `k` adds `K` and U+212A KELVIN SIGN).
    mutating func formSimpleCaseFold() {
        let folding = RegexUnicode.tables.caseFolding
        var added: [(UInt32, UInt32)] = []
        for index in stride(from: 0, to: bounds.count, by: 2) {
            let start = bounds[index]
            let end = bounds[index + 1]
            var entry = folding.firstKey(atLeast: start)
            while entry < folding.keys.count, folding.keys[entry] <= end {
                for other in folding.equivalents(ofEntry: entry) { added.append((other, other)) }
                entry += 1
            }
        }
        if added.isEmpty { return }
        for index in stride(from: 0, to: bounds.count, by: 2) { added.append((bounds[index], bounds[index + 1])) }
        bounds = Self.canonical(added)
    }

    /// Adds, for every ASCII letter member, the letter of the other case (Rust's
    /// `ClassBytes::case_fold_simple`, used when Unicode mode is off).
    mutating func formASCIICaseFold() {
        var added: [(UInt32, UInt32)] = []
        for index in stride(from: 0, to: bounds.count, by: 2) {
            let start = bounds[index]
            let end = bounds[index + 1]
            // Lowercase letters a-z (0x61...0x7A) gain A-Z, and the other way round.
            let lowerStart = max(start, 0x61)
            let lowerEnd = min(end, 0x7A)
            if lowerStart <= lowerEnd { added.append((lowerStart - 0x20, lowerEnd - 0x20)) }
            let upperStart = max(start, 0x41)
            let upperEnd = min(end, 0x5A)
            if upperStart <= upperEnd { added.append((upperStart + 0x20, upperEnd + 0x20)) }
        }
        if added.isEmpty { return }
        for index in stride(from: 0, to: bounds.count, by: 2) { added.append((bounds[index], bounds[index + 1])) }
        bounds = Self.canonical(added)
    }

    // MARK: - Private helpers

    /// Sorts and merges ranges into the canonical flattened form.
    private static func canonical(_ pairs: [(UInt32, UInt32)]) -> [UInt32] {
        let sorted = pairs.sorted { $0.0 < $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }
        var result: [UInt32] = []
        result.reserveCapacity(sorted.count * 2)
        for (start, end) in sorted {
            precondition(start <= end && end <= maxScalar, "ScalarSet range \(start)...\(end) is invalid")
            if let lastEnd = result.last, start <= lastEnd + 1 {
                if end > lastEnd { result[result.count - 1] = end }
            } else {
                result.append(contentsOf: [start, end])
            }
        }
        return result
    }
}
