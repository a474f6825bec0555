/// Turns a block's protobuf (`BlockMessage`) into Datalog (`Block`), resolving its symbol and
/// key indices, and checks its version as the reference does (decoding is lenient: any term in
/// any version the reference accepts).
struct BlockReader {
    let symbols: SymbolTable
    let keys: PublicKeyTable

    /// Decodes the bytes of a block.
    /// - Parameters:
    ///   - bytes: the block's bytes (already covered by a verified signature).
    ///   - tokenSymbols: the token's table, to which a first-party block's symbols are added.
    ///   - tokenKeys: the token's key table, likewise.
    ///   - externalKey: the third party's key for a third-party block (which has tables of its own).
    static func decode(
        _ bytes: [UInt8], tokenSymbols: inout SymbolTable, tokenKeys: inout PublicKeyTable, externalKey: PublicKey?
    ) throws(BiscuitError) -> Block {
        let message: BlockMessage
        do {
            message = try BlockMessage(decoding: bytes)
        } catch {
            throw .format(.deserialization("\(error)"))
        }
        let version = message.version ?? 0
        guard (Block.minimumVersion...Block.maximumVersion).contains(version) else {
            throw .format(.version(minimum: Block.minimumVersion, maximum: Block.maximumVersion, actual: version))
        }
        var declaredKeys: [PublicKey] = []
        for key in message.publicKeys { declaredKeys.append(try Self.publicKey(key)) }
        let reader: BlockReader
        if externalKey == nil {
            try tokenSymbols.declare(message.symbols)
            try tokenKeys.declare(declaredKeys)
            reader = BlockReader(symbols: tokenSymbols, keys: tokenKeys)
        } else {
            var symbols = SymbolTable()
            try symbols.declare(message.symbols)
            var keys = PublicKeyTable()
            try keys.declare(declaredKeys)
            reader = BlockReader(symbols: symbols, keys: keys)
        }
        var block = try reader.block(message)
        block.version = version
        block.symbols = message.symbols
        block.publicKeys = declaredKeys
        block.externalKey = externalKey
        try Self.checkVersion(block, message: message)
        return block
    }

    /// A public key of the format; a block's next key is checked for its length only
    /// (`PublicKey(nextKey:bytes:)`).
    static func publicKey(_ message: PublicKeyMessage, isNextKey: Bool = false) throws(BiscuitError) -> PublicKey {
        guard let algorithm = Algorithm(rawValue: message.algorithm) else {
            throw .format(.deserialization("unknown public key algorithm \(message.algorithm)"))
        }
        return isNextKey ? try PublicKey(nextKey: algorithm, bytes: message.key) : try PublicKey(algorithm: algorithm, bytes: message.key)
    }

    /// The reference's checks of a block's declared version against what it holds.
    private static func checkVersion(_ block: Block, message: BlockMessage) throws(BiscuitError) {
        let version = block.version
        func refuse(_ reason: String) -> BiscuitError { .format(.deserialization("deserialization error: \(reason)")) }
        if version < 4, message.rules.contains(where: { !$0.scopes.isEmpty }) { throw refuse("scopes are only supported in datalog v3.1+") }
        if version < 6 {
            for check in message.checks {
                if version < 4, check.kind != nil { throw refuse("check kinds are only supported on datalog v3.1+") }
                if check.kind == 2 { throw refuse("reject if is only supported in datalog v3.3+") }
            }
        }
        if version < 5, block.externalKey != nil { throw refuse("third-party blocks are only supported in datalog v3.2+") }
        let features = block.features
        if version < 4 {
            if features.scopes { throw refuse("scopes are only supported in datalog v3.1+") }
            if features.bitwiseOrNotEqual { throw refuse("bitwise operators and != are only supported in datalog v3.1+") }
            if features.checkAll { throw refuse("check all is only supported in datalog v3.1+") }
        }
        if version < 6, features.version6 { throw refuse("maps, arrays, null, closures are only supported in datalog v3.3+") }
    }

    // MARK: - Conversion

    private func block(_ message: BlockMessage) throws(BiscuitError) -> Block {
        var block = Block()
        block.context = message.context
        for fact in message.facts { block.facts.append(Fact(try predicate(fact.predicate))) }
        for rule in message.rules { block.rules.append(try self.rule(rule)) }
        for check in message.checks { block.checks.append(try self.check(check)) }
        for scope in message.scopes { block.scopes.append(try self.scope(scope)) }
        return block
    }

    func symbol(_ index: UInt64) throws(BiscuitError) -> String {
        guard let symbol = symbols.symbol(at: index) else { throw .format(.unknownSymbol(index)) }
        return symbol
    }

    func predicate(_ message: PredicateMessage) throws(BiscuitError) -> Predicate {
        var terms: [Term] = []
        terms.reserveCapacity(message.terms.count)
        for term in message.terms { terms.append(try self.term(term)) }
        return Predicate(try symbol(message.name), terms)
    }

    func term(_ message: TermMessage) throws(BiscuitError) -> Term {
        switch message {
        case .variable(let index): return .variable(try symbol(UInt64(index)))
        case .integer(let value): return .integer(value)
        case .string(let index): return .string(try symbol(index))
        case .date(let seconds): return .date(seconds)
        case .bytes(let bytes): return .bytes(bytes)
        case .bool(let value): return .bool(value)
        case .null: return .null
        case .set(let elements):
            var terms: [Term] = []
            for element in elements {
                switch element {
                case .variable: throw .format(.deserialization("deserialization error: sets cannot contain variables"))
                case .set: throw .format(.deserialization("deserialization error: sets cannot contain other sets"))
                default: terms.append(try term(element))
                }
            }
            if let first = terms.first, terms.contains(where: { !$0.isSameKind(as: first) }) {
                throw .format(.deserialization("deserialization error: sets elements must have the same type"))
            }
            // In the token's order (the reference keeps sets by symbol index), so the block
            // prints as the reference prints it.
            return .setValue(terms)
        case .array(let elements):
            var terms: [Term] = []
            for element in elements { terms.append(try term(element)) }
            return .array(terms)
        case .map(let entries):
            var converted: [MapEntry] = []
            for entry in entries {
                let key: MapKey
                switch entry.key {
                case .integer(let value): key = .integer(value)
                case .string(let index): key = .string(try symbol(index))
                }
                converted.append(MapEntry(key: key, value: try term(entry.value)))
            }
            return .mapValue(converted)
        }
    }

    func rule(_ message: RuleMessage) throws(BiscuitError) -> Rule {
        var body: [Predicate] = []
        for predicate in message.body { body.append(try self.predicate(predicate)) }
        var expressions: [Expression] = []
        for expression in message.expressions { expressions.append(Expression(try ops(expression.ops))) }
        var scopes: [Scope] = []
        for scope in message.scopes { scopes.append(try self.scope(scope)) }
        return Rule(head: try predicate(message.head), body: body, expressions: expressions, scopes: scopes)
    }

    func check(_ message: CheckMessage) throws(BiscuitError) -> Check {
        let kind: Check.Kind
        switch message.kind ?? 0 {
        case 0: kind = .one
        case 1: kind = .all
        case 2: kind = .reject
        case let other: throw .format(.deserialization("deserialization error: invalid check kind \(other)"))
        }
        var queries: [Rule] = []
        for query in message.queries { queries.append(try rule(query)) }
        return Check(kind: kind, queries: queries)
    }

    func scope(_ message: ScopeMessage) throws(BiscuitError) -> Scope {
        switch message {
        case .scopeType(0): return .authority
        case .scopeType(1): return .previous
        case .scopeType(let other): throw .format(.deserialization("deserialization error: invalid scope type \(other)"))
        case .publicKey(let index):
            guard let key = keys.key(at: index) else { throw .format(.unknownPublicKey) }
            return .publicKey(key)
        }
    }

    func ops(_ messages: [OpMessage]) throws(BiscuitError) -> [Op] {
        var ops: [Op] = []
        ops.reserveCapacity(messages.count)
        for message in messages {
            switch message {
            case .value(let value): ops.append(.value(try term(value)))
            case .unary(let kind, let ffiName):
                ops.append(.unary(try unary(kind, ffiName)))
            case .binary(let kind, let ffiName):
                ops.append(.binary(try binary(kind, ffiName)))
            case .closure(let parameters, let body):
                var names: [String] = []
                for parameter in parameters { names.append(try symbol(UInt64(parameter))) }
                ops.append(.closure(parameters: names, body: try self.ops(body)))
            }
        }
        return ops
    }

    private func ffi(_ kind: Int32, _ name: UInt64?, isFfi: Bool) throws(BiscuitError) -> String? {
        switch (isFfi, name) {
        case (true, let name?): return try symbol(name)
        case (true, nil): throw .format(.deserialization("deserialization error: missing ffi name"))
        case (false, nil): return nil
        case (false, _?): throw .format(.deserialization("deserialization error: ffi name set on a non-ffi operation"))
        }
    }

    private func unary(_ kind: Int32, _ name: UInt64?) throws(BiscuitError) -> UnaryOperation {
        let external = try ffi(kind, name, isFfi: kind == 4)
        switch kind {
        case 0: return .negate
        case 1: return .parens
        case 2: return .length
        case 3: return .typeOf
        case 4: return .external(external ?? "")
        default: throw .format(.deserialization("deserialization error: unknown unary operation \(kind)"))
        }
    }

    private func binary(_ kind: Int32, _ name: UInt64?) throws(BiscuitError) -> BinaryOperation {
        let external = try ffi(kind, name, isFfi: kind == 28)
        guard let operation = BinaryOperation(code: kind, external: external) else {
            throw .format(.deserialization("deserialization error: unknown binary operation \(kind)"))
        }
        return operation
    }
}

extension BinaryOperation {
    /// The format's code of the operation.
    var code: Int32 {
        switch self {
        case .lessThan: return 0
        case .greaterThan: return 1
        case .lessOrEqual: return 2
        case .greaterOrEqual: return 3
        case .equal: return 4
        case .contains: return 5
        case .prefix: return 6
        case .suffix: return 7
        case .regex: return 8
        case .add: return 9
        case .sub: return 10
        case .mul: return 11
        case .div: return 12
        case .and: return 13
        case .or: return 14
        case .intersection: return 15
        case .union: return 16
        case .bitwiseAnd: return 17
        case .bitwiseOr: return 18
        case .bitwiseXor: return 19
        case .notEqual: return 20
        case .heterogeneousEqual: return 21
        case .heterogeneousNotEqual: return 22
        case .lazyAnd: return 23
        case .lazyOr: return 24
        case .all: return 25
        case .any: return 26
        case .get: return 27
        case .external: return 28
        case .tryOr: return 29
        }
    }

    /// The operation of a format code (`external` names an extern function for code 28).
    init?(code: Int32, external: String?) {
        let all: [BinaryOperation] = [
            .lessThan, .greaterThan, .lessOrEqual, .greaterOrEqual, .equal, .contains, .prefix, .suffix, .regex, .add, .sub, .mul, .div, .and,
            .or, .intersection, .union, .bitwiseAnd, .bitwiseOr, .bitwiseXor, .notEqual, .heterogeneousEqual, .heterogeneousNotEqual, .lazyAnd,
            .lazyOr, .all, .any, .get, .external(external ?? ""), .tryOr,
        ]
        guard code >= 0, code < Int32(all.count) else { return nil }
        self = all[Int(code)]
    }
}

extension UnaryOperation {
    /// The format's code of the operation.
    var code: Int32 {
        switch self {
        case .negate: return 0
        case .parens: return 1
        case .length: return 2
        case .typeOf: return 3
        case .external: return 4
        }
    }
}

extension Term {
    /// Whether two terms are of the same kind (for the homogeneity of sets).
    func isSameKind(as other: Term) -> Bool {
        switch (self, other) {
        case (.variable, .variable), (.integer, .integer), (.string, .string), (.date, .date), (.bytes, .bytes), (.bool, .bool),
            (.setValue, .setValue), (.parameter, .parameter), (.null, .null), (.array, .array), (.mapValue, .mapValue):
            return true
        default:
            return false
        }
    }
}
