/// Why the grammar stopped: the reference parser's (nom's) two kinds of failure, plus ours.
///
/// The parser mirrors the reference's combinators one for one, so that it accepts exactly the
/// texts the reference accepts and builds the same values; the kinds of failure decide where it
/// may back off and try another alternative, as in the reference.
struct SyntaxFailure: Error {
    /// How far the failure reaches.
    enum Kind {
        /// nom's `Error`: an enclosing alternative may still match.
        case backtrack
        /// nom's `Failure` (after a `cut`): the statement does not parse. The reason to report
        /// is the furthest expectation the parser recorded, not this one.
        case cut
        /// A failure whose reason is the one to report (an integer too large, a bad date, an
        /// unbound variable...). Used only where the reference cannot succeed either, so that
        /// stopping at once changes what is reported, never what is accepted.
        case definitive
    }

    /// How far the failure reaches.
    var kind: Kind
    /// Where in the text (a UTF-8 offset).
    var offset: Int
    /// Why, for a person.
    var reason: String
    /// The language error to report instead of a parse error (unbound variables, variables in
    /// a fact).
    var languageError: LanguageError? = nil
}

/// One statement of a source text.
enum DatalogStatement {
    /// A fact.
    case fact(Fact)
    /// A rule.
    case rule(Rule)
    /// A check.
    case check(Check)
    /// A policy (authorizer sources only).
    case policy(Policy)
    /// A comment: nothing.
    case comment
}

/// The Datalog grammar of the reference parser (`biscuit-parser/src/parser.rs`, 6.0.0), over
/// the UTF-8 bytes of one text. Each function takes the offset where it starts and returns its
/// value with the offset where it ends, like the reference's nom parsers; a failure is thrown.
///
/// Used by `DatalogParser`, one instance per text; not shared between threads.
final class DatalogGrammar {
    /// The text's UTF-8 bytes.
    let bytes: [UInt8]
    /// How deep parentheses, collections, closures and `!` are nested at the current point.
    // Invariant: 0 <= depth <= DatalogParser.maximumNestingDepth + 1.
    private var depth = 0
    /// The furthest offset at which something was expected and not found.
    private(set) var furthestOffset = -1
    /// What was expected there, in the order first recorded.
    private(set) var furthestExpected: [String] = []
    /// A full reason recorded there, which beats the list of expectations.
    private(set) var furthestReason: String?

    /// A grammar over `text`.
    init(_ text: String) {
        bytes = Array(text.utf8)
    }

    // MARK: - Source files

    /// An authorizer's or a block's source: statements, each ended by `;` or the end of the
    /// text, and comments (REF `parse_source`, `parse_block_source`). A block source may start
    /// with `trusting <scopes>;`, which is read and discarded as the reference's builders do;
    /// policies are refused in a block.
    func source(allowingPolicies: Bool) throws(SyntaxFailure) -> [DatalogStatement] {
        var statements: [DatalogStatement] = []
        var offset = 0
        if !allowingPolicies {
            // REF: opt(terminated(scopes, sep)); `scopes` succeeds on any text without reading
            // anything, so a block may also start with a lone `;`.
            // What this attempt expected is no help in an error about the first statement.
            let expectations = (furthestOffset, furthestExpected, furthestReason)
            do throws(SyntaxFailure) {
                let (_, afterScopes) = try scopes(offset)
                offset = try separator(afterScopes)
            } catch where error.kind == .backtrack {
                (furthestOffset, furthestExpected, furthestReason) = expectations
            }
        }
        while offset < bytes.count {
            let (statement, end) = try statement(offset, allowingPolicies: allowingPolicies)
            statements.append(statement)
            offset = space0(end)
        }
        return statements
    }

    /// One statement of a source with its separator: a rule, a fact, a check, a policy or a
    /// comment, tried in this order.
    private func statement(_ offset: Int, allowingPolicies: Bool) throws(SyntaxFailure) -> (DatalogStatement, Int) {
        var failure: SyntaxFailure?
        func attempt(_ parse: () throws(SyntaxFailure) -> (DatalogStatement, Int)) throws(SyntaxFailure) -> (DatalogStatement, Int)? {
            do throws(SyntaxFailure) {
                return try parse()
            } catch where error.kind == .backtrack {
                if error.offset > (failure?.offset ?? -1) { failure = error }
                return nil
            }
        }
        if let parsed = try attempt({ () throws(SyntaxFailure) in
            let (rule, end) = try rule(offset)
            return (.rule(rule), try separator(end))
        }) { return parsed }
        if let parsed = try attempt({ () throws(SyntaxFailure) in
            let (fact, end) = try fact(offset)
            return (.fact(fact), try separator(end))
        }) { return parsed }
        if let parsed = try attempt({ () throws(SyntaxFailure) in
            let (check, end) = try check(offset)
            return (.check(check), try separator(end))
        }) { return parsed }
        if allowingPolicies {
            if let parsed = try attempt({ () throws(SyntaxFailure) in
                let (policy, end) = try policy(offset)
                return (.policy(policy), try separator(end))
            }) { return parsed }
        } else {
            let start = space0(offset)
            if matchesNoCase("allow if", at: start) || matchesNoCase("deny if", at: start) {
                throw SyntaxFailure(kind: .definitive, offset: start, reason: "a block cannot hold a policy (allow if / deny if): only an authorizer can")
            }
        }
        if let parsed = try attempt({ () throws(SyntaxFailure) in (.comment, try lineComment(offset)) }) { return parsed }
        if let parsed = try attempt({ () throws(SyntaxFailure) in (.comment, try blockComment(offset)) }) { return parsed }
        throw failure ?? backtrack(offset, expecting: "a statement")
    }

    /// The end of a statement: `;`, or the end of the text (REF `sep`).
    func separator(_ offset: Int) throws(SyntaxFailure) -> Int {
        let start = space0(offset)
        if start == bytes.count { return start }
        if bytes[start] == UInt8(ascii: ";") { return start + 1 }
        throw backtrack(start, expecting: "`;`")
    }

    /// `// …` up to the end of the line (`\n`, `\r\n` or the end of the text).
    private func lineComment(_ offset: Int) throws(SyntaxFailure) -> Int {
        let start = space0(offset)
        guard matches("//", at: start) else { throw backtrack(start, expecting: "a statement") }
        var end = start + 2
        while end < bytes.count, bytes[end] != UInt8(ascii: "\n"), bytes[end] != UInt8(ascii: "\r") { end += 1 }
        if end == bytes.count { return end }
        if bytes[end] == UInt8(ascii: "\n") { return end + 1 }
        if matches("\r\n", at: end) { return end + 2 }
        throw SyntaxFailure(kind: .definitive, offset: end, reason: "a lone carriage return ends a `//` comment; use \\n or \\r\\n")
    }

    /// `/* … */`.
    private func blockComment(_ offset: Int) throws(SyntaxFailure) -> Int {
        let start = space0(offset)
        guard matches("/*", at: start) else { throw backtrack(start, expecting: "a statement") }
        var end = start + 2
        while end + 1 < bytes.count {
            if bytes[end] == UInt8(ascii: "*") && bytes[end + 1] == UInt8(ascii: "/") { return end + 2 }
            end += 1
        }
        throw SyntaxFailure(kind: .definitive, offset: start, reason: "unterminated comment: `/*` without `*/`")
    }

    // MARK: - Statements

    /// `name(term, …)` with at least one term and no variables (REF `fact_inner`).
    func fact(_ offset: Int) throws(SyntaxFailure) -> (Fact, Int) {
        let start = space0(offset)
        let (name, afterName) = try name(start, expecting: "a statement")
        let open = space0(afterName)
        guard byte(at: open) == UInt8(ascii: "(") else { throw backtrack(open, expecting: "`(`") }
        let (terms, afterTerms) = try cut { () throws(SyntaxFailure) in
            try separatedList(open + 1, atLeastOne: true) { (at: Int) throws(SyntaxFailure) in
                try cut { () throws(SyntaxFailure) in try factTerm(at, statementStart: start) }
            }
        }
        let close = space0(afterTerms)
        guard byte(at: close) == UInt8(ascii: ")") else {
            throw backtrack(close, expecting: "`)` after the terms of \(name)")
        }
        return (Fact(name, terms), close + 1)
    }

    /// `head(terms) <- body`, whose head variables (and the variables of its expressions,
    /// outside closures) the body's predicates must bind (REF `rule_inner`).
    func rule(_ offset: Int) throws(SyntaxFailure) -> (Rule, Int) {
        let start = space0(offset)
        let (head, afterHead) = try ruleHead(start)
        let arrow = space0(afterHead)
        guard matches("<-", at: arrow) else { throw backtrack(arrow, expecting: "`<-`") }
        let (body, end) = try cut { () throws(SyntaxFailure) in try ruleBody(arrow + 2) }
        let rule = Rule(head: head, body: body.predicates, expressions: body.expressions, scopes: body.scopes)
        let unbound = Self.unboundVariables(of: rule)
        if !unbound.isEmpty {
            throw SyntaxFailure(
                kind: .definitive, offset: start,
                reason: "the rule's head or expressions use variables its body does not bind: " + unbound.map { "$" + $0 }.joined(separator: ", "),
                languageError: .unboundVariables(rule: rule.description, variables: unbound))
        }
        return (rule, end)
    }

    /// `check if …`, `check all …` or `reject if …`, queries joined by `or` (REF `check_inner`).
    func check(_ offset: Int) throws(SyntaxFailure) -> (Check, Int) {
        let start = space0(offset)
        let keywords: [(String, Check.Kind)] = [("check if", .one), ("check all", .all), ("reject if", .reject)]
        guard let (keyword, kind) = keywords.first(where: { matchesNoCase($0.0, at: start) }) else {
            throw backtrack(start, expecting: "a statement")
        }
        let keywordLength = keyword.utf8.count
        let (queries, end) = try cut { () throws(SyntaxFailure) in try checkBody(start + keywordLength) }
        return (Check(kind: kind, queries: queries), end)
    }

    /// `allow if …` or `deny if …` (REF `policy_inner`).
    func policy(_ offset: Int) throws(SyntaxFailure) -> (Policy, Int) {
        let start = space0(offset)
        let kind: Policy.Kind
        if matchesNoCase("allow if", at: start) {
            kind = .allow
        } else if matchesNoCase("deny if", at: start) {
            kind = .deny
        } else {
            throw backtrack(start, expecting: "a statement")
        }
        let (queries, end) = try cut { () throws(SyntaxFailure) in try checkBody(start + (kind == .allow ? 8 : 7)) }
        return (Policy(kind: kind, queries: queries), end)
    }

    /// Queries joined by `or` (case-insensitive), each a rule body with the head `query()`.
    private func checkBody(_ offset: Int) throws(SyntaxFailure) -> ([Rule], Int) {
        let separator = { (at: Int) -> Int? in
            let start = self.space0(at)
            guard self.matchesNoCase("or", at: start) else {
                self.recordExpectation(start, "`or`")
                return nil
            }
            return start + 2
        }
        let (bodies, end) = try separatedList(offset, atLeastOne: true, separator: separator) { (at: Int) throws(SyntaxFailure) in
            try cut { () throws(SyntaxFailure) in try ruleBody(space0(at)) }
        }
        return (bodies.map { Rule.query(body: $0.predicates, expressions: $0.expressions, scopes: $0.scopes) }, end)
    }

    /// The head of a rule: `name(term, …)`. The reference's `separated_list0(…, cut(term))`
    /// refuses an empty list, so a head needs a term too.
    private func ruleHead(_ offset: Int) throws(SyntaxFailure) -> (Predicate, Int) {
        let (name, afterName) = try name(offset, expecting: "a statement")
        let open = space0(afterName)
        guard byte(at: open) == UInt8(ascii: "(") else { throw backtrack(open, expecting: "`(`") }
        let (terms, afterTerms) = try cut { () throws(SyntaxFailure) in
            try separatedList(open + 1, atLeastOne: false) { (at: Int) throws(SyntaxFailure) in
                try cut { () throws(SyntaxFailure) in try term(at, in: .rule) }
            }
        }
        let close = space0(afterTerms)
        guard byte(at: close) == UInt8(ascii: ")") else {
            throw backtrack(close, expecting: "`)` after the terms of \(name)")
        }
        return (Predicate(name, terms), close + 1)
    }

    /// The parts of a rule body, in the order written within each kind.
    struct RuleBody {
        /// The predicates, in order.
        var predicates: [Predicate] = []
        /// The expressions, in order.
        var expressions: [Expression] = []
        /// The `trusting` scopes.
        var scopes: [Scope] = []
    }

    /// Predicates and expressions separated by `,`, then `trusting` scopes (REF `rule_body`).
    private func ruleBody(_ offset: Int) throws(SyntaxFailure) -> (RuleBody, Int) {
        var body = RuleBody()
        let (_, afterElements) = try separatedList(offset, atLeastOne: true) { (at: Int) throws(SyntaxFailure) -> (Void, Int) in
            try cut { () throws(SyntaxFailure) -> (Void, Int) in
                let start = space0(at)
                do throws(SyntaxFailure) {
                    let (predicate, end) = try predicate(start)
                    body.predicates.append(predicate)
                    return ((), end)
                } catch where error.kind == .backtrack {
                    let (ops, end) = try expression(start)
                    body.expressions.append(Expression(ops))
                    return ((), end)
                }
            }
        }
        let (scopes, end) = try scopes(afterElements)
        body.scopes = scopes
        return (body, end)
    }

    /// `name(term, …)` in a rule body: at least one term, variables allowed (REF `predicate`).
    private func predicate(_ offset: Int) throws(SyntaxFailure) -> (Predicate, Int) {
        let start = space0(offset)
        let (name, afterName) = try name(start, expecting: "a predicate")
        let open = space0(afterName)
        guard byte(at: open) == UInt8(ascii: "(") else { throw backtrack(open, expecting: "`(`") }
        let (terms, afterTerms) = try cut { () throws(SyntaxFailure) in
            try separatedList(open + 1, atLeastOne: true) { (at: Int) throws(SyntaxFailure) in
                try cut { () throws(SyntaxFailure) in try term(at, in: .rule) }
            }
        }
        let close = space0(afterTerms)
        guard byte(at: close) == UInt8(ascii: ")") else {
            throw backtrack(close, expecting: "`)` after the terms of \(name)")
        }
        return (Predicate(name, terms), close + 1)
    }

    /// ` trusting scope, …` or nothing (REF `scopes`). `trusting` needs no space after it.
    func scopes(_ offset: Int) throws(SyntaxFailure) -> ([Scope], Int) {
        let start = space0(offset)
        guard matches("trusting", at: start) else {
            recordExpectation(start, "`trusting`")
            return ([], offset)
        }
        return try separatedList(start + 8, atLeastOne: true) { (at: Int) throws(SyntaxFailure) in
            try cut { () throws(SyntaxFailure) in try scope(space0(at)) }
        }
    }

    /// `authority`, `previous`, `ed25519/<hex>`, `secp256r1/<hex>` or `{name}`.
    private func scope(_ offset: Int) throws(SyntaxFailure) -> (Scope, Int) {
        if matches("authority", at: offset) { return (.authority, offset + 9) }
        if matches("previous", at: offset) { return (.previous, offset + 8) }
        for algorithm in Algorithm.allCases {
            let prefix = algorithm.description + "/"
            guard matches(prefix, at: offset) else { continue }
            let (keyBytes, end) = try hexDigits(offset + prefix.utf8.count, what: "a public key")
            do throws(BiscuitError) {
                return (.publicKey(try PublicKey(algorithm: algorithm, bytes: keyBytes)), end)
            } catch {
                throw SyntaxFailure(kind: .definitive, offset: offset, reason: "\(algorithm)/… is not a valid \(algorithm) public key")
            }
        }
        if byte(at: offset) == UInt8(ascii: "{") {
            // REF reads a scope parameter's name with `name`, not `parameter_name`.
            let (name, afterName) = try self.name(offset + 1, expecting: "a parameter name")
            if byte(at: afterName) == UInt8(ascii: "}") { return (.parameter(name), afterName + 1) }
        }
        throw backtrack(offset, expecting: "a scope (authority, previous, ed25519/<hex>, secp256r1/<hex> or {parameter})")
    }

    // MARK: - Expressions

    /// An expression's operations, postfix (REF `expr`, level 0: `||`).
    func expression(_ offset: Int) throws(SyntaxFailure) -> ([Op], Int) {
        try nested(offset) { () throws(SyntaxFailure) in
            try leftAssociative(offset, operand: expressionAnd) { at in
                self.matches("||", at: at) ? (.lazyOr, 2) : nil
            }
        }
    }

    /// Level 1: `&&` (lazy: the right side becomes a closure).
    private func expressionAnd(_ offset: Int) throws(SyntaxFailure) -> ([Op], Int) {
        try leftAssociative(offset, operand: expressionComparison) { at in
            self.matches("&&", at: at) ? (.lazyAnd, 2) : nil
        }
    }

    /// Level 2: one comparison at most (non-associative).
    private func expressionComparison(_ offset: Int) throws(SyntaxFailure) -> ([Op], Int) {
        var (ops, end) = try expressionXor(offset)
        let operatorStart = space0(end)
        let comparisons: [(String, BinaryOperation)] = [
            ("<=", .lessOrEqual), (">=", .greaterOrEqual), ("<", .lessThan), (">", .greaterThan),
            ("===", .equal), ("!==", .notEqual), ("==", .heterogeneousEqual), ("!=", .heterogeneousNotEqual),
        ]
        guard let (text, operation) = comparisons.first(where: { matches($0.0, at: operatorStart) }) else {
            recordExpectation(operatorStart, "an operator")
            return (ops, end)
        }
        // REF: `if let Ok(..) = tuple(op, expr3)`: any failure on the right leaves the
        // comparison unread, and the text after it then fails the statement. A definitive
        // failure keeps its better reason.
        do throws(SyntaxFailure) {
            let (right, rightEnd) = try expressionXor(operatorStart + text.utf8.count)
            ops.append(contentsOf: right)
            ops.append(.binary(operation))
            end = rightEnd
            let next = space0(end)
            if comparisons.contains(where: { matches($0.0, at: next) }) {
                recordReason(next, "comparisons do not chain: add parentheses, as in (a < b) == c")
            }
        } catch where error.kind != .definitive {}
        return (ops, end)
    }

    /// Level 3: `^`.
    private func expressionXor(_ offset: Int) throws(SyntaxFailure) -> ([Op], Int) {
        try leftAssociative(offset, operand: expressionBitOr) { at in
            self.byte(at: at) == UInt8(ascii: "^") ? (.bitwiseXor, 1) : nil
        }
    }

    /// Level 4: `|` (a `||` is tried as `|` followed by an operand starting with `|`, which
    /// fails, as in the reference).
    private func expressionBitOr(_ offset: Int) throws(SyntaxFailure) -> ([Op], Int) {
        try leftAssociative(offset, operand: expressionBitAnd) { at in
            self.byte(at: at) == UInt8(ascii: "|") ? (.bitwiseOr, 1) : nil
        }
    }

    /// Level 5: `&`.
    private func expressionBitAnd(_ offset: Int) throws(SyntaxFailure) -> ([Op], Int) {
        try leftAssociative(offset, operand: expressionAdditive) { at in
            self.byte(at: at) == UInt8(ascii: "&") ? (.bitwiseAnd, 1) : nil
        }
    }

    /// Level 6: `+` and `-` (binary `-` is tried before a negative literal: `3 -1` is 3 - 1).
    private func expressionAdditive(_ offset: Int) throws(SyntaxFailure) -> ([Op], Int) {
        try leftAssociative(offset, operand: expressionMultiplicative) { at in
            switch self.byte(at: at) {
            case UInt8(ascii: "+"): return (.add, 1)
            case UInt8(ascii: "-"): return (.sub, 1)
            default: return nil
            }
        }
    }

    /// Level 7: `*` and `/`.
    private func expressionMultiplicative(_ offset: Int) throws(SyntaxFailure) -> ([Op], Int) {
        try leftAssociative(offset, operand: expressionNegation) { at in
            switch self.byte(at: at) {
            case UInt8(ascii: "*"): return (.mul, 1)
            case UInt8(ascii: "/"): return (.div, 1)
            default: return nil
            }
        }
    }

    /// Level 8: prefix `!`, whose operand is read at the additive level (the reference's
    /// quirk: `!a + b` is `!(a + b)`).
    private func expressionNegation(_ offset: Int) throws(SyntaxFailure) -> ([Op], Int) {
        let start = space0(offset)
        if byte(at: start) == UInt8(ascii: "!") {
            do throws(SyntaxFailure) {
                var (ops, end) = try nested(start) { () throws(SyntaxFailure) in try expressionAdditive(space0(start + 1)) }
                ops.append(.unary(.negate))
                return (ops, end)
            } catch where error.kind == .backtrack {}
        }
        return try expressionMethods(offset)
    }

    /// Level 9: a term or `(expression)`, then methods `.name(…)`, written with no space
    /// around the `.` or before the `(`.
    private func expressionMethods(_ offset: Int) throws(SyntaxFailure) -> ([Op], Int) {
        var (ops, end) = try expressionTerm(offset)
        while byte(at: end) == UInt8(ascii: ".") {
            let nameStart = end + 1
            var binaryFailure: SyntaxFailure?
            do throws(SyntaxFailure) {
                let (method, methodEnd) = try binaryMethod(nameStart)
                switch method.operation {
                case .tryOr:
                    ops = [.closure(parameters: [], body: ops)] + method.argument + [.binary(.tryOr)]
                default:
                    if let parameter = method.parameter {
                        ops.append(.closure(parameters: [parameter], body: method.argument))
                    } else {
                        ops.append(contentsOf: method.argument)
                    }
                    ops.append(.binary(method.operation))
                }
                end = methodEnd
                continue
            } catch {
                binaryFailure = error
            }
            do throws(SyntaxFailure) {
                let (operation, methodEnd) = try unaryMethod(nameStart)
                ops.append(.unary(operation))
                end = methodEnd
            } catch {
                if let binaryFailure, binaryFailure.kind == .definitive { throw binaryFailure }
                throw unknownMethod(at: nameStart, fallback: error)
            }
        }
        return (ops, end)
    }

    /// A method with an argument: its operation, its closure parameter (`.all`, `.any`) and
    /// the argument's operations.
    private struct BinaryMethod {
        /// The operation.
        var operation: BinaryOperation
        /// The closure's parameter, for `.all` and `.any`.
        var parameter: String?
        /// The argument's operations (the closure's body for `.all` and `.any`).
        var argument: [Op]
    }

    /// The names of the methods with an argument, in the reference's order of trial.
    private static let binaryMethodNames: [(String, BinaryOperation)] = [
        ("contains", .contains), ("starts_with", .prefix), ("ends_with", .suffix), ("matches", .regex),
        ("intersection", .intersection), ("union", .union), ("all", .all), ("any", .any), ("get", .get),
        ("try_or", .tryOr),
    ]

    /// `name(expression)`, `all($p -> expression)`, `any($p -> expression)` or
    /// `extern::name(expression)`, just after the `.`.
    private func binaryMethod(_ offset: Int) throws(SyntaxFailure) -> (BinaryMethod, Int) {
        var operation: BinaryOperation?
        var open = offset
        if let (text, named) = Self.binaryMethodNames.first(where: { matches($0.0, at: offset) }) {
            operation = named
            open = offset + text.utf8.count
        } else if matches("extern::", at: offset) {
            let (name, end) = try name(offset + 8)
            operation = .external(name)
            open = end
        }
        guard let operation else { throw backtrack(offset, expecting: "a method name") }
        guard byte(at: open) == UInt8(ascii: "(") else { throw backtrack(open, expecting: "`(`") }
        var start = space0(open + 1)
        var parameter: String?
        if operation == .all || operation == .any {
            guard byte(at: start) == UInt8(ascii: "$") else { throw backtrack(start, expecting: "a closure `$parameter -> expression`") }
            let (name, afterName) = try name(start + 1)
            let arrow = space0(afterName)
            guard matches("->", at: arrow) else { throw backtrack(arrow, expecting: "`->`") }
            parameter = name
            start = space0(arrow + 2)
        }
        let (argument, afterArgument) = try expression(start)
        let close = space0(afterArgument)
        guard byte(at: close) == UInt8(ascii: ")") else { throw backtrack(close, expecting: "`)` after the method's argument") }
        return (BinaryMethod(operation: operation, parameter: parameter, argument: argument), close + 1)
    }

    /// `length()`, `type()` or `extern::name()`, just after the `.`.
    private func unaryMethod(_ offset: Int) throws(SyntaxFailure) -> (UnaryOperation, Int) {
        let operation: UnaryOperation
        var open: Int
        if matches("length", at: offset) {
            (operation, open) = (.length, offset + 6)
        } else if matches("type", at: offset) {
            (operation, open) = (.typeOf, offset + 4)
        } else if matches("extern::", at: offset) {
            let (name, end) = try name(offset + 8)
            (operation, open) = (.external(name), end)
        } else {
            throw backtrack(offset, expecting: "a method name")
        }
        guard byte(at: open) == UInt8(ascii: "(") else { throw backtrack(open, expecting: "`(`") }
        open = space0(open + 1)
        guard byte(at: open) == UInt8(ascii: ")") else { throw backtrack(open, expecting: "`)`") }
        return (operation, open + 1)
    }

    /// The failure for a `.` followed by no method the grammar knows.
    private func unknownMethod(at offset: Int, fallback: SyntaxFailure) -> SyntaxFailure {
        var end = offset
        while end < bytes.count, Self.isNameByte(bytes[end]) { end += 1 }
        let isKnown = Self.binaryMethodNames.contains { $0.0 == text(offset, end) }
            || ["length", "type"].contains(text(offset, end)) || text(offset, end).hasPrefix("extern::")
        guard end > offset, !isKnown else { return fallback }
        let reason = "unknown method .\(text(offset, end))(); the methods are contains, starts_with, ends_with, matches, "
            + "intersection, union, all, any, get, try_or, length, type and extern::<name>"
        recordReason(offset, reason)
        return SyntaxFailure(kind: .backtrack, offset: offset, reason: reason)
    }

    /// `(expression)` (with a Parens operation) or a term (REF `expr_term`).
    private func expressionTerm(_ offset: Int) throws(SyntaxFailure) -> ([Op], Int) {
        let start = space0(offset)
        if byte(at: start) == UInt8(ascii: "(") {
            do throws(SyntaxFailure) {
                var (ops, afterInner) = try expression(space0(start + 1))
                let close = space0(afterInner)
                guard byte(at: close) == UInt8(ascii: ")") else { throw backtrack(close, expecting: "`)`") }
                ops.append(.unary(.parens))
                return (ops, close + 1)
            } catch where error.kind == .backtrack {}
        }
        let (term, end) = try term(start, in: .rule)
        return ([.value(term)], end)
    }

    /// An operand, then any number of `operator operand` read left to right. Lazy `&&` and
    /// `||` put their right operand in a closure without parameters.
    private func leftAssociative(
        _ offset: Int, operand: (Int) throws(SyntaxFailure) -> ([Op], Int), operation: (Int) -> (BinaryOperation, Int)?
    ) throws(SyntaxFailure) -> ([Op], Int) {
        var (ops, end) = try operand(offset)
        while true {
            let operatorStart = space0(end)
            guard let (binary, length) = operation(operatorStart) else {
                recordExpectation(operatorStart, "an operator")
                return (ops, end)
            }
            do throws(SyntaxFailure) {
                let (right, rightEnd) = try operand(operatorStart + length)
                if binary == .lazyAnd || binary == .lazyOr {
                    ops.append(.closure(parameters: [], body: right))
                } else {
                    ops.append(contentsOf: right)
                }
                ops.append(.binary(binary))
                end = rightEnd
            } catch where error.kind == .backtrack {
                return (ops, end)
            }
        }
    }

    // MARK: - Terms

    /// Where a term stands, which decides the kinds it may be and the order they are tried.
    enum TermPlace {
        /// A rule's head or body, an expression: anything, variables too (REF `term`).
        case rule
        /// A fact, an array or a map's value: no variables (REF `term_in_fact`).
        case fact
        /// A set's element: no variables, sets or arrays (REF `term_in_set`).
        case set
    }

    /// The kinds of term, as the reference's `alt` lists them.
    private enum TermKind {
        /// One kind each.
        case parameter, string, date, variable, integer, bytes, boolean, null, array, map, set
    }

    /// The kinds of a term in a rule or an expression, in the order the reference tries them
    /// (REF `term`); the lists below likewise.
    private static let ruleTermKinds: [TermKind] = [.parameter, .string, .date, .variable, .integer, .bytes, .boolean, .null, .array, .map, .set]
    /// The kinds of a term in a fact, an array or a map value (REF `term_in_fact`).
    private static let factTermKinds: [TermKind] = [.parameter, .string, .date, .integer, .bytes, .boolean, .null, .set, .array, .map]
    /// The kinds of a set's element (REF `term_in_set`).
    private static let setTermKinds: [TermKind] = [.parameter, .string, .date, .integer, .bytes, .boolean, .null, .map]

    /// A term at `offset` (after spaces).
    func term(_ offset: Int, in place: TermPlace) throws(SyntaxFailure) -> (Term, Int) {
        let start = space0(offset)
        let kinds: [TermKind]
        switch place {
        case .rule: kinds = Self.ruleTermKinds
        case .fact: kinds = Self.factTermKinds
        case .set: kinds = Self.setTermKinds
        }
        for kind in kinds {
            do throws(SyntaxFailure) {
                switch kind {
                case .parameter: return try parameter(start)
                case .string: return try string(start)
                case .date: return try date(start)
                case .variable: return try variable(start)
                case .integer: return try integer(start)
                case .bytes: return try bytesTerm(start)
                case .boolean: return try boolean(start)
                case .null: return try null(start)
                case .array: return try array(start)
                case .map: return try map(start)
                case .set: return try set(start)
                }
            } catch where error.kind == .backtrack {}
        }
        throw termFailure(at: start, in: place)
    }

    /// A term of a fact: as in an array, but a variable is a `variableInFact` error.
    private func factTerm(_ offset: Int, statementStart: Int) throws(SyntaxFailure) -> (Term, Int) {
        let start = space0(offset)
        if byte(at: start) == UInt8(ascii: "$") {
            var end = start
            while end < bytes.count, bytes[end] != UInt8(ascii: ";"), bytes[end] != UInt8(ascii: "\n") { end += 1 }
            let factText = String(decoding: bytes[statementStart..<end], as: UTF8.self)
            throw SyntaxFailure(kind: .definitive, offset: start, reason: "a fact cannot hold a variable", languageError: .variableInFact(factText))
        }
        return try term(start, in: .fact)
    }

    /// Why no term could be read at `offset`.
    private func termFailure(at offset: Int, in place: TermPlace) -> SyntaxFailure {
        switch (place, byte(at: offset)) {
        case (.fact, UInt8(ascii: "$")):
            return SyntaxFailure(kind: .definitive, offset: offset, reason: "an array or a map cannot hold a variable")
        case (.set, UInt8(ascii: "$")):
            return SyntaxFailure(kind: .definitive, offset: offset, reason: "a set cannot hold a variable")
        case (.set, UInt8(ascii: "[")):
            return SyntaxFailure(kind: .definitive, offset: offset, reason: "a set cannot hold an array")
        default:
            return backtrack(offset, expecting: "a term")
        }
    }

    /// `{name}`: a parameter.
    private func parameter(_ offset: Int) throws(SyntaxFailure) -> (Term, Int) {
        guard byte(at: offset) == UInt8(ascii: "{") else { throw backtrack(offset, expecting: "a term") }
        let (name, end) = try parameterName(offset + 1)
        guard byte(at: end) == UInt8(ascii: "}") else { throw backtrack(end, expecting: "`}`") }
        return (.parameter(name), end + 1)
    }

    /// A quoted string.
    private func string(_ offset: Int) throws(SyntaxFailure) -> (Term, Int) {
        let (value, end) = try quotedString(offset)
        return (.string(value), end)
    }

    /// An RFC 3339 date, tried before integers.
    private func date(_ offset: Int) throws(SyntaxFailure) -> (Term, Int) {
        switch DateText.read(bytes, at: offset) {
        case .notADate: throw backtrack(offset, expecting: "a term")
        case .date(let seconds, let end): return (.date(seconds), end)
        case .invalid(let reason): throw SyntaxFailure(kind: .definitive, offset: offset, reason: "invalid date: " + reason)
        }
    }

    /// `$name`.
    private func variable(_ offset: Int) throws(SyntaxFailure) -> (Term, Int) {
        guard byte(at: offset) == UInt8(ascii: "$") else { throw backtrack(offset, expecting: "a term") }
        let (name, end) = try name(offset + 1)
        return (.variable(name), end)
    }

    /// A 64-bit integer, `-`?[0-9]+.
    private func integer(_ offset: Int) throws(SyntaxFailure) -> (Term, Int) {
        let (value, end) = try integerValue(offset)
        return (.integer(value), end)
    }

    /// `hex:` and an even number of hex digits.
    private func bytesTerm(_ offset: Int) throws(SyntaxFailure) -> (Term, Int) {
        guard matches("hex:", at: offset) else { throw backtrack(offset, expecting: "a term") }
        let (value, end) = try hexDigits(offset + 4, what: "bytes")
        return (.bytes(value), end)
    }

    /// `true` or `false`.
    private func boolean(_ offset: Int) throws(SyntaxFailure) -> (Term, Int) {
        if matches("true", at: offset) { return (.bool(true), offset + 4) }
        if matches("false", at: offset) { return (.bool(false), offset + 5) }
        throw backtrack(offset, expecting: "a term")
    }

    /// `null`.
    private func null(_ offset: Int) throws(SyntaxFailure) -> (Term, Int) {
        guard matches("null", at: offset) else { throw backtrack(offset, expecting: "a term") }
        return (.null, offset + 4)
    }

    /// `[term, …]`, elements read as in a fact.
    private func array(_ offset: Int) throws(SyntaxFailure) -> (Term, Int) {
        let open = space0(offset)
        guard byte(at: open) == UInt8(ascii: "[") else { throw backtrack(open, expecting: "a term") }
        return try nested(open) { () throws(SyntaxFailure) in
            let (elements, afterElements) = try cut { () throws(SyntaxFailure) in
                try separatedList(open + 1, atLeastOne: false) { (at: Int) throws(SyntaxFailure) in try term(at, in: .fact) }
            }
            let close = space0(afterElements)
            guard byte(at: close) == UInt8(ascii: "]") else { throw backtrack(close, expecting: "`]`") }
            return (.array(elements), close + 1)
        }
    }

    /// `{key: term, …}` (`{}` is the empty map); keys are strings, integers or `{parameters}`.
    private func map(_ offset: Int) throws(SyntaxFailure) -> (Term, Int) {
        let open = space0(offset)
        guard byte(at: open) == UInt8(ascii: "{") else { throw backtrack(open, expecting: "a term") }
        return try nested(open) { () throws(SyntaxFailure) in
            let (entries, afterEntries) = try cut { () throws(SyntaxFailure) in
                try separatedList(open + 1, atLeastOne: false) { (at: Int) throws(SyntaxFailure) -> (MapEntry, Int) in
                    let (key, afterKey) = try mapKey(at)
                    let colon = space0(afterKey)
                    guard byte(at: colon) == UInt8(ascii: ":") else { throw backtrack(colon, expecting: "`:`") }
                    let (value, end) = try term(colon + 1, in: .fact)
                    return (MapEntry(key: key, value: value), end)
                }
            }
            let close = space0(afterEntries)
            guard byte(at: close) == UInt8(ascii: "}") else { throw backtrack(close, expecting: "`}`") }
            return (.map(entries), close + 1)
        }
    }

    /// A map's key: `{name}`, a string or an integer.
    private func mapKey(_ offset: Int) throws(SyntaxFailure) -> (MapKey, Int) {
        let start = space0(offset)
        if byte(at: start) == UInt8(ascii: "{") {
            do throws(SyntaxFailure) {
                let (name, end) = try parameterName(start + 1)
                if byte(at: end) == UInt8(ascii: "}") { return (.parameter(name), end + 1) }
            } catch where error.kind == .backtrack {}
        }
        do throws(SyntaxFailure) {
            let (value, end) = try quotedString(start)
            return (.string(value), end)
        } catch where error.kind == .backtrack {}
        do throws(SyntaxFailure) {
            let (value, end) = try integerValue(start)
            return (.integer(value), end)
        } catch where error.kind == .backtrack {}
        throw backtrack(start, expecting: "a map key (a string, an integer or a {parameter})")
    }

    /// `{,}` (the empty set) or `{term, …}` with elements of one kind.
    private func set(_ offset: Int) throws(SyntaxFailure) -> (Term, Int) {
        if matches("{,}", at: offset) { return (.set([]), offset + 3) }
        let open = space0(offset)
        guard byte(at: open) == UInt8(ascii: "{") else { throw backtrack(open, expecting: "a term") }
        if byte(at: space0(open + 1)) == UInt8(ascii: "}") {
            // Sets are tried before maps only where a term is read as in a fact (facts, arrays,
            // map values), and there the reference's cut refuses `{}`.
            throw SyntaxFailure(
                kind: .definitive, offset: open,
                reason: "`{}` (the empty map) cannot stand in a fact, an array or a map's value, where it is read as a set; the empty set is `{,}`")
        }
        return try nested(open) { () throws(SyntaxFailure) in
            let (elements, afterElements) = try cut { () throws(SyntaxFailure) in
                try separatedList(open + 1, atLeastOne: true) { (at: Int) throws(SyntaxFailure) in try term(at, in: .set) }
            }
            // REF checks the kinds before looking for the closing brace.
            if let first = elements.first, elements.contains(where: { Self.kindIndex($0) != Self.kindIndex(first) }) {
                throw SyntaxFailure(kind: .definitive, offset: open, reason: "the elements of a set must all be of one kind")
            }
            let close = space0(afterElements)
            guard byte(at: close) == UInt8(ascii: "}") else { throw backtrack(close, expecting: "`}`") }
            return (.set(elements), close + 1)
        }
    }

    // MARK: - Lexical pieces

    /// `[A-Za-z0-9_:]+`.
    func name(_ offset: Int, expecting expectation: String = "a name") throws(SyntaxFailure) -> (String, Int) {
        var end = offset
        while end < bytes.count, Self.isNameByte(bytes[end]) { end += 1 }
        guard end > offset else { throw backtrack(offset, expecting: expectation) }
        return (text(offset, end), end)
    }

    /// `[A-Za-z][A-Za-z0-9_:]*`: a parameter's name.
    private func parameterName(_ offset: Int) throws(SyntaxFailure) -> (String, Int) {
        guard let first = byte(at: offset), Self.isLetter(first) else {
            throw backtrack(offset, expecting: "a parameter name (a letter, then letters, digits, `_` or `:`)")
        }
        var end = offset + 1
        while end < bytes.count, Self.isNameByte(bytes[end]) { end += 1 }
        return (text(offset, end), end)
    }

    /// `""`, or `"…"` with the escapes `\\`, `\"` and `\n` only.
    private func quotedString(_ offset: Int) throws(SyntaxFailure) -> (String, Int) {
        guard byte(at: offset) == UInt8(ascii: "\"") else { throw backtrack(offset, expecting: "a term") }
        var value: [UInt8] = []
        var index = offset + 1
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\""):
                return (String(decoding: value, as: UTF8.self), index + 1)
            case UInt8(ascii: "\\"):
                switch byte(at: index + 1) {
                case UInt8(ascii: "\\"): value.append(UInt8(ascii: "\\"))
                case UInt8(ascii: "\""): value.append(UInt8(ascii: "\""))
                case UInt8(ascii: "n"): value.append(UInt8(ascii: "\n"))
                case nil:
                    throw SyntaxFailure(kind: .definitive, offset: offset, reason: "unterminated string")
                case .some:
                    throw SyntaxFailure(kind: .definitive, offset: index, reason: "unknown escape in a string: only \\\\, \\\" and \\n are allowed")
                }
                index += 2
            default:
                value.append(bytes[index])
                index += 1
            }
        }
        throw SyntaxFailure(kind: .definitive, offset: offset, reason: "unterminated string: `\"` without a closing `\"`")
    }

    /// `-`?[0-9]+ as a 64-bit integer.
    private func integerValue(_ offset: Int) throws(SyntaxFailure) -> (Int64, Int) {
        var end = offset
        if byte(at: end) == UInt8(ascii: "-") { end += 1 }
        let digitsStart = end
        while end < bytes.count, Self.isDigit(bytes[end]) { end += 1 }
        guard end > digitsStart else { throw backtrack(offset, expecting: "a term") }
        guard let value = Int64(text(offset, end)) else {
            throw SyntaxFailure(kind: .definitive, offset: offset, reason: "integer \(text(offset, end)) does not fit in 64 bits")
        }
        return (value, end)
    }

    /// An even number of hex digits (either case), as bytes.
    private func hexDigits(_ offset: Int, what: String) throws(SyntaxFailure) -> ([UInt8], Int) {
        var end = offset
        while end < bytes.count, Self.isHexDigit(bytes[end]) { end += 1 }
        guard end > offset else { throw SyntaxFailure(kind: .definitive, offset: offset, reason: "expected hex digits for \(what)") }
        guard let value = Hex.decode(text(offset, end)) else {
            throw SyntaxFailure(kind: .definitive, offset: offset, reason: "odd number of hex digits (\(end - offset)) in \(what)")
        }
        return (value, end)
    }

    // MARK: - Combinators and helpers

    /// `[ \t\r\n]*`.
    func space0(_ offset: Int) -> Int {
        var end = offset
        while end < bytes.count {
            switch bytes[end] {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"), UInt8(ascii: "\n"): end += 1
            default: return end
            }
        }
        return end
    }

    /// nom's `separated_list0`/`separated_list1` with the separator `,` (after spaces) unless
    /// another is given: a failing element after a separator ends the list before the
    /// separator; a cut or definitive failure goes up.
    private func separatedList<Element>(
        _ offset: Int, atLeastOne: Bool, separator: ((Int) -> Int?)? = nil,
        element: (Int) throws(SyntaxFailure) -> (Element, Int)
    ) throws(SyntaxFailure) -> ([Element], Int) {
        var elements: [Element] = []
        var end: Int
        do throws(SyntaxFailure) {
            let (first, firstEnd) = try element(offset)
            elements.append(first)
            end = firstEnd
        } catch where error.kind == .backtrack && !atLeastOne {
            return ([], offset)
        }
        while true {
            let next: Int?
            if let separator {
                next = separator(end)
            } else {
                let start = space0(end)
                if byte(at: start) == UInt8(ascii: ",") {
                    next = start + 1
                } else {
                    recordExpectation(start, "`,`")
                    next = nil
                }
            }
            guard let next else { return (elements, end) }
            do throws(SyntaxFailure) {
                let (value, valueEnd) = try element(next)
                elements.append(value)
                end = valueEnd
            } catch where error.kind == .backtrack {
                return (elements, end)
            }
        }
    }

    /// nom's `cut`: a backtracking failure of `body` becomes a cut.
    private func cut<Value>(_ body: () throws(SyntaxFailure) -> Value) throws(SyntaxFailure) -> Value {
        do throws(SyntaxFailure) {
            return try body()
        } catch {
            guard error.kind == .backtrack else { throw error }
            throw SyntaxFailure(kind: .cut, offset: error.offset, reason: error.reason)
        }
    }

    /// Runs `body` one level deeper, refusing to go past `DatalogParser.maximumNestingDepth`.
    private func nested<Value>(_ offset: Int, _ body: () throws(SyntaxFailure) -> Value) throws(SyntaxFailure) -> Value {
        guard depth < DatalogParser.maximumNestingDepth else {
            throw SyntaxFailure(
                kind: .definitive, offset: offset,
                reason: "nested more than \(DatalogParser.maximumNestingDepth) levels deep (parentheses, collections, closures, !)")
        }
        depth += 1
        defer { depth -= 1 }
        return try body()
    }

    /// A backtracking failure at `offset`, and a note of what was expected there.
    private func backtrack(_ offset: Int, expecting expectation: String) -> SyntaxFailure {
        recordExpectation(offset, expectation)
        return SyntaxFailure(kind: .backtrack, offset: offset, reason: "expected " + expectation)
    }

    /// Notes that `expectation` was looked for at `offset`, for the error message.
    private func recordExpectation(_ offset: Int, _ expectation: String) {
        if offset > furthestOffset {
            furthestOffset = offset
            furthestExpected = [expectation]
            furthestReason = nil
        } else if offset == furthestOffset, !furthestExpected.contains(expectation) {
            furthestExpected.append(expectation)
        }
    }

    /// Notes a full reason for a failure at `offset`, for the error message.
    private func recordReason(_ offset: Int, _ reason: String) {
        if offset >= furthestOffset {
            if offset > furthestOffset { furthestExpected = [] }
            furthestOffset = offset
            furthestReason = reason
        }
    }

    /// The byte at `offset`, nil past the end.
    func byte(at offset: Int) -> UInt8? {
        offset >= 0 && offset < bytes.count ? bytes[offset] : nil
    }

    /// Whether `literal` is at `offset`, exactly.
    func matches(_ literal: String, at offset: Int) -> Bool {
        var index = offset
        for expected in literal.utf8 {
            guard index < bytes.count, bytes[index] == expected else { return false }
            index += 1
        }
        return true
    }

    /// Whether `literal` is at `offset`, ignoring ASCII case (REF `tag_no_case`).
    private func matchesNoCase(_ literal: String, at offset: Int) -> Bool {
        var index = offset
        for expected in literal.utf8 {
            guard index < bytes.count, Self.lowercased(bytes[index]) == Self.lowercased(expected) else { return false }
            index += 1
        }
        return true
    }

    /// The text between two offsets (at character boundaries).
    func text(_ start: Int, _ end: Int) -> String {
        String(decoding: bytes[start..<end], as: UTF8.self)
    }

    /// An ASCII letter in lower case; any other byte as it is.
    private static func lowercased(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte + 32 : byte
    }

    /// `[0-9]`.
    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    /// `[A-Za-z]`.
    private static func isLetter(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
    }

    /// `[0-9A-Fa-f]`.
    private static func isHexDigit(_ byte: UInt8) -> Bool {
        isDigit(byte) || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "f")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "F"))
    }

    /// `[A-Za-z0-9_:]`. The reference tests `(c as u8).is_alphanumeric()`, which also lets
    /// through characters past U+00FF whose low byte is a letter or digit; we keep to ASCII.
    static func isNameByte(_ byte: UInt8) -> Bool {
        isDigit(byte) || isLetter(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ":")
    }

    /// The reference's kind number of a set element, for the one-kind rule.
    private static func kindIndex(_ term: Term) -> Int {
        switch term {
        case .variable: return 0
        case .integer: return 2
        case .string: return 3
        case .date: return 4
        case .bytes: return 5
        case .bool: return 6
        case .setValue: return 1
        case .parameter: return 7
        case .null: return 8
        case .array: return 9
        case .mapValue: return 10
        }
    }

    /// The variables of the head, and of the expressions' top-level values, that no term of a
    /// body predicate is (REF `Rule::validate_variables`: variables inside closures are not
    /// looked at), in the order they first appear.
    static func unboundVariables(of rule: Rule) -> [String] {
        var used: [String] = []
        func use(_ name: String) { if !used.contains(name) { used.append(name) } }
        for term in rule.head.terms { if case .variable(let name) = term { use(name) } }
        for expression in rule.expressions {
            for op in expression.ops { if case .value(.variable(let name)) = op { use(name) } }
        }
        var bound = Set<String>()
        for predicate in rule.body {
            for term in predicate.terms { if case .variable(let name) = term { bound.insert(name) } }
        }
        return used.filter { !bound.contains($0) }
    }
}
