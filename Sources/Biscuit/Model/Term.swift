/// A value of the Datalog language as a person writes it: strings are strings (the token's
/// symbol tables are a matter of the encoding), and variables and parameters are names.
///
/// Sets and maps are kept normalized: made with `Term.set(_:)` and `Term.map(_:)`, their
/// elements are sorted in the reference's order of written terms and unique, so that equal sets
/// are equal values and print the same way; decoded from a token, they keep the token's order
/// (the reference's order of stored terms: strings by symbol index), so that a block prints as
/// the reference prints it.
public indirect enum Term: Sendable {
    /// `$name`: bound by a rule's body.
    case variable(String)
    /// A 64-bit signed integer.
    case integer(Int64)
    /// A string.
    case string(String)
    /// A date: seconds since 1970-01-01T00:00:00Z.
    case date(UInt64)
    /// Bytes, written `hex:...`.
    case bytes([UInt8])
    /// `true` or `false`.
    case bool(Bool)
    /// A set of terms (no variables, no sets), sorted and unique: make it with `Term.set(_:)`.
    case setValue([Term])
    /// `{name}`: a value given when the code is added.
    case parameter(String)
    /// `null` (block version 6).
    case null
    /// An ordered array (block version 6).
    case array([Term])
    /// A map from integers or strings to terms, sorted by key and unique: make it with
    /// `Term.map(_:)` (block version 6).
    case mapValue([MapEntry])

    /// A set of `elements`, sorted and without duplicates.
    public static func set(_ elements: some Sequence<Term>) -> Term {
        .setValue(Array(Set(elements)).sorted())
    }

    /// A map of `entries`, sorted by key; for a key given twice the last value wins.
    public static func map(_ entries: some Sequence<MapEntry>) -> Term {
        var byKey: [MapKey: Term] = [:]
        for entry in entries { byKey[entry.key] = entry.value }
        return .mapValue(byKey.map { MapEntry(key: $0.key, value: $0.value) }.sorted { $0.key < $1.key })
    }

    /// Whether the term holds a variable, at any depth.
    public var containsVariable: Bool {
        switch self {
        case .variable: return true
        case .setValue(let elements), .array(let elements): return elements.contains { $0.containsVariable }
        case .mapValue(let entries): return entries.contains { $0.value.containsVariable }
        case .integer, .string, .date, .bytes, .bool, .parameter, .null: return false
        }
    }
}

/// One entry of a map term.
public struct MapEntry: Hashable, Sendable {
    /// The key.
    public var key: MapKey
    /// The value.
    public var value: Term

    /// Creates an entry.
    public init(key: MapKey, value: Term) {
        self.key = key
        self.value = value
    }
}

/// The key of a map term: an integer or a string (or a parameter giving one).
public enum MapKey: Sendable, Comparable {
    /// An integer key.
    case integer(Int64)
    /// A string key.
    case string(String)
    /// `{name}`: a key given when the code is added.
    case parameter(String)

    public static func < (left: MapKey, right: MapKey) -> Bool {
        switch (left, right) {
        case (.integer(let a), .integer(let b)): return a < b
        case (.string(let a), .string(let b)): return ExactText.precedes(a, b)
        case (.parameter(let a), .parameter(let b)): return ExactText.precedes(a, b)
        default: return left.rank < right.rank
        }
    }

    private var rank: Int {
        switch self {
        case .integer: return 0
        case .string: return 1
        case .parameter: return 2
        }
    }
}

extension Term: Comparable {
    /// The reference implementation's order of terms: by kind (variable, integer, string, date,
    /// bytes, bool, set, parameter, null, array, map), then by value; sets, arrays and maps
    /// lexicographically. Sets and maps are kept in this order, and print in it.
    public static func < (left: Term, right: Term) -> Bool {
        switch (left, right) {
        case (.variable(let a), .variable(let b)): return ExactText.precedes(a, b)
        case (.integer(let a), .integer(let b)): return a < b
        case (.string(let a), .string(let b)): return ExactText.precedes(a, b)
        case (.date(let a), .date(let b)): return a < b
        case (.bytes(let a), .bytes(let b)): return a.lexicographicallyPrecedes(b)
        case (.bool(let a), .bool(let b)): return !a && b
        case (.setValue(let a), .setValue(let b)), (.array(let a), .array(let b)): return a.lexicographicallyPrecedes(b)
        case (.parameter(let a), .parameter(let b)): return ExactText.precedes(a, b)
        case (.null, .null): return false
        case (.mapValue(let a), .mapValue(let b)):
            return a.lexicographicallyPrecedes(b) { x, y in x.key < y.key || (x.key == y.key && x.value < y.value) }
        default: return left.rank < right.rank
        }
    }

    private var rank: Int {
        switch self {
        case .variable: return 0
        case .integer: return 1
        case .string: return 2
        case .date: return 3
        case .bytes: return 4
        case .bool: return 5
        case .setValue: return 6
        case .parameter: return 7
        case .null: return 8
        case .array: return 9
        case .mapValue: return 10
        }
    }
}

// Strings compare by their UTF-8 bytes, as in the reference: Swift's `String ==` treats
// canonically equivalent strings ("é" and "e" + U+0301) as equal, which would let a fact about
// one match a check about the other.

/// Byte-wise comparisons of strings.
enum ExactText {
    /// Whether `a` and `b` have the same UTF-8 bytes.
    static func equal(_ a: String, _ b: String) -> Bool {
        guard a.utf8.count == b.utf8.count else { return false }
        // Native strings are contiguous: compare the buffers; others byte by byte.
        let fast: Bool?? = a.utf8.withContiguousStorageIfAvailable { left in
            b.utf8.withContiguousStorageIfAvailable { right in
                UnsafeRawBufferPointer(left).elementsEqual(UnsafeRawBufferPointer(right))
            }
        }
        if let fast = fast ?? nil { return fast }
        return a.utf8.elementsEqual(b.utf8)
    }

    /// Whether `a`'s UTF-8 bytes come before `b`'s.
    static func precedes(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }

    /// Feeds `text`'s UTF-8 bytes to `hasher`.
    static func hash(_ text: String, into hasher: inout Hasher) {
        hasher.combine(text.utf8.count)
        let done: Void? = text.utf8.withContiguousStorageIfAvailable { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        if done == nil { for byte in text.utf8 { hasher.combine(byte) } }
    }
}

extension Term: Hashable {
    public static func == (left: Term, right: Term) -> Bool {
        switch (left, right) {
        case (.variable(let a), .variable(let b)), (.string(let a), .string(let b)), (.parameter(let a), .parameter(let b)):
            return ExactText.equal(a, b)
        case (.integer(let a), .integer(let b)): return a == b
        case (.date(let a), .date(let b)): return a == b
        case (.bytes(let a), .bytes(let b)): return a == b
        case (.bool(let a), .bool(let b)): return a == b
        case (.null, .null): return true
        case (.setValue(let a), .setValue(let b)), (.array(let a), .array(let b)): return a == b
        case (.mapValue(let a), .mapValue(let b)): return a == b
        default: return false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .variable(let text): hasher.combine(0); ExactText.hash(text, into: &hasher)
        case .integer(let value): hasher.combine(1); hasher.combine(value)
        case .string(let text): hasher.combine(2); ExactText.hash(text, into: &hasher)
        case .date(let value): hasher.combine(3); hasher.combine(value)
        case .bytes(let value): hasher.combine(4); hasher.combine(value)
        case .bool(let value): hasher.combine(5); hasher.combine(value)
        case .setValue(let elements): hasher.combine(6); hasher.combine(elements)
        case .parameter(let text): hasher.combine(7); ExactText.hash(text, into: &hasher)
        case .null: hasher.combine(8)
        case .array(let elements): hasher.combine(9); hasher.combine(elements)
        case .mapValue(let entries): hasher.combine(10); hasher.combine(entries)
        }
    }
}

extension MapKey: Hashable {
    public static func == (left: MapKey, right: MapKey) -> Bool {
        switch (left, right) {
        case (.integer(let a), .integer(let b)): return a == b
        case (.string(let a), .string(let b)), (.parameter(let a), .parameter(let b)): return ExactText.equal(a, b)
        default: return false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .integer(let value): hasher.combine(0); hasher.combine(value)
        case .string(let text): hasher.combine(1); ExactText.hash(text, into: &hasher)
        case .parameter(let text): hasher.combine(2); ExactText.hash(text, into: &hasher)
        }
    }
}
