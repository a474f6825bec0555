/// A compiled pattern: a Thompson NFA as a list of instructions, run by `PikeVM`.
///
/// Instructions are stored column by column (opcode, two operands) to keep the matching loop
/// tight. Instruction 0 is the start; `match` ends a successful thread.
struct RegexProgram: Sendable {
    /// The operations.
    enum Opcode: UInt8, Sendable {
        /// Consume the scalar whose value is `operand1`.
        case scalar
        /// Consume a scalar of `sets[operand1]`.
        case set
        /// Continue at the next instruction if the assertion `RegexLook(rawValue: operand1)`
        /// holds at the current position.
        case look
        /// Continue at both `operand1` and `operand2`.
        case split
        /// Continue at `operand1`.
        case jump
        /// The pattern has matched.
        case match
    }

    /// The opcode of each instruction.
    private(set) var opcodes: [Opcode] = []
    /// The first operand of each instruction (a scalar value, set index, look or target).
    private(set) var operand1: [Int32] = []
    /// The second operand (the second target of a split; 0 otherwise).
    private(set) var operand2: [Int32] = []
    /// The classes the `set` instructions test.
    private(set) var sets: [CompiledSet] = []
    /// Whether every match must start at the start of the text (the pattern begins with `\A`
    /// or `^` without `m`), so no thread needs to start later.
    var isAnchoredAtStart = false

    /// The number of instructions.
    var count: Int { opcodes.count }

    /// Appends an instruction.
    ///
    /// - Returns: its index.
    /// - Throws: `RegexError.limitExceeded(.programInstructions)` past
    ///   `RegexLimits.maxProgramInstructions`.
    @discardableResult
    mutating func append(_ opcode: Opcode, _ first: Int32 = 0, _ second: Int32 = 0) throws(RegexError) -> Int {
        guard opcodes.count < RegexLimits.maxProgramInstructions else {
            throw .limitExceeded(.programInstructions(limit: RegexLimits.maxProgramInstructions))
        }
        opcodes.append(opcode)
        operand1.append(first)
        operand2.append(second)
        return opcodes.count - 1
    }

    /// Sets the targets of the jump or split at `index`.
    mutating func patch(_ index: Int, first: Int, second: Int? = nil) {
        precondition(opcodes[index] == .jump || opcodes[index] == .split, "patching instruction \(index)")
        operand1[index] = Int32(first)
        if let second { operand2[index] = Int32(second) }
    }

    /// Adds a class, reusing an equal one.
    ///
    /// - Returns: its index in `sets`.
    mutating func addSet(_ set: ScalarSet, index cache: inout [ScalarSet: Int]) -> Int32 {
        if let index = cache[set] { return Int32(index) }
        sets.append(CompiledSet(set))
        cache[set] = sets.count - 1
        return Int32(sets.count - 1)
    }
}

/// A class ready for matching: a bitmap for ASCII, the ranges for the rest.
struct CompiledSet: Sendable {
    /// Members 0x00...0x3F.
    private let low: UInt64
    /// Members 0x40...0x7F.
    private let high: UInt64
    /// All members.
    private let set: ScalarSet

    /// Prepares `set` for matching.
    init(_ set: ScalarSet) {
        var low: UInt64 = 0
        var high: UInt64 = 0
        for value in UInt32(0)...0x7F where set.contains(value) {
            if value < 64 { low |= 1 << UInt64(value) } else { high |= 1 << UInt64(value - 64) }
        }
        self.low = low
        self.high = high
        self.set = set
    }

    /// Whether `value` is a member.
    @inline(__always)
    func contains(_ value: UInt32) -> Bool {
        if value < 64 { return low & (1 << UInt64(value)) != 0 }
        if value < 128 { return high & (1 << UInt64(value - 64)) != 0 }
        return set.contains(value)
    }
}

/// Compiles a `RegexHIR` into a `RegexProgram` (a Thompson construction). Counted repetitions
/// are expanded; the instruction limit is checked at every instruction, so compiling costs at
/// most `RegexLimits.maxProgramInstructions` steps whatever the nesting of repetitions. The
/// walk keeps its pending work on a heap stack, not the call stack.
struct RegexCompiler {
    /// A step of the compilation.
    private enum Step {
        /// Emit the code of a node.
        case node(RegexHIR)
        /// Emit `count` more copies of `sub`, one after the other.
        case copies(RegexHIR, count: UInt32)
        /// Emit `count` more optional copies of `sub` (each `split(body, end); body`).
        case optionalCopies(RegexHIR, count: UInt32)
        /// Append a split whose targets are set later; remember it.
        case openSplit
        /// Point the most recent remembered split at the next instruction and here.
        case closeSplit
        /// Point the `count` most recent remembered splits at here.
        case closeSplits(count: UInt32)
        /// Jump back to the most recent remembered split, and point that split here.
        case closeLoop
        /// Remember the current position.
        case mark
        /// Append a split back to the remembered position or on.
        case splitBack
        /// Append a jump whose target is set later; remember it.
        case openJump
        /// Point the `count` most recent remembered jumps here.
        case closeJumps(count: Int)
    }

    /// The program being built.
    private var program = RegexProgram()
    /// The index of each class already in `program.sets`.
    private var setIndex: [ScalarSet: Int] = [:]
    /// Remembered splits and positions, innermost last.
    private var splitMarks: [Int] = []
    /// Remembered jumps, innermost last.
    private var jumpMarks: [Int] = []

    /// Compiles `hir`.
    ///
    /// - Throws: `RegexError.limitExceeded(.programInstructions)` when the program would have
    ///   more than `RegexLimits.maxProgramInstructions` instructions.
    static func compile(_ hir: RegexHIR) throws(RegexError) -> RegexProgram {
        var compiler = RegexCompiler()
        var steps: [Step] = [.node(hir)]
        while let step = steps.popLast() {
            try compiler.perform(step, pushing: &steps)
        }
        try compiler.program.append(.match)
        compiler.program.isAnchoredAtStart = hir.isAnchoredAtStart
        return compiler.program
    }

    // MARK: - Private helpers

    /// Performs one step; steps it expands into are pushed in reverse order of execution.
    private mutating func perform(_ step: Step, pushing steps: inout [Step]) throws(RegexError) {
        switch step {
        case .node(let hir):
            try emit(hir, pushing: &steps)
        case .copies(let sub, let count):
            if count > 0 { steps += [.copies(sub, count: count - 1), .node(sub)] }
        case .optionalCopies(let sub, let count):
            if count > 0 { steps += [.optionalCopies(sub, count: count - 1), .node(sub), .openSplit] }
        case .openSplit:
            splitMarks.append(try program.append(.split))
        case .closeSplit:
            let split = popMark(&splitMarks)
            program.patch(split, first: split + 1, second: program.count)
        case .closeSplits(let count):
            for _ in 0..<count {
                let split = popMark(&splitMarks)
                program.patch(split, first: split + 1, second: program.count)
            }
        case .closeLoop:
            let split = popMark(&splitMarks)
            try program.append(.jump, Int32(split))
            program.patch(split, first: split + 1, second: program.count)
        case .mark:
            splitMarks.append(program.count)
        case .splitBack:
            let start = popMark(&splitMarks)
            let split = try program.append(.split)
            program.patch(split, first: start, second: split + 1)
        case .openJump:
            jumpMarks.append(try program.append(.jump))
        case .closeJumps(let count):
            for _ in 0..<count { program.patch(popMark(&jumpMarks), first: program.count) }
        }
    }

    /// Pops a remembered position the steps keep balanced.
    private func popMark(_ marks: inout [Int]) -> Int {
        guard let mark = marks.popLast() else { preconditionFailure("RegexCompiler lost a mark") }
        return mark
    }

    /// Emits a leaf, or pushes the steps of an inner node.
    private mutating func emit(_ hir: RegexHIR, pushing steps: inout [Step]) throws(RegexError) {
        switch hir.kind {
        case .empty:
            break
        case .literal(let bytes):
            for scalar in String(decoding: bytes, as: UTF8.self).unicodeScalars {
                try program.append(.scalar, Int32(bitPattern: scalar.value))
            }
        case .unicodeClass(let set), .byteClass(let set):
            try program.append(.set, program.addSet(set, index: &setIndex))
        case .look(let look):
            try program.append(.look, Int32(look.rawValue))
        case .capture(_, let sub):
            steps.append(.node(sub))
        case .concat(let items):
            steps += items.reversed().map { Step.node($0) }
        case .alternation(let branches):
            // split(b0, next); b0; jump(end); next: split(b1, ...); ...; bn; end:
            guard let last = branches.last else { return }
            var order: [Step] = []
            for branch in branches.dropLast() { order += [.openSplit, .node(branch), .openJump, .closeSplit] }
            order += [.node(last), .closeJumps(count: branches.count - 1)]
            steps += order.reversed()
        case .repetition(let minimum, let maximum, _, let sub):
            steps += repetitionSteps(sub, minimum: minimum, maximum: maximum).reversed()
        }
    }

    /// The steps of a repetition, in order of execution.
    private func repetitionSteps(_ sub: RegexHIR, minimum: UInt32, maximum: UInt32?) -> [Step] {
        guard let maximum else {
            // x*: loop: split(body, end); body; jump loop; end:
            if minimum == 0 { return [.openSplit, .node(sub), .closeLoop] }
            // x{n,}: n - 1 copies, then last: body; split(last, end)
            return [.copies(sub, count: minimum - 1), .mark, .node(sub), .splitBack]
        }
        // x{n,m}: n copies, then m - n times split(body, end); body, all ending at one end.
        return [.copies(sub, count: minimum), .optionalCopies(sub, count: maximum - minimum),
                .closeSplits(count: maximum - minimum)]
    }
}

/// Runs a `RegexProgram` over a text by Thompson's simulation (the Pike VM without captures):
/// all threads advance together, one scalar at a time, and a thread is kept once per
/// instruction. Time is O(text length × program size), memory O(program size); no input can
/// make it backtrack.
enum PikeVM {
    /// Whether `program` matches anywhere in `text` (an unanchored search).
    static func isMatch(_ program: RegexProgram, _ text: String) -> Bool {
        let size = program.count
        // Scratch memory for this search, freed on return: two thread lists (dense and sparse
        // arrays of `size` each) and the closure stack. Each closure step pushes at most two
        // entries per instruction it adds, so `2 * size + 2` entries always suffice.
        let stackCapacity = 2 * size + 2
        let scratch = UnsafeMutableBufferPointer<Int32>.allocate(capacity: 4 * size + stackCapacity)
        defer { scratch.deallocate() }
        scratch.initialize(repeating: 0)
        guard let base = scratch.baseAddress else { return false }
        return program.opcodes.withUnsafeBufferPointer { opcodes in
            program.operand1.withUnsafeBufferPointer { first in
                program.operand2.withUnsafeBufferPointer { second in
                    program.sets.withUnsafeBufferPointer { sets in
                        var machine = Machine(
                            opcodes: opcodes, first: first, second: second, sets: sets,
                            current: ThreadList(dense: base, sparse: base + size),
                            next: ThreadList(dense: base + 2 * size, sparse: base + 3 * size),
                            stack: base + 4 * size, stackCapacity: stackCapacity,
                            isAnchoredAtStart: program.isAnchoredAtStart)
                        return machine.run(text)
                    }
                }
            }
        }
    }

    /// The state of one search; it lives inside `isMatch`, which owns the memory it points to.
    private struct Machine {
        /// The program's opcodes.
        let opcodes: UnsafeBufferPointer<RegexProgram.Opcode>
        /// The program's first operands.
        let first: UnsafeBufferPointer<Int32>
        /// The program's second operands.
        let second: UnsafeBufferPointer<Int32>
        /// The program's classes.
        let sets: UnsafeBufferPointer<CompiledSet>
        /// The threads at the current position.
        var current: ThreadList
        /// The threads at the next position, being built.
        var next: ThreadList
        /// The closure stack.
        let stack: UnsafeMutablePointer<Int32>
        /// The closure stack's capacity.
        let stackCapacity: Int
        /// Whether threads only start at the start of the text.
        let isAnchoredAtStart: Bool

        /// Runs the search over `text`.
        mutating func run(_ text: String) -> Bool {
            var iterator = text.unicodeScalars.makeIterator()
            var previous: Unicode.Scalar?
            var upcoming = iterator.next()
            var atStart = true
            while true {
                if atStart || !isAnchoredAtStart {
                    let context = LookContext(previous: previous, next: upcoming)
                    if addClosure(from: 0, into: &current, context) { return true }
                }
                atStart = false
                guard let scalar = upcoming else { return false }
                let after = iterator.next()
                let context = LookContext(previous: scalar, next: after)
                let value = scalar.value
                next.count = 0
                for index in 0..<current.count {
                    let pc = Int(current.dense[index])
                    let advances: Bool
                    switch opcodes[pc] {
                    case .scalar: advances = first[pc] == Int32(bitPattern: value)
                    case .set: advances = sets[Int(first[pc])].contains(value)
                    case .look, .split, .jump, .match: advances = false
                    }
                    if advances, addClosure(from: pc + 1, into: &next, context) { return true }
                }
                swap(&current, &next)
                if current.count == 0, isAnchoredAtStart { return false }
                previous = scalar
                upcoming = after
            }
        }

        /// Adds `start` and everything reachable from it without consuming input to `list`.
        ///
        /// - Returns: whether `match` was reached.
        private func addClosure(from start: Int, into list: inout ThreadList, _ context: LookContext) -> Bool {
            var depth = 1
            stack[0] = Int32(start)
            while depth > 0 {
                depth -= 1
                let pc = Int(stack[depth])
                if !list.insert(pc) { continue }
                switch opcodes[pc] {
                case .match:
                    return true
                case .jump:
                    stack[depth] = first[pc]
                    depth += 1
                case .split:
                    precondition(depth + 2 <= stackCapacity, "PikeVM closure stack overflow")
                    stack[depth] = second[pc]
                    stack[depth + 1] = first[pc]
                    depth += 2
                case .look:
                    if let look = RegexLook(rawValue: UInt8(truncatingIfNeeded: first[pc])), context.holds(look) {
                        stack[depth] = Int32(pc + 1)
                        depth += 1
                    }
                case .scalar, .set:
                    break
                }
            }
            return false
        }
    }
}

/// A set of instruction indexes with O(1) insert, membership and clearing (Briggs and
/// Torczon's sparse set), over memory the search owns.
private struct ThreadList {
    /// The members in insertion order: `dense[0..<count]`.
    let dense: UnsafeMutablePointer<Int32>
    /// `sparse[member]` is the member's index in `dense`; stale values are harmless.
    let sparse: UnsafeMutablePointer<Int32>
    /// The number of members.
    var count = 0

    /// Adds `member`; returns false if it was already a member.
    @inline(__always)
    mutating func insert(_ member: Int) -> Bool {
        let slot = Int(sparse[member])
        if slot < count, dense[slot] == Int32(member) { return false }
        dense[count] = Int32(member)
        sparse[member] = Int32(count)
        count += 1
        return true
    }
}

/// The scalars around a position, which is all the assertions need.
struct LookContext {
    /// The scalar before the position (nil at the start of the text).
    let previous: Unicode.Scalar?
    /// The scalar after the position (nil at the end of the text).
    let next: Unicode.Scalar?

    /// Whether `look` holds here, as `regex_automata::util::look::LookMatcher` decides it.
    func holds(_ look: RegexLook) -> Bool {
        switch look {
        case .start: return previous == nil
        case .end: return next == nil
        case .startLF: return previous == nil || previous == "\n"
        case .endLF: return next == nil || next == "\n"
        case .startCRLF: return previous == nil || previous == "\n" || (previous == "\r" && next != "\n")
        case .endCRLF: return next == nil || next == "\r" || (next == "\n" && previous != "\r")
        case .wordASCII: return isWordASCII(previous) != isWordASCII(next)
        case .wordASCIINegate: return isWordASCII(previous) == isWordASCII(next)
        case .wordUnicode: return isWord(previous) != isWord(next)
        case .wordUnicodeNegate: return isWord(previous) == isWord(next)
        case .wordStartASCII: return !isWordASCII(previous) && isWordASCII(next)
        case .wordEndASCII: return isWordASCII(previous) && !isWordASCII(next)
        case .wordStartUnicode: return !isWord(previous) && isWord(next)
        case .wordEndUnicode: return isWord(previous) && !isWord(next)
        case .wordStartHalfASCII: return !isWordASCII(previous)
        case .wordEndHalfASCII: return !isWordASCII(next)
        case .wordStartHalfUnicode: return !isWord(previous)
        case .wordEndHalfUnicode: return !isWord(next)
        }
    }

    /// Whether `scalar` is an ASCII word character (nil: the text's edge, which is not).
    private func isWordASCII(_ scalar: Unicode.Scalar?) -> Bool {
        scalar.map { RegexUnicode.isASCIIWordByte($0.value) } ?? false
    }

    /// Whether `scalar` is a Unicode word character (nil: the text's edge, which is not).
    private func isWord(_ scalar: Unicode.Scalar?) -> Bool {
        scalar.map(RegexUnicode.isWordCharacter) ?? false
    }
}
