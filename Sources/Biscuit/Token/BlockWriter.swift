/// Turns a block's Datalog into its protobuf (`BlockMessage`), interning its symbols and keys
/// in the token's tables (a third-party block: in tables of its own), in the reference's order:
/// facts, rules, checks, then the block's scopes. What the tables did not hold becomes the
/// block's declared symbols and keys.
struct BlockWriter {
    private(set) var symbols: SymbolTable
    private(set) var keys: PublicKeyTable
    private var declaredSymbols: [String] = []
    private var declaredKeys: [PublicKey] = []

    init(symbols: SymbolTable, keys: PublicKeyTable) {
        self.symbols = symbols
        self.keys = keys
    }

    /// The message of `block`, with the lowest version that expresses it, and the block as
    /// written (its declared symbols, keys and version filled in).
    /// - Throws: `.language(.parameters)` when a parameter is left in it, `.language(.variableInFact)`
    ///   for a fact with a variable.
    mutating func write(_ block: Block, thirdParty: Bool) throws(BiscuitError) -> (message: BlockMessage, block: Block) {
        var message = BlockMessage(
            symbols: [], context: block.context, version: nil, facts: [], rules: [], checks: [], scopes: [], publicKeys: [])
        for fact in block.facts {
            guard !fact.predicate.terms.contains(where: \.containsVariable) else {
                throw .language(.variableInFact("\(fact.predicate.name)"))
            }
            message.facts.append(FactMessage(predicate: try predicate(fact.predicate)))
        }
        for rule in block.rules { message.rules.append(try self.rule(rule)) }
        for check in block.checks { message.checks.append(try self.check(check)) }
        for scope in block.scopes { message.scopes.append(try self.scope(scope)) }
        var written = block
        written.version = block.minimumVersion(thirdParty: thirdParty)
        written.symbols = declaredSymbols
        written.publicKeys = declaredKeys
        message.version = written.version
        message.symbols = declaredSymbols
        message.publicKeys = declaredKeys.map { PublicKeyMessage(algorithm: $0.algorithm.rawValue, key: $0.bytes) }
        return (message, written)
    }

    private mutating func symbol(_ text: String) -> UInt64 {
        if let index = symbols.index(of: text) { return index }
        declaredSymbols.append(text)
        return symbols.insert(text)
    }

    private mutating func variable(_ name: String) throws(BiscuitError) -> UInt32 {
        let index = symbol(name)
        guard let small = UInt32(exactly: index) else { throw .format(.deserialization("too many symbols for a variable index")) }
        return small
    }

    private mutating func predicate(_ predicate: Predicate) throws(BiscuitError) -> PredicateMessage {
        let name = symbol(predicate.name)
        var terms: [TermMessage] = []
        for term in predicate.terms { terms.append(try self.term(term)) }
        return PredicateMessage(name: name, terms: terms)
    }

    private mutating func term(_ term: Term) throws(BiscuitError) -> TermMessage {
        switch term {
        case .variable(let name): return .variable(try variable(name))
        case .integer(let value): return .integer(value)
        case .string(let text): return .string(symbol(text))
        case .date(let seconds): return .date(seconds)
        case .bytes(let bytes): return .bytes(bytes)
        case .bool(let value): return .bool(value)
        case .null: return .null
        case .parameter(let name): throw .language(.parameters(missing: [name], unused: []))
        case .setValue(let elements):
            var converted: [TermMessage] = []
            for element in elements { converted.append(try self.term(element)) }
            // Interned in the term order, stored in the reference's (strings by symbol index).
            return .set(converted.sorted(by: Self.precedes))
        case .array(let elements):
            var converted: [TermMessage] = []
            for element in elements { converted.append(try self.term(element)) }
            return .array(converted)
        case .mapValue(let entries):
            var converted: [MapEntryMessage] = []
            for entry in entries {
                let key: MapKeyMessage
                switch entry.key {
                case .integer(let value): key = .integer(value)
                case .string(let text): key = .string(symbol(text))
                case .parameter(let name): throw .language(.parameters(missing: [name], unused: []))
                }
                converted.append(MapEntryMessage(key: key, value: try self.term(entry.value)))
            }
            return .map(converted.sorted { Self.precedes($0.key, $1.key) })
        }
    }

    private mutating func rule(_ rule: Rule) throws(BiscuitError) -> RuleMessage {
        let head = try predicate(rule.head)
        var body: [PredicateMessage] = []
        for predicate in rule.body { body.append(try self.predicate(predicate)) }
        var expressions: [ExpressionMessage] = []
        for expression in rule.expressions { expressions.append(ExpressionMessage(ops: try ops(expression.ops))) }
        var scopes: [ScopeMessage] = []
        for scope in rule.scopes { scopes.append(try self.scope(scope)) }
        return RuleMessage(head: head, body: body, expressions: expressions, scopes: scopes)
    }

    private mutating func check(_ check: Check) throws(BiscuitError) -> CheckMessage {
        var queries: [RuleMessage] = []
        for query in check.queries { queries.append(try rule(query)) }
        let kind: Int32?
        switch check.kind {
        case .one: kind = nil
        case .all: kind = 1
        case .reject: kind = 2
        }
        return CheckMessage(queries: queries, kind: kind)
    }

    private mutating func scope(_ scope: Scope) throws(BiscuitError) -> ScopeMessage {
        switch scope {
        case .authority: return .scopeType(0)
        case .previous: return .scopeType(1)
        case .parameter(let name): throw .language(.parameters(missing: [name], unused: []))
        case .publicKey(let key):
            if let index = keys.index(of: key) { return .publicKey(Int64(index)) }
            declaredKeys.append(key)
            return .publicKey(Int64(keys.insert(key)))
        }
    }

    private mutating func ops(_ ops: [Op]) throws(BiscuitError) -> [OpMessage] {
        var messages: [OpMessage] = []
        for op in ops {
            switch op {
            case .value(let term): messages.append(.value(try self.term(term)))
            case .unary(let operation):
                var name: UInt64?
                if case .external(let function) = operation { name = symbol(function) }
                messages.append(.unary(kind: operation.code, ffiName: name))
            case .binary(let operation):
                var name: UInt64?
                if case .external(let function) = operation { name = symbol(function) }
                messages.append(.binary(kind: operation.code, ffiName: name))
            case .closure(let parameters, let body):
                var indices: [UInt32] = []
                for parameter in parameters { indices.append(try variable(parameter)) }
                messages.append(.closure(parameters: indices, ops: try self.ops(body)))
            }
        }
        return messages
    }

    // MARK: - The reference's order of stored terms

    /// The reference's order of terms in a token (sets are kept in it): by kind (variable,
    /// integer, string, date, bytes, bool, set, null, array, map), then by value, strings by
    /// symbol index.
    static func precedes(_ left: TermMessage, _ right: TermMessage) -> Bool {
        switch (left, right) {
        case (.variable(let a), .variable(let b)): return a < b
        case (.integer(let a), .integer(let b)): return a < b
        case (.string(let a), .string(let b)): return a < b
        case (.date(let a), .date(let b)): return a < b
        case (.bytes(let a), .bytes(let b)): return a.lexicographicallyPrecedes(b)
        case (.bool(let a), .bool(let b)): return !a && b
        case (.set(let a), .set(let b)), (.array(let a), .array(let b)): return a.lexicographicallyPrecedes(b, by: precedes)
        case (.null, .null): return false
        case (.map(let a), .map(let b)):
            return a.lexicographicallyPrecedes(b) { x, y in
                precedes(x.key, y.key) || (!precedes(y.key, x.key) && precedes(x.value, y.value))
            }
        default: return rank(left) < rank(right)
        }
    }

    static func precedes(_ left: MapKeyMessage, _ right: MapKeyMessage) -> Bool {
        switch (left, right) {
        case (.integer(let a), .integer(let b)): return a < b
        case (.string(let a), .string(let b)): return a < b
        case (.integer, .string): return true
        case (.string, .integer): return false
        }
    }

    private static func rank(_ term: TermMessage) -> Int {
        switch term {
        case .variable: return 0
        case .integer: return 1
        case .string: return 2
        case .date: return 3
        case .bytes: return 4
        case .bool: return 5
        case .set: return 6
        case .null: return 7
        case .array: return 8
        case .map: return 9
        }
    }
}
