/// The statements of a Datalog source text: a block's (facts, rules, checks) or an
/// authorizer's (and its policies), each kind in the order written.
struct DatalogSource: Hashable, Sendable {
    /// The facts.
    var facts: [Fact]
    /// The rules.
    var rules: [Rule]
    /// The checks.
    var checks: [Check]
    /// The policies; always empty for a block.
    var policies: [Policy]

    /// A source with these statements.
    init(facts: [Fact] = [], rules: [Rule] = [], checks: [Check] = [], policies: [Policy] = []) {
        self.facts = facts
        self.rules = rules
        self.checks = checks
        self.policies = policies
    }
}

/// Reads Datalog text as the reference implementation's parser (biscuit-parser 0.2.0, in
/// biscuit-auth 6.0.0) does: the same texts are accepted and give the same facts, rules, checks,
/// policies and expression operations; every other text is refused with a line, a column and a
/// reason (digest §10).
///
/// Where the reference is odd, we are too, on purpose: keywords are case-insensitive with
/// exactly one space (`check if`), `!` takes its operand at the additive level, a date must be
/// followed by a space, `,`, `)`, `]`, `}` or `;`, a rule head needs a term, an authorizer text
/// of spaces only is refused, a block's leading `trusting …;` is read and dropped. What we do
/// differently: names are ASCII only, and the limits below.
enum DatalogParser {
    /// The longest text read, in UTF-8 bytes.
    static let maximumTextBytes = 1 << 20
    /// How deeply parentheses, `!`, closures, method arguments and collections may nest.
    static let maximumNestingDepth = 64

    /// A block's source: facts, rules, checks and comments. A leading `trusting <scopes>;` is
    /// read and discarded, as the reference's `BlockBuilder::code` does; policies are refused.
    /// - Throws: `BiscuitError.language`: `.parse` with where and why, `.unboundVariables` for a
    ///   rule whose head or expressions use variables its body does not bind, `.variableInFact`.
    static func parseBlock(_ text: String) throws(BiscuitError) -> DatalogSource {
        try parseSource(text, allowingPolicies: false)
    }

    /// An authorizer's source: facts, rules, checks, policies and comments.
    /// - Throws: as `parseBlock`.
    static func parseAuthorizer(_ text: String) throws(BiscuitError) -> DatalogSource {
        try parseSource(text, allowingPolicies: true)
    }

    /// One fact, `name(term, …)`, with an optional `;`.
    /// - Throws: as `parseBlock`.
    static func parseFact(_ text: String) throws(BiscuitError) -> Fact {
        try parseWhole(text) { grammar, offset throws(SyntaxFailure) in try grammar.fact(offset) }
    }

    /// One rule, `head(…) <- body`, with an optional `;`.
    /// - Throws: as `parseBlock`.
    static func parseRule(_ text: String) throws(BiscuitError) -> Rule {
        try parseWhole(text) { grammar, offset throws(SyntaxFailure) in try grammar.rule(offset) }
    }

    /// One check, `check if …`, `check all …` or `reject if …`, with an optional `;`.
    /// - Throws: as `parseBlock`.
    static func parseCheck(_ text: String) throws(BiscuitError) -> Check {
        try parseWhole(text) { grammar, offset throws(SyntaxFailure) in try grammar.check(offset) }
    }

    /// One policy, `allow if …` or `deny if …`, with an optional `;`.
    /// - Throws: as `parseBlock`.
    static func parsePolicy(_ text: String) throws(BiscuitError) -> Policy {
        try parseWhole(text) { grammar, offset throws(SyntaxFailure) in try grammar.policy(offset) }
    }

    /// One term as a rule holds it (variables allowed; `{}` is the empty map).
    /// - Throws: as `parseBlock`.
    static func parseTerm(_ text: String) throws(BiscuitError) -> Term {
        try parseWhole(text) { grammar, offset throws(SyntaxFailure) in try grammar.term(offset, in: .rule) }
    }

    /// One expression, as its postfix operations.
    /// - Throws: as `parseBlock`.
    static func parseExpression(_ text: String) throws(BiscuitError) -> Expression {
        Expression(try parseWhole(text) { grammar, offset throws(SyntaxFailure) in try grammar.expression(offset) })
    }

    // MARK: - Private helpers

    /// Reads a whole source text into its statements.
    private static func parseSource(_ text: String, allowingPolicies: Bool) throws(BiscuitError) -> DatalogSource {
        try checkLength(text)
        let grammar = DatalogGrammar(text)
        let statements: [DatalogStatement]
        do throws(SyntaxFailure) {
            statements = try grammar.source(allowingPolicies: allowingPolicies)
        } catch {
            throw report(error, in: grammar)
        }
        var source = DatalogSource()
        for statement in statements {
            switch statement {
            case .fact(let fact): source.facts.append(fact)
            case .rule(let rule): source.rules.append(rule)
            case .check(let check): source.checks.append(check)
            case .policy(let policy): source.policies.append(policy)
            case .comment: break
            }
        }
        return source
    }

    /// Reads one `parse` at the start of `text`, then an optional `;`, then nothing but spaces.
    private static func parseWhole<Value>(
        _ text: String, _ parse: (DatalogGrammar, Int) throws(SyntaxFailure) -> (Value, Int)
    ) throws(BiscuitError) -> Value {
        try checkLength(text)
        let grammar = DatalogGrammar(text)
        do throws(SyntaxFailure) {
            let (value, end) = try parse(grammar, 0)
            var rest = grammar.space0(end)
            if grammar.byte(at: rest) == UInt8(ascii: ";") { rest = grammar.space0(rest + 1) }
            guard rest == grammar.bytes.count else {
                throw SyntaxFailure(kind: .definitive, offset: rest, reason: "unexpected text after the statement: " + describe(grammar, at: rest))
            }
            return value
        } catch {
            throw report(error, in: grammar)
        }
    }

    /// Refuses a text longer than `maximumTextBytes`.
    private static func checkLength(_ text: String) throws(BiscuitError) {
        let count = text.utf8.count
        guard count <= maximumTextBytes else {
            throw .language(.parse(line: 1, column: 1, reason: "the text is \(count) bytes long, more than the \(maximumTextBytes) allowed"))
        }
    }

    /// The error to report for a failure: its own reason when it has one, else what was
    /// expected at the furthest point the grammar reached.
    private static func report(_ failure: SyntaxFailure, in grammar: DatalogGrammar) -> BiscuitError {
        if let languageError = failure.languageError { return .language(languageError) }
        let offset: Int
        let reason: String
        if failure.kind == .definitive || grammar.furthestOffset < 0 {
            (offset, reason) = (failure.offset, failure.reason)
        } else if let furthestReason = grammar.furthestReason {
            (offset, reason) = (grammar.furthestOffset, furthestReason)
        } else {
            offset = grammar.furthestOffset
            reason = "expected " + list(grammar.furthestExpected) + ", found " + describe(grammar, at: offset)
        }
        let (line, column) = position(of: offset, in: grammar.bytes)
        return .language(.parse(line: line, column: column, reason: reason))
    }

    /// `a`, `a or b`, `a, b or c`.
    private static func list(_ items: [String]) -> String {
        guard let last = items.last else { return "something else" }
        return items.count == 1 ? last : items.dropLast().joined(separator: ", ") + " or " + last
    }

    /// The text at `offset`, quoted and cut short, for a message.
    private static func describe(_ grammar: DatalogGrammar, at offset: Int) -> String {
        guard offset < grammar.bytes.count else { return "the end of the text" }
        var end = offset
        var characters = 0
        while end < grammar.bytes.count, characters < 24 {
            let byte = grammar.bytes[end]
            if end > offset && (byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\t")) { break }
            if byte & 0xC0 != 0x80 { characters += 1 }
            end += 1
        }
        while end < grammar.bytes.count, grammar.bytes[end] & 0xC0 == 0x80 { end += 1 }
        return "`" + grammar.text(offset, end) + "`"
    }

    /// The 1-based line and column (in Unicode scalars) of a UTF-8 offset.
    private static func position(of offset: Int, in bytes: [UInt8]) -> (line: Int, column: Int) {
        var line = 1
        var column = 1
        for byte in bytes[0..<min(offset, bytes.count)] {
            if byte == UInt8(ascii: "\n") {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {
                column += 1
            }
        }
        return (line, column)
    }
}
