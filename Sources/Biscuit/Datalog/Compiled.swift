/// Rules, checks and policies compiled for the authorizer's world: symbols interned in its
/// table, variables numbered, and the blocks each may read.

/// A term of a predicate in a rule: a variable (by its slot in the rule) or a value.
enum Pattern: Hashable, Sendable {
    case variable(Int)
    case value(Value)
    /// A collection holding a variable: it binds nothing and matches no fact.
    case never
}

/// A predicate of a rule's head or body.
struct CompiledPredicate: Hashable, Sendable {
    var name: UInt64
    var terms: [Pattern]
}

/// One operation of a compiled expression.
indirect enum CompiledOp: Hashable, Sendable {
    case value(Value)
    /// A variable, by its symbol (a rule variable or a closure parameter).
    case variable(UInt64)
    case unary(UnaryOperation)
    case binary(BinaryOperation)
    case closure(parameters: [UInt64], body: [CompiledOp])
    /// A collection holding a variable: evaluating it is a type error.
    case unsupportedValue
}

/// A rule (or a check's or policy's query) ready to run.
struct CompiledRule: Sendable {
    var head: CompiledPredicate
    var body: [CompiledPredicate]
    var expressions: [[CompiledOp]]
    /// The symbol of each variable slot.
    var variables: [UInt64]
    /// The blocks whose facts the rule may read.
    var trusted: BlockSet
    /// Where the rule is: its facts' origin includes it.
    var origin: BlockSet
}

/// A check ready to run, with what its text for reports is made from (only when it fails:
/// printing costs more than most checks).
struct CompiledCheck: Sendable {
    var kind: Check.Kind
    var queries: [CompiledRule]
    var check: Check

    /// The check as the reference prints it in a report: sets in the authorizer's symbol order.
    func text(_ symbols: SymbolTable) -> String {
        "\(check.inPrintOrder(symbols))"
    }
}

/// A policy ready to run.
struct CompiledPolicy: Sendable {
    var kind: Policy.Kind
    var queries: [CompiledRule]
}

/// Compiles the Datalog of one block (or the authorizer) into the authorizer's table.
struct Compiler {
    var symbols: SymbolTable

    /// The value of a term without variables (nil when it holds one: such a fact never matches).
    mutating func value(_ term: Term) throws(BiscuitError) -> Value? {
        switch term {
        case .variable: return nil
        case .parameter(let name): throw .language(.parameters(missing: [name], unused: []))
        case .integer(let value): return .integer(value)
        case .string(let text): return .string(symbols.insert(text))
        case .date(let seconds): return .date(seconds)
        case .bytes(let bytes): return .bytes(bytes)
        case .bool(let flag): return .bool(flag)
        case .null: return .null
        case .setValue(let elements):
            var values: [Value] = []
            for element in elements {
                guard let value = try value(element) else { return nil }
                values.append(value)
            }
            return Value.makeSet(values)
        case .array(let elements):
            var values: [Value] = []
            for element in elements {
                guard let value = try value(element) else { return nil }
                values.append(value)
            }
            return .array(values)
        case .mapValue(let entries):
            var pairs: [MapPair] = []
            for entry in entries {
                guard let value = try value(entry.value) else { return nil }
                let key: ValueKey
                switch entry.key {
                case .integer(let number): key = .integer(number)
                case .string(let text): key = .string(symbols.insert(text))
                case .parameter(let name): throw .language(.parameters(missing: [name], unused: []))
                }
                pairs.append(MapPair(key: key, value: value))
            }
            return .map(pairs.sorted { $0.key < $1.key })
        }
    }

    /// A fact's name and values, or nil when it holds a variable (it never matches).
    mutating func fact(_ fact: Fact) throws(BiscuitError) -> (name: UInt64, terms: [Value])? {
        var values: [Value] = []
        values.reserveCapacity(fact.predicate.terms.count)
        for term in fact.predicate.terms {
            guard let value = try value(term) else { return nil }
            values.append(value)
        }
        return (symbols.insert(fact.predicate.name), values)
    }

    /// A rule compiled with the blocks it trusts.
    mutating func rule(_ rule: Rule, trusted: BlockSet, origin: BlockSet) throws(BiscuitError) -> CompiledRule {
        var variables: [UInt64] = []
        func slot(_ name: String, in symbols: inout SymbolTable) -> Int {
            let symbol = symbols.insert(name)
            if let index = variables.firstIndex(of: symbol) { return index }
            variables.append(symbol)
            return variables.count - 1
        }
        func predicate(_ predicate: Predicate, in compiler: inout Compiler) throws(BiscuitError) -> CompiledPredicate {
            let name = compiler.symbols.insert(predicate.name)
            var terms: [Pattern] = []
            for term in predicate.terms {
                if case .variable(let variable) = term {
                    terms.append(.variable(slot(variable, in: &compiler.symbols)))
                } else if let value = try compiler.value(term) {
                    terms.append(.value(value))
                } else {
                    terms.append(.never)
                }
            }
            return CompiledPredicate(name: name, terms: terms)
        }
        // Interned in the reference's order: the head, the body, the expressions.
        let head = try predicate(rule.head, in: &self)
        var body: [CompiledPredicate] = []
        for element in rule.body { body.append(try predicate(element, in: &self)) }
        var expressions: [[CompiledOp]] = []
        for expression in rule.expressions { expressions.append(try ops(expression.ops)) }
        return CompiledRule(head: head, body: body, expressions: expressions, variables: variables, trusted: trusted, origin: origin)
    }

    mutating func ops(_ ops: [Op]) throws(BiscuitError) -> [CompiledOp] {
        var compiled: [CompiledOp] = []
        compiled.reserveCapacity(ops.count)
        for op in ops {
            switch op {
            case .value(.variable(let name)): compiled.append(.variable(symbols.insert(name)))
            case .value(let term):
                compiled.append(try value(term).map(CompiledOp.value) ?? .unsupportedValue)
            case .unary(let operation): compiled.append(.unary(operation))
            case .binary(let operation): compiled.append(.binary(operation))
            case .closure(let parameters, let body):
                compiled.append(.closure(parameters: parameters.map { symbols.insert($0) }, body: try self.ops(body)))
            }
        }
        return compiled
    }
}
