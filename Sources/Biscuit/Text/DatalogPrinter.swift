/// Datalog printed exactly as the reference implementation prints it (REF
/// `datalog/symbol.rs::print_*`, `datalog/expression.rs::print`, the builders' `Display`), so
/// that printed blocks, failed checks and worlds compare equal as strings (digest §10.6).
/// Strings are printed raw between quotes, without escaping, as the reference does: the printed
/// text of a string holding `"` or `\` does not parse back to the same string.
enum DatalogPrinter {
    /// A block's source: the facts, then the rules, then the checks, each followed by `;\n`
    /// (the samples' `code`).
    static func printBlock(facts: [Fact], rules: [Rule], checks: [Check]) -> String {
        var text = ""
        for fact in facts { text += fact.description + ";\n" }
        for rule in rules { text += rule.description + ";\n" }
        for check in checks { text += check.description + ";\n" }
        return text
    }

    /// An authorizer's source as the reference's `AuthorizerBuilder::dump_code` writes it: the
    /// facts, the rules, the checks and the policies, each followed by `;\n`, with a blank line
    /// after each of the first three groups that is not empty (the samples' `authorizer_code`).
    static func printAuthorizer(facts: [Fact], rules: [Rule], checks: [Check], policies: [Policy]) -> String {
        var text = ""
        for fact in facts { text += fact.description + ";\n" }
        if !facts.isEmpty { text += "\n" }
        for rule in rules { text += rule.description + ";\n" }
        if !rules.isEmpty { text += "\n" }
        for check in checks { text += check.description + ";\n" }
        if !checks.isEmpty { text += "\n" }
        for policy in policies { text += policy.description + ";\n" }
        return text
    }

    /// `printBlock(facts:rules:checks:)`, under the name the token code uses.
    static func block(facts: [Fact], rules: [Rule], checks: [Check]) -> String {
        printBlock(facts: facts, rules: rules, checks: checks)
    }

    /// `printAuthorizer(facts:rules:checks:policies:)`, under the name the token code uses.
    static func authorizer(facts: [Fact], rules: [Rule], checks: [Check], policies: [Policy]) -> String {
        printAuthorizer(facts: facts, rules: rules, checks: checks, policies: policies)
    }

    /// A rule's body: predicates, then expressions, joined by `, `, then ` trusting s1, s2`.
    static func body(of rule: Rule) -> String {
        var parts = rule.body.map(\.description)
        parts.append(contentsOf: rule.expressions.map(\.description))
        var text = parts.joined(separator: ", ")
        if !rule.scopes.isEmpty {
            text += " trusting " + rule.scopes.map(\.description).joined(separator: ", ")
        }
        return text
    }

    /// An expression's text, rebuilt from its postfix operations; nil when they do not make
    /// one value (the reference then prints `<invalid expression: …>`).
    static func text(of ops: [Op]) -> String? {
        var stack: [String] = []
        for op in ops {
            switch op {
            case .value(let term):
                stack.append(term.description)
            case .unary(let operation):
                guard let value = stack.popLast() else { return nil }
                stack.append(text(of: operation, value))
            case .binary(let operation):
                guard let right = stack.popLast(), let left = stack.popLast() else { return nil }
                stack.append(text(of: operation, left, right))
            case .closure(let parameters, let body):
                guard let bodyText = text(of: body) else { return nil }
                if parameters.isEmpty {
                    stack.append(bodyText)
                } else {
                    stack.append(parameters.map { "$" + $0 }.joined(separator: ", ") + " -> " + bodyText)
                }
            }
        }
        return stack.count == 1 ? stack[0] : nil
    }

    // MARK: - Private helpers

    /// A unary operation applied to its operand's text.
    private static func text(of operation: UnaryOperation, _ value: String) -> String {
        switch operation {
        case .negate: return "!" + value
        case .parens: return "(" + value + ")"
        case .length: return value + ".length()"
        case .typeOf: return value + ".type()"
        case .external(let name): return value + ".extern::" + name + "()"
        }
    }

    /// A binary operation applied to its operands' texts.
    private static func text(of operation: BinaryOperation, _ left: String, _ right: String) -> String {
        switch operation {
        case .lessThan: return left + " < " + right
        case .greaterThan: return left + " > " + right
        case .lessOrEqual: return left + " <= " + right
        case .greaterOrEqual: return left + " >= " + right
        case .equal: return left + " === " + right
        case .heterogeneousEqual: return left + " == " + right
        case .notEqual: return left + " !== " + right
        case .heterogeneousNotEqual: return left + " != " + right
        case .contains: return left + ".contains(" + right + ")"
        case .prefix: return left + ".starts_with(" + right + ")"
        case .suffix: return left + ".ends_with(" + right + ")"
        case .regex: return left + ".matches(" + right + ")"
        case .add: return left + " + " + right
        case .sub: return left + " - " + right
        case .mul: return left + " * " + right
        case .div: return left + " / " + right
        case .and: return left + " &&! " + right
        case .or: return left + " ||! " + right
        case .intersection: return left + ".intersection(" + right + ")"
        case .union: return left + ".union(" + right + ")"
        case .bitwiseAnd: return left + " & " + right
        case .bitwiseOr: return left + " | " + right
        case .bitwiseXor: return left + " ^ " + right
        case .lazyAnd: return left + " && " + right
        case .lazyOr: return left + " || " + right
        case .all: return left + ".all(" + right + ")"
        case .any: return left + ".any(" + right + ")"
        case .get: return left + ".get(" + right + ")"
        case .external(let name): return left + ".extern::" + name + "(" + right + ")"
        case .tryOr: return left + ".try_or(" + right + ")"
        }
    }
}

extension Term: CustomStringConvertible {
    /// The term as the reference prints it: strings raw between quotes, dates in RFC 3339 UTC,
    /// bytes `hex:…`, sets `{a, b}` (`{,}` when empty) and maps `{k: v}` (`{}`) in their stored
    /// order, variables `$name`, parameters `{name}`.
    public var description: String {
        switch self {
        case .variable(let name): return "$" + name
        case .integer(let value): return String(value)
        case .string(let value): return "\"" + value + "\""
        case .date(let seconds): return DateText.format(seconds)
        case .bytes(let value): return "hex:" + Hex.encode(value)
        case .bool(let value): return value ? "true" : "false"
        case .setValue(let elements):
            return elements.isEmpty ? "{,}" : "{" + elements.map(\.description).joined(separator: ", ") + "}"
        case .parameter(let name): return "{" + name + "}"
        case .null: return "null"
        case .array(let elements): return "[" + elements.map(\.description).joined(separator: ", ") + "]"
        case .mapValue(let entries):
            return "{" + entries.map { $0.key.description + ": " + $0.value.description }.joined(separator: ", ") + "}"
        }
    }
}

extension MapKey: CustomStringConvertible {
    /// An integer key bare, a string key raw between quotes, a parameter `{name}`.
    public var description: String {
        switch self {
        case .integer(let value): return String(value)
        case .string(let value): return "\"" + value + "\""
        case .parameter(let name): return "{" + name + "}"
        }
    }
}

extension Predicate: CustomStringConvertible {
    /// `name(t1, t2)`.
    public var description: String {
        name + "(" + terms.map(\.description).joined(separator: ", ") + ")"
    }
}

extension Fact: CustomStringConvertible {
    /// `name(t1, t2)`.
    public var description: String { predicate.description }
}

extension Scope: CustomStringConvertible {
    /// `authority`, `previous`, `ed25519/<hex>` or `secp256r1/<hex>`, or `{name}`.
    public var description: String {
        switch self {
        case .authority: return "authority"
        case .previous: return "previous"
        case .publicKey(let key): return key.description
        case .parameter(let name): return "{" + name + "}"
        }
    }
}

extension Rule: CustomStringConvertible {
    /// `head <- p1, p2, e1, e2 trusting s1, s2`.
    public var description: String {
        head.description + " <- " + DatalogPrinter.body(of: self)
    }
}

extension Check: CustomStringConvertible {
    /// `check if …`, `check all …` or `reject if …`, the queries' bodies joined by ` or `.
    public var description: String {
        let keyword: String
        switch kind {
        case .one: keyword = "check if "
        case .all: keyword = "check all "
        case .reject: keyword = "reject if "
        }
        return keyword + queries.map(DatalogPrinter.body(of:)).joined(separator: " or ")
    }
}

extension Policy: CustomStringConvertible {
    /// `allow if …` or `deny if …`, the queries' bodies joined by ` or ` (`allow` or `deny`
    /// alone without queries, as the reference prints it).
    public var description: String {
        let keyword = kind == .allow ? "allow" : "deny"
        guard !queries.isEmpty else { return keyword }
        return keyword + " if " + queries.map(DatalogPrinter.body(of:)).joined(separator: " or ")
    }
}

extension Expression: CustomStringConvertible {
    /// The expression in infix form, parentheses only where a Parens operation is;
    /// `<invalid expression>` when the operations do not make one value.
    public var description: String {
        DatalogPrinter.text(of: ops) ?? "<invalid expression>"
    }
}
