/// A function the authorizer provides to expressions (`.extern::name(x)`): it gets the value
/// before the call and the argument (nil for a call without one), and returns a value, or
/// throws to fail the expression.
public typealias ExternFunction = @Sendable (Term, Term?) throws -> Term

/// The values bound while an expression runs: the rule's variables (by slot) and the
/// parameters of the closures being run.
struct Bindings {
    let names: [UInt64]
    var values: [Value]
    var parameters: [(name: UInt64, value: Value)] = []

    func value(of name: UInt64) -> Value? {
        for parameter in parameters.reversed() where parameter.name == name { return parameter.value }
        if let slot = names.firstIndex(of: name), slot < values.count { return values[slot] }
        return nil
    }

    /// Whether a closure parameter would hide a bound variable.
    func isBound(_ name: UInt64) -> Bool {
        names.contains(name) || parameters.contains { $0.name == name }
    }
}

/// Runs compiled expressions: a stack machine over the authorizer's values (the reference's
/// `datalog/expression.rs`). Strings an expression makes (`+`, `.type()`, extern results)
/// are interned in a temporary table for as long as the evaluator lives.
struct ExpressionEvaluator {
    /// The authorizer's symbols, with the strings made while evaluating.
    var symbols: SymbolTable
    let externs: [String: ExternFunction]
    /// Compiled patterns by symbol (nil for a pattern that does not compile).
    private var patterns: [UInt64: LinearRegex?] = [:]

    /// The most patterns kept compiled.
    static let maxCachedPatterns = 256

    init(symbols: SymbolTable, externs: [String: ExternFunction]) {
        self.symbols = symbols
        self.externs = externs
    }

    private enum Item {
        case value(Value)
        case closure(parameters: [UInt64], body: [CompiledOp])
    }

    /// The value of `ops` with `bindings`.
    mutating func evaluate(_ ops: [CompiledOp], _ bindings: Bindings) throws(ExecutionError) -> Value {
        var stack: [Item] = []
        stack.reserveCapacity(4)
        for op in ops {
            switch op {
            case .value(let value):
                stack.append(.value(value))
            case .variable(let name):
                guard let value = bindings.value(of: name) else { throw .unknownVariable(symbols.symbol(at: name) ?? "\(name)") }
                stack.append(.value(value))
            case .unsupportedValue:
                throw .invalidType
            case .closure(let parameters, let body):
                stack.append(.closure(parameters: parameters, body: body))
            case .unary(let operation):
                guard case .value(let value)? = stack.popLast() else { throw .invalidStack }
                stack.append(.value(try unary(operation, value)))
            case .binary(let operation):
                guard let right = stack.popLast(), let left = stack.popLast() else { throw .invalidStack }
                switch (left, right) {
                case (.value(let left), .value(let right)):
                    stack.append(.value(try binary(operation, left, right)))
                case (.value(let left), .closure(let parameters, let body)):
                    stack.append(.value(try withClosure(operation, left, parameters, body, bindings)))
                case (.closure(let parameters, let body), .value(let fallback)):
                    guard operation == .tryOr, parameters.isEmpty else { throw .invalidType }
                    try checkShadowing(parameters, bindings)
                    do {
                        stack.append(.value(try evaluate(body, bindings)))
                    } catch {
                        stack.append(.value(fallback))
                    }
                case (.closure, .closure):
                    throw .invalidStack
                }
            }
        }
        guard stack.count == 1, case .value(let result) = stack[0] else { throw .invalidStack }
        return result
    }

    // MARK: - Closures

    private func checkShadowing(_ parameters: [UInt64], _ bindings: Bindings) throws(ExecutionError) {
        if parameters.contains(where: bindings.isBound) { throw .shadowedVariable }
    }

    private mutating func withClosure(
        _ operation: BinaryOperation, _ left: Value, _ parameters: [UInt64], _ body: [CompiledOp], _ bindings: Bindings
    ) throws(ExecutionError) -> Value {
        try checkShadowing(parameters, bindings)
        switch operation {
        case .lazyAnd, .lazyOr:
            guard parameters.isEmpty, case .bool(let flag) = left else { throw .invalidType }
            if operation == .lazyAnd ? !flag : flag { return .bool(flag) }
            return try evaluate(body, bindings)
        case .all, .any:
            guard parameters.count == 1 else { throw .invalidType }
            let elements: [Value]
            switch left {
            case .set(let values), .array(let values): elements = values
            case .map(let pairs): elements = pairs.map { .array([$0.key.value, $0.value]) }
            default: throw .invalidType
            }
            for element in elements {
                var inner = bindings
                inner.parameters.append((parameters[0], element))
                guard case .bool(let flag) = try evaluate(body, inner) else { throw .invalidType }
                if operation == .all, !flag { return .bool(false) }
                if operation == .any, flag { return .bool(true) }
            }
            return .bool(operation == .all)
        default:
            throw .invalidType
        }
    }

    // MARK: - Operations

    private mutating func unary(_ operation: UnaryOperation, _ value: Value) throws(ExecutionError) -> Value {
        switch operation {
        case .negate:
            guard case .bool(let flag) = value else { throw .invalidType }
            return .bool(!flag)
        case .parens:
            return value
        case .length:
            switch value {
            case .string(let symbol): return .integer(Int64(try text(symbol).utf8.count))
            case .bytes(let bytes): return .integer(Int64(bytes.count))
            case .set(let values), .array(let values): return .integer(Int64(values.count))
            case .map(let pairs): return .integer(Int64(pairs.count))
            default: throw .invalidType
            }
        case .typeOf:
            return .string(symbols.insert(value.typeName))
        case .external(let name):
            return try callExtern(name, value, nil)
        }
    }

    private mutating func binary(_ operation: BinaryOperation, _ left: Value, _ right: Value) throws(ExecutionError) -> Value {
        switch operation {
        case .lessThan, .greaterThan, .lessOrEqual, .greaterOrEqual:
            let order: (Bool, Bool)  // (left < right, left == right)
            switch (left, right) {
            case (.integer(let a), .integer(let b)): order = (a < b, a == b)
            case (.date(let a), .date(let b)): order = (a < b, a == b)
            default: throw .invalidType
            }
            switch operation {
            case .lessThan: return .bool(order.0)
            case .greaterThan: return .bool(!order.0 && !order.1)
            case .lessOrEqual: return .bool(order.0 || order.1)
            default: return .bool(!order.0)
            }
        case .equal, .notEqual:
            guard left.isSameKind(as: right) else { throw .invalidType }
            return .bool((left == right) == (operation == .equal))
        case .heterogeneousEqual:
            return .bool(left.isSameKind(as: right) && left == right)
        case .heterogeneousNotEqual:
            return .bool(!(left.isSameKind(as: right) && left == right))
        case .contains:
            return .bool(try contains(left, right))
        case .prefix, .suffix:
            switch (left, right) {
            case (.string(let a), .string(let b)):
                let text = try text(a)
                let part = try self.text(b)
                return .bool(operation == .prefix ? text.utf8.starts(with: part.utf8) : text.utf8.reversed().starts(with: part.utf8.reversed()))
            case (.array(let a), .array(let b)):
                return .bool(operation == .prefix ? a.starts(with: b) : a.reversed().starts(with: b.reversed()))
            default: throw .invalidType
            }
        case .regex:
            guard case .string(let textSymbol) = left, case .string(let patternSymbol) = right else { throw .invalidType }
            return .bool(try matches(try text(textSymbol), patternSymbol))
        case .add:
            switch (left, right) {
            case (.integer(let a), .integer(let b)):
                let (sum, overflow) = a.addingReportingOverflow(b)
                if overflow { throw .overflow }
                return .integer(sum)
            case (.string(let a), .string(let b)):
                return .string(symbols.insert(try text(a) + text(b)))
            default: throw .invalidType
            }
        case .sub, .mul, .div, .bitwiseAnd, .bitwiseOr, .bitwiseXor:
            guard case .integer(let a) = left, case .integer(let b) = right else { throw .invalidType }
            switch operation {
            case .sub:
                let (difference, overflow) = a.subtractingReportingOverflow(b)
                if overflow { throw .overflow }
                return .integer(difference)
            case .mul:
                let (product, overflow) = a.multipliedReportingOverflow(by: b)
                if overflow { throw .overflow }
                return .integer(product)
            case .div:
                // The reference reports the one overflow of a division (min / -1) as a division by zero.
                guard b != 0, !(a == .min && b == -1) else { throw .divideByZero }
                return .integer(a / b)
            case .bitwiseAnd: return .integer(a & b)
            case .bitwiseOr: return .integer(a | b)
            default: return .integer(a ^ b)
            }
        case .and, .or:
            guard case .bool(let a) = left, case .bool(let b) = right else { throw .invalidType }
            return .bool(operation == .and ? a && b : a || b)
        case .intersection, .union:
            guard case .set(let a) = left, case .set(let b) = right else { throw .invalidType }
            if operation == .intersection {
                let other = Set(b)
                return .set(a.filter(other.contains))
            }
            return Value.makeSet(a + b)
        case .get:
            switch (left, right) {
            case (.array(let values), .integer(let index)):
                return index >= 0 && index < Int64(values.count) ? values[Int(index)] : .null
            case (.map(let pairs), .integer(let key)):
                return pairs.first { $0.key == .integer(key) }?.value ?? .null
            case (.map(let pairs), .string(let key)):
                return pairs.first { $0.key == .string(key) }?.value ?? .null
            default: throw .invalidType
            }
        case .external(let name):
            return try callExtern(name, left, right)
        case .lazyAnd, .lazyOr, .all, .any, .tryOr:
            // These take a closure; two values are not what they operate on.
            throw .invalidType
        }
    }

    private func contains(_ left: Value, _ right: Value) throws(ExecutionError) -> Bool {
        switch (left, right) {
        case (.string(let a), .string(let b)):
            let text = try text(a)
            let part = try self.text(b)
            return part.isEmpty || text.utf8.firstRange(of: part.utf8) != nil
        case (.set(let elements), .set(let other)):
            let members = Set(elements)
            return other.allSatisfy(members.contains)
        case (.set(let elements), .integer), (.set(let elements), .date), (.set(let elements), .bool), (.set(let elements), .string),
            (.set(let elements), .bytes):
            return elements.contains(right)
        case (.set, _):
            throw .invalidType
        case (.array(let elements), _):
            return elements.contains(right)
        case (.map(let pairs), .integer(let key)):
            return pairs.contains { $0.key == .integer(key) }
        case (.map(let pairs), .string(let key)):
            return pairs.contains { $0.key == .string(key) }
        case (.map, _):
            return false
        default:
            throw .invalidType
        }
    }

    private mutating func matches(_ text: String, _ patternSymbol: UInt64) throws(ExecutionError) -> Bool {
        if let cached = patterns[patternSymbol] { return cached?.matches(text) ?? false }
        let compiled = try? LinearRegex(try self.text(patternSymbol))
        if patterns.count < Self.maxCachedPatterns { patterns[patternSymbol] = Optional(compiled) }
        // A pattern that does not compile (or is over the engine's limits) matches nothing,
        // as in the reference.
        return compiled?.matches(text) ?? false
    }

    private func text(_ symbol: UInt64) throws(ExecutionError) -> String {
        guard let text = symbols.symbol(at: symbol) else { throw .unknownSymbol(symbol) }
        return text
    }

    // MARK: - Extern functions

    private mutating func callExtern(_ name: String, _ left: Value, _ right: Value?) throws(ExecutionError) -> Value {
        guard let function = externs[name] else { throw .undefinedExtern(name) }
        let result: Term
        do {
            result = try function(try term(left), try right.map { value throws(ExecutionError) in try term(value) })
        } catch let error as ExecutionError {
            throw error
        } catch {
            throw .externEvaluation(name: name, reason: "\(error)")
        }
        var compiler = Compiler(symbols: symbols)
        guard let value = try? compiler.value(result) else {
            throw .externEvaluation(name: name, reason: "returned a value with a variable or a parameter")
        }
        symbols = compiler.symbols
        return value
    }

    /// A value as a term (strings as text).
    func term(_ value: Value) throws(ExecutionError) -> Term {
        switch value {
        case .integer(let number): return .integer(number)
        case .string(let symbol): return .string(try text(symbol))
        case .date(let seconds): return .date(seconds)
        case .bytes(let bytes): return .bytes(bytes)
        case .bool(let flag): return .bool(flag)
        case .null: return .null
        case .set(let values):
            var terms: [Term] = []
            for element in values { terms.append(try term(element)) }
            return .set(terms)
        case .array(let values):
            var terms: [Term] = []
            for element in values { terms.append(try term(element)) }
            return .array(terms)
        case .map(let pairs):
            var entries: [MapEntry] = []
            for pair in pairs {
                let key: MapKey
                switch pair.key {
                case .integer(let number): key = .integer(number)
                case .string(let symbol): key = .string(try text(symbol))
                }
                entries.append(MapEntry(key: key, value: try term(pair.value)))
            }
            return .map(entries)
        }
    }
}

extension ValueKey {
    /// The key as a value (for `[key, value]` pairs of a map).
    var value: Value {
        switch self {
        case .integer(let number): return .integer(number)
        case .string(let symbol): return .string(symbol)
        }
    }
}
