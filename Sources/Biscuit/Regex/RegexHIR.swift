/// What a pattern means, with flags applied: Rust's `regex_syntax::hir::Hir`, built with the
/// same simplifying constructors (adjacent literals merge, `x{1}` is `x`, an alternation of
/// single characters is a class, common prefixes of alternatives are lifted out, ...).
///
/// Matching needs less than this (captures and greediness do not change whether a text
/// matches), but the reference's compiled size limit is measured on this exact shape, and
/// `ReferenceSizeEstimate` replays that measurement.
struct RegexHIR: Sendable, Equatable {
    /// The node.
    let kind: Kind
    /// The fewest bytes (UTF-8) a match consumes; nil if the expression never matches.
    let minimumLength: Int?
    /// The most bytes a match consumes; nil if unbounded or if it never matches.
    let maximumLength: Int?
    /// Whether every match starts with `\A` (Rust: the look-set prefix contains `Start`).
    let isAnchoredAtStart: Bool
    /// Whether every match ends with `\z` (Rust: the look-set suffix contains `End`).
    let isAnchoredAtEnd: Bool

    /// The kinds of node (Rust's `HirKind`).
    indirect enum Kind: Sendable {
        /// Matches the empty string.
        case empty
        /// Matches these UTF-8 bytes (never empty; always whole characters here).
        case literal([UInt8])
        /// Matches one character of the set (a `ClassUnicode`).
        case unicodeClass(ScalarSet)
        /// Matches one byte of the set (a `ClassBytes`, from Unicode mode off); always ASCII
        /// here, since string regexes reject the rest. The empty byte class is Rust's `fail`.
        case byteClass(ScalarSet)
        /// A zero-width assertion.
        case look(RegexLook)
        /// A repetition.
        case repetition(minimum: UInt32, maximum: UInt32?, greedy: Bool, sub: RegexHIR)
        /// A capture group; `index` counts opening parentheses of capturing groups from 1.
        case capture(index: Int, sub: RegexHIR)
        /// Two or more nodes in sequence.
        case concat([RegexHIR])
        /// Two or more branches.
        case alternation([RegexHIR])
    }

    /// Nodes are equal when their trees are (the properties follow from the kind), as Rust's
    /// derived `PartialEq` decides; compared with a heap stack, since trees nest deeply.
    static func == (lhs: RegexHIR, rhs: RegexHIR) -> Bool {
        var pairs = [(lhs, rhs)]
        while let (left, right) = pairs.popLast() {
            switch (left.kind, right.kind) {
            case (.empty, .empty):
                continue
            case (.literal(let a), .literal(let b)):
                if a != b { return false }
            case (.unicodeClass(let a), .unicodeClass(let b)), (.byteClass(let a), .byteClass(let b)):
                if a != b { return false }
            case (.look(let a), .look(let b)):
                if a != b { return false }
            case (.repetition(let minimumA, let maximumA, let greedyA, let subA),
                .repetition(let minimumB, let maximumB, let greedyB, let subB)):
                if minimumA != minimumB || maximumA != maximumB || greedyA != greedyB { return false }
                pairs.append((subA, subB))
            case (.capture(let indexA, let subA), .capture(let indexB, let subB)):
                if indexA != indexB { return false }
                pairs.append((subA, subB))
            case (.concat(let a), .concat(let b)), (.alternation(let a), .alternation(let b)):
                if a.count != b.count { return false }
                pairs += zip(a, b)
            default:
                return false
            }
        }
        return true
    }

    // MARK: - Constructors (Rust's `Hir::empty`, `Hir::literal`, ...)

    /// Matches the empty string.
    static let empty = RegexHIR(kind: .empty, minimumLength: 0, maximumLength: 0, start: false, end: false)

    /// Never matches (an empty byte class).
    static let fail = RegexHIR(kind: .byteClass(ScalarSet()), minimumLength: nil, maximumLength: nil, start: false, end: false)

    /// A literal; empty bytes give `empty`.
    static func literal(_ bytes: [UInt8]) -> RegexHIR {
        if bytes.isEmpty { return .empty }
        return RegexHIR(kind: .literal(bytes), minimumLength: bytes.count, maximumLength: bytes.count, start: false, end: false)
    }

    /// One character.
    static func character(_ scalar: Unicode.Scalar) -> RegexHIR {
        literal(Array(String(Character(scalar)).utf8))
    }

    /// A class: `fail` when empty, a literal when it has one member.
    static func unicodeClass(_ set: ScalarSet) -> RegexHIR {
        if set.isEmpty { return .fail }
        let ranges = set.bounds
        if ranges.count == 2, ranges[0] == ranges[1], let scalar = Unicode.Scalar(ranges[0]) {
            return .character(scalar)
        }
        return RegexHIR(
            kind: .unicodeClass(set), minimumLength: utf8Length(ranges[0]), maximumLength: utf8Length(ranges[ranges.count - 1]),
            start: false, end: false)
    }

    /// A byte class (Unicode mode off): `fail` when empty, a literal when it has one member.
    static func byteClass(_ set: ScalarSet) -> RegexHIR {
        precondition(set.isASCII, "a byte class of a string regex is ASCII")
        if set.isEmpty { return .fail }
        let ranges = set.bounds
        if ranges.count == 2, ranges[0] == ranges[1] { return .literal([UInt8(ranges[0])]) }
        return RegexHIR(kind: .byteClass(set), minimumLength: 1, maximumLength: 1, start: false, end: false)
    }

    /// An assertion.
    static func look(_ look: RegexLook) -> RegexHIR {
        RegexHIR(kind: .look(look), minimumLength: 0, maximumLength: 0, start: look == .start, end: look == .end)
    }

    /// A repetition, simplified as Rust's `Hir::repetition` does: a sub-expression that can
    /// only match the empty string is repeated at most once, `x{0}` is empty, `x{1}` is `x`.
    static func repetition(_ sub: RegexHIR, minimum: UInt32, maximum: UInt32?, greedy: Bool) -> RegexHIR {
        var minimum = minimum
        var maximum = maximum
        if sub.maximumLength == 0 {
            minimum = min(minimum, 1)
            maximum = min(maximum ?? 1, 1)
        }
        if minimum == 0, maximum == 0 { return .empty }
        if minimum == 1, maximum == 1 { return sub }
        let minimumLength = sub.minimumLength.map { length -> Int in
            let (product, overflow) = length.multipliedReportingOverflow(by: Int(minimum))
            return overflow ? Int.max : product
        }
        var maximumLength: Int?
        if let maximum, let length = sub.maximumLength {
            let (product, overflow) = length.multipliedReportingOverflow(by: Int(maximum))
            maximumLength = overflow ? nil : product
        }
        return RegexHIR(
            kind: .repetition(minimum: minimum, maximum: maximum, greedy: greedy, sub: sub),
            minimumLength: minimumLength, maximumLength: maximumLength,
            start: minimum > 0 && sub.isAnchoredAtStart, end: minimum > 0 && sub.isAnchoredAtEnd)
    }

    /// A capture group.
    static func capture(index: Int, _ sub: RegexHIR) -> RegexHIR {
        RegexHIR(
            kind: .capture(index: index, sub: sub), minimumLength: sub.minimumLength, maximumLength: sub.maximumLength,
            start: sub.isAnchoredAtStart, end: sub.isAnchoredAtEnd)
    }

    /// A concatenation, as Rust's `Hir::concat` builds it: nested concatenations are flattened,
    /// empties dropped, adjacent literals merged; zero items give `empty`, one gives itself.
    static func concat(_ subs: [RegexHIR]) -> RegexHIR {
        var items: [RegexHIR] = []
        var pendingLiteral: [UInt8]?
        func take(_ sub: RegexHIR) {
            switch sub.kind {
            case .literal(let bytes):
                if pendingLiteral == nil { pendingLiteral = bytes } else { pendingLiteral?.append(contentsOf: bytes) }
            case .empty:
                break
            default:
                if let bytes = pendingLiteral {
                    items.append(.literal(bytes))
                    pendingLiteral = nil
                }
                items.append(sub)
            }
        }
        for sub in subs {
            if case .concat(let inner) = sub.kind {
                for item in inner {
                    // Rust flattens one level and keeps an inner empty (there is none: inner
                    // concatenations were built here and dropped theirs).
                    take(item)
                }
            } else {
                take(sub)
            }
        }
        if let bytes = pendingLiteral { items.append(.literal(bytes)) }
        if items.isEmpty { return .empty }
        if items.count == 1 { return items[0] }
        return concatenationNode(items)
    }

    /// An alternation, as Rust's `Hir::alternation` builds it: nested alternations are
    /// flattened; single characters or classes become one class; a common prefix of
    /// concatenations is lifted out.
    static func alternation(_ subs: [RegexHIR]) -> RegexHIR {
        var branches: [RegexHIR] = []
        for sub in subs {
            if case .alternation(let inner) = sub.kind { branches += inner } else { branches.append(sub) }
        }
        if branches.isEmpty { return .fail }
        if branches.count == 1 { return branches[0] }
        if let merged = mergedClass(branches) { return merged }
        if let lifted = liftCommonPrefix(branches) { return lifted }
        return alternationNode(branches)
    }

    // MARK: - Private helpers

    /// A node with its properties; the static constructors compute them.
    private init(kind: Kind, minimumLength: Int?, maximumLength: Int?, start: Bool, end: Bool) {
        self.kind = kind
        self.minimumLength = minimumLength
        self.maximumLength = maximumLength
        self.isAnchoredAtStart = start
        self.isAnchoredAtEnd = end
    }

    /// The UTF-8 length of a scalar value.
    private static func utf8Length(_ value: UInt32) -> Int {
        value < 0x80 ? 1 : value < 0x800 ? 2 : value < 0x10000 ? 3 : 4
    }

    /// A concatenation node with Rust's `Properties::concat`.
    private static func concatenationNode(_ items: [RegexHIR]) -> RegexHIR {
        var minimum: Int? = 0
        var maximum: Int? = 0
        for item in items {
            if let total = minimum { minimum = item.minimumLength.map { total.addingReportingOverflow($0).overflow ? Int.max : total + $0 } }
            if let total = maximum, let length = item.maximumLength {
                let (sum, overflow) = total.addingReportingOverflow(length)
                maximum = overflow ? nil : sum
            } else {
                maximum = nil
            }
        }
        // Rust: the look-set prefix is the union of the prefixes of the leading items up to and
        // including the first that can consume input; likewise for the suffix from the end.
        var start = false
        for item in items {
            start = start || item.isAnchoredAtStart
            if item.maximumLength.map({ $0 > 0 }) ?? true { break }
        }
        var end = false
        for item in items.reversed() {
            end = end || item.isAnchoredAtEnd
            if item.maximumLength.map({ $0 > 0 }) ?? true { break }
        }
        return RegexHIR(kind: .concat(items), minimumLength: minimum, maximumLength: maximum, start: start, end: end)
    }

    /// An alternation node with Rust's `Properties::union`.
    private static func alternationNode(_ branches: [RegexHIR]) -> RegexHIR {
        // Rust's `Properties::union`: lengths poisoned by any branch that never matches.
        var minimum: Int?
        var maximum: Int?
        var minimumPoisoned = false
        var maximumPoisoned = false
        for branch in branches {
            if !minimumPoisoned {
                if let length = branch.minimumLength { minimum = min(minimum ?? length, length) } else {
                    minimum = nil
                    minimumPoisoned = true
                }
            }
            if !maximumPoisoned {
                if let length = branch.maximumLength { maximum = max(maximum ?? length, length) } else {
                    maximum = nil
                    maximumPoisoned = true
                }
            }
        }
        return RegexHIR(
            kind: .alternation(branches), minimumLength: minimum, maximumLength: maximum,
            start: branches.allSatisfy(\.isAnchoredAtStart), end: branches.allSatisfy(\.isAnchoredAtEnd))
    }

    /// Rust's `singleton_chars`, `singleton_bytes`, `class_chars` and `class_bytes`, in order.
    private static func mergedClass(_ branches: [RegexHIR]) -> RegexHIR? {
        var singles: [UInt32] = []
        var allSingleCharacters = true
        var allSingleBytes = true
        for branch in branches {
            guard case .literal(let bytes) = branch.kind else {
                allSingleCharacters = false
                allSingleBytes = false
                break
            }
            let decoded = String(decoding: bytes, as: UTF8.self).unicodeScalars
            if decoded.count != 1 { allSingleCharacters = false }
            if bytes.count != 1 { allSingleBytes = false }
            if let first = decoded.first { singles.append(first.value) }
        }
        if allSingleCharacters {
            return .unicodeClass(ScalarSet(ranges: singles.map { $0...$0 }))
        }
        if allSingleBytes {
            return .byteClass(ScalarSet(ranges: singles.map { $0...$0 }))
        }
        // class_chars: every branch a class (byte classes are ASCII here, so they convert).
        var union = ScalarSet()
        for branch in branches {
            switch branch.kind {
            case .unicodeClass(let set), .byteClass(let set): union.formUnion(set)
            default: return nil
            }
        }
        return .unicodeClass(union)
    }

    /// Rust's `lift_common_prefix`: `ab|ac` becomes `a(?:b|c)` when every branch is a
    /// concatenation and they share leading items.
    private static func liftCommonPrefix(_ branches: [RegexHIR]) -> RegexHIR? {
        guard case .concat(let first) = branches[0].kind, !first.isEmpty else { return nil }
        var prefixLength = first.count
        for branch in branches.dropFirst() {
            guard case .concat(let items) = branch.kind else { return nil }
            var common = 0
            while common < min(prefixLength, items.count), items[common] == first[common] { common += 1 }
            prefixLength = common
            if prefixLength == 0 { return nil }
        }
        var suffixes: [RegexHIR] = []
        for branch in branches {
            guard case .concat(let items) = branch.kind else { return nil }
            suffixes.append(.concat(Array(items[prefixLength...])))
        }
        return .concat(Array(first[..<prefixLength]) + [.alternation(suffixes)])
    }
}

/// The zero-width assertions of the compiled program (Rust's `regex_automata::util::look::Look`).
enum RegexLook: UInt8, Hashable, Sendable {
    /// `\A`, and `^` without `m`.
    case start
    /// `\z`, and `$` without `m`.
    case end
    /// `(?m:^)`: start of text or after `\n`.
    case startLF
    /// `(?m:$)`: end of text or before `\n`.
    case endLF
    /// `(?mR:^)`: start of text, after `\n`, or after `\r` not followed by `\n`.
    case startCRLF
    /// `(?mR:$)`: end of text, before `\r`, or before `\n` not preceded by `\r`.
    case endCRLF
    /// `(?-u:\b)`.
    case wordASCII
    /// `(?-u:\B)`.
    case wordASCIINegate
    /// `\b`.
    case wordUnicode
    /// `\B`.
    case wordUnicodeNegate
    /// `(?-u:\b{start})`.
    case wordStartASCII
    /// `(?-u:\b{end})`.
    case wordEndASCII
    /// `\b{start}`, `\<`.
    case wordStartUnicode
    /// `\b{end}`, `\>`.
    case wordEndUnicode
    /// `(?-u:\b{start-half})`.
    case wordStartHalfASCII
    /// `(?-u:\b{end-half})`.
    case wordEndHalfASCII
    /// `\b{start-half}`.
    case wordStartHalfUnicode
    /// `\b{end-half}`.
    case wordEndHalfUnicode
}
