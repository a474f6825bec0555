/// An expression, as the token stores it: a program for a stack machine, in postfix order
/// (`1 + 2 < $x` is `1, 2, +, $x, <`).
public struct Expression: Hashable, Sendable {
    /// The operations, in order.
    public var ops: [Op]

    /// Creates an expression.
    public init(_ ops: [Op]) {
        self.ops = ops
    }

    /// The variables the expression reads that none of its closures binds.
    public var freeVariables: [String] {
        var free: [String] = []
        Self.collectFree(ops, bound: [], into: &free)
        return free
    }

    private static func collectFree(_ ops: [Op], bound: Set<String>, into free: inout [String]) {
        for op in ops {
            switch op {
            case .value(let term):
                var names = Set<String>()
                term.collectVariables(into: &names)
                for name in names.sorted() where !bound.contains(name) && !free.contains(name) { free.append(name) }
            case .closure(let parameters, let body):
                collectFree(body, bound: bound.union(parameters), into: &free)
            case .unary, .binary:
                break
            }
        }
    }
}

/// One operation of an expression.
public indirect enum Op: Hashable, Sendable {
    /// Pushes a term (a variable pushes its value).
    case value(Term)
    /// Pops one value, pushes the result.
    case unary(UnaryOperation)
    /// Pops two values (the right one first), pushes the result.
    case binary(BinaryOperation)
    /// Pushes a closure: parameters and a body, run by the binary operation that takes it
    /// (lazy `&&` and `||`, `.all`, `.any`, `.try_or`). Block version 6.
    case closure(parameters: [String], body: [Op])
}

/// The operations on one value. Raw values are the format's codes.
public enum UnaryOperation: Hashable, Sendable {
    /// `!b`.
    case negate
    /// `(e)`: no effect but on printing.
    case parens
    /// `.length()`: of a string (in UTF-8 bytes), bytes, a set, an array or a map.
    case length
    /// `.type()` (block version 6).
    case typeOf
    /// `.extern::name()`: a function the authorizer provides (block version 6).
    case external(String)
}

/// The operations on two values.
public enum BinaryOperation: Hashable, Sendable {
    /// `<`.
    case lessThan
    /// `>`.
    case greaterThan
    /// `<=`.
    case lessOrEqual
    /// `>=`.
    case greaterOrEqual
    /// `===`: strict equality (values of different kinds are an error).
    case equal
    /// `.contains(x)`.
    case contains
    /// `.starts_with(x)`.
    case prefix
    /// `.ends_with(x)`.
    case suffix
    /// `.matches(pattern)`.
    case regex
    /// `+` (integers, checked; strings, concatenated).
    case add
    /// `-` (checked).
    case sub
    /// `*` (checked).
    case mul
    /// `/` (checked).
    case div
    /// `&&!`: eager and (older blocks).
    case and
    /// `||!`: eager or (older blocks).
    case or
    /// `.intersection(s)`.
    case intersection
    /// `.union(s)`.
    case union
    /// `&` (block version 4).
    case bitwiseAnd
    /// `|` (block version 4).
    case bitwiseOr
    /// `^` (block version 4).
    case bitwiseXor
    /// `!==`: strict inequality (block version 4).
    case notEqual
    /// `==`: equality, false for values of different kinds (block version 6).
    case heterogeneousEqual
    /// `!=`: inequality, true for values of different kinds (block version 6).
    case heterogeneousNotEqual
    /// `&&`: the right side (a closure) runs only when the left is true (block version 6).
    case lazyAnd
    /// `||`: the right side (a closure) runs only when the left is false (block version 6).
    case lazyOr
    /// `.all($p -> e)` (block version 6).
    case all
    /// `.any($p -> e)` (block version 6).
    case any
    /// `.get(k)` (block version 6).
    case get
    /// `.extern::name(x)`: a function the authorizer provides (block version 6).
    case external(String)
    /// `.try_or(v)`: the left side (a closure) or, if it fails, `v` (block version 6).
    case tryOr
}
