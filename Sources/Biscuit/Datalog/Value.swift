/// A value in the authorizer's world: a term with its strings interned in the authorizer's
/// symbol table (so comparing strings is comparing integers). Sets are sorted and unique, maps
/// sorted by key; neither holds variables.
enum Value: Hashable, Sendable {
    case integer(Int64)
    case string(UInt64)
    case date(UInt64)
    case bytes([UInt8])
    case bool(Bool)
    case set([Value])
    case null
    case array([Value])
    case map([MapPair])

    /// A set of `elements`, sorted and unique.
    static func makeSet(_ elements: [Value]) -> Value {
        .set(Array(Set(elements)).sorted())
    }

    /// The name `.type()` gives.
    var typeName: String {
        switch self {
        case .integer: return "integer"
        case .string: return "string"
        case .date: return "date"
        case .bytes: return "bytes"
        case .bool: return "bool"
        case .set: return "set"
        case .null: return "null"
        case .array: return "array"
        case .map: return "map"
        }
    }

    /// Whether two values are of the same kind.
    func isSameKind(as other: Value) -> Bool {
        switch (self, other) {
        case (.integer, .integer), (.string, .string), (.date, .date), (.bytes, .bytes), (.bool, .bool), (.set, .set), (.null, .null),
            (.array, .array), (.map, .map):
            return true
        default:
            return false
        }
    }
}

/// A map key and its value.
struct MapPair: Hashable, Sendable {
    var key: ValueKey
    var value: Value
}

/// A map key in the world: an integer or an interned string.
enum ValueKey: Hashable, Sendable, Comparable {
    case integer(Int64)
    case string(UInt64)

    static func < (left: ValueKey, right: ValueKey) -> Bool {
        switch (left, right) {
        case (.integer(let a), .integer(let b)): return a < b
        case (.string(let a), .string(let b)): return a < b
        case (.integer, .string): return true
        case (.string, .integer): return false
        }
    }
}

extension Value: Comparable {
    /// An order for keeping sets sorted (by kind, then value; strings by symbol index, as the
    /// reference keeps them).
    static func < (left: Value, right: Value) -> Bool {
        switch (left, right) {
        case (.integer(let a), .integer(let b)): return a < b
        case (.string(let a), .string(let b)): return a < b
        case (.date(let a), .date(let b)): return a < b
        case (.bytes(let a), .bytes(let b)): return a.lexicographicallyPrecedes(b)
        case (.bool(let a), .bool(let b)): return !a && b
        case (.set(let a), .set(let b)), (.array(let a), .array(let b)): return a.lexicographicallyPrecedes(b)
        case (.null, .null): return false
        case (.map(let a), .map(let b)):
            return a.lexicographicallyPrecedes(b) { x, y in x.key < y.key || (x.key == y.key && x.value < y.value) }
        default: return left.rank < right.rank
        }
    }

    private var rank: Int {
        switch self {
        case .integer: return 0
        case .string: return 1
        case .date: return 2
        case .bytes: return 3
        case .bool: return 4
        case .set: return 5
        case .null: return 6
        case .array: return 7
        case .map: return 8
        }
    }
}

/// The blocks a fact comes from, or a rule trusts: block ids 0...62 and the authorizer, as bits.
struct BlockSet: Hashable, Sendable {
    var bits: UInt64

    /// The authorizer's bit.
    static let authorizerBit: UInt64 = 1 << 63
    /// The authorizer alone.
    static let authorizer = BlockSet(bits: authorizerBit)
    /// No block.
    static let none = BlockSet(bits: 0)

    /// Block `id` alone (0 is the authority).
    static func block(_ id: Int) -> BlockSet {
        precondition(id >= 0 && id < Token.maxBlocks, "block id \(id) outside 0..<\(Token.maxBlocks)")
        return BlockSet(bits: 1 << UInt64(id))
    }

    /// Blocks 0 through `id`.
    static func upTo(_ id: Int) -> BlockSet {
        precondition(id >= 0 && id < Token.maxBlocks, "block id \(id) outside 0..<\(Token.maxBlocks)")
        return BlockSet(bits: (UInt64(1) << UInt64(id + 1)) - 1)
    }

    func union(_ other: BlockSet) -> BlockSet { BlockSet(bits: bits | other.bits) }

    /// Whether every block of `self` is in `other`.
    func isSubset(of other: BlockSet) -> Bool { bits & ~other.bits == 0 }

    /// The block ids in order, the authorizer as nil (last).
    var members: [Int?] {
        var ids: [Int?] = (0..<63).filter { bits & (1 << UInt64($0)) != 0 }
        if bits & Self.authorizerBit != 0 { ids.append(nil) }
        return ids
    }
}
