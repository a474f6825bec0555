/// Parses a pattern in the syntax of Rust's `regex` crate into a `SyntaxNode`.
///
/// This follows `regex_syntax::ast::parse` closely, decision by decision, because the
/// reference implementation accepts exactly what that parser accepts: the same escapes
/// (`\%` yes, `\e` no), the same quirks (`a**` is valid, `{` alone is not a literal), the same
/// `x`-mode whitespace rules. Groups and classes are parsed with explicit stacks, as in Rust,
/// so nesting costs heap, not call stack.
///
/// Use: `try RegexParser(pattern).parse()`, once per parser.
struct RegexParser {
    /// The pattern's scalars.
    private let scalars: [Unicode.Scalar]
    /// The current position in `scalars`.
    // Invariant: 0 <= position <= scalars.count.
    private var position = 0
    /// Whether the `x` flag is in effect at `position`.
    private var ignoreWhitespace = false
    /// Open groups and pending alternations (Rust's `stack_group`).
    private var groupStack: [GroupState] = []
    /// The nodes of each entry of `groupStack` (kept apart so that appending never copies).
    // Invariant: groupItems.count == groupStack.count.
    private var groupItems: [[SyntaxNode]] = []
    /// Open classes and pending class operations (Rust's `stack_class`).
    private var classStack: [ClassState] = []
    /// The capture group names seen so far.
    private var captureNames: Set<[Unicode.Scalar]> = []

    /// Prepares to parse `pattern`.
    ///
    /// - Throws: `RegexError.limitExceeded(.patternBytes)` when the pattern is longer than
    ///   `RegexLimits.maxPatternBytes`.
    init(_ pattern: String) throws(RegexError) {
        guard pattern.utf8.count <= RegexLimits.maxPatternBytes else {
            throw .limitExceeded(.patternBytes(limit: RegexLimits.maxPatternBytes))
        }
        scalars = Array(pattern.unicodeScalars)
    }

    // MARK: - Parsing

    /// Parses the whole pattern and checks its nesting depth.
    ///
    /// - Returns: the syntax tree.
    /// - Throws: `RegexError.invalidSyntax` for what Rust's parser rejects, and
    ///   `RegexError.limitExceeded(.nestingDepth)` past `RegexLimits.maxNestingDepth`.
    mutating func parse() throws(RegexError) -> SyntaxNode {
        precondition(position == 0, "RegexParser.parse called twice")
        var concat: [SyntaxNode] = []
        while true {
            bumpSpace()
            if isEOF { break }
            switch char {
            case "(": try pushGroup(&concat)
            case ")": try popGroup(&concat)
            case "|": pushAlternate(&concat)
            case "[":
                let bracketed = try parseSetClass()
                concat.append(SyntaxNode(kind: .bracketed(bracketed), childHeight: bracketed.contents.height))
            case "?": try parseUncountedRepetition(&concat, minimum: 0, maximum: 1)
            case "*": try parseUncountedRepetition(&concat, minimum: 0, maximum: nil)
            case "+": try parseUncountedRepetition(&concat, minimum: 1, maximum: nil)
            case "{": try parseCountedRepetition(&concat)
            default: concat.append(try parsePrimitive().node)
            }
        }
        let root = try popGroupEnd(concat)
        guard root.height <= RegexLimits.maxNestingDepth else {
            throw .limitExceeded(.nestingDepth(limit: RegexLimits.maxNestingDepth))
        }
        return root
    }

    // MARK: - Groups and alternations

    /// A pending group or alternation. Each has its nodes in `groupItems`, at the same depth.
    private enum GroupState {
        /// An open group (its items: the concatenation before it), its flags, and the `x`
        /// state to restore when it closes.
        case group(flags: FlagChanges?, ignoreWhitespace: Bool)
        /// An alternation (its items: the finished branches).
        case alternation
    }

    /// At `(`: opens a group (`concat` is saved and starts afresh for the group's contents),
    /// or applies `(?flags)`.
    private mutating func pushGroup(_ concat: inout [SyntaxNode]) throws(RegexError) {
        switch try parseGroup() {
        case .setFlags(let flags):
            if let ignore = flags.ignoreWhitespace { ignoreWhitespace = ignore }
            concat.append(SyntaxNode(leaf: .flags(flags)))
        case .open(let flags):
            let old = ignoreWhitespace
            groupStack.append(.group(flags: flags, ignoreWhitespace: old))
            groupItems.append(concat)
            ignoreWhitespace = flags?.ignoreWhitespace ?? old
            concat = []
        }
    }

    /// At `)`: closes the innermost group; `concat` becomes the enclosing concatenation.
    private mutating func popGroup(_ concat: inout [SyntaxNode]) throws(RegexError) {
        var body = SyntaxNode.concatenation(concat)
        if case .alternation = groupStack.last {
            groupStack.removeLast()
            var branches = groupItems.removeLast()
            branches.append(body)
            body = .alternation(branches)
        }
        guard case .group(let flags, let savedIgnoreWhitespace) = groupStack.last else {
            throw error(.unopenedGroup)
        }
        groupStack.removeLast()
        ignoreWhitespace = savedIgnoreWhitespace
        bump()
        concat = groupItems.removeLast()
        concat.append(SyntaxNode(kind: .group(GroupSyntax(flags: flags, sub: body)), childHeight: body.height))
    }

    /// At `|`: ends a branch; `concat` starts afresh for the next.
    private mutating func pushAlternate(_ concat: inout [SyntaxNode]) {
        let branch = SyntaxNode.concatenation(concat)
        concat = []
        if case .alternation = groupStack.last {
            groupItems[groupItems.count - 1].append(branch)
        } else {
            groupStack.append(.alternation)
            groupItems.append([branch])
        }
        bump()
    }

    /// At the end of the pattern: the root node, or an error if a group is open.
    private mutating func popGroupEnd(_ concat: [SyntaxNode]) throws(RegexError) -> SyntaxNode {
        let root: SyntaxNode
        switch groupStack.popLast() {
        case nil:
            root = .concatenation(concat)
        case .alternation:
            root = .alternation(groupItems.removeLast() + [.concatenation(concat)])
        case .group:
            throw error(.unclosedGroup)
        }
        guard groupStack.isEmpty else { throw error(.unclosedGroup) }
        return root
    }

    /// What an opening parenthesis starts.
    private enum GroupOpening {
        /// `(?flags)`.
        case setFlags(FlagChanges)
        /// A group; flags for `(?flags:`, nil for capturing groups.
        case open(FlagChanges?)
    }

    /// Parses what follows `(`: look-around (rejected), a name, flags, or nothing.
    private mutating func parseGroup() throws(RegexError) -> GroupOpening {
        precondition(char == "(")
        bump()
        bumpSpace()
        if isLookaroundPrefix() { throw error(.unsupportedLookAround) }
        if bumpIf("?P<") || bumpIf("?<") {
            try parseCaptureName()
            return .open(nil)
        }
        if bumpIf("?") {
            if isEOF { throw error(.unclosedGroup) }
            let (flags, isEmpty) = try parseFlags()
            let end = char
            bump()
            if end == ")" {
                // Rust: `(?)` is read as a repetition operator missing its operand.
                if isEmpty { throw error(.repetitionMissing) }
                return .setFlags(flags)
            }
            precondition(end == ":")
            return .open(flags)
        }
        return .open(nil)
    }

    /// Moves past `?=`, `?!`, `?<=` or `?<!` if one follows.
    private mutating func isLookaroundPrefix() -> Bool {
        bumpIf("?=") || bumpIf("?!") || bumpIf("?<=") || bumpIf("?<!")
    }

    /// Parses a group name up to and past `>`, rejecting duplicates.
    private mutating func parseCaptureName() throws(RegexError) {
        if isEOF { throw error(.groupNameUnexpectedEnd) }
        let start = position
        while true {
            if char == ">" { break }
            guard Self.isCaptureCharacter(char, first: position == start) else { throw error(.groupNameInvalid) }
            if !bump() { break }
        }
        let end = position
        if isEOF { throw error(.groupNameUnexpectedEnd) }
        bump()
        guard end > start else { throw error(.groupNameEmpty) }
        let name = Array(scalars[start..<end])
        guard captureNames.insert(name).inserted else { throw error(.groupNameDuplicate) }
    }

    /// Rust's `is_capture_char`: a letter or `_` first, then also digits, `.`, `[` and `]`.
    private static func isCaptureCharacter(_ scalar: Unicode.Scalar, first: Bool) -> Bool {
        if first { return scalar == "_" || RegexUnicode.isAlphabetic(scalar) }
        return scalar == "_" || scalar == "." || scalar == "[" || scalar == "]" || RegexUnicode.isAlphanumeric(scalar)
    }

    /// Parses flags up to (not past) the `:` or `)` that ends them.
    ///
    /// - Returns: the changes, and whether no flag or `-` was written.
    private mutating func parseFlags() throws(RegexError) -> (FlagChanges, Bool) {
        var changes = FlagChanges()
        var seen: Set<Unicode.Scalar> = []
        var sawNegation = false
        var lastWasNegation = false
        var enable = true
        var isEmpty = true
        while char != ":", char != ")" {
            isEmpty = false
            if char == "-" {
                if sawNegation { throw error(.flagRepeatedNegation) }
                sawNegation = true
                lastWasNegation = true
                enable = false
            } else {
                lastWasNegation = false
                let flag = char
                guard seen.insert(flag).inserted || !Self.isFlagLetter(flag) else { throw error(.flagDuplicate) }
                switch flag {
                case "i": changes.caseInsensitive = enable
                case "m": changes.multiLine = enable
                case "s": changes.dotMatchesNewLine = enable
                case "U": changes.swapGreed = enable
                case "u": changes.unicode = enable
                case "R": changes.crlf = enable
                case "x": changes.ignoreWhitespace = enable
                default: throw error(.flagUnrecognized)
                }
            }
            if !bump() { throw error(.flagUnexpectedEnd) }
        }
        if lastWasNegation { throw error(.flagDanglingNegation) }
        return (changes, isEmpty)
    }

    /// Whether `scalar` is one of the flag letters `imsUuRx`.
    private static func isFlagLetter(_ scalar: Unicode.Scalar) -> Bool {
        "imsUuRx".unicodeScalars.contains(scalar)
    }

    // MARK: - Repetitions

    /// At `?`, `*` or `+`: wraps the last item of `concat` in a repetition.
    private mutating func parseUncountedRepetition(_ concat: inout [SyntaxNode], minimum: UInt32, maximum: UInt32?)
        throws(RegexError)
    {
        guard let operand = concat.popLast(), Self.isRepeatable(operand) else { throw error(.repetitionMissing) }
        // A `?` right after the operator makes it lazy; that does not change what matches.
        var greedy = true
        if bump(), char == "?" {
            greedy = false
            bump()
        }
        let repetition = RepetitionSyntax(minimum: minimum, maximum: maximum, greedy: greedy, sub: operand)
        concat.append(SyntaxNode(kind: .repetition(repetition), childHeight: operand.height))
    }

    /// At `{`: parses `{n}`, `{n,}` or `{n,m}` and wraps the last item of `concat`.
    private mutating func parseCountedRepetition(_ concat: inout [SyntaxNode]) throws(RegexError) {
        precondition(char == "{")
        guard let operand = concat.popLast(), Self.isRepeatable(operand) else { throw error(.repetitionMissing) }
        if !bumpAndBumpSpace() { throw error(.unclosedRepetitionCount) }
        let start = parseDecimal()
        if isEOF { throw error(.unclosedRepetitionCount) }
        let minimum: UInt32
        var maximum: UInt32?
        if char == "," {
            if !bumpAndBumpSpace() { throw error(.unclosedRepetitionCount) }
            minimum = try start.get()
            if char != "}" {
                maximum = try parseDecimal().get()
            }
        } else {
            minimum = try start.get()
            maximum = minimum
        }
        if isEOF || char != "}" { throw error(.unclosedRepetitionCount) }
        var greedy = true
        if bumpAndBumpSpace(), char == "?" {
            greedy = false
            bump()
        }
        if let maximum, minimum > maximum { throw error(.invalidRepetitionCount) }
        let repetition = RepetitionSyntax(minimum: minimum, maximum: maximum, greedy: greedy, sub: operand)
        concat.append(SyntaxNode(kind: .repetition(repetition), childHeight: operand.height))
    }

    /// Whether a repetition may apply to `node` (not to nothing or to flags).
    private static func isRepeatable(_ node: SyntaxNode) -> Bool {
        switch node.kind {
        case .empty, .flags: return false
        default: return true
        }
    }

    /// Rust's `parse_decimal`: whitespace (always, not only in `x` mode), digits, whitespace.
    private mutating func parseDecimal() -> Result<UInt32, RegexError> {
        while !isEOF, RegexUnicode.isWhiteSpace(char) { bump() }
        var digits: [UInt32] = []
        while !isEOF, char.value >= 0x30, char.value <= 0x39 {
            digits.append(char.value - 0x30)
            bumpAndBumpSpace()
        }
        while !isEOF, RegexUnicode.isWhiteSpace(char) { bumpAndBumpSpace() }
        if digits.isEmpty { return .failure(error(.repetitionCountMissing)) }
        var value: UInt32 = 0
        for digit in digits {
            let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times.addingReportingOverflow(digit)
            if overflow1 || overflow2 { return .failure(error(.invalidDecimal)) }
            value = sum
        }
        return .success(value)
    }

    // MARK: - Primitives and escapes

    /// A primitive: what a literal, escape, `.` or anchor parses to.
    private enum Primitive {
        /// A character.
        case literal(SyntaxLiteral)
        /// An anchor or word boundary.
        case assertion(SyntaxAssertion)
        /// `.`.
        case dot
        /// `\\d`, `\\s`, `\\w` or a negation.
        case perl(PerlClass)
        /// `\\p{...}` or `\\P{...}`.
        case unicode(UnicodeClassSyntax)

        /// The primitive as a leaf node.
        var node: SyntaxNode {
            switch self {
            case .literal(let literal): return SyntaxNode(leaf: .literal(literal))
            case .assertion(let assertion): return SyntaxNode(leaf: .assertion(assertion))
            case .dot: return SyntaxNode(leaf: .dot)
            case .perl(let perl): return SyntaxNode(leaf: .perlClass(perl))
            case .unicode(let unicode): return SyntaxNode(leaf: .unicodeClass(unicode))
            }
        }
    }

    /// Parses a literal, `.`, `^`, `$` or an escape.
    private mutating func parsePrimitive() throws(RegexError) -> Primitive {
        let current = char
        switch current {
        case "\\": return try parseEscape()
        case ".":
            bump()
            return .dot
        case "^":
            bump()
            return .assertion(.startLine)
        case "$":
            bump()
            return .assertion(.endLine)
        default:
            bump()
            return .literal(SyntaxLiteral(scalar: current, isHexByte: false))
        }
    }

    /// Parses an escape starting at `\\`, as Rust's `parse_escape`.
    private mutating func parseEscape() throws(RegexError) -> Primitive {
        precondition(char == "\\")
        if !bump() { throw error(.escapeUnexpectedEnd) }
        let current = char
        switch current {
        case "0"..."9":
            // Octal escapes are off by default in Rust, so every `\digit` is a backreference.
            throw error(.unsupportedBackreference)
        case "x", "u", "U":
            return .literal(try parseHex())
        case "p", "P":
            return .unicode(try parseUnicodeClass())
        case "d", "s", "w", "D", "S", "W":
            return .perl(parsePerlClass())
        default:
            break
        }
        bump()
        if Self.isEscapable(current) { return .literal(SyntaxLiteral(scalar: current, isHexByte: false)) }
        switch current {
        case "a": return .literal(SyntaxLiteral(scalar: "\u{07}", isHexByte: false))
        case "f": return .literal(SyntaxLiteral(scalar: "\u{0C}", isHexByte: false))
        case "t": return .literal(SyntaxLiteral(scalar: "\t", isHexByte: false))
        case "n": return .literal(SyntaxLiteral(scalar: "\n", isHexByte: false))
        case "r": return .literal(SyntaxLiteral(scalar: "\r", isHexByte: false))
        case "v": return .literal(SyntaxLiteral(scalar: "\u{0B}", isHexByte: false))
        case "A": return .assertion(.startText)
        case "z": return .assertion(.endText)
        case "b":
            if !isEOF, char == "{", let special = try maybeParseSpecialWordBoundary() {
                return .assertion(special)
            }
            return .assertion(.wordBoundary)
        case "B": return .assertion(.notWordBoundary)
        case "<": return .assertion(.wordStart)
        case ">": return .assertion(.wordEnd)
        default: throw error(.unrecognizedEscape)
        }
    }

    /// Rust's `is_escapeable_character`: the meta characters and every other ASCII character
    /// but letters, digits, `<` and `>`.
    private static func isEscapable(_ scalar: Unicode.Scalar) -> Bool {
        guard scalar.isASCII else { return false }
        switch scalar {
        case "0"..."9", "A"..."Z", "a"..."z", "<", ">": return false
        default: return true
        }
    }

    /// After `\b`, at a `{`: `\b{start}` and the like, or nil (position unchanged) when the
    /// brace starts a counted repetition such as `\b{5}`.
    private mutating func maybeParseSpecialWordBoundary() throws(RegexError) -> SyntaxAssertion? {
        precondition(char == "{")
        func isNameCharacter(_ scalar: Unicode.Scalar) -> Bool {
            ("A"..."Z").contains(scalar) || ("a"..."z").contains(scalar) || scalar == "-"
        }
        let start = position
        if !bumpAndBumpSpace() { throw error(.specialWordBoundaryUnexpectedEnd) }
        if !isNameCharacter(char) {
            position = start
            return nil
        }
        var name = ""
        while !isEOF, isNameCharacter(char) {
            name.unicodeScalars.append(char)
            bumpAndBumpSpace()
        }
        if isEOF || char != "}" { throw error(.unclosedSpecialWordBoundary) }
        bump()
        switch name {
        case "start": return .wordStart
        case "end": return .wordEnd
        case "start-half": return .wordStartHalf
        case "end-half": return .wordEndHalf
        default: throw error(.unrecognizedSpecialWordBoundary)
        }
    }

    /// Parses `\\xNN`, `\\uNNNN`, `\\UNNNNNNNN` or a braced form, from the letter on.
    private mutating func parseHex() throws(RegexError) -> SyntaxLiteral {
        let digitCount: Int
        switch char {
        case "x": digitCount = 2
        case "u": digitCount = 4
        default: digitCount = 8
        }
        if !bumpAndBumpSpace() { throw error(.escapeUnexpectedEnd) }
        if char == "{" { return try parseHexBrace() }
        var value: UInt32 = 0
        for index in 0..<digitCount {
            if index > 0, !bumpAndBumpSpace() { throw error(.escapeUnexpectedEnd) }
            guard let digit = Self.hexValue(char) else { throw error(.invalidHexDigit) }
            value = value << 4 | digit
        }
        bumpAndBumpSpace()
        guard let scalar = Unicode.Scalar(value) else { throw error(.hexNotScalar) }
        return SyntaxLiteral(scalar: scalar, isHexByte: digitCount == 2)
    }

    /// Parses `{...}` hex digits of any length, as a scalar value.
    private mutating func parseHexBrace() throws(RegexError) -> SyntaxLiteral {
        var value: UInt32 = 0
        var digitCount = 0
        var overflow = false
        while bumpAndBumpSpace(), char != "}" {
            guard let digit = Self.hexValue(char) else { throw error(.invalidHexDigit) }
            digitCount += 1
            if value > 0x0FFF_FFFF { overflow = true }
            value = value << 4 | digit
        }
        if isEOF { throw error(.escapeUnexpectedEnd) }
        bumpAndBumpSpace()
        if digitCount == 0 { throw error(.emptyHex) }
        guard !overflow, let scalar = Unicode.Scalar(value) else { throw error(.hexNotScalar) }
        return SyntaxLiteral(scalar: scalar, isHexByte: false)
    }

    /// The value of an ASCII hex digit.
    private static func hexValue(_ scalar: Unicode.Scalar) -> UInt32? {
        switch scalar {
        case "0"..."9": return scalar.value - 0x30
        case "a"..."f": return scalar.value - 0x61 + 10
        case "A"..."F": return scalar.value - 0x41 + 10
        default: return nil
        }
    }

    /// Parses `\\pX` or `\\p{...}` (or `\\P`), from the letter on.
    private mutating func parseUnicodeClass() throws(RegexError) -> UnicodeClassSyntax {
        let negated = char == "P"
        if !bumpAndBumpSpace() { throw error(.escapeUnexpectedEnd) }
        if char == "{" {
            var name: [Unicode.Scalar] = []
            while bumpAndBumpSpace(), char != "}" { name.append(char) }
            if isEOF { throw error(.escapeUnexpectedEnd) }
            bump()
            return Self.unicodeClass(name: name, negated: negated)
        }
        let letter = char
        if letter == "\\" { throw error(.invalidUnicodeClass) }
        bumpAndBumpSpace()
        return UnicodeClassSyntax(query: .oneLetter(letter), negated: negated)
    }

    /// Splits `name=value` (or `name:value`, or `name!=value`, which complements), as Rust does:
    /// the first `!=` wins, then the first `:`, then the first `=`.
    private static func unicodeClass(name: [Unicode.Scalar], negated: Bool) -> UnicodeClassSyntax {
        func string(_ slice: ArraySlice<Unicode.Scalar>) -> String {
            var result = ""
            result.unicodeScalars.append(contentsOf: slice)
            return result
        }
        for index in name.indices.dropLast() where name[index] == "!" && name[index + 1] == "=" {
            let query = RegexUnicode.ClassQuery.byValue(
                property: string(name[..<index]), value: string(name[(index + 2)...]))
            return UnicodeClassSyntax(query: query, negated: !negated)
        }
        for separator: Unicode.Scalar in [":", "="] {
            if let index = name.firstIndex(of: separator) {
                let query = RegexUnicode.ClassQuery.byValue(
                    property: string(name[..<index]), value: string(name[(index + 1)...]))
                return UnicodeClassSyntax(query: query, negated: negated)
            }
        }
        return UnicodeClassSyntax(query: .binary(string(name[...])), negated: negated)
    }

    /// Parses the letter of `\\d`, `\\s`, `\\w` or their negations.
    private mutating func parsePerlClass() -> PerlClass {
        let letter = char
        bump()
        switch letter {
        case "d": return PerlClass(kind: .digit, negated: false)
        case "D": return PerlClass(kind: .digit, negated: true)
        case "s": return PerlClass(kind: .space, negated: false)
        case "S": return PerlClass(kind: .space, negated: true)
        case "w": return PerlClass(kind: .word, negated: false)
        default:
            precondition(letter == "W", "parsePerlClass at \(letter)")
            return PerlClass(kind: .word, negated: true)
        }
    }

    // MARK: - Bracketed classes

    /// A pending class: an open bracket, or the left operand of a set operation.
    private enum ClassState {
        /// An open `[`: the parent's items so far, and whether this class is negated.
        case open(parentItems: [ClassItemSyntax], negated: Bool)
        /// `lhs &&`, `lhs --` or `lhs ~~`, waiting for its right operand.
        case operation(ClassSetOperation, lhs: ClassSetSyntax)
    }

    /// Parses a whole bracketed class, nested ones included, with the class stack.
    private mutating func parseSetClass() throws(RegexError) -> BracketedClass {
        precondition(char == "[")
        var items: [ClassItemSyntax] = []
        while true {
            bumpSpace()
            if isEOF { throw error(.unclosedClass) }
            switch char {
            case "[":
                if !classStack.isEmpty, let ascii = maybeParseASCIIClass() {
                    items.append(ascii)
                    continue
                }
                items = try pushClassOpen(items)
            case "]":
                switch popClass(items) {
                case .nested(let parentItems): items = parentItems
                case .done(let bracketed): return bracketed
                }
            case "&" where peek == "&":
                position += 2
                items = pushClassOperation(.intersection, items)
            case "-" where peek == "-":
                position += 2
                items = pushClassOperation(.difference, items)
            case "~" where peek == "~":
                position += 2
                items = pushClassOperation(.symmetricDifference, items)
            default:
                items.append(try parseSetClassRange())
            }
        }
    }

    /// At `[`: opens a class; returns its first items (a leading `-` or `]` is literal).
    private mutating func pushClassOpen(_ parentItems: [ClassItemSyntax]) throws(RegexError) -> [ClassItemSyntax] {
        precondition(char == "[")
        if !bumpAndBumpSpace() { throw error(.unclosedClass) }
        var negated = false
        if char == "^" {
            negated = true
            if !bumpAndBumpSpace() { throw error(.unclosedClass) }
        }
        var items: [ClassItemSyntax] = []
        // Leading `-` are literals; so is a `]` first in the class (an empty class cannot be
        // written).
        while char == "-" {
            items.append(.literal(SyntaxLiteral(scalar: "-", isHexByte: false)))
            if !bumpAndBumpSpace() { throw error(.unclosedClass) }
        }
        if items.isEmpty, char == "]" {
            items.append(.literal(SyntaxLiteral(scalar: "]", isHexByte: false)))
            if !bumpAndBumpSpace() { throw error(.unclosedClass) }
        }
        classStack.append(.open(parentItems: parentItems, negated: negated))
        return items
    }

    /// The result of a `]`.
    private enum PoppedClass {
        /// A nested class closed; parsing continues with the parent's items.
        case nested([ClassItemSyntax])
        /// The outermost class closed.
        case done(BracketedClass)
    }

    /// At `]`: closes the innermost class.
    private mutating func popClass(_ items: [ClassItemSyntax]) -> PoppedClass {
        precondition(char == "]")
        let set = popClassOperation(.item(.union(of: items)))
        guard case .open(let parentItems, let negated) = classStack.popLast() else {
            preconditionFailure("RegexParser: a class operation is below the top of the class stack")
        }
        bump()
        let bracketed = BracketedClass(negated: negated, contents: set)
        if classStack.isEmpty { return .done(bracketed) }
        return .nested(parentItems + [.bracketed(bracketed)])
    }

    /// At `&&`, `--` or `~~`: the items so far become the left operand.
    private mutating func pushClassOperation(_ operation: ClassSetOperation, _ items: [ClassItemSyntax])
        -> [ClassItemSyntax]
    {
        let lhs = popClassOperation(.item(.union(of: items)))
        classStack.append(.operation(operation, lhs: lhs))
        return []
    }

    /// Completes a pending class operation with `rhs`, if one is pending.
    private mutating func popClassOperation(_ rhs: ClassSetSyntax) -> ClassSetSyntax {
        guard case .operation(let operation, let lhs) = classStack.last else { return rhs }
        classStack.removeLast()
        return .operation(operation, lhs, rhs)
    }

    /// Parses a class item: a character, a range, or an escape class.
    private mutating func parseSetClassRange() throws(RegexError) -> ClassItemSyntax {
        let first = try parseSetClassItem()
        bumpSpace()
        if isEOF { throw error(.unclosedClass) }
        if char != "-" || peekSpace == "]" || peekSpace == "-" {
            switch first {
            case .literal(let literal): return .literal(literal)
            case .perl(let perl): return .perl(perl)
            case .unicode(let unicode): return .unicode(unicode)
            case .assertion, .dot: throw error(.invalidClassEscape)
            }
        }
        if !bumpAndBumpSpace() { throw error(.unclosedClass) }
        let second = try parseSetClassItem()
        guard case .literal(let start) = first, case .literal(let end) = second else {
            throw error(.classRangeNotLiteral)
        }
        guard start.scalar.value <= end.scalar.value else { throw error(.invalidClassRange) }
        return .range(start, end)
    }

    /// Parses one character or escape inside a class.
    private mutating func parseSetClassItem() throws(RegexError) -> Primitive {
        if char == "\\" { return try parseEscape() }
        let literal = SyntaxLiteral(scalar: char, isHexByte: false)
        bump()
        return .literal(literal)
    }

    /// `[:name:]` or `[:^name:]` inside a class, or nil (position unchanged) if what follows
    /// the `[` is not one: then it is a nested class, as in Rust (`[[:loower:]]` is a class of
    /// the letters `:elorw`).
    private mutating func maybeParseASCIIClass() -> ClassItemSyntax? {
        precondition(char == "[")
        let start = position
        var negated = false
        guard bump(), char == ":", bump() else {
            position = start
            return nil
        }
        if char == "^" {
            negated = true
            if !bump() {
                position = start
                return nil
            }
        }
        let nameStart = position
        while char != ":", bump() {}
        if isEOF {
            position = start
            return nil
        }
        var name = ""
        name.unicodeScalars.append(contentsOf: scalars[nameStart..<position])
        guard bumpIf(":]"), let kind = ASCIIClassKind(rawValue: name) else {
            position = start
            return nil
        }
        return .ascii(kind, negated: negated)
    }

    // MARK: - Scanning

    /// Whether the whole pattern has been read.
    private var isEOF: Bool { position == scalars.count }

    /// The scalar at the current position; only read when not at the end.
    private var char: Unicode.Scalar {
        precondition(!isEOF, "RegexParser read past the end of the pattern")
        return scalars[position]
    }

    /// The scalar after the current one, if any.
    private var peek: Unicode.Scalar? {
        position + 1 < scalars.count ? scalars[position + 1] : nil
    }

    /// Rust's `peek_space`, quirks included: in `x` mode it skips whitespace and `#` characters
    /// (not whole comments) after the current scalar, and falls back to the next scalar.
    private var peekSpace: Unicode.Scalar? {
        guard ignoreWhitespace else { return peek }
        if isEOF { return nil }
        var index = position + 1
        var inComment = false
        var found: Int?
        while index < scalars.count {
            let scalar = scalars[index]
            if RegexUnicode.isWhiteSpace(scalar) {
            } else if !inComment, scalar == "#" {
                inComment = true
            } else if inComment, scalar == "\n" {
                inComment = false
            } else {
                found = index
                break
            }
            index += 1
        }
        let target = found ?? position + 1
        return target < scalars.count ? scalars[target] : nil
    }

    /// Moves past the current scalar; returns whether another follows.
    @discardableResult
    private mutating func bump() -> Bool {
        if isEOF { return false }
        position += 1
        return !isEOF
    }

    /// Moves past `prefix` if the pattern continues with it.
    private mutating func bumpIf(_ prefix: String) -> Bool {
        let prefixScalars = Array(prefix.unicodeScalars)
        guard position + prefixScalars.count <= scalars.count,
            scalars[position..<(position + prefixScalars.count)].elementsEqual(prefixScalars)
        else { return false }
        position += prefixScalars.count
        return true
    }

    /// Moves past the current scalar and any whitespace and comments (in `x` mode); returns
    /// whether anything follows.
    @discardableResult
    private mutating func bumpAndBumpSpace() -> Bool {
        if !bump() { return false }
        bumpSpace()
        return !isEOF
    }

    /// In `x` mode, skips whitespace and `#` comments up to the end of their line.
    private mutating func bumpSpace() {
        guard ignoreWhitespace else { return }
        while !isEOF {
            if RegexUnicode.isWhiteSpace(char) {
                bump()
            } else if char == "#" {
                bump()
                while !isEOF {
                    let scalar = char
                    bump()
                    if scalar == "\n" { break }
                }
            } else {
                break
            }
        }
    }

    /// A syntax error at the current position.
    private func error(_ reason: RegexSyntaxError) -> RegexError {
        .invalidSyntax(reason, offset: position)
    }
}
