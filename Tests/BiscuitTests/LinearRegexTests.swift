import Testing

@testable import Biscuit

/// Whether `pattern` matches `text`, or nil when the pattern is invalid (what `.matches` then
/// evaluates to false for).
private func evaluate(_ pattern: String, _ text: String) -> Bool? {
    do {
        return try LinearRegex(pattern).matches(text)
    } catch {
        return nil
    }
}

/// The error compiling `pattern` throws, if any.
private func compileError(_ pattern: String) -> RegexError? {
    do {
        _ = try LinearRegex(pattern)
        return nil
    } catch {
        return error
    }
}

/// Behaviours checked against the Rust `regex` crate's answers (see LinearRegexMatchTables).
@Suite("LinearRegex agrees with the Rust regex crate")
struct LinearRegexBehaviourTests {
    @Test(arguments: RegexCaseTables.literals)
    func literalsAndEscapesMatchThemselvesAnywhereInTheText(_ regexCase: RegexCase) {
        #expect(evaluate(regexCase.pattern, regexCase.text) == regexCase.expected)
    }

    @Test(arguments: RegexCaseTables.dot)
    func dotMatchesAnyScalarButNewlineUnlessDotAllIsOn(_ regexCase: RegexCase) {
        #expect(evaluate(regexCase.pattern, regexCase.text) == regexCase.expected)
    }

    @Test(arguments: RegexCaseTables.classes)
    func bracketedClassesSupportRangesNegationNestingAndSetOperations(_ regexCase: RegexCase) {
        #expect(evaluate(regexCase.pattern, regexCase.text) == regexCase.expected)
    }

    @Test(arguments: RegexCaseTables.perl)
    func perlClassesAreUnicodeAwareUnlessUnicodeModeIsOff(_ regexCase: RegexCase) {
        #expect(evaluate(regexCase.pattern, regexCase.text) == regexCase.expected)
    }

    @Test(arguments: RegexCaseTables.unicodeClasses)
    func unicodePropertyClassesResolveNamesLikeRust(_ regexCase: RegexCase) {
        #expect(evaluate(regexCase.pattern, regexCase.text) == regexCase.expected)
    }

    @Test(arguments: RegexCaseTables.anchors)
    func anchorsHoldAtTextEndsOrLineEndsInMultiLineMode(_ regexCase: RegexCase) {
        #expect(evaluate(regexCase.pattern, regexCase.text) == regexCase.expected)
    }

    @Test(arguments: RegexCaseTables.alternation)
    func alternationMatchesAnyBranch(_ regexCase: RegexCase) {
        #expect(evaluate(regexCase.pattern, regexCase.text) == regexCase.expected)
    }

    @Test(arguments: RegexCaseTables.quantifiers)
    func quantifiersGreedyOrLazyRepeatTheirOperand(_ regexCase: RegexCase) {
        #expect(evaluate(regexCase.pattern, regexCase.text) == regexCase.expected)
    }

    @Test(arguments: RegexCaseTables.flags)
    func inlineAndScopedFlagsApplyUntilTheEndOfTheirGroup(_ regexCase: RegexCase) {
        #expect(evaluate(regexCase.pattern, regexCase.text) == regexCase.expected)
    }

    @Test(arguments: RegexCaseTables.wordBoundaries)
    func wordBoundariesUseUnicodeWordCharacters(_ regexCase: RegexCase) {
        #expect(evaluate(regexCase.pattern, regexCase.text) == regexCase.expected)
    }

    @Test(arguments: RegexCaseTables.groups)
    func groupsOfEveryKindOnlyGroup(_ regexCase: RegexCase) {
        #expect(evaluate(regexCase.pattern, regexCase.text) == regexCase.expected)
    }

    @Test(arguments: RegexCaseTables.invalid)
    func patternsRustRejectsAreInvalid(_ regexCase: RegexCase) {
        #expect(regexCase.expected == nil)
        #expect(evaluate(regexCase.pattern, regexCase.text) == nil)
    }
}

@Suite("LinearRegex rejects what Rust does not support")
struct LinearRegexUnsupportedSyntaxTests {
    @Test(arguments: [#"(a)\1"#, #"(?P<n>a)\2"#, #"\9"#])
    func backreferencesAreInvalid(_ pattern: String) {
        #expect(compileError(pattern) == .invalidSyntax(.unsupportedBackreference, offset: pattern.unicodeScalars.count - 1))
    }

    @Test(arguments: ["(?=a)", "a(?!b)", "(?<=a)b", "(?<!a)b"])
    func lookAroundIsInvalid(_ pattern: String) {
        guard case .invalidSyntax(.unsupportedLookAround, _) = compileError(pattern) else {
            Issue.record("expected unsupportedLookAround for \(pattern)")
            return
        }
    }

    @Test(arguments: [("(a", RegexSyntaxError.unclosedGroup), ("a)", .unopenedGroup), ("[a", .unclosedClass),
                      ("[z-a]", .invalidClassRange), (#"[\d-z]"#, .classRangeNotLiteral), ("a{3,2}", .invalidRepetitionCount),
                      ("a{2", .unclosedRepetitionCount), ("*", .repetitionMissing), ("(?ii)", .flagDuplicate),
                      (#"\e"#, .unrecognizedEscape), (#"\p{Klingon}"#, .unicodePropertyNotFound),
                      ("(?-u).", .invalidUTF8), (#"(?-u)\pL"#, .unicodeNotAllowed)])
    func malformedPatternsReportTheReason(_ pattern: String, _ reason: RegexSyntaxError) {
        guard case .invalidSyntax(let actual, _) = compileError(pattern) else {
            Issue.record("expected a syntax error for \(pattern)")
            return
        }
        #expect(actual == reason)
    }

    @Test func possessiveLookingQuantifiersAreNestedRepetitionsAsInRust() {
        // Rust has no possessive quantifiers: `a++` is `(?:a+)+`, and so matches like `a+`.
        #expect(evaluate("^a++$", "aaa") == true)
        #expect(evaluate("a*+", "") == true)
    }
}

@Suite("LinearRegex limits")
struct LinearRegexLimitTests {
    @Test func patternsLongerThanTheByteLimitAreInvalid() {
        let longest = String(repeating: "a", count: RegexLimits.maxPatternBytes)
        #expect(evaluate(longest, longest) == true)
        #expect(compileError(longest + "a") == .limitExceeded(.patternBytes(limit: RegexLimits.maxPatternBytes)))
        // The limit is in UTF-8 bytes, not characters.
        let wide = String(repeating: "é", count: RegexLimits.maxPatternBytes / 2 + 1)
        #expect(compileError(wide) == .limitExceeded(.patternBytes(limit: RegexLimits.maxPatternBytes)))
    }

    @Test func nestingDeeperThanRustsNestLimitIsInvalid() {
        let depth = RegexLimits.maxNestingDepth
        let deepest = String(repeating: "(", count: depth) + "a" + String(repeating: ")", count: depth)
        #expect(evaluate(deepest, "a") == true)
        let tooDeep = "(" + deepest + ")"
        #expect(compileError(tooDeep) == .limitExceeded(.nestingDepth(limit: depth)))
        // Rust counts nested repetitions, classes and concatenations too.
        #expect(compileError("a" + String(repeating: "*", count: depth + 1)) == .limitExceeded(.nestingDepth(limit: depth)))
        #expect(evaluate("a" + String(repeating: "*", count: depth), "a") == true)
        let nestedClass = String(repeating: "[", count: depth + 1) + "a" + String(repeating: "]", count: depth + 1)
        #expect(compileError(nestedClass) == .limitExceeded(.nestingDepth(limit: depth)))
    }

    @Test func programsLargerThanTheInstructionLimitAreInvalid() throws {
        let largest = try LinearRegex("a{\(RegexLimits.maxProgramInstructions - 1)}")
        #expect(largest.programSize == RegexLimits.maxProgramInstructions)
        let limit = RegexLimits.maxProgramInstructions
        #expect(compileError("a{\(limit)}") == .limitExceeded(.programInstructions(limit: limit)))
        // Nested counted repetitions stop at the limit instead of expanding.
        #expect(compileError("((a{1000}){1000}){1000}") == .limitExceeded(.programInstructions(limit: limit)))
    }

    @Test func repetitionOfZeroWidthAssertionsIsCollapsedAsInRust() throws {
        // Rust repeats an expression that only matches the empty string at most once, so a
        // huge count is not a huge program.
        let regex = try LinearRegex(#"\b{4294967295}a"#)
        #expect(regex.programSize < 10)
        #expect(regex.matches(" a"))
    }

    @Test func patternsOverTheReferenceSizeLimitAreInvalidLikeInRust() {
        // Rust's compiled size limit (10 MiB) refuses 210 Unicode `\w` but not 209.
        #expect(evaluate(#"^\w{209}$"#, String(repeating: "é", count: 209)) == true)
        let limit = RegexLimits.maxReferenceProgramBytes
        #expect(compileError(#"\w{210}"#) == .limitExceeded(.referenceProgramBytes(limit: limit)))
        #expect(compileError(#"^[\w.-]{1,255}$"#) == .limitExceeded(.referenceProgramBytes(limit: limit)))
        #expect(evaluate(#".{10485}"#, "a") == false)
        #expect(compileError(#".{10486}"#) == .limitExceeded(.referenceProgramBytes(limit: limit)))
    }

    @Test(arguments: [
        ("a", 240, 176), ("abc", 304, 240), (#"\w"#, 20800, 50044), ("foo|bar", 596, 532), ("(?i)k", 376, 380),
        (#"\pL"#, 18704, 43068), ("^a", 192, 208), ("a$", 272, 128), (#"\d+\s*"#, 2296, 6052), ("[^a]", 632, 1144),
    ])
    func referenceSizeEstimateEqualsTheRustBuilderMemory(_ pattern: String, _ forward: Int, _ reverse: Int) throws {
        // Values measured with regex-automata 0.4.16 (bisecting `nfa_size_limit`).
        var parser = try RegexParser(pattern)
        var translator = RegexTranslator()
        let hir = try translator.translate(try parser.parse())
        #expect(ReferenceSizeEstimate.memoryUsage(hir, reverse: false) == forward)
        #expect(ReferenceSizeEstimate.memoryUsage(hir, reverse: true) == reverse)
    }
}

@Suite("LinearRegex cost is linear")
struct LinearRegexCostTests {
    /// A generous wall-clock bound, only a safety net: the guarantee is the algorithm, which
    /// never backtracks. The measured times are printed.
    static let safetyNet = Duration.seconds(60)

    @Test(arguments: [#"(a+)+$"#, #"(a|aa)+$"#, #"(?:a*)*b"#, #"(x+x+)+y"#, #"^(a?){50}a{50}$"#, #"(.*a){20}"#])
    func pathologicalPatternsFinishFastOnLongTexts(_ pattern: String) throws {
        let text = String(repeating: "a", count: 100_000) + "b"
        let regex = try LinearRegex(pattern)
        var result = true
        let elapsed = ContinuousClock().measure { result = regex.matches(text) }
        print("\(pattern) on 100,000 'a' + 'b': \(result), \(elapsed)")
        #expect(elapsed < Self.safetyNet)
    }

    @Test func catastrophicBacktrackingCaseDoesNotMatchAndIsFast() throws {
        let regex = try LinearRegex(#"(a+)+$"#)
        let text = String(repeating: "a", count: 100_000) + "b"
        var result = true
        let elapsed = ContinuousClock().measure { result = regex.matches(text) }
        print("(a+)+$ on 100,000 'a' + 'b': \(elapsed)")
        // `$` only holds after the final `b`, where no run of `a` ends.
        #expect(result == false)
        #expect(elapsed < Self.safetyNet)
    }

    @Test func largestProgramOnTenKilobytesFinishes() throws {
        // 9,990 optional classes: 2 instructions each, all alive at every step on this text.
        let regex = try LinearRegex("[ab]{0,9990}c")
        #expect(regex.programSize > 19_900)
        let text = String(repeating: "ab", count: 5_000)
        var result = true
        let elapsed = ContinuousClock().measure { result = regex.matches(text) }
        print("\(regex.programSize)-instruction program on a 10 KB text: \(elapsed)")
        #expect(result == false)
        #expect(elapsed < Self.safetyNet)
    }

    @Test func compilingTheLargestPatternsIsBounded() {
        // The worst patterns for compilation: many large Unicode classes under case folding,
        // and counted repetitions near the limits.
        let patterns = [
            String(repeating: #"(?i)\pL"#, count: 500), String(repeating: #"[\p{L}--\p{Greek}]"#, count: 200),
            #"\w{209}"#, #"(?:\w|\d|\s){60}"#, String(repeating: "(?:a{100}){100}", count: 10),
        ]
        for pattern in patterns {
            let elapsed = ContinuousClock().measure { _ = evaluate(pattern, "text") }
            print("compiling \(pattern.prefix(40))... (\(pattern.utf8.count) bytes): \(elapsed)")
            #expect(elapsed < Self.safetyNet)
        }
    }
}

@Suite("LinearRegex Unicode data")
struct LinearRegexUnicodeDataTests {
    @Test func caseFoldingUsesUnicodeSimpleFoldingOrbits() {
        var set = ScalarSet(0x6B, 0x6B)  // k
        set.formSimpleCaseFold()
        #expect(set.ranges == [0x4B...0x4B, 0x6B...0x6B, 0x212A...0x212A])
    }

    @Test func propertyNamesAreMatchedLoosely() {
        #expect(RegexUnicode.symbolicNameNormalize("Script_Extensions") == "scriptextensions")
        #expect(RegexUnicode.symbolicNameNormalize("is Greek") == "greek")
        #expect(RegexUnicode.symbolicNameNormalize("isc") == "isc")
    }

    @Test func scalarSetOperationsKeepCanonicalRanges() {
        var set = ScalarSet(ranges: [5...9, 0...3, 4...4, 20...30])
        #expect(set.ranges == [0...9, 20...30])
        set.negate()
        #expect(set.ranges == [10...19, 31...ScalarSet.maxScalar])
        set.formIntersection(ScalarSet(15, 40))
        #expect(set.ranges == [15...19, 31...40])
        set.formSymmetricDifference(ScalarSet(18, 35))
        #expect(set.ranges == [15...17, 20...30, 36...40])
        set.subtract(ScalarSet(16, 36))
        #expect(set.ranges == [15...15, 37...40])
    }
}
