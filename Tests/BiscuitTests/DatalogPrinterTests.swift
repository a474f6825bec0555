import Testing

@testable import Biscuit

@Suite struct DatalogPrinterTests {
    @Test func termsPrintAsTheReferencePrintsThem() {
        #expect(Term.integer(-5).description == "-5")
        #expect(Term.string("a\"b\\c").description == "\"a\"b\\c\"")  // raw, never escaped
        #expect(Term.date(1_545_264_000).description == "2018-12-20T00:00:00Z")
        #expect(Term.date(0).description == "1970-01-01T00:00:00Z")
        #expect(Term.bytes([0xAB, 0x01]).description == "hex:ab01")
        #expect(Term.bool(false).description == "false")
        #expect(Term.null.description == "null")
        #expect(Term.variable("x").description == "$x")
        #expect(Term.parameter("p").description == "{p}")
        #expect(Term.set([.string("b"), .string("a")]).description == "{\"a\", \"b\"}")
        #expect(Term.set([]).description == "{,}")
        #expect(Term.array([.integer(1), .array([])]).description == "[1, []]")
        #expect(Term.map([]).description == "{}")
        #expect(
            Term.map([MapEntry(key: .string("a"), value: .integer(1)), MapEntry(key: .integer(2), value: .null)]).description
                == "{2: null, \"a\": 1}")
    }

    @Test func datesOutsideTheYears0To9999PrintAsTheReferenceDoes() {
        #expect(Term.date(253_402_300_799).description == "9999-12-31T23:59:59Z")
        #expect(Term.date(253_402_300_800).description == "<invalid date>")
        // The reference converts with `as i64`: past 2^63 the seconds are negative.
        #expect(Term.date(UInt64.max).description == "1969-12-31T23:59:59Z")
        #expect(Term.date(UInt64(bitPattern: -62_167_219_200)).description == "0000-01-01T00:00:00Z")
        #expect(Term.date(UInt64(bitPattern: -62_167_219_201)).description == "<invalid date>")
    }

    @Test func expressionsPrintParenthesesOnlyWhereAParensOperationIs() {
        let ops: [Op] = [.value(.integer(1)), .value(.integer(2)), .binary(.add), .value(.integer(3)), .binary(.mul)]
        #expect(Expression(ops).description == "1 + 2 * 3")
        #expect(Expression([.value(.integer(1)), .value(.integer(1)), .binary(.add), .unary(.negate)]).description == "!1 + 1")
    }

    @Test func closuresPrintAsTheirBodyOrWithTheirParameters() {
        let lazy = Expression([.value(.bool(true)), .closure(parameters: [], body: [.value(.bool(false))]), .binary(.lazyOr)])
        #expect(lazy.description == "true || false")
        let all = Expression([.value(.variable("s")), .closure(parameters: ["p"], body: [.value(.variable("p"))]), .binary(.all)])
        #expect(all.description == "$s.all($p -> $p)")
        let two = Expression([.value(.variable("s")), .closure(parameters: ["p", "q"], body: [.value(.variable("p"))]), .binary(.any)])
        #expect(two.description == "$s.any($p, $q -> $p)")
        let tryOr = Expression([.closure(parameters: [], body: [.value(.integer(1)), .unary(.length)]), .value(.integer(0)), .binary(.tryOr)])
        #expect(tryOr.description == "1.length().try_or(0)")
    }

    @Test func legacyEagerOperatorsAndExternalsPrintAsTheReferenceDoes() {
        #expect(Expression([.value(.bool(true)), .value(.bool(false)), .binary(.and)]).description == "true &&! false")
        #expect(Expression([.value(.bool(true)), .value(.bool(false)), .binary(.or)]).description == "true ||! false")
        #expect(Expression([.value(.integer(1)), .unary(.external("f"))]).description == "1.extern::f()")
        #expect(Expression([.value(.integer(1)), .value(.integer(2)), .binary(.external("f"))]).description == "1.extern::f(2)")
        #expect(Expression([.value(.integer(1)), .unary(.typeOf)]).description == "1.type()")
    }

    @Test func malformedExpressionsPrintAsInvalid() {
        #expect(Expression([.binary(.add)]).description == "<invalid expression>")
        #expect(Expression([.value(.integer(1)), .value(.integer(2))]).description == "<invalid expression>")
        #expect(Expression([]).description == "<invalid expression>")
    }

    @Test func statementsPrintAsTheReferencePrintsThem() throws {
        let key = try PublicKey("ed25519/acdd6d5b53bfee478bf689f8e012fe7988bf755e3d7c5152947abc149bc20189")
        let rule = Rule(
            head: Predicate("r", [.variable("x")]), body: [Predicate("a", [.variable("x")])],
            expressions: [Expression([.value(.variable("x")), .value(.integer(1)), .binary(.greaterThan)])],
            scopes: [.authority, .publicKey(key), .parameter("k")])
        #expect(rule.description == "r($x) <- a($x), $x > 1 trusting authority, \(key), {k}")
        let onlyExpression = Rule.query(body: [], expressions: [Expression([.value(.bool(true))])])
        #expect(Check(kind: .reject, queries: [onlyExpression, onlyExpression]).description == "reject if true or true")
        #expect(Check(kind: .all, queries: [onlyExpression]).description == "check all true")
        #expect(Policy(kind: .deny, queries: [onlyExpression]).description == "deny if true")
        #expect(Policy(kind: .allow, queries: []).description == "allow")
        #expect(Fact("f", [.string("x")]).description == "f(\"x\")")
    }

    @Test func blocksAndAuthorizersPrintInTheSamplesLayout() throws {
        let source = try DatalogParser.parseAuthorizer("allow if true; c(1) <- d(1); a(1); check if e(1); b(2);")
        #expect(DatalogPrinter.printBlock(facts: source.facts, rules: source.rules, checks: source.checks)
            == "a(1);\nb(2);\nc(1) <- d(1);\ncheck if e(1);\n")
        #expect(DatalogPrinter.printAuthorizer(facts: source.facts, rules: source.rules, checks: source.checks, policies: source.policies)
            == "a(1);\nb(2);\n\nc(1) <- d(1);\n\ncheck if e(1);\n\nallow if true;\n")
        #expect(DatalogPrinter.printAuthorizer(facts: [], rules: [], checks: [], policies: source.policies) == "allow if true;\n")
        #expect(DatalogPrinter.printAuthorizer(facts: [], rules: [], checks: [], policies: []) == "")
    }
}

@Suite struct DatalogParameterTests {
    static let key = "ed25519/acdd6d5b53bfee478bf689f8e012fe7988bf755e3d7c5152947abc149bc20189"

    @Test func parametersAreReplacedInTermsMapKeysClosuresAndScopes() throws {
        let source = try DatalogParser.parseAuthorizer(
            """
            user({id}, [{id}], {"k": {id}}, {{key}: 1});
            r($x) <- a($x, {n}) trusting {tp};
            check if [1].any($p -> $p == {n}) trusting {tp};
            allow if {flag};
            """)
        let applied = try source.applying(
            parameters: ["id": .string("alice"), "n": .integer(1), "key": .string("k2"), "flag": .bool(true), "unused": .null],
            scopeParameters: ["tp": try PublicKey(Self.key), "unusedKey": try PublicKey(Self.key)])
        let printed = DatalogPrinter.printAuthorizer(facts: applied.facts, rules: applied.rules, checks: applied.checks, policies: applied.policies)
        #expect(
            printed == """
                user("alice", ["alice"], {"k": "alice"}, {"k2": 1});

                r($x) <- a($x, 1) trusting \(Self.key);

                check if [1].any($p -> $p == 1) trusting \(Self.key);

                allow if true;

                """)
    }

    @Test func missingParametersAreNamed() throws {
        let source = try DatalogParser.parseAuthorizer("a({x}); check if b({y}) trusting {k}; allow if {x};")
        #expect(throws: BiscuitError.language(.parameters(missing: ["x", "y", "k"], unused: []))) {
            try source.applying(parameters: [:], scopeParameters: [:])
        }
        #expect(throws: BiscuitError.language(.parameters(missing: ["k"], unused: []))) {
            try source.applying(parameters: ["x": .integer(1), "y": .integer(2)], scopeParameters: [:])
        }
    }

    @Test func setsAreNormalizedAgainAfterReplacement() throws {
        let source = try DatalogParser.parseBlock("a({{p}, {q}});")
        let applied = try source.applying(parameters: ["p": .integer(2), "q": .integer(1)], scopeParameters: [:])
        #expect(applied.facts[0].description == "a({1, 2})")
    }

    @Test func aMapKeyParameterMustBeAnIntegerOrAString() throws {
        let source = try DatalogParser.parseBlock("a({{k}: 1});")
        #expect(throws: BiscuitError.self) { try source.applying(parameters: ["k": .bool(true)], scopeParameters: [:]) }
    }

    @Test func aParameterCannotPutAVariableInAFact() throws {
        let source = try DatalogParser.parseBlock("a({p});")
        #expect(throws: BiscuitError.language(.variableInFact("a($x)"))) {
            try source.applying(parameters: ["p": .variable("x")], scopeParameters: [:])
        }
    }
}
