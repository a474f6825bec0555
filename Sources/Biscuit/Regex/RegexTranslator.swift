/// Turns a `SyntaxNode` into a `RegexHIR`, applying the flags in the order Rust's translator
/// does: a `(?flags)` item changes the flags for everything after it up to the end of its
/// group, across `|` too (`a(?i)b|c` matches `C`).
struct RegexTranslator {
    /// The flags in effect (nil: the default).
    private var flags = FlagChanges()
    /// The capturing groups seen so far (Rust numbers them from 1 in order of `(`).
    private var captureCount = 0
    /// Simple case folds already computed, so that a pattern repeating a large class under
    /// `(?i)` folds it once.
    private let foldMemo = FoldMemo()

    /// A translator with the default flags (Unicode on, everything else off).
    init() {}

    /// Translates a parsed pattern.
    ///
    /// The walk keeps its pending work in a heap stack, as Rust's `HeapVisitor` does, so a
    /// pattern at the nesting limit costs no deep recursion.
    ///
    /// - Throws: `RegexError.invalidSyntax` for what Rust's translator rejects: unknown Unicode
    ///   properties, Unicode classes with Unicode mode off, and what could match invalid UTF-8.
    mutating func translate(_ root: SyntaxNode) throws(RegexError) -> RegexHIR {
        var pending: [PendingNode] = []
        // The translated items of each pending sequence, innermost last (kept apart from the
        // frames so that appending to them never copies).
        var sequences: [[RegexHIR]] = []
        var node = root
        while true {
            // Go down to a leaf, leaving a frame for each node with children.
            var result: RegexHIR
            switch node.kind {
            case .repetition(let repetition):
                pending.append(.repetition(repetition))
                node = repetition.sub
                continue
            case .group(let group):
                pending.append(enterGroup(group))
                node = group.sub
                continue
            case .concat(let items), .alternation(let items):
                let isAlternation: Bool
                if case .alternation = node.kind { isAlternation = true } else { isAlternation = false }
                guard let first = items.first else {
                    result = isAlternation ? .fail : .empty
                    break
                }
                pending.append(.sequence(items: items, next: 1, isAlternation: isAlternation))
                sequences.append([])
                sequences[sequences.count - 1].reserveCapacity(items.count)
                node = first
                continue
            default:
                result = try translateLeaf(node.kind)
            }
            // Go up, finishing frames, until one has another child to visit.
            ascending: while true {
                guard let frame = pending.popLast() else { return result }
                switch frame {
                case .repetition(let repetition):
                    // Rust reads the swap-greed flag after the operand, as it leaves.
                    let greedy = (flags.swapGreed ?? false) ? !repetition.greedy : repetition.greedy
                    result = .repetition(result, minimum: repetition.minimum, maximum: repetition.maximum, greedy: greedy)
                case .group(let saved, let captureIndex):
                    flags = saved
                    if let captureIndex { result = .capture(index: captureIndex, result) }
                case .sequence(let items, let next, let isAlternation):
                    sequences[sequences.count - 1].append(result)
                    if next < items.count {
                        pending.append(.sequence(items: items, next: next + 1, isAlternation: isAlternation))
                        node = items[next]
                        break ascending
                    }
                    let done = sequences.removeLast()
                    result = isAlternation ? .alternation(done) : .concat(done)
                }
            }
        }
    }

    // MARK: - Private helpers

    /// Work left to do for a node whose children are being translated.
    private enum PendingNode {
        /// Repeat the translated operand.
        case repetition(RepetitionSyntax)
        /// Restore the flags, and wrap in a capture if `captureIndex` is set.
        case group(saved: FlagChanges, captureIndex: Int?)
        /// Translate `items[next...]`, then combine them with those already translated.
        case sequence(items: [SyntaxNode], next: Int, isAlternation: Bool)
    }

    /// Applies a group's flags (or numbers its capture) and returns what to do on leaving it.
    private mutating func enterGroup(_ group: GroupSyntax) -> PendingNode {
        let saved = flags
        if let changes = group.flags {
            flags = changes.merged(over: flags)
            return .group(saved: saved, captureIndex: nil)
        }
        captureCount += 1
        return .group(saved: saved, captureIndex: captureCount)
    }

    /// Translates a node without children.
    private mutating func translateLeaf(_ kind: SyntaxKind) throws(RegexError) -> RegexHIR {
        switch kind {
        case .empty:
            return .empty
        case .flags(let changes):
            flags = changes.merged(over: flags)
            return .empty
        case .literal(let literal):
            return try translateLiteral(literal)
        case .dot:
            return try translateDot()
        case .assertion(let assertion):
            return .look(look(for: assertion))
        case .perlClass(let perl):
            let set = try perlClass(perl)
            return isUnicode ? .unicodeClass(set) : .byteClass(set)
        case .unicodeClass(let unicode):
            return .unicodeClass(try unicodeClass(unicode))
        case .bracketed(let bracketed):
            let set = try classValue(.item(.bracketed(bracketed)))
            return isUnicode ? .unicodeClass(set) : .byteClass(set)
        case .repetition, .group, .concat, .alternation:
            preconditionFailure("translateLeaf called on an inner node")
        }
    }

    /// Whether Unicode mode (`u`) is on.
    private var isUnicode: Bool { flags.unicode ?? true }
    /// Whether case-insensitive mode (`i`) is on.
    private var isCaseInsensitive: Bool { flags.caseInsensitive ?? false }

    /// A literal, or the class of its case variants under `i`.
    private func translateLiteral(_ literal: SyntaxLiteral) throws(RegexError) -> RegexHIR {
        let scalar = literal.scalar
        if !isUnicode, literal.isHexByte, scalar.value > 0x7F { throw invalid(.invalidUTF8) }
        guard isCaseInsensitive else { return .character(scalar) }
        if isUnicode {
            guard RegexUnicode.hasCaseFolding(scalar) else { return .character(scalar) }
            return .unicodeClass(foldMemo.folded(ScalarSet(scalar.value, scalar.value)))
        }
        let isASCIILetter = (0x41...0x5A).contains(scalar.value) || (0x61...0x7A).contains(scalar.value)
        guard isASCIILetter else { return .character(scalar) }
        var set = ScalarSet(scalar.value, scalar.value)
        set.formASCIICaseFold()
        return .byteClass(set)
    }

    /// `.` as a class, per the `s` and `R` flags.
    private func translateDot() throws(RegexError) -> RegexHIR {
        // Rust: with Unicode mode off, `.` would match any byte, so a string regex rejects it.
        guard isUnicode else { throw invalid(.invalidUTF8) }
        if flags.dotMatchesNewLine ?? false { return .unicodeClass(ScalarSet(0, ScalarSet.maxScalar)) }
        if flags.crlf ?? false {
            return .unicodeClass(ScalarSet(ranges: [0...0x09, 0x0B...0x0C, 0x0E...ScalarSet.maxScalar]))
        }
        return .unicodeClass(ScalarSet(ranges: [0...0x09, 0x0B...ScalarSet.maxScalar]))
    }

    /// The assertion an anchor means under the current flags.
    private func look(for assertion: SyntaxAssertion) -> RegexLook {
        let multiLine = flags.multiLine ?? false
        let crlf = flags.crlf ?? false
        let unicode = isUnicode
        switch assertion {
        case .startLine: return multiLine ? (crlf ? .startCRLF : .startLF) : .start
        case .endLine: return multiLine ? (crlf ? .endCRLF : .endLF) : .end
        case .startText: return .start
        case .endText: return .end
        case .wordBoundary: return unicode ? .wordUnicode : .wordASCII
        case .notWordBoundary: return unicode ? .wordUnicodeNegate : .wordASCIINegate
        case .wordStart: return unicode ? .wordStartUnicode : .wordStartASCII
        case .wordEnd: return unicode ? .wordEndUnicode : .wordEndASCII
        case .wordStartHalf: return unicode ? .wordStartHalfUnicode : .wordStartHalfASCII
        case .wordEndHalf: return unicode ? .wordEndHalfUnicode : .wordEndHalfASCII
        }
    }

    /// `\\d`, `\\s`, `\\w` (or negations), Unicode or ASCII per the `u` flag.
    private func perlClass(_ perl: PerlClass) throws(RegexError) -> ScalarSet {
        var set: ScalarSet
        if isUnicode {
            switch perl.kind {
            case .digit: set = RegexUnicode.perlDigit
            case .space: set = RegexUnicode.perlSpace
            case .word: set = RegexUnicode.perlWord
            }
        } else {
            switch perl.kind {
            case .digit: set = ASCIIClassKind.digit.members
            case .space: set = ASCIIClassKind.space.members
            case .word: set = ASCIIClassKind.word.members
            }
            // The complement of an ASCII class has non-ASCII bytes: invalid for strings.
            if perl.negated { throw invalid(.invalidUTF8) }
        }
        // The Perl classes are closed under case folding already.
        if perl.negated { set.negate() }
        return set
    }

    /// A `\\p{...}` class, folded under `i` and negated as written.
    private func unicodeClass(_ unicode: UnicodeClassSyntax) throws(RegexError) -> ScalarSet {
        guard isUnicode else { throw invalid(.unicodeNotAllowed) }
        var set: ScalarSet
        do {
            set = try RegexUnicode.propertyClass(unicode.query)
        } catch {
            switch error {
            case .propertyNotFound: throw invalid(.unicodePropertyNotFound)
            case .propertyValueNotFound: throw invalid(.unicodePropertyValueNotFound)
            }
        }
        return try foldAndNegate(set, negated: unicode.negated)
    }

    /// Case folding comes before negation: `(?i)[^k]` excludes `K` too.
    private func foldAndNegate(_ set: ScalarSet, negated: Bool) throws(RegexError) -> ScalarSet {
        var set = set
        if isCaseInsensitive {
            if isUnicode { set = foldMemo.folded(set) } else { set.formASCIICaseFold() }
        }
        if negated {
            // Without Unicode mode the complement has bytes over 0x7F: invalid for strings.
            guard isUnicode else { throw invalid(.invalidUTF8) }
            set.negate()
        }
        return set
    }

    /// A step of evaluating a class.
    private enum ClassStep {
        /// Evaluate a set and push its value.
        case set(ClassSetSyntax)
        /// Evaluate an item and push its value.
        case item(ClassItemSyntax)
        /// Pop two values (right operand on top), combine them, push the result.
        case combine(ClassSetOperation)
        /// Pop a value, case-fold (under `i`) and maybe negate it, push the result.
        case foldAndNegate(negated: Bool)
        /// Pop `count` values, push their union.
        case union(count: Int)
    }

    /// Evaluates a class with explicit stacks (classes nest up to the nesting limit).
    private func classValue(_ root: ClassSetSyntax) throws(RegexError) -> ScalarSet {
        var steps: [ClassStep] = [.set(root)]
        var values: [ScalarSet] = []
        while let step = steps.popLast() {
            switch step {
            case .set(.item(let item)):
                steps.append(.item(item))
            case .set(.operation(let operation, let lhs, let rhs, _)):
                steps += [.combine(operation), .set(rhs), .set(lhs)]
            case .item(.bracketed(let bracketed)):
                steps += [.foldAndNegate(negated: bracketed.negated), .set(bracketed.contents)]
            case .item(.union(let items, _)):
                steps.append(.union(count: items.count))
                steps += items.reversed().map { ClassStep.item($0) }
            case .item(let leaf):
                values.append(try classLeaf(leaf))
            case .combine(let operation):
                guard var rhs = values.popLast(), var lhs = values.popLast() else {
                    preconditionFailure("class evaluation lost an operand")
                }
                if isCaseInsensitive {
                    if isUnicode {
                        lhs = foldMemo.folded(lhs)
                        rhs = foldMemo.folded(rhs)
                    } else {
                        lhs.formASCIICaseFold()
                        rhs.formASCIICaseFold()
                    }
                }
                switch operation {
                case .intersection: lhs.formIntersection(rhs)
                case .difference: lhs.subtract(rhs)
                case .symmetricDifference: lhs.formSymmetricDifference(rhs)
                }
                values.append(lhs)
            case .foldAndNegate(let negated):
                guard let value = values.popLast() else { preconditionFailure("class evaluation lost a value") }
                values.append(try foldAndNegate(value, negated: negated))
            case .union(let count):
                var union = ScalarSet()
                for value in values.suffix(count) { union.formUnion(value) }
                values.removeLast(count)
                values.append(union)
            }
        }
        guard let value = values.popLast(), values.isEmpty else { preconditionFailure("class evaluation is unbalanced") }
        return value
    }

    /// A class item without nested items.
    private func classLeaf(_ item: ClassItemSyntax) throws(RegexError) -> ScalarSet {
        switch item {
        case .empty:
            return ScalarSet()
        case .literal(let literal):
            let value = try classLiteral(literal)
            return ScalarSet(value, value)
        case .range(let start, let end):
            return ScalarSet(try classLiteral(start), try classLiteral(end))
        case .ascii(let kind, let negated):
            return try foldAndNegate(kind.members, negated: negated)
        case .unicode(let unicode):
            return try unicodeClass(unicode)
        case .perl(let perl):
            return try perlClass(perl)
        case .bracketed, .union:
            preconditionFailure("classLeaf called on a nested item")
        }
    }

    /// A class member; without Unicode mode it must be ASCII (Rust's `class_literal_byte`).
    private func classLiteral(_ literal: SyntaxLiteral) throws(RegexError) -> UInt32 {
        let value = literal.scalar.value
        if isUnicode || value <= 0x7F { return value }
        throw invalid(literal.isHexByte ? .invalidUTF8 : .unicodeNotAllowed)
    }

    /// A translation error.
    private func invalid(_ reason: RegexSyntaxError) -> RegexError {
        // The translator works on the tree, which keeps no positions.
        .invalidSyntax(reason, offset: 0)
    }
}

/// A memo of `ScalarSet.formSimpleCaseFold` results for one translation.
private final class FoldMemo {
    /// Folded sets by their input.
    private var results: [ScalarSet: ScalarSet] = [:]

    /// `set` closed under simple case folding.
    func folded(_ set: ScalarSet) -> ScalarSet {
        if let result = results[set] { return result }
        var result = set
        result.formSimpleCaseFold()
        results[set] = result
        return result
    }
}

extension FlagChanges {
    /// These changes applied over `previous`: a flag these changes leave alone keeps its value.
    func merged(over previous: FlagChanges) -> FlagChanges {
        FlagChanges(
            caseInsensitive: caseInsensitive ?? previous.caseInsensitive,
            multiLine: multiLine ?? previous.multiLine,
            dotMatchesNewLine: dotMatchesNewLine ?? previous.dotMatchesNewLine,
            swapGreed: swapGreed ?? previous.swapGreed,
            unicode: unicode ?? previous.unicode,
            crlf: crlf ?? previous.crlf,
            ignoreWhitespace: ignoreWhitespace ?? previous.ignoreWhitespace
        )
    }
}
