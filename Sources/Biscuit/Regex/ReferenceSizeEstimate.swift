/// Decides whether the reference implementation would refuse a pattern as too big.
///
/// Rust's `Regex::new` compiles two Thompson NFAs over UTF-8 bytes (forward, and reverse for
/// its lazy DFA) and fails when either builder's memory exceeds `size_limit`, 10 MiB by
/// default: `\w{210}` fails there, `\w{209}` does not, because a Unicode `\w` is several
/// hundred byte-level states. `.matches` is then false. To agree, this replays the two
/// constructions of `regex_automata::nfa::thompson::Compiler` (regex-automata 0.4) on the
/// same `RegexHIR`, counting states and heap bytes the way its `Builder::memory_usage` does:
/// 32 bytes per state, 8 per sparse transition, 4 per union alternate. The state numbering is
/// replayed too, because the compiler's caches of UTF-8 automaton states are hash tables of
/// bounded size keyed by state ids, and their collisions change how many states are made.
///
/// Cost: the replay stops as soon as the limit is passed, so it handles at most about
/// 330,000 states (10 MiB / 32 bytes) per direction.
enum ReferenceSizeEstimate {
    /// Throws if the reference would refuse `hir` as over its compiled size limit.
    ///
    /// - Throws: `RegexError.limitExceeded(.referenceProgramBytes)`.
    static func check(_ hir: RegexHIR) throws(RegexError) {
        for reverse in [false, true] {
            var builder = ReferenceNFABuilder(reverse: reverse, limit: RegexLimits.maxReferenceProgramBytes)
            do {
                try builder.compile(hir)
            } catch {
                throw .limitExceeded(.referenceProgramBytes(limit: RegexLimits.maxReferenceProgramBytes))
            }
        }
    }

    /// The memory the reference's builder reports after compiling `hir` in one direction, or
    /// nil when it passes `limit` (for tests).
    static func memoryUsage(_ hir: RegexHIR, reverse: Bool, limit: Int = RegexLimits.maxReferenceProgramBytes) -> Int? {
        var builder = ReferenceNFABuilder(reverse: reverse, limit: limit)
        do {
            try builder.compile(hir)
        } catch {
            return nil
        }
        return builder.memoryUsage
    }
}

/// The size accounting of `regex_automata::nfa::thompson::Builder` and the construction of
/// its `Compiler`, without the transitions themselves.
struct ReferenceNFABuilder {
    /// Thrown when the memory passes the limit.
    struct LimitExceeded: Error {}

    /// A state's two ends, as the compiler returns them (`ThompsonRef`).
    private struct Fragment {
        /// The state a fragment is entered by.
        let start: Int
        /// The state a fragment leaves by (patched to what follows).
        let end: Int
    }

    /// A byte-range transition, as hashed by the UTF-8 state cache.
    private struct Transition: Equatable {
        /// The first byte of the range.
        var start: UInt8
        /// The last byte of the range.
        var end: UInt8
        /// The state the transition leads to.
        var next: Int
    }

    /// `size_of::<State>()` on 64-bit targets.
    private static let stateBytes = 32
    /// `size_of::<Transition>()`.
    private static let transitionBytes = 8
    /// `size_of::<StateID>()`.
    private static let stateIDBytes = 4
    /// The capacity of the forward UTF-8 state cache (`Utf8BoundedMap::new(10_000)`).
    private static let forwardCacheCapacity = 10_000
    /// The capacity of the reverse suffix cache (`Utf8SuffixMap::new(1000)`).
    private static let suffixCacheCapacity = 1_000

    /// Whether this replays the reverse NFA (no captures, concatenations compiled back to
    /// front, classes through the suffix cache).
    private let reverse: Bool
    /// The limit in bytes.
    private let limit: Int
    /// The number of states added.
    private var stateCount = 0
    /// Heap bytes of the states (Rust's `memory_states`).
    private var heapBytes = 0
    /// Whether each state is a union (patching a union adds an alternate).
    private var isUnion: [Bool] = []
    /// The forward UTF-8 cache, versioned like Rust's so that clearing is O(1).
    private var forwardCache: [(version: Int, key: [Transition], value: Int)]
    /// The reverse suffix cache.
    private var suffixCache: [(version: Int, from: Int, start: UInt8, end: UInt8, value: Int)]
    /// The current cache version; entries of older versions are absent.
    private var cacheVersion = 0
    /// The UTF-8 sequences of the classes compiled so far.
    private var sequenceCache: [ScalarSet: [UTF8Sequence]] = [:]

    /// A builder for one direction.
    init(reverse: Bool, limit: Int) {
        self.reverse = reverse
        self.limit = limit
        forwardCache = reverse ? [] : Array(repeating: (-1, [], 0), count: Self.forwardCacheCapacity)
        suffixCache = reverse ? Array(repeating: (-1, 0, 0, 0, 0), count: Self.suffixCacheCapacity) : []
    }

    /// Rust's `Builder::memory_usage`.
    var memoryUsage: Int { stateCount * Self.stateBytes + heapBytes }

    /// Replays `Compiler::compile` for a single pattern.
    mutating func compile(_ hir: RegexHIR) throws(LimitExceeded) {
        let anchored = reverse ? hir.isAnchoredAtEnd : hir.isAnchoredAtStart
        // The unanchored prefix is `(?s-u:.)*?`: a lazy loop over a one-range byte class.
        let prefix: Fragment
        if anchored {
            prefix = try compileEmpty()
        } else {
            let union = try addUnion(alternates: 0)
            let end = try addState(heap: 0)
            let sparse = try addState(heap: Self.transitionBytes)
            try patch(union, sparse)
            try patch(end, union)
            prefix = Fragment(start: union, end: union)
        }
        // Group 0: capture states forward (all captures are kept), nothing in reverse.
        let one = try compileExpression(reverse ? hir : .capture(index: 0, hir))
        let match = try addState(heap: 0)
        try patch(one.end, match)
        try patch(prefix.end, one.start)
    }

    // MARK: - Expressions (Rust's `Compiler::c` and friends)

    /// A step of replaying `Compiler::c`. Rust recurses; this keeps the pending work on heap
    /// stacks (`steps`, and the fragments and ids they produce) in the same order, so that the
    /// same states are added in the same order.
    private enum Step {
        /// Compile a node; push its fragment.
        case expression(RegexHIR)
        /// Pop two fragments, link the first's end to the second's start, push the pair.
        case link
        /// Compile `count` more copies of `sub`, each linked to the fragment below.
        case moreCopies(RegexHIR, count: UInt32)
        /// Add a capture start state; remember it.
        case openCapture
        /// Pop the inner fragment, add the capture end, link, push the group's fragment.
        case closeCapture
        /// Pop two fragments and make the union of an alternation.
        case openAlternation
        /// Pop a branch and the alternation's fragment, add the branch, push the fragment.
        case addBranch
        /// Add a union state; remember it.
        case openUnion
        /// `x?`: pop the operand and the remembered union, finish.
        case closeZeroOrOne
        /// `x*` of an operand that consumes input.
        case closeStar
        /// `x*` of an operand that may match empty.
        case closeEmptyStar
        /// `x+`.
        case closePlus
        /// `x{n,}` with n >= 2: pop the last copy and the n-1 copies before it.
        case closeAtLeast
        /// `x{n,m}`: pop the n copies, add the common end, start the optional copies.
        case openBounded
        /// `x{n,m}`: `count` more optional copies.
        case moreOptionalCopies(RegexHIR, count: UInt32)
        /// `x{n,m}`: pop an optional copy and its union, link them in.
        case addOptionalCopy
        /// `x{n,m}`: link the last copy to the end, push the fragment.
        case closeBounded
    }

    /// Replays `Compiler::c` for `hir`.
    private mutating func compileExpression(_ hir: RegexHIR) throws(LimitExceeded) -> Fragment {
        var steps: [Step] = [.expression(hir)]
        var fragments: [Fragment] = []
        var ids: [Int] = []
        var bounded: [(start: Int, end: Int, previousEnd: Int)] = []
        while let step = steps.popLast() {
            switch step {
            case .expression(let node):
                if let fragment = try compileLeaf(node) {
                    fragments.append(fragment)
                } else {
                    steps += innerSteps(node).reversed()
                }
            case .link:
                let next = pop(&fragments)
                let first = pop(&fragments)
                try patch(first.end, next.start)
                fragments.append(Fragment(start: first.start, end: next.end))
            case .moreCopies(let sub, let count):
                if count > 0 { steps += [.moreCopies(sub, count: count - 1), .link, .expression(sub)] }
            case .moreOptionalCopies(let sub, let count):
                if count > 0 {
                    steps += [.moreOptionalCopies(sub, count: count - 1), .addOptionalCopy, .expression(sub), .openUnion]
                }
            case .openCapture:
                ids.append(try addState(heap: 0))
            case .openUnion:
                ids.append(try addUnion(alternates: 0))
            case .openBounded:
                let prefix = pop(&fragments)
                let empty = try addState(heap: 0)
                bounded.append((prefix.start, empty, prefix.end))
            case .addOptionalCopy:
                let compiled = pop(&fragments)
                let union = pop(&ids)
                guard var state = bounded.popLast() else { preconditionFailure("bounded repetition lost") }
                try patch(state.previousEnd, union)
                try patch(union, compiled.start)
                try patch(union, state.end)
                state.previousEnd = compiled.end
                bounded.append(state)
            case .closeBounded:
                guard let state = bounded.popLast() else { preconditionFailure("bounded repetition lost") }
                try patch(state.previousEnd, state.end)
                fragments.append(Fragment(start: state.start, end: state.end))
            default:
                try close(step, fragments: &fragments, ids: &ids)
            }
        }
        guard let result = fragments.popLast(), fragments.isEmpty else {
            preconditionFailure("ReferenceNFABuilder is unbalanced")
        }
        return result
    }

    /// The fragment of a node with no sub-expression (or a literal trie), or nil.
    private mutating func compileLeaf(_ hir: RegexHIR) throws(LimitExceeded) -> Fragment? {
        switch hir.kind {
        case .empty:
            return try compileEmpty()
        case .literal(let bytes):
            // c_literal: one byte-range state per byte, linked (linking them costs nothing).
            guard !bytes.isEmpty else { return try compileEmpty() }
            var first = -1
            var last = -1
            for _ in bytes {
                last = try addState(heap: 0)
                if first < 0 { first = last }
            }
            return reverse ? Fragment(start: last, end: first) : Fragment(start: first, end: last)
        case .unicodeClass(let set):
            if set.isASCII { return try compileSparseClass(rangeCount: set.rangeCount) }
            return reverse ? try compileReverseClass(set) : try compileForwardClass(set)
        case .byteClass(let set):
            return try compileSparseClass(rangeCount: set.rangeCount)
        case .look:
            return try compileEmpty()
        case .alternation(let branches):
            // c_alt_slice: a literal trie when every branch is a literal.
            var literals: [[UInt8]] = []
            for branch in branches {
                if case .literal(let bytes) = branch.kind { literals.append(bytes) }
            }
            if literals.count > 1, literals.count == branches.count { return try compileLiteralTrie(literals) }
            return nil
        case .repetition, .concat, .capture:
            return nil
        }
    }

    /// The steps of a node with sub-expressions, in order of execution.
    private func innerSteps(_ hir: RegexHIR) -> [Step] {
        switch hir.kind {
        case .capture(_, let sub):
            // c_cap: capture states forward (all captures are kept), nothing in reverse.
            return reverse ? [.expression(sub)] : [.openCapture, .expression(sub), .closeCapture]
        case .concat(let items):
            let ordered = reverse ? items.reversed() : items
            guard let first = ordered.first else { return [.expression(.empty)] }
            return [.expression(first)] + ordered.dropFirst().flatMap { [Step.expression($0), .link] }
        case .alternation(let branches):
            guard branches.count > 1 else { return branches.map { .expression($0) } }
            return [.expression(branches[0]), .expression(branches[1]), .openAlternation]
                + branches.dropFirst(2).flatMap { [Step.expression($0), .addBranch] }
        case .repetition(let minimum, let maximum, _, let sub):
            return repetitionSteps(sub, minimum: minimum, maximum: maximum)
        case .empty, .literal, .unicodeClass, .byteClass, .look:
            preconditionFailure("innerSteps called on a leaf")
        }
    }

    /// Rust's `c_repetition` and the functions it calls, as steps.
    private func repetitionSteps(_ sub: RegexHIR, minimum: UInt32, maximum: UInt32?) -> [Step] {
        switch (minimum, maximum) {
        case (0, 1?):
            return [.openUnion, .expression(sub), .closeZeroOrOne]
        case (0, nil):
            if let length = sub.minimumLength, length > 0 { return [.openUnion, .expression(sub), .closeStar] }
            return [.expression(sub), .closeEmptyStar]
        case (1, nil):
            return [.expression(sub), .closePlus]
        case (_, nil):
            return exactlySteps(sub, count: minimum - 1) + [.expression(sub), .closeAtLeast]
        case (_, let maximum?) where maximum == minimum:
            return exactlySteps(sub, count: minimum)
        case (_, let maximum?):
            return exactlySteps(sub, count: minimum)
                + [.openBounded, .moreOptionalCopies(sub, count: maximum - minimum), .closeBounded]
        }
    }

    /// Rust's `c_exactly`: `count` copies in sequence, or an empty state for none.
    private func exactlySteps(_ sub: RegexHIR, count: UInt32) -> [Step] {
        if count == 0 { return [.expression(.empty)] }
        return [.expression(sub), .moreCopies(sub, count: count - 1)]
    }

    /// The closing steps that pop what their node compiled and push its fragment.
    private mutating func close(_ step: Step, fragments: inout [Fragment], ids: inout [Int]) throws(LimitExceeded) {
        switch step {
        case .closeCapture:
            let inner = pop(&fragments)
            let start = pop(&ids)
            let end = try addState(heap: 0)
            try patch(start, inner.start)
            try patch(inner.end, end)
            fragments.append(Fragment(start: start, end: end))
        case .openAlternation:
            let second = pop(&fragments)
            let first = pop(&fragments)
            let union = try addUnion(alternates: 0)
            let end = try addState(heap: 0)
            try patch(union, first.start)
            try patch(first.end, end)
            try patch(union, second.start)
            try patch(second.end, end)
            fragments.append(Fragment(start: union, end: end))
        case .addBranch:
            let compiled = pop(&fragments)
            let alternation = pop(&fragments)
            try patch(alternation.start, compiled.start)
            try patch(compiled.end, alternation.end)
            fragments.append(alternation)
        case .closeZeroOrOne:
            let compiled = pop(&fragments)
            let union = pop(&ids)
            let empty = try addState(heap: 0)
            try patch(union, compiled.start)
            try patch(union, empty)
            try patch(compiled.end, empty)
            fragments.append(Fragment(start: union, end: empty))
        case .closeStar:
            let compiled = pop(&fragments)
            let union = pop(&ids)
            try patch(union, compiled.start)
            try patch(compiled.end, union)
            fragments.append(Fragment(start: union, end: union))
        case .closeEmptyStar:
            let compiled = pop(&fragments)
            let plus = try addUnion(alternates: 0)
            try patch(compiled.end, plus)
            try patch(plus, compiled.start)
            let question = try addUnion(alternates: 0)
            let empty = try addState(heap: 0)
            try patch(question, compiled.start)
            try patch(question, empty)
            try patch(plus, empty)
            fragments.append(Fragment(start: question, end: empty))
        case .closePlus:
            let compiled = pop(&fragments)
            let union = try addUnion(alternates: 0)
            try patch(compiled.end, union)
            try patch(union, compiled.start)
            fragments.append(Fragment(start: compiled.start, end: union))
        case .closeAtLeast:
            let last = pop(&fragments)
            let prefix = pop(&fragments)
            let union = try addUnion(alternates: 0)
            try patch(prefix.end, last.start)
            try patch(last.end, union)
            try patch(union, last.start)
            fragments.append(Fragment(start: prefix.start, end: union))
        default:
            preconditionFailure("close called with \(step)")
        }
    }

    /// Pops a stack the replay keeps balanced.
    private func pop<Element>(_ stack: inout [Element]) -> Element {
        guard let top = stack.popLast() else { preconditionFailure("ReferenceNFABuilder stack is empty") }
        return top
    }

    /// Rust's `c_empty`: one empty state.
    private mutating func compileEmpty() throws(LimitExceeded) -> Fragment {
        let id = try addState(heap: 0)
        return Fragment(start: id, end: id)
    }

    /// An ASCII or byte class: an empty end state, then one sparse state.
    private mutating func compileSparseClass(rangeCount: Int) throws(LimitExceeded) -> Fragment {
        let end = try addState(heap: 0)
        let start = try addState(heap: rangeCount * Self.transitionBytes)
        return Fragment(start: start, end: end)
    }

    // MARK: - Unicode classes

    /// Rust's `Utf8Compiler`: a minimal automaton of the class's UTF-8 sequences, built from
    /// the sorted sequences with shared suffixes found through a bounded hash cache.
    private mutating func compileForwardClass(_ set: ScalarSet) throws(LimitExceeded) -> Fragment {
        let target = try addState(heap: 0)
        cacheVersion += 1
        var uncompiled: [(transitions: [Transition], last: (UInt8, UInt8)?)] = [([], nil)]

        func freezeLast(_ nodes: inout [(transitions: [Transition], last: (UInt8, UInt8)?)], next: Int) {
            if let last = nodes[nodes.count - 1].last {
                nodes[nodes.count - 1].transitions.append(Transition(start: last.0, end: last.1, next: next))
                nodes[nodes.count - 1].last = nil
            }
        }
        for sequence in sequences(of: set) {
            var prefixLength = 0
            while prefixLength < min(sequence.count, uncompiled.count),
                let last = uncompiled[prefixLength].last, last == sequence[prefixLength]
            {
                prefixLength += 1
            }
            precondition(prefixLength < sequence.count, "UTF-8 sequences are not sorted")
            // compile_from(prefix_len)
            var next = target
            while prefixLength + 1 < uncompiled.count {
                freezeLast(&uncompiled, next: next)
                let node = uncompiled.removeLast().transitions
                next = try compileUTF8Node(node)
            }
            freezeLast(&uncompiled, next: next)
            // add_suffix
            uncompiled[uncompiled.count - 1].last = sequence[prefixLength]
            for index in (prefixLength + 1)..<sequence.count { uncompiled.append(([], sequence[index])) }
        }
        // finish: compile_from(0), then the root.
        var next = target
        while uncompiled.count > 1 {
            freezeLast(&uncompiled, next: next)
            next = try compileUTF8Node(uncompiled.removeLast().transitions)
        }
        freezeLast(&uncompiled, next: next)
        let start = try compileUTF8Node(uncompiled[0].transitions)
        return Fragment(start: start, end: target)
    }

    /// The UTF-8 sequences of a class, computed once per class (a repeated class is compiled
    /// once per copy).
    private mutating func sequences(of set: ScalarSet) -> [UTF8Sequence] {
        if let cached = sequenceCache[set] { return cached }
        var result: [UTF8Sequence] = []
        for range in set.ranges {
            var splitter = UTF8Sequences(range.lowerBound, range.upperBound)
            while let sequence = splitter.next() { result.append(sequence) }
        }
        sequenceCache[set] = result
        return result
    }

    /// Rust's `Utf8Compiler::compile`: reuse a cached identical state, else add a sparse one.
    private mutating func compileUTF8Node(_ node: [Transition]) throws(LimitExceeded) -> Int {
        var hash: UInt64 = 14_695_981_039_346_656_037
        for transition in node {
            hash = (hash ^ UInt64(transition.start)) &* 1_099_511_628_211
            hash = (hash ^ UInt64(transition.end)) &* 1_099_511_628_211
            hash = (hash ^ UInt64(transition.next)) &* 1_099_511_628_211
        }
        let slot = Int(hash % UInt64(Self.forwardCacheCapacity))
        let entry = forwardCache[slot]
        if entry.version == cacheVersion, entry.key == node { return entry.value }
        let id = try addState(heap: node.count * Self.transitionBytes)
        forwardCache[slot] = (cacheVersion, node, id)
        return id
    }

    /// Rust's `c_unicode_class_reverse_with_suffix`: each UTF-8 sequence as a chain of byte
    /// states towards a common end, sharing chains through a bounded suffix cache.
    private mutating func compileReverseClass(_ set: ScalarSet) throws(LimitExceeded) -> Fragment {
        cacheVersion += 1
        let union = try addUnion(alternates: 0)
        let alternationEnd = try addState(heap: 0)
        for sequence in sequences(of: set) {
            var end = alternationEnd
            for index in 0..<sequence.count {
                let (start, last) = sequence[index]
                var hash: UInt64 = 14_695_981_039_346_656_037
                hash = (hash ^ UInt64(end)) &* 1_099_511_628_211
                hash = (hash ^ UInt64(start)) &* 1_099_511_628_211
                hash = (hash ^ UInt64(last)) &* 1_099_511_628_211
                let slot = Int(hash % UInt64(Self.suffixCacheCapacity))
                let entry = suffixCache[slot]
                if entry.version == cacheVersion, entry.from == end, entry.start == start, entry.end == last {
                    end = entry.value
                    continue
                }
                let id = try addState(heap: 0)
                suffixCache[slot] = (cacheVersion, end, start, last, id)
                end = id
            }
            try patch(union, end)
        }
        return Fragment(start: union, end: alternationEnd)
    }

    // MARK: - Literal tries

    /// Rust's `LiteralTrie`: the literals of an alternation as a trie whose states keep match
    /// boundaries ("chunks") to preserve the leftmost-first order; compiled to one union per
    /// inner trie state plus a range or sparse state per non-empty chunk.
    private mutating func compileLiteralTrie(_ literals: [[UInt8]]) throws(LimitExceeded) -> Fragment {
        var trie = LiteralTrie()
        for literal in literals { trie.add(reverse ? literal.reversed() : literal) }
        let end = try addState(heap: 0)
        for state in trie.states where !state.transitions.isEmpty {
            var alternates = 0
            let chunks = state.chunkBounds
            for (index, chunk) in chunks.enumerated() {
                let size = chunk.upperBound - chunk.lowerBound
                if size > 0 {
                    try addState(heap: size == 1 ? 0 : size * Self.transitionBytes)
                    alternates += 1
                }
                if index + 1 < chunks.count { alternates += 1 }
            }
            try addUnion(alternates: alternates)
        }
        // The root's union is the start; its id is not used by any cache, so the last union
        // added stands in for it.
        return Fragment(start: stateCount - 1, end: end)
    }

    // MARK: - Builder

    @discardableResult
    /// Adds a non-union state with `heap` bytes of transitions; returns its id.
    private mutating func addState(heap: Int) throws(LimitExceeded) -> Int {
        stateCount += 1
        heapBytes += heap
        isUnion.append(false)
        guard memoryUsage <= limit else { throw LimitExceeded() }
        return stateCount - 1
    }

    @discardableResult
    /// Adds a union state with `alternates` targets so far; returns its id.
    private mutating func addUnion(alternates: Int) throws(LimitExceeded) -> Int {
        let id = try addState(heap: alternates * Self.stateIDBytes)
        isUnion[id] = true
        return id
    }

    /// Rust's `Builder::patch`: only unions grow (by one alternate).
    private mutating func patch(_ from: Int, _ to: Int) throws(LimitExceeded) {
        guard isUnion[from] else { return }
        heapBytes += Self.stateIDBytes
        guard memoryUsage <= limit else { throw LimitExceeded() }
    }
}

/// The trie of `regex_automata`'s `LiteralTrie`, without its compilation.
private struct LiteralTrie {
    /// One trie state: its transitions, and where match boundaries split them.
    struct State {
        /// The transitions, sorted by byte within each chunk.
        var transitions: [(byte: UInt8, next: Int)] = []
        /// Where each match boundary splits `transitions`.
        var chunkEnds: [Int] = []

        /// Where the active chunk starts (after the last match boundary).
        var activeStart: Int { chunkEnds.last ?? 0 }

        /// The chunks Rust iterates: each recorded chunk, then the active one (maybe empty).
        var chunkBounds: [Range<Int>] {
            var bounds: [Range<Int>] = []
            var start = 0
            for end in chunkEnds {
                bounds.append(start..<end)
                start = end
            }
            bounds.append(activeStart..<transitions.count)
            return bounds
        }
    }

    /// The states; 0 is the root.
    var states = [State()]

    /// Adds a literal (already reversed for a reverse trie).
    mutating func add<Bytes: Sequence<UInt8>>(_ bytes: Bytes) {
        var current = 0
        for byte in bytes {
            let start = states[current].activeStart
            let active = states[current].transitions[start...]
            if let found = active.first(where: { $0.byte == byte }) {
                current = found.next
                continue
            }
            let insertAt = active.firstIndex(where: { $0.byte > byte }) ?? states[current].transitions.count
            states.append(State())
            states[current].transitions.insert((byte, states.count - 1), at: insertAt)
            current = states.count - 1
        }
        // Rust's `add_match`: a leaf already marked as matching is not marked again.
        if states[current].transitions.isEmpty, !states[current].chunkEnds.isEmpty { return }
        states[current].chunkEnds.append(states[current].transitions.count)
    }
}

/// One UTF-8 sequence: one to four byte ranges, without allocating.
struct UTF8Sequence: Equatable {
    /// The number of byte ranges.
    let count: Int
    /// The first bytes of the ranges in lanes 0..<4, their last bytes in lanes 4..<8.
    let lanes: SIMD8<UInt8>

    /// The byte range at `index` (first, last).
    subscript(index: Int) -> (UInt8, UInt8) { (lanes[index], lanes[index + 4]) }
}

/// Rust's `regex_syntax::utf8::Utf8Sequences`: splits a range of scalar values into sequences
/// of byte ranges that match exactly the UTF-8 encodings of the range, in ascending order.
struct UTF8Sequences {
    /// Ranges still to split.
    private var stack: [(UInt32, UInt32)]

    /// The sequences of `start...end`.
    init(_ start: UInt32, _ end: UInt32) {
        stack = [(start, end)]
    }

    /// The next sequence.
    mutating func next() -> UTF8Sequence? {
        outer: while let (start, popped) = stack.popLast() {
            var end = popped
            inner: while true {
                // Split around the surrogates.
                if start < 0xE000, end > 0xD7FF {
                    stack.append((0xE000, end))
                    end = 0xD7FF
                    continue inner
                }
                if start > end { continue outer }
                for length in 1...3 {
                    let maximum = Self.maximumScalar(bytes: length)
                    if start <= maximum, maximum < end {
                        stack.append((maximum + 1, end))
                        end = maximum
                        continue inner
                    }
                }
                if end <= 0x7F {
                    var lanes = SIMD8<UInt8>()
                    lanes[0] = UInt8(start)
                    lanes[4] = UInt8(end)
                    return UTF8Sequence(count: 1, lanes: lanes)
                }
                for shift in 1...3 {
                    let mask: UInt32 = (1 << (6 * UInt32(shift))) - 1
                    if start & ~mask != end & ~mask {
                        if start & mask != 0 {
                            stack.append(((start | mask) + 1, end))
                            end = start | mask
                            continue inner
                        }
                        if end & mask != mask {
                            stack.append((end & ~mask, end))
                            end = (end & ~mask) - 1
                            continue inner
                        }
                    }
                }
                var lanes = SIMD8<UInt8>()
                let count = Self.encode(start, into: &lanes, at: 0)
                let endCount = Self.encode(end, into: &lanes, at: 4)
                precondition(count == endCount, "UTF-8 lengths differ in one sequence")
                return UTF8Sequence(count: count, lanes: lanes)
            }
        }
        return nil
    }

    /// The largest scalar value encoded in `bytes` UTF-8 bytes.
    private static func maximumScalar(bytes: Int) -> UInt32 {
        switch bytes {
        case 1: return 0x7F
        case 2: return 0x7FF
        case 3: return 0xFFFF
        default: return 0x10_FFFF
        }
    }

    /// Writes the UTF-8 encoding of `value` into `lanes` from `offset`; returns its length.
    private static func encode(_ value: UInt32, into lanes: inout SIMD8<UInt8>, at offset: Int) -> Int {
        switch value {
        case ..<0x80:
            lanes[offset] = UInt8(value)
            return 1
        case ..<0x800:
            lanes[offset] = UInt8(0xC0 | value >> 6)
            lanes[offset + 1] = UInt8(0x80 | value & 0x3F)
            return 2
        case ..<0x10000:
            lanes[offset] = UInt8(0xE0 | value >> 12)
            lanes[offset + 1] = UInt8(0x80 | (value >> 6) & 0x3F)
            lanes[offset + 2] = UInt8(0x80 | value & 0x3F)
            return 3
        default:
            lanes[offset] = UInt8(0xF0 | value >> 18)
            lanes[offset + 1] = UInt8(0x80 | (value >> 12) & 0x3F)
            lanes[offset + 2] = UInt8(0x80 | (value >> 6) & 0x3F)
            lanes[offset + 3] = UInt8(0x80 | value & 0x3F)
            return 4
        }
    }
}
