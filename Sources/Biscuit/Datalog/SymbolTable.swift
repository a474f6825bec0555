/// The strings of a token, by index: the 28 default symbols at 0...27, then, from
/// `SymbolTable.offset`, the symbols the blocks declare, in order. Predicate names, strings,
/// variable names and extern names are all stored as indices into it.
struct SymbolTable: Sendable {
    /// The index of the first declared symbol; 28...1023 are reserved.
    static let offset: UInt64 = 1024

    /// The default symbols, at indices 0...27 (the reference's list, in its order).
    static let defaults: [String] = [
        "read", "write", "resource", "operation", "right", "time", "role", "owner", "tenant", "namespace", "user", "team", "service",
        "admin", "email", "group", "member", "ip_address", "client", "client_ip", "domain", "path", "version", "cluster", "node",
        "hostname", "nonce", "query",
    ]

    private static let defaultIndices: [ExactKey: UInt64] = Dictionary(
        uniqueKeysWithValues: defaults.enumerated().map { (ExactKey($0.element), UInt64($0.offset)) })

    /// The declared symbols, in order (index `offset + position`).
    private(set) var symbols: [String] = []
    /// Every symbol's index, the defaults' included (one lookup per symbol), by exact bytes:
    /// canonically equivalent strings are different symbols.
    private var indices: [ExactKey: UInt64] = SymbolTable.defaultIndices

    /// An empty table: the defaults only.
    init() {}

    /// A table holding the defaults and `symbols`, in order.
    /// - Throws: `.format(.symbolTableOverlap)` when one is a default or repeats another.
    init(declaring symbols: [String]) throws(BiscuitError) {
        try declare(symbols)
    }

    /// The index of `symbol`, if the table has it.
    func index(of symbol: String) -> UInt64? {
        indices[ExactKey(symbol)]
    }

    /// The symbol at `index`, if any.
    func symbol(at index: UInt64) -> String? {
        if index < Self.offset { return index < UInt64(Self.defaults.count) ? Self.defaults[Int(index)] : nil }
        let position = index - Self.offset
        return position < UInt64(symbols.count) ? symbols[Int(position)] : nil
    }

    /// The index of `symbol`, added to the table if it is not there.
    mutating func insert(_ symbol: String) -> UInt64 {
        let next = Self.offset + UInt64(symbols.count)
        // One hash: the default is stored when the symbol is new.
        let index = Self.entry(&indices[ExactKey(symbol), default: next])
        if index == next { symbols.append(symbol) }
        return index
    }

    private static func entry(_ value: inout UInt64) -> UInt64 { value }

    /// Adds a block's declared symbols.
    /// - Throws: `.format(.symbolTableOverlap)` when one is already in the table.
    mutating func declare(_ declared: [String]) throws(BiscuitError) {
        for symbol in declared {
            guard index(of: symbol) == nil else { throw .format(.symbolTableOverlap) }
            _ = insert(symbol)
        }
    }

    /// The number of declared symbols (for the symbols a block adds: those after a mark).
    var declaredCount: Int { symbols.count }
}

/// The public keys a token's blocks refer to by index (`trusting` scopes), in order.
struct PublicKeyTable: Sendable {
    private(set) var keys: [PublicKey] = []

    /// The index of `key`, if the table has it.
    func index(of key: PublicKey) -> Int? { keys.firstIndex(of: key) }

    /// The key at `index`, if any.
    func key(at index: Int64) -> PublicKey? {
        index >= 0 && index < Int64(keys.count) ? keys[Int(index)] : nil
    }

    /// The index of `key`, added if it is not there.
    mutating func insert(_ key: PublicKey) -> Int {
        if let index = index(of: key) { return index }
        keys.append(key)
        return keys.count - 1
    }

    /// Adds a block's declared keys.
    /// - Throws: `.format(.publicKeyTableOverlap)` when one is already in the table.
    mutating func declare(_ declared: [PublicKey]) throws(BiscuitError) {
        for key in declared {
            guard index(of: key) == nil else { throw .format(.publicKeyTableOverlap) }
            keys.append(key)
        }
    }
}

/// A string as a dictionary key compared by its UTF-8 bytes.
struct ExactKey: Hashable, Sendable {
    let text: String

    init(_ text: String) {
        self.text = text
    }

    static func == (left: ExactKey, right: ExactKey) -> Bool { ExactText.equal(left.text, right.text) }

    func hash(into hasher: inout Hasher) { ExactText.hash(text, into: &hasher) }
}
