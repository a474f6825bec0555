/// The parsed form of a pattern, shaped like Rust's `regex_syntax::ast::Ast` so that nesting is
/// counted the same way (a concatenation of one item is that item; a union of one class item
/// is that item).
///
/// Every node carries its nesting height, computed from its children's when it is built, so
/// the depth limit is checked without walking the tree (and without deep recursion).
struct SyntaxNode: Sendable {
    /// What the node is.
    let kind: SyntaxKind
    /// The number of nesting levels Rust's `NestLimiter` counts on the deepest path through
    /// this node: 0 for leaves, one more than the deepest child for groups, repetitions,
    /// concatenations, alternations and bracketed classes.
    let height: Int

    /// A leaf node.
    init(leaf kind: SyntaxKind) {
        self.kind = kind
        self.height = 0
    }

    /// A node one level above its children.
    init(kind: SyntaxKind, childHeight: Int) {
        self.kind = kind
        self.height = childHeight + 1
    }

    /// A concatenation as Rust's `Concat::into_ast` builds it: empty, the single item, or a
    /// concatenation node.
    static func concatenation(_ items: [SyntaxNode]) -> SyntaxNode {
        switch items.count {
        case 0: return SyntaxNode(leaf: .empty)
        case 1: return items[0]
        default: return SyntaxNode(kind: .concat(items), childHeight: items.map(\.height).max() ?? 0)
        }
    }

    /// An alternation of at least two branches.
    static func alternation(_ branches: [SyntaxNode]) -> SyntaxNode {
        SyntaxNode(kind: .alternation(branches), childHeight: branches.map(\.height).max() ?? 0)
    }
}

/// The kinds of `SyntaxNode`.
indirect enum SyntaxKind: Sendable {
    /// Matches the empty string (`()`, `a|`).
    case empty
    /// `(?flags)`: changes the flags for the rest of the enclosing group.
    case flags(FlagChanges)
    /// One character.
    case literal(SyntaxLiteral)
    /// `.`.
    case dot
    /// `^`, `$`, `\A`, `\z`, `\b`, `\B`, `\<`, `\>`, `\b{start}` and the like.
    case assertion(SyntaxAssertion)
    /// `\d`, `\s`, `\w` and their negations.
    case perlClass(PerlClass)
    /// `\pL`, `\p{Greek}`, `\P{sc=Greek}`.
    case unicodeClass(UnicodeClassSyntax)
    /// `[...]`.
    case bracketed(BracketedClass)
    /// `x*`, `x+`, `x?`, `x{n}`, `x{n,}`, `x{n,m}` and the lazy forms.
    case repetition(RepetitionSyntax)
    /// `(...)`, `(?:...)`, `(?P<name>...)`, `(?flags:...)`.
    case group(GroupSyntax)
    /// Two or more nodes in sequence.
    case concat([SyntaxNode])
    /// Two or more branches, `a|b`.
    case alternation([SyntaxNode])
}

/// One literal character of a pattern.
struct SyntaxLiteral: Hashable, Sendable {
    /// The character.
    let scalar: Unicode.Scalar
    /// Whether it was written `\xNN` (exactly two hex digits). With Unicode mode off, Rust
    /// reads such an escape as a byte, and a byte over 0x7F is invalid in a string regex.
    let isHexByte: Bool
}

/// The zero-width assertions.
enum SyntaxAssertion: Hashable, Sendable {
    /// `^`: start of text, or of a line with `m`.
    case startLine
    /// `$`: end of text, or of a line with `m`.
    case endLine
    /// `\A`.
    case startText
    /// `\z`.
    case endText
    /// `\b`.
    case wordBoundary
    /// `\B`.
    case notWordBoundary
    /// `\b{start}` and `\<`.
    case wordStart
    /// `\b{end}` and `\>`.
    case wordEnd
    /// `\b{start-half}`.
    case wordStartHalf
    /// `\b{end-half}`.
    case wordEndHalf
}

/// A Perl class, `\d \s \w` or (negated) `\D \S \W`.
struct PerlClass: Hashable, Sendable {
    /// Which class.
    enum Kind: Hashable, Sendable {
        /// `\d`.
        case digit
        /// `\s`.
        case space
        /// `\w`.
        case word
    }

    /// Which class.
    let kind: Kind
    /// Whether it is the upper-case (complement) form.
    let negated: Bool
}

/// A `\p` or `\P` class.
struct UnicodeClassSyntax: Hashable, Sendable {
    /// The property query.
    let query: RegexUnicode.ClassQuery
    /// Whether the class is complemented: `\P`, or `\p{name!=value}` (both: not complemented).
    let negated: Bool
}

/// The POSIX classes allowed inside brackets, `[[:alpha:]]` (ASCII only, as in Rust).
enum ASCIIClassKind: String, Hashable, Sendable, CaseIterable {
    /// `[0-9A-Za-z]`.
    case alnum
    /// `[A-Za-z]`.
    case alpha
    /// `[\x00-\x7F]`.
    case ascii
    /// `[\t ]`.
    case blank
    /// `[\x00-\x1F\x7F]`.
    case cntrl
    /// `[0-9]`.
    case digit
    /// `[!-~]`.
    case graph
    /// `[a-z]`.
    case lower
    /// `[ -~]`.
    case print
    /// `[!-/:-@\[-`{-~]`.
    case punct
    /// `[\t\n\v\f\r ]`.
    case space
    /// `[A-Z]`.
    case upper
    /// `[0-9A-Za-z_]`.
    case word
    /// `[0-9A-Fa-f]`.
    case xdigit

    /// The class's members (Rust's `ascii_class`).
    var members: ScalarSet {
        switch self {
        case .alnum: return ScalarSet(ranges: [0x30...0x39, 0x41...0x5A, 0x61...0x7A])
        case .alpha: return ScalarSet(ranges: [0x41...0x5A, 0x61...0x7A])
        case .ascii: return ScalarSet(0, 0x7F)
        case .blank: return ScalarSet(ranges: [0x09...0x09, 0x20...0x20])
        case .cntrl: return ScalarSet(ranges: [0x00...0x1F, 0x7F...0x7F])
        case .digit: return ScalarSet(0x30, 0x39)
        case .graph: return ScalarSet(0x21, 0x7E)
        case .lower: return ScalarSet(0x61, 0x7A)
        case .print: return ScalarSet(0x20, 0x7E)
        case .punct: return ScalarSet(ranges: [0x21...0x2F, 0x3A...0x40, 0x5B...0x60, 0x7B...0x7E])
        case .space: return ScalarSet(ranges: [0x09...0x0D, 0x20...0x20])
        case .upper: return ScalarSet(0x41, 0x5A)
        case .word: return ScalarSet(ranges: [0x30...0x39, 0x41...0x5A, 0x5F...0x5F, 0x61...0x7A])
        case .xdigit: return ScalarSet(ranges: [0x30...0x39, 0x41...0x46, 0x61...0x66])
        }
    }
}

/// A bracketed class, `[...]` or `[^...]`.
struct BracketedClass: Sendable {
    /// Whether it is `[^...]`.
    let negated: Bool
    /// Its contents.
    let contents: ClassSetSyntax
    /// The height of the bracketed class as an item: one more than its contents (stored, so
    /// that reading it never walks the nested classes).
    let height: Int

    /// A bracketed class around `contents`.
    init(negated: Bool, contents: ClassSetSyntax) {
        self.negated = negated
        self.contents = contents
        self.height = contents.height + 1
    }
}

/// The contents of a bracketed class: an item, or a set operation.
indirect enum ClassSetSyntax: Sendable {
    /// An item or a union of items.
    case item(ClassItemSyntax)
    /// `lhs && rhs`, `lhs -- rhs` or `lhs ~~ rhs`, with its nesting height.
    case operation(ClassSetOperation, lhs: ClassSetSyntax, rhs: ClassSetSyntax, height: Int)

    /// The nesting height, as Rust's `NestLimiter` counts it.
    var height: Int {
        switch self {
        case .item(let item): return item.height
        case .operation(_, _, _, let height): return height
        }
    }

    /// An operation node one level above its operands.
    static func operation(_ operation: ClassSetOperation, _ lhs: ClassSetSyntax, _ rhs: ClassSetSyntax)
        -> ClassSetSyntax
    {
        .operation(operation, lhs: lhs, rhs: rhs, height: max(lhs.height, rhs.height) + 1)
    }
}

/// The class set operations.
enum ClassSetOperation: Hashable, Sendable {
    /// `&&`.
    case intersection
    /// `--`.
    case difference
    /// `~~`.
    case symmetricDifference
}

/// One item of a bracketed class.
indirect enum ClassItemSyntax: Sendable {
    /// Nothing (a union of no items).
    case empty
    /// One character.
    case literal(SyntaxLiteral)
    /// `a-z`.
    case range(SyntaxLiteral, SyntaxLiteral)
    /// `[:alpha:]` or `[:^alpha:]`.
    case ascii(ASCIIClassKind, negated: Bool)
    /// `\p{...}` inside brackets.
    case unicode(UnicodeClassSyntax)
    /// `\d` and the like inside brackets.
    case perl(PerlClass)
    /// A nested `[...]`.
    case bracketed(BracketedClass)
    /// Two or more items side by side, with the union's nesting height.
    case union([ClassItemSyntax], height: Int)

    /// The nesting height, as Rust's `NestLimiter` counts it.
    var height: Int {
        switch self {
        case .empty, .literal, .range, .ascii, .unicode, .perl: return 0
        case .bracketed(let bracketed): return bracketed.height
        case .union(_, let height): return height
        }
    }

    /// The items as Rust's `ClassSetUnion::into_item` combines them.
    static func union(of items: [ClassItemSyntax]) -> ClassItemSyntax {
        switch items.count {
        case 0: return .empty
        case 1: return items[0]
        default: return .union(items, height: (items.map(\.height).max() ?? 0) + 1)
        }
    }
}

/// A repetition operator and what it repeats.
struct RepetitionSyntax: Sendable {
    /// The least number of repetitions.
    let minimum: UInt32
    /// The most, or nil for no bound.
    let maximum: UInt32?
    /// Whether it is greedy (no trailing `?`); it does not change whether a text matches,
    /// but Rust's simplifications compare it.
    let greedy: Bool
    /// What is repeated.
    let sub: SyntaxNode
}

/// A group.
struct GroupSyntax: Sendable {
    /// The flags of a `(?flags:...)` group; nil for capturing groups.
    let flags: FlagChanges?
    /// The group's contents.
    let sub: SyntaxNode
}

/// The flags a `(?flags)` or `(?flags:...)` group sets or clears; nil leaves a flag as it is.
struct FlagChanges: Hashable, Sendable {
    /// `i`: case-insensitive.
    var caseInsensitive: Bool?
    /// `m`: `^` and `$` match at line ends.
    var multiLine: Bool?
    /// `s`: `.` matches `\n`.
    var dotMatchesNewLine: Bool?
    /// `U`: swaps greedy and lazy (no effect on whether a pattern matches).
    var swapGreed: Bool?
    /// `u`: Unicode mode (on by default).
    var unicode: Bool?
    /// `R`: CRLF mode, `\r\n` line ends.
    var crlf: Bool?
    /// `x`: whitespace and `#` comments are ignored (handled by the parser).
    var ignoreWhitespace: Bool?
}
