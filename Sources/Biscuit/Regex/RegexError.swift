/// Why a pattern cannot be used by `.matches`. Biscuit does not report it: the reference
/// implementation evaluates `.matches` with an invalid pattern to `false`, and so does the
/// caller of `LinearRegex`.
enum RegexError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The pattern is not valid in the Rust `regex` crate's syntax (or uses what that crate
    /// rejects, such as backreferences and look-around).
    ///
    /// - Parameters:
    ///   - reason: what is wrong.
    ///   - offset: where, in Unicode scalars from the start of the pattern.
    case invalidSyntax(RegexSyntaxError, offset: Int)
    /// The pattern is over one of the limits of `RegexLimits`.
    case limitExceeded(RegexLimit)

    /// A readable description, for logs and test failures.
    var description: String {
        switch self {
        case .invalidSyntax(let reason, let offset): return "invalid regex at scalar \(offset): \(reason)"
        case .limitExceeded(let limit): return "regex over a limit: \(limit)"
        }
    }
}

/// The syntax errors, named after the Rust `regex-syntax` error kinds they mirror.
enum RegexSyntaxError: Hashable, Sendable {
    /// A `[` without its `]`.
    case unclosedClass
    /// A class range whose start is after its end (`[z-a]`).
    case invalidClassRange
    /// An escape that cannot be in a class (`[\b]`, `[\A]`).
    case invalidClassEscape
    /// A class range whose bound is not a single character (`[\w-z]`).
    case classRangeNotLiteral
    /// A number that does not fit in 32 bits.
    case invalidDecimal
    /// The pattern ends inside an escape.
    case escapeUnexpectedEnd
    /// A backslash before a letter or digit with no meaning (`\e`, `\y`).
    case unrecognizedEscape
    /// A hexadecimal escape with a non-hexadecimal digit.
    case invalidHexDigit
    /// `\x{}`.
    case emptyHex
    /// A hexadecimal escape that is not a Unicode scalar value (`\x{D800}`, `\x{110000}`).
    case hexNotScalar
    /// A `-` at the end of a flag group (`(?i-)`).
    case flagDanglingNegation
    /// A flag given twice in one group (`(?ii)`).
    case flagDuplicate
    /// Two `-` in one flag group.
    case flagRepeatedNegation
    /// The pattern ends inside a flag group.
    case flagUnexpectedEnd
    /// An unknown flag letter (`(?z)`).
    case flagUnrecognized
    /// Two capture groups with one name.
    case groupNameDuplicate
    /// `(?P<>...)`.
    case groupNameEmpty
    /// A capture group name with a character names cannot have.
    case groupNameInvalid
    /// The pattern ends inside a capture group name.
    case groupNameUnexpectedEnd
    /// A `(` without its `)`.
    case unclosedGroup
    /// A `)` without its `(`.
    case unopenedGroup
    /// A repetition with nothing to repeat (`*a`, `a|*`, `(?i)*`).
    case repetitionMissing
    /// A counted repetition whose minimum is over its maximum (`a{3,2}`).
    case invalidRepetitionCount
    /// A counted repetition without a number (`a{}`, `a{,3}`).
    case repetitionCountMissing
    /// A counted repetition without its `}`.
    case unclosedRepetitionCount
    /// `\1`: backreferences are not supported.
    case unsupportedBackreference
    /// `(?=`, `(?!`, `(?<=`, `(?<!`: look-around is not supported.
    case unsupportedLookAround
    /// `\b{start` without `}`.
    case unclosedSpecialWordBoundary
    /// `\b{name}` with an unknown name.
    case unrecognizedSpecialWordBoundary
    /// The pattern ends right after `\b{`.
    case specialWordBoundaryUnexpectedEnd
    /// `\p\`.
    case invalidUnicodeClass
    /// `\p{...}` naming no property.
    case unicodePropertyNotFound
    /// `\p{name=value}` naming no value of the property.
    case unicodePropertyValueNotFound
    /// A Unicode class, or a non-ASCII character in a class, where Unicode mode is off (`(?-u)`).
    case unicodeNotAllowed
    /// Something that could match invalid UTF-8 where Unicode mode is off (`(?-u:.)`,
    /// `(?-u:\W)`, `(?-u)[^a]`, `(?-u)\xFF`): Rust rejects it for string regexes.
    case invalidUTF8
}

/// The limits of `RegexLimits`, as reported when a pattern exceeds one.
enum RegexLimit: Hashable, Sendable {
    /// `RegexLimits.maxPatternBytes`.
    case patternBytes(limit: Int)
    /// `RegexLimits.maxNestingDepth` (Rust's `nest_limit`).
    case nestingDepth(limit: Int)
    /// `RegexLimits.maxProgramInstructions`.
    case programInstructions(limit: Int)
    /// `RegexLimits.maxReferenceProgramBytes`: the reference implementation would refuse the
    /// pattern as over its compiled size limit.
    case referenceProgramBytes(limit: Int)
}

/// Every limit of the regex engine. A pattern over any of them is invalid, so `.matches` is
/// false; none of them depends on the text.
enum RegexLimits {
    /// The longest pattern, in UTF-8 bytes. Patterns come from tokens, which are small; this
    /// bounds parsing and compiling before anything else is looked at.
    static let maxPatternBytes = 4096

    /// The deepest nesting of groups, repetitions, alternations, concatenations and classes,
    /// counted as Rust's `regex-syntax` counts it: its default `nest_limit` is 250, and a
    /// pattern over it is invalid there too.
    static let maxNestingDepth = 250

    /// The largest compiled program. Matching costs at most (text length) × (program size)
    /// steps, so this bounds the cost of every match. Counted repetitions are expanded
    /// (`a{500}` is 500 instructions), so this is also the effective bound on repetition
    /// counts; Rust has no separate one (`a{1001}` is valid there).
    static let maxProgramInstructions = 20_000

    /// Rust's default compiled size limit (`RegexBuilder::size_limit`, 10 MiB), checked against
    /// an estimate of the reference's NFA size so that the patterns Rust refuses as too big are
    /// refused here too (`\w{300}` is one: each Unicode `\w` costs about 50 KB there).
    static let maxReferenceProgramBytes = 10 * (1 << 20)
}
