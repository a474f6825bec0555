// The reference prints the checks of an authorization from its compiled form, where sets and
// maps are ordered by symbol index (strings) in the authorizer's table: `{"read", "a"}`, since
// "read" is a default symbol. These functions reorder a check's sets and maps that way, so a
// failed check reads exactly as the reference reports it.

extension Check {
    /// The check with its sets and maps in the order of `symbols` (every string in it interned).
    func inPrintOrder(_ symbols: SymbolTable) -> Check {
        Check(kind: kind, queries: queries.map { $0.inPrintOrder(symbols) })
    }
}

extension Rule {
    func inPrintOrder(_ symbols: SymbolTable) -> Rule {
        Rule(
            head: head.inPrintOrder(symbols), body: body.map { $0.inPrintOrder(symbols) },
            expressions: expressions.map { Expression($0.ops.map { $0.inPrintOrder(symbols) }) }, scopes: scopes)
    }
}

extension Predicate {
    func inPrintOrder(_ symbols: SymbolTable) -> Predicate {
        Predicate(name, terms.map { $0.inPrintOrder(symbols) })
    }
}

extension Op {
    func inPrintOrder(_ symbols: SymbolTable) -> Op {
        switch self {
        case .value(let term): return .value(term.inPrintOrder(symbols))
        case .closure(let parameters, let body): return .closure(parameters: parameters, body: body.map { $0.inPrintOrder(symbols) })
        case .unary, .binary: return self
        }
    }
}

extension Term {
    func inPrintOrder(_ symbols: SymbolTable) -> Term {
        switch self {
        case .setValue(let elements):
            return .setValue(elements.map { $0.inPrintOrder(symbols) }.sorted { Term.precedes($0, $1, symbols) })
        case .array(let elements):
            return .array(elements.map { $0.inPrintOrder(symbols) })
        case .mapValue(let entries):
            let ordered = entries.map { MapEntry(key: $0.key, value: $0.value.inPrintOrder(symbols)) }
            return .mapValue(ordered.sorted { MapKey.precedes($0.key, $1.key, symbols) })
        case .variable, .integer, .string, .date, .bytes, .bool, .parameter, .null:
            return self
        }
    }

    /// The compiled order (`Value`'s): by kind, then value, strings by symbol index.
    static func precedes(_ left: Term, _ right: Term, _ symbols: SymbolTable) -> Bool {
        switch (left, right) {
        case (.string(let a), .string(let b)):
            return (symbols.index(of: a) ?? .max) < (symbols.index(of: b) ?? .max)
        case (.setValue(let a), .setValue(let b)), (.array(let a), .array(let b)):
            return a.lexicographicallyPrecedes(b) { precedes($0, $1, symbols) }
        default:
            let (leftRank, rightRank) = (left.compiledRank, right.compiledRank)
            return leftRank != rightRank ? leftRank < rightRank : left < right
        }
    }

    /// The rank of the term's kind in the compiled order.
    private var compiledRank: Int {
        switch self {
        case .variable: return -1
        case .integer: return 0
        case .string: return 1
        case .date: return 2
        case .bytes: return 3
        case .bool: return 4
        case .setValue: return 5
        case .null: return 6
        case .array: return 7
        case .mapValue: return 8
        case .parameter: return 9
        }
    }
}

extension MapKey {
    static func precedes(_ left: MapKey, _ right: MapKey, _ symbols: SymbolTable) -> Bool {
        switch (left, right) {
        case (.string(let a), .string(let b)): return (symbols.index(of: a) ?? .max) < (symbols.index(of: b) ?? .max)
        default: return left < right
        }
    }
}
