import Testing

@testable import Biscuit

/// Shorthands for expected operations.
private func int(_ value: Int64) -> Op { .value(.integer(value)) }
private func variable(_ name: String) -> Op { .value(.variable(name)) }
private func bool(_ value: Bool) -> Op { .value(.bool(value)) }
private func binary(_ operation: BinaryOperation) -> Op { .binary(operation) }
private func unary(_ operation: UnaryOperation) -> Op { .unary(operation) }

/// The operations of `text` read as an expression.
private func ops(_ text: String) throws(BiscuitError) -> [Op] {
    try DatalogParser.parseExpression(text).ops
}

/// The parse error of `text` read as an authorizer source: line, column and reason.
private func parseError(_ text: String) -> (line: Int, column: Int, reason: String)? {
    do {
        _ = try DatalogParser.parseAuthorizer(text)
        return nil
    } catch .language(.parse(let line, let column, let reason)) {
        return (line, column, reason)
    } catch {
        return nil
    }
}

@Suite struct DatalogExpressionPrecedenceTests {
    @Test func negationTakesItsOperandAtTheAdditiveLevel() throws {
        #expect(try ops("!1 + 1 === 2") == [int(1), int(1), binary(.add), unary(.negate), int(2), binary(.equal)])
        #expect(try ops("2 * !3 + 4 === 0") == [int(2), int(3), int(4), binary(.add), unary(.negate), binary(.mul), int(0), binary(.equal)])
    }

    @Test func negationBindsTighterThanComparisonsAndLazyOperators() throws {
        #expect(try ops("!1 == 2") == [int(1), unary(.negate), int(2), binary(.heterogeneousEqual)])
        #expect(try ops("!false && true") == [bool(false), unary(.negate), .closure(parameters: [], body: [bool(true)]), binary(.lazyAnd)])
    }

    @Test func lazyOperatorsPutTheirRightSideInAClosure() throws {
        #expect(try ops("$a || $b") == [variable("a"), .closure(parameters: [], body: [variable("b")]), binary(.lazyOr)])
        #expect(
            try ops("$a && $b || $c") == [
                variable("a"), .closure(parameters: [], body: [variable("b")]), binary(.lazyAnd),
                .closure(parameters: [], body: [variable("c")]), binary(.lazyOr),
            ])
        #expect(
            try ops("$a || $b && $c") == [
                variable("a"), .closure(parameters: [], body: [variable("b"), .closure(parameters: [], body: [variable("c")]), binary(.lazyAnd)]),
                binary(.lazyOr),
            ])
    }

    @Test func arithmeticAndBitwiseLevelsNestAsTheReferenceDoes() throws {
        #expect(try ops("1 + 2 * 3") == [int(1), int(2), int(3), binary(.mul), binary(.add)])
        #expect(try ops("1 - 2 - 3") == [int(1), int(2), binary(.sub), int(3), binary(.sub)])
        #expect(try ops("1 ^ 2 | 3 & 4") == [int(1), int(2), int(3), int(4), binary(.bitwiseAnd), binary(.bitwiseOr), binary(.bitwiseXor)])
        #expect(try ops("1 & 2 && 3") == [int(1), int(2), binary(.bitwiseAnd), .closure(parameters: [], body: [int(3)]), binary(.lazyAnd)])
        #expect(try ops("1 | 2 || 3") == [int(1), int(2), binary(.bitwiseOr), .closure(parameters: [], body: [int(3)]), binary(.lazyOr)])
        #expect(try ops("1 + 2 < 3 * 4") == [int(1), int(2), binary(.add), int(3), int(4), binary(.mul), binary(.lessThan)])
    }

    @Test func parenthesesAddAParensOperation() throws {
        #expect(try ops("(1 + 2) * 3") == [int(1), int(2), binary(.add), unary(.parens), int(3), binary(.mul)])
        #expect(try ops("((1))") == [int(1), unary(.parens), unary(.parens)])
    }

    @Test func binaryMinusIsTriedBeforeANegativeLiteral() throws {
        #expect(try ops("3 -1") == [int(3), int(1), binary(.sub)])
        #expect(try ops("3-1") == [int(3), int(1), binary(.sub)])
        #expect(try ops("3 - -1") == [int(3), int(-1), binary(.sub)])
        #expect(try ops("-1") == [int(-1)])
    }

    @Test func equalityOperatorsMapToTheirKinds() throws {
        #expect(try ops("1 == 2").last == binary(.heterogeneousEqual))
        #expect(try ops("1 != 2").last == binary(.heterogeneousNotEqual))
        #expect(try ops("1 === 2").last == binary(.equal))
        #expect(try ops("1 !== 2").last == binary(.notEqual))
        #expect(try ops("1 <= 2").last == binary(.lessOrEqual))
        #expect(try ops("1 >= 2").last == binary(.greaterOrEqual))
    }

    @Test func comparisonsDoNotChain() throws {
        #expect(throws: BiscuitError.self) { try ops("1 < 2 < 3") }
        #expect(parseError("check if 1 < 2 < 3")?.reason.contains("do not chain") == true)
        #expect(try ops("(1 < 2) == true").count == 6)
    }

    @Test func methodsChainLeftToRight() throws {
        #expect(
            try ops("{1}.intersection({2}).length().union({3})") == [
                .value(.set([.integer(1)])), .value(.set([.integer(2)])), binary(.intersection), unary(.length),
                .value(.set([.integer(3)])), binary(.union),
            ])
        #expect(try ops("$s.contains(1)") == [variable("s"), int(1), binary(.contains)])
        #expect(try ops("\"a\".starts_with(\"b\")").last == binary(.prefix))
        #expect(try ops("\"a\".ends_with(\"b\")").last == binary(.suffix))
        #expect(try ops("\"a\".matches(\"b\")").last == binary(.regex))
        #expect(try ops("[1].get(0)").last == binary(.get))
        #expect(try ops("1.type()") == [int(1), unary(.typeOf)])
    }

    @Test func tryOrWrapsItsReceiverInAClosure() throws {
        #expect(
            try ops("true.length().try_or(false)") == [
                .closure(parameters: [], body: [bool(true), unary(.length)]), bool(false), binary(.tryOr),
            ])
    }

    @Test func allAndAnyTakeAOneParameterClosure() throws {
        #expect(
            try ops("[1].all($p -> $p > 0)") == [
                .value(.array([.integer(1)])), .closure(parameters: ["p"], body: [variable("p"), int(0), binary(.greaterThan)]),
                binary(.all),
            ])
        #expect(try ops("[1].any( $p->$p )").last == binary(.any))
        #expect(throws: BiscuitError.self) { try ops("[1].all($p, $q -> $p)") }
        #expect(throws: BiscuitError.self) { try ops("[1].all(p -> p)") }
    }

    @Test func externalFunctionsAreUnaryOrBinaryByTheirArgument() throws {
        #expect(try ops("1.extern::f()") == [int(1), unary(.external("f"))])
        #expect(try ops("1.extern::f(2)") == [int(1), int(2), binary(.external("f"))])
        #expect(try ops("1.extern::a::b( )") == [int(1), unary(.external("a::b"))])
    }

    @Test func methodsAllowNoSpaceAroundTheDotOrBeforeTheParenthesis() {
        #expect(throws: BiscuitError.self) { try ops("true .length()") }
        #expect(throws: BiscuitError.self) { try ops("true. length()") }
        #expect(throws: BiscuitError.self) { try ops("true.length ()") }
        #expect((try? ops("true.length( )")) != nil)
    }

    @Test func unknownMethodsAreNamedInTheError() {
        let error = parseError("check if true.foo()")
        #expect(error?.column == 15)
        #expect(error?.reason.hasPrefix("unknown method .foo()") == true)
    }
}

@Suite struct DatalogTermTests {
    @Test func setsAreNormalizedAndTheEmptySetIsCommaInBraces() throws {
        #expect(try DatalogParser.parseTerm("{2, 1, 2}") == .setValue([.integer(1), .integer(2)]))
        #expect(try DatalogParser.parseTerm("{,}") == .setValue([]))
        #expect(throws: BiscuitError.self) { try DatalogParser.parseTerm("{1, \"a\"}") }
    }

    @Test func braceTermsAreParametersThenMapsThenSets() throws {
        #expect(try DatalogParser.parseTerm("{}") == .mapValue([]))
        #expect(try DatalogParser.parseTerm("{p}") == .parameter("p"))
        #expect(try DatalogParser.parseTerm("{null}") == .parameter("null"))
        #expect(try DatalogParser.parseTerm("{\"b\": 1, 2: 3}") == .mapValue([
            MapEntry(key: .integer(2), value: .integer(3)), MapEntry(key: .string("b"), value: .integer(1)),
        ]))
        #expect(try DatalogParser.parseTerm("{{k}: 1}") == .mapValue([MapEntry(key: .parameter("k"), value: .integer(1))]))
        #expect(try DatalogParser.parseTerm("{1: 2, 1: 3}") == .mapValue([MapEntry(key: .integer(1), value: .integer(3))]))
    }

    @Test func emptyMapCannotStandWhereATermIsReadAsInAFact() {
        #expect(throws: BiscuitError.self) { try DatalogParser.parseFact("a({})") }
        #expect(throws: BiscuitError.self) { try DatalogParser.parseCheck("check if [{}]") }
        #expect((try? DatalogParser.parseFact("a({,})")) != nil)
    }

    @Test func datesAreNormalizedToUTCSeconds() throws {
        #expect(try DatalogParser.parseTerm("2019-12-02T13:49:53Z") == .date(1_575_294_593))
        #expect(try DatalogParser.parseTerm("2019-12-04T09:46:41+00:00") == .date(1_575_452_801))
        #expect(try DatalogParser.parseTerm("2030-12-31T12:59:59+00:00") == .date(1_924_952_399))
        #expect(try DatalogParser.parseTerm("2019-12-04T10:46:41.999+01:00") == .date(1_575_452_801))
        #expect(try DatalogParser.parseTerm("2019-12-04t09:46:41z") == .date(1_575_452_801))
        #expect(try DatalogParser.parseTerm("2016-12-31T23:59:60Z") == .date(1_483_228_799))
        #expect(try DatalogParser.parseTerm("1970-01-01T01:00:00+01:00") == .date(0))
    }

    @Test func malformedDatesAreRefused() {
        for text in [
            "a(1969-12-31T23:59:59Z)", "a(2019-02-29T00:00:00Z)", "a(2019-12-04T24:00:00Z)", "a(2019-12-04T09:46:41+24:00)",
            "a(2019-12-04T09:46:41)", "a(2019-12-30T23:59:60Z)", "a(2019-12-04T09:46:41Z\n)",
        ] {
            let error = parseError(text)
            #expect(error?.reason.hasPrefix("invalid date") == true, "\(text)")
            #expect(error?.column == 3, "\(text)")
        }
    }

    @Test func somethingThatOnlyLooksLikeADateIsSubtraction() throws {
        #expect(try ops("2019-12-04") == [int(2019), int(12), binary(.sub), int(4), binary(.sub)])
    }

    @Test func integersMustFitIn64Bits() throws {
        #expect(try DatalogParser.parseTerm("-9223372036854775808") == .integer(.min))
        #expect(try DatalogParser.parseTerm("9223372036854775807") == .integer(.max))
        let error = parseError("a(99999999999999999999);")
        #expect(error?.reason == "integer 99999999999999999999 does not fit in 64 bits")
        #expect(error?.column == 3)
    }

    @Test func bytesNeedAnEvenNumberOfHexDigits() throws {
        #expect(try DatalogParser.parseTerm("hex:ABcd") == .bytes([0xAB, 0xCD]))
        #expect(parseError("a(hex:abc)")?.reason.contains("odd number of hex digits") == true)
        #expect(parseError("a(hex:)") != nil)
    }

    @Test func stringsKnowOnlyThreeEscapes() throws {
        #expect(try DatalogParser.parseTerm(#""a\\b\"c\nd""#) == .string("a\\b\"c\nd"))
        #expect(try DatalogParser.parseTerm(#""""#) == .string(""))
        #expect(try DatalogParser.parseTerm("\"tab\there é 😁\"") == .string("tab\there é 😁"))
        #expect(parseError(#"a("\t")"#)?.reason.hasPrefix("unknown escape") == true)
    }

    @Test func unterminatedStringsPointAtTheirQuote() {
        let error = parseError("a(1);\ncheck if $x == \"abc")
        #expect(error?.line == 2)
        #expect(error?.column == 16)
        #expect(error?.reason.hasPrefix("unterminated string") == true)
    }

    @Test func namesAndVariablesUseLettersDigitsUnderscoresAndColons() throws {
        #expect(try DatalogParser.parseFact("ns::fact_123(1)") == Fact("ns::fact_123", [.integer(1)]))
        #expect(try DatalogParser.parseFact("1abc(1)") == Fact("1abc", [.integer(1)]))
        #expect(try DatalogParser.parseTerm("$a:b_1") == .variable("a:b_1"))
        #expect(throws: BiscuitError.self) { try DatalogParser.parseFact("é(1)") }
    }

    @Test func arraysAndMapsCannotHoldVariables() {
        #expect(parseError("check if [1, $x].length()")?.reason.contains("cannot hold a variable") == true)
        #expect(parseError("check if {1, $x}")?.reason.contains("cannot hold a variable") == true)
    }
}

@Suite struct DatalogStatementTests {
    @Test func keywordsAreCaseInsensitiveWithExactlyOneSpace() throws {
        #expect(try DatalogParser.parseCheck("CHECK IF true").kind == .one)
        #expect(try DatalogParser.parseCheck("Check All true").kind == .all)
        #expect(try DatalogParser.parseCheck("reject IF true").kind == .reject)
        #expect(try DatalogParser.parsePolicy("ALLOW if true").kind == .allow)
        #expect(try DatalogParser.parsePolicy("deny If true").kind == .deny)
        #expect(throws: BiscuitError.self) { try DatalogParser.parseCheck("check  if true") }
        #expect(throws: BiscuitError.self) { try DatalogParser.parseCheck("check\tif true") }
    }

    @Test func queriesAreJoinedByCaseInsensitiveOr() throws {
        let check = try DatalogParser.parseCheck("check if a(1) OR b(2) or c(3)")
        #expect(check.queries.count == 3)
        #expect(check.queries.allSatisfy { $0.head == Predicate("query", []) })
    }

    @Test func bodyKeepsPredicatesAndExpressionsApartInOrder() throws {
        let rule = try DatalogParser.parseRule("r($x) <- a($x), $x > 1, b($x), $x < 5")
        #expect(rule.body == [Predicate("a", [.variable("x")]), Predicate("b", [.variable("x")])])
        #expect(rule.expressions.count == 2)
        #expect(rule.description == "r($x) <- a($x), b($x), $x > 1, $x < 5")
    }

    @Test func trustingScopesAreRead() throws {
        let key = "ed25519/acdd6d5b53bfee478bf689f8e012fe7988bf755e3d7c5152947abc149bc20189"
        let check = try DatalogParser.parseCheck("check if a(1) trusting authority, previous, \(key.uppercased().replacingOccurrences(of: "ED25519", with: "ed25519")), {p}")
        #expect(check.queries[0].scopes == [.authority, .previous, .publicKey(try PublicKey(key)), .parameter("p")])
        #expect(check.description == "check if a(1) trusting authority, previous, \(key), {p}")
        #expect(throws: BiscuitError.self) { try DatalogParser.parseCheck("check if a(1) trusting ed25519/acdd") }
    }

    @Test func aRuleHeadNeedsATermAsInTheReference() {
        #expect(throws: BiscuitError.self) { try DatalogParser.parseRule("a() <- b(1)") }
    }

    @Test func unboundHeadVariablesAreRefused() {
        #expect(throws: BiscuitError.language(.unboundVariables(rule: "right($0, $test) <- resource($0), operation(\"read\")", variables: ["test"]))) {
            try DatalogParser.parseBlock("right($0, $test) <- resource($0), operation(\"read\");")
        }
        #expect(throws: BiscuitError.language(.unboundVariables(rule: "a(1) <- b(1), $y", variables: ["y"]))) {
            try DatalogParser.parseRule("a(1) <- b(1), $y")
        }
    }

    @Test func variablesOnlyInClosuresAreNotCheckedAsInTheReference() throws {
        _ = try DatalogParser.parseRule("a(1) <- b(1), true || $y")
        _ = try DatalogParser.parseRule("a(1) <- b($x), [1].any($p -> $q)")
    }

    @Test func aFactWithAVariableIsRefused() {
        #expect(throws: BiscuitError.language(.variableInFact("a(1, $x)"))) {
            try DatalogParser.parseBlock("a(1, $x);\nb(2);")
        }
    }

    @Test func aBlockDiscardsItsLeadingTrustingAndRefusesPolicies() throws {
        let source = try DatalogParser.parseBlock("trusting previous, authority;\ncheck if a(1);")
        #expect(source == DatalogSource(checks: [Check(kind: .one, queries: [.query(body: [Predicate("a", [.integer(1)])])])]))
        #expect(try DatalogParser.parseBlock(";a(1)").facts.count == 1)
        #expect(throws: BiscuitError.self) { try DatalogParser.parseBlock("trusting(1);") }
        let error = parseErrorOfBlock("a(1);\nallow if true;")
        #expect(error?.line == 2)
        #expect(error?.reason.contains("policy") == true)
        #expect(parseErrorOfBlock("é(1);")?.reason == "expected a statement, found `é(1);`")
    }

    @Test func statementsEndWithSemicolonsOrTheEndOfTheText() throws {
        let source = try DatalogParser.parseAuthorizer("a(1) ; b(2);\n// comment\nc(3); /* more\n */ allow if true")
        #expect(source.facts.count == 3)
        #expect(source.policies.count == 1)
        #expect(try DatalogParser.parseAuthorizer("").facts.isEmpty)
        #expect(throws: BiscuitError.self) { try DatalogParser.parseAuthorizer("a(1);;") }
        #expect(throws: BiscuitError.self) { try DatalogParser.parseAuthorizer("a(1) b(2)") }
        // The reference refuses an authorizer text of spaces only, and accepts it for a block.
        #expect(throws: BiscuitError.self) { try DatalogParser.parseAuthorizer("  \n") }
        #expect(try DatalogParser.parseBlock("  \n") == DatalogSource())
    }

    @Test func singleStatementsTakeAnOptionalSemicolon() throws {
        #expect(try DatalogParser.parseFact("a(1);") == DatalogParser.parseFact(" a(1) "))
        #expect(throws: BiscuitError.self) { try DatalogParser.parseFact("a(1); b(2)") }
    }

    @Test func errorsGiveLineAndColumn() {
        #expect(parseError("a(1);\nb(2 3);").map { [$0.line, $0.column] } == [2, 5])
        #expect(parseError("a(1);\n\n  check if a(1) and b(2);").map { [$0.line, $0.column] } == [3, 17])
        #expect(parseError("check if a(1) and b(2)")?.reason == "expected `,`, `trusting`, `or` or `;`, found `and`")
        #expect(parseError("right(\"é\", 1 2)").map { [$0.line, $0.column] } == [1, 14])
        #expect(parseError("check if (1").map { [$0.line, $0.column] } == [1, 12])
        #expect(parseError("a(1) <- b(1), c(2") != nil)
    }

    @Test func nestingBeyondTheLimitIsAnErrorNotACrash() throws {
        let limit = DatalogParser.maximumNestingDepth
        _ = try DatalogParser.parseCheck("check if " + String(repeating: "(", count: limit - 1) + "1" + String(repeating: ")", count: limit - 1))
        for (open, close) in [("(", ")"), ("[", "]"), ("!", ""), ("{\"a\": ", "}")] {
            let deep = "check if " + String(repeating: open, count: 100_000) + "1" + String(repeating: close, count: 100_000)
            let error = parseError(deep)
            #expect(error?.reason.contains("nested more than \(limit) levels") == true, "\(open)")
        }
        let closures = "check if " + String(repeating: "[1].all($p -> ", count: 200) + "true" + String(repeating: ")", count: 200)
        #expect(parseError(closures)?.reason.contains("nested more than") == true)
    }

    @Test func longFlatChainsParseWithoutRecursion() throws {
        let check = try DatalogParser.parseCheck("check if " + Array(repeating: "1", count: 50_000).joined(separator: " + ") + " > 0 || false")
        #expect(check.queries[0].expressions[0].ops.count == 100_003)
    }

    @Test func textsLongerThanTheLimitAreRefused() {
        let text = String(repeating: "a(1);", count: DatalogParser.maximumTextBytes / 5 + 1)
        #expect(throws: BiscuitError.self) { try DatalogParser.parseBlock(text) }
    }

    private func parseErrorOfBlock(_ text: String) -> (line: Int, column: Int, reason: String)? {
        do {
            _ = try DatalogParser.parseBlock(text)
            return nil
        } catch .language(.parse(let line, let column, let reason)) {
            return (line, column, reason)
        } catch {
            return nil
        }
    }
}
