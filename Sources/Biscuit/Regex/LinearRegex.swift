// Design note: the regex engine of Datalog's `.matches(pattern)`.
//
// Purpose. The reference implementation (biscuit-auth 6.0.0) evaluates `$s.matches(p)` with the
// Rust `regex` crate: `Regex::new(p)` then `is_match(s)`, an unanchored search; a pattern that
// does not compile makes the expression false, not an error. Patterns come from tokens, which
// anyone holding a token can extend, so the engine must be safe against hostile patterns: its
// cost is bounded whatever the pattern and the text.
//
// What it owns. Parsing the Rust syntax (RegexParser, a decision-by-decision port of
// `regex_syntax::ast::parse`), translating it with flags (RegexTranslator, after
// `regex_syntax::hir::translate`), the Unicode data of that crate (RegexUnicode,
// RegexUnicodeData: Unicode 16.0.0 tables for `\w \d \s`, case folding and `\p{..}`),
// compiling to a Thompson NFA (RegexCompiler) and running it (PikeVM).
//
// Cost. Matching is Thompson's simulation: every live thread advances in step, at most one
// thread per instruction, so a match costs O(text length × program size) time and
// O(program size) memory; there is no backtracking, so `(a+)+$` is as cheap as `a+$`. Every
// limit is in RegexLimits: pattern bytes, nesting depth (Rust's 250), program instructions,
// and an estimate of Rust's own compiled size limit. Over any limit the pattern is invalid.
//
// Stack. Every pass (parse, translation, compilation, the size replay) keeps its pending work
// on heap stacks, as Rust's parser and visitors do, so a pattern at the nesting limit needs
// no deep recursion: tests compile such patterns on a 256 KB thread stack.
//
// Conformance. Validity and matching were compared with the regex crate 1.13.1 (regex-syntax
// 0.8.11, regex-automata 0.4.16) on generated and exhaustive inputs; the size replay
// (ReferenceSizeEstimate) equals the builder memory of regex-automata byte for byte. Known
// divergences, all on the side of refusing: a pattern over 4096 bytes, or one compiling to
// more than 20,000 instructions (`a{20000}`, `x{110000}`), is invalid here and valid there.
//
// What it does not do. Captures, match positions, replacement, caching compiled patterns
// (the Datalog evaluator keeps a cache), byte-oriented (non-UTF-8) matching.

/// A compiled pattern in the syntax of Rust's `regex` crate; immutable and `Sendable`.
///
/// `LinearRegex(pattern).matches(text)` gives what the reference implementation's
/// `Regex::new(pattern)?.is_match(text)` gives, in time linear in the text for a given pattern.
/// The caller maps a thrown `RegexError` to `false`, as the reference does.
///
/// Supported: the whole Rust syntax (literals and escapes, `.`, classes with ranges, negation,
/// nesting, `&&`/`--`/`~~`, POSIX `[:alpha:]`, Perl `\d \s \w`, Unicode `\p{..}`; anchors
/// `^ $ \A \z`, word boundaries `\b \B \< \> \b{start}`...; groups of every kind; alternation;
/// all repetitions, greedy or lazy; flags `i m s U u R x`, inline and scoped). Rejected, as in
/// Rust: backreferences, look-around, and everything else Rust does not parse.
struct LinearRegex: Sendable {
    /// The compiled program.
    private let program: RegexProgram

    /// Compiles `pattern`.
    ///
    /// - Parameter pattern: a pattern in Rust `regex` syntax.
    /// - Throws: `RegexError.invalidSyntax` when Rust would not compile the pattern, and
    ///   `RegexError.limitExceeded` when it is over one of `RegexLimits`.
    init(_ pattern: String) throws(RegexError) {
        var parser = try RegexParser(pattern)
        let syntax = try parser.parse()
        var translator = RegexTranslator()
        let hir = try translator.translate(syntax)
        // Our own limit first: it is the cheaper check and the more common failure.
        program = try RegexCompiler.compile(hir)
        try ReferenceSizeEstimate.check(hir)
    }

    /// Whether the pattern matches anywhere in `text` (`^` and `$` anchor to its ends unless
    /// the `m` flag is on).
    ///
    /// Costs at most (number of scalars in `text` + 1) × (program size) steps.
    func matches(_ text: String) -> Bool {
        PikeVM.isMatch(program, text)
    }

    /// The number of instructions of the compiled program (for tests and measurements).
    var programSize: Int { program.count }
}
