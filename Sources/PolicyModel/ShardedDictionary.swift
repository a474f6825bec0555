/// A key that names its shard cheaply: `shardingBits` are a few bits that differ between keys
/// (the key's full hash would cost as much again as the lookup it chooses a shard for).
protocol ShardingKey: Hashable {
    /// Bits that differ between keys; `ShardedDictionary` mixes them into a shard number.
    var shardingBits: UInt64 { get }
}

extension EntityID: ShardingKey {
    var shardingBits: UInt64 { high ^ low }
}

extension PrincipalReference: ShardingKey {
    /// The last bytes of the name and the lengths of both parts: names made in series differ
    /// at their end, and names alike in several organizations land apart by length or not at
    /// all (then they share a shard, which costs nothing but balance).
    var shardingBits: UInt64 {
        let text = name.value.utf8
        var bits = UInt64(truncatingIfNeeded: text.count) &* 0x100_0000_01B3 ^ UInt64(truncatingIfNeeded: organization.value.utf8.count)
        for byte in text.suffix(8) { bits = (bits &* 0x100_0000_01B3) ^ UInt64(byte) }
        return bits
    }
}

/// A dictionary kept as `shardCount` dictionaries, a key's shard chosen by its
/// `shardingBits`, so that growing never rehashes more than one shard at once.
///
/// A Swift `Dictionary` doubles its storage and moves every entry when it fills: at about
/// 393,000 principals that is one pause of 100–250 ms inside a batch, taken by every replica
/// at the same entry (they apply the same commands), which stalls commits cluster-wide. Split
/// 64 ways, a doubling moves a 64th of the entries (a few milliseconds), and the shards, filled
/// evenly but not identically, double at different entries. Choosing the shard reads a few
/// bytes of the key (`ShardingKey`), not a second hash of it.
///
/// The order of iteration, as a `Dictionary`'s, is not defined: callers that need one sort.
struct ShardedDictionary<Key: ShardingKey, Value>: Sequence {
    /// How many dictionaries the entries are spread over (a power of two: `shard(of:)` takes
    /// the top 6 bits).
    static var shardCount: Int { 64 }

    private var shards: [[Key: Value]] = Array(repeating: [:], count: shardCount)
    /// How many entries there are.
    private(set) var count = 0

    /// An empty dictionary.
    init() {}

    /// Whether there is no entry.
    var isEmpty: Bool { count == 0 }

    /// The shard of `key`: its bits spread by a Fibonacci multiplication, the top 6 bits taken.
    private static func shard(of key: Key) -> Int {
        Int(truncatingIfNeeded: (key.shardingBits &* 0x9E37_79B9_7F4A_7C15) >> 58)
    }

    /// The value for `key`; setting nil removes the entry.
    subscript(key: Key) -> Value? {
        get { shards[Self.shard(of: key)][key] }
        set {
            if let newValue {
                updateValue(newValue, forKey: key)
            } else {
                removeValue(forKey: key)
            }
        }
    }

    /// The value for `key`, or `defaultValue` when there is none (setting it stores it).
    subscript(key: Key, default defaultValue: @autoclosure () -> Value) -> Value {
        get { self[key] ?? defaultValue() }
        set { updateValue(newValue, forKey: key) }
    }

    /// Stores `value` for `key`.
    /// - Returns: the value replaced, if any.
    @discardableResult
    mutating func updateValue(_ value: Value, forKey key: Key) -> Value? {
        let previous = shards[Self.shard(of: key)].updateValue(value, forKey: key)
        if previous == nil { count += 1 }
        return previous
    }

    /// Removes the entry for `key`.
    /// - Returns: the value removed, if any.
    @discardableResult
    mutating func removeValue(forKey key: Key) -> Value? {
        let removed = shards[Self.shard(of: key)].removeValue(forKey: key)
        if removed != nil { count -= 1 }
        return removed
    }

    /// How many entries each shard holds (for tests of the spread).
    var shardSizes: [Int] { shards.map(\.count) }

    /// Every key.
    var keys: FlattenSequence<[Dictionary<Key, Value>.Keys]> { shards.map(\.keys).joined() }

    /// Every value.
    var values: FlattenSequence<[Dictionary<Key, Value>.Values]> { shards.map(\.values).joined() }

    func makeIterator() -> FlattenSequence<[[Key: Value]]>.Iterator {
        shards.joined().makeIterator()
    }
}

extension ShardedDictionary: Sendable where Key: Sendable, Value: Sendable {}
