import Crypto
import Synchronization

/// The SHA-256 of a token's text, as four words: what `TokenCache` keys entries by.
public struct TokenKey: Hashable, Sendable {
    let words: (UInt64, UInt64, UInt64, UInt64)

    /// The key of a token's text.
    public init(_ text: String) {
        var text = text
        let digest = text.withUTF8 { SHA256.hash(data: $0) }
        words = digest.withUnsafeBytes { bytes in
            (bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self), bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
             bytes.loadUnaligned(fromByteOffset: 16, as: UInt64.self), bytes.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
        }
    }

    public static func == (lhs: TokenKey, rhs: TokenKey) -> Bool { lhs.words == rhs.words }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
        hasher.combine(words.3)
    }
}

/// A bounded cache of verified tokens, keyed by the SHA-256 of the token's text, so a token
/// presented again is not decoded nor its signatures checked again. Safe to share between
/// threads (one lock, held for a lookup or an insertion only).
///
/// It holds at most `capacity` entries; when full, the oldest insertion leaves first (a token
/// is verified once per stay, so first in, first out is as good as recency here and costs
/// nothing on a hit). An entry stays valid only as long as what it was verified against:
/// callers check, on every use, that its root key is still published and none of its
/// revocation ids is revoked, and `remove(_:)` the entry when not (`evict(where:)` drops
/// every entry a retired key or a revocation invalidates at once).
public final class TokenCache<Value: Sendable>: Sendable {
    /// The SHA-256 of a token's text.
    public typealias Key = TokenKey

    private struct Storage: Sendable {
        var entries: [Key: Value] = [:]
        /// Insertion order, oldest first from `head` (a ring of `capacity` slots).
        var order: [Key?]
        var head = 0
        var hits: UInt64 = 0
        var misses: UInt64 = 0
    }

    /// The most entries it holds.
    public let capacity: Int
    private let storage: Mutex<Storage>

    /// The default capacity: 10,000 tokens (about 10 MB with their compiled Datalog).
    public static var defaultCapacity: Int { 10_000 }

    /// An empty cache of at most `capacity` entries (at least 1).
    public init(capacity: Int = TokenCache.defaultCapacity) {
        self.capacity = max(1, capacity)
        storage = Mutex(Storage(order: Array(repeating: nil, count: max(1, capacity))))
    }

    /// The key of a token's text.
    public static func key(_ text: String) -> Key {
        TokenKey(text)
    }

    /// The entry for `key`, counted as a hit or a miss.
    public func value(_ key: Key) -> Value? {
        storage.withLock { storage in
            let value = storage.entries[key]
            if value == nil { storage.misses &+= 1 } else { storage.hits &+= 1 }
            return value
        }
    }

    /// Adds an entry, making room by dropping the oldest when full.
    public func insert(_ value: Value, for key: Key) {
        storage.withLock { storage in
            guard storage.entries.updateValue(value, forKey: key) == nil else { return }
            if let oldest = storage.order[storage.head] { storage.entries[oldest] = nil }
            storage.order[storage.head] = key
            storage.head = (storage.head + 1) % storage.order.count
        }
    }

    /// Drops the entry for `key` (its slot in the insertion order is reused later).
    public func remove(_ key: Key) {
        _ = storage.withLock { $0.entries.removeValue(forKey: key) }
    }

    /// Drops every entry `condition` holds for: those signed by a retired key, or naming a
    /// revoked id.
    public func evict(where condition: (Value) -> Bool) {
        storage.withLock { storage in
            storage.entries = storage.entries.filter { !condition($0.value) }
        }
    }

    /// How many entries it holds, and the hits and misses so far.
    public var statistics: (count: Int, hits: UInt64, misses: UInt64) {
        storage.withLock { ($0.entries.count, $0.hits, $0.misses) }
    }
}
