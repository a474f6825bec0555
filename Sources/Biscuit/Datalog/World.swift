#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The limits of one authorization.
public struct RunLimits: Hashable, Sendable {
    /// The most facts the world may hold (each origin of a fact counts).
    public var maxFacts: Int
    /// The most rounds of rule application.
    public var maxIterations: Int
    /// The longest the whole authorization may take: counted in the work done, not in time
    /// spent waiting for the CPU (`RunDeadline`).
    public var maxTime: Duration

    /// The reference implementation's defaults: 1,000 facts, 100 iterations, 1 ms.
    public static let reference = RunLimits(maxFacts: 1000, maxIterations: 100, maxTime: .milliseconds(1))

    /// Limits with the given values.
    public init(maxFacts: Int = 1000, maxIterations: Int = 100, maxTime: Duration = .milliseconds(1)) {
        self.maxFacts = maxFacts
        self.maxIterations = maxIterations
        self.maxTime = maxTime
    }
}

/// When a run's time limit (`RunLimits.maxTime`) is reached. The limit bounds the work a token
/// can make a verifier do; measured in wall-clock time alone, it would also refuse a cheap token
/// whenever the verifying thread was descheduled for longer than the limit (a loaded machine),
/// and a verifier must not refuse valid tokens because it is busy.
///
/// So the wall clock is read at each check (cheap), and only when it has passed the limit is the
/// thread's CPU time read (a system call: about half a microsecond here, too dear for every
/// run). The first time, that reading is a mark and the wall limit is renewed; from then on the
/// limit is reached once the thread has used `maxTime` of CPU time since the mark. A run that
/// works all the time is refused after two to three times `maxTime`; one that was only waiting
/// goes on.
struct RunDeadline {
    private var wall: ContinuousClock.Instant
    private var cpuMark: Duration?
    private let limit: Duration

    /// A deadline `limit` from now.
    init(after limit: Duration) {
        self.limit = limit
        wall = ContinuousClock.now.advanced(by: limit)
    }

    /// Whether the limit is reached (see the type's description).
    mutating func passed() -> Bool {
        let now = ContinuousClock.now
        guard now >= wall else { return false }
        let cpu = Self.threadCPUTime()
        if let cpuMark, cpu - cpuMark >= limit { return true }
        if cpuMark == nil { cpuMark = cpu }
        wall = now.advanced(by: limit)
        return false
    }

    /// The CPU time the calling thread has used; where it cannot be read, one that grows with
    /// the wall clock (which then decides alone).
    private static func threadCPUTime() -> Duration {
        var time = timespec()
        guard clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time) == 0 else { return ContinuousClock.now - ContinuousClock.Instant.zeroish }
        return .seconds(time.tv_sec) + .nanoseconds(time.tv_nsec)
    }
}

extension ContinuousClock.Instant {
    /// A fixed instant to measure a clock reading from.
    fileprivate static let zeroish = ContinuousClock.now
}

/// One fact of the world, with the blocks it comes from.
struct StoredFact: Hashable, Sendable {
    var name: UInt64
    var terms: [Value]
    var origin: BlockSet
}

/// The facts of an authorization: stated by the token's blocks and the authorizer, and derived
/// by their rules until nothing new comes.
///
/// The rounds are the reference's (its naive fixpoint: each round applies every rule to every
/// fact, and the run ends at the first round that adds nothing), so the iteration and fact
/// limits stop at the same points. Each round is computed semi-naively: a rule is only matched
/// against combinations holding at least one fact the previous round added, which finds
/// exactly the facts the naive round would (rules are monotone: expressions only filter),
/// without deriving every old fact again.
struct World {
    /// A fact and the round that added it (0: stated).
    private struct Entry {
        var fact: StoredFact
        var round: Int
    }

    /// The facts by predicate name.
    private var byName: [UInt64: [Entry]] = [:]
    private var known: Set<StoredFact> = []
    /// The last round that added facts.
    private var round = 0

    /// Which facts a body predicate ranges over in a semi-naive round.
    private enum Range {
        /// Every fact.
        case all
        /// The facts added before the previous round.
        case old
        /// The facts the previous round added.
        case delta
    }

    /// How many facts (with their origins) the world holds.
    var count: Int { known.count }

    /// Every fact.
    var facts: [StoredFact] { byName.values.flatMap { $0.map(\.fact) } }

    /// Adds a fact; false when it was there already.
    @discardableResult
    mutating func insert(_ fact: StoredFact) -> Bool {
        guard known.insert(fact).inserted else { return false }
        byName[fact.name, default: []].append(Entry(fact: fact, round: round))
        return true
    }

    /// Applies every rule until no new fact comes.
    /// - Returns: the number of rounds that added facts.
    /// - Throws: a run limit (`.runLimit`), or an expression's error (`.execution`).
    mutating func run(_ rules: [CompiledRule], evaluator: inout ExpressionEvaluator, limits: RunLimits, deadline: inout RunDeadline)
        throws(BiscuitError) -> Int
    {
        var iterations = 0
        var first = true
        while true {
            var fresh: [StoredFact] = []
            for rule in rules {
                // The first round matches every fact (and runs rules without a body); later
                // rounds, each body position in turn over the previous round's facts.
                let positions: [Int?] = first ? [nil] : Array(rule.body.indices)
                for position in positions {
                    do {
                        try forEachCombination(rule, delta: position) { bindings, origin throws(ExecutionError) in
                            guard try Self.holds(rule, bindings, &evaluator) else { return true }
                            let fact = StoredFact(
                                name: rule.head.name, terms: Self.instantiate(rule.head.terms, bindings), origin: origin.union(rule.origin))
                            if !known.contains(fact) { fresh.append(fact) }
                            return true
                        }
                    } catch {
                        throw .execution(error)
                    }
                }
            }
            first = false
            round += 1
            var grew = false
            for fact in fresh where insert(fact) { grew = true }
            guard grew else { return iterations }
            iterations += 1
            if iterations >= limits.maxIterations { throw .runLimit(.tooManyIterations) }
            if count >= limits.maxFacts { throw .runLimit(.tooManyFacts) }
            if deadline.passed() { throw .runLimit(.timeout) }
        }
    }

    /// Whether a query matches: some combination of facts makes its expressions true. An
    /// expression's error in a combination tried before a match is the query's error.
    func anyMatch(_ rule: CompiledRule, evaluator: inout ExpressionEvaluator) throws(ExecutionError) -> Bool {
        var found = false
        try forEachCombination(rule) { bindings, _ throws(ExecutionError) in
            guard try Self.holds(rule, bindings, &evaluator) else { return true }
            found = true
            return false
        }
        return found
    }

    /// Whether every combination of facts matching a query's body makes its expressions true,
    /// and there is at least one (`check all`, as the reference decides it).
    func allMatch(_ rule: CompiledRule, evaluator: inout ExpressionEvaluator) throws(ExecutionError) -> Bool {
        var found = false
        var failed = false
        try forEachCombination(rule) { bindings, _ throws(ExecutionError) in
            found = true
            if try !Self.holds(rule, bindings, &evaluator) { failed = true }
            return !failed
        }
        return found && !failed
    }

    /// The facts a query's head gives (`Authorizer.query`), each once.
    func results(_ rule: CompiledRule, evaluator: inout ExpressionEvaluator) throws(ExecutionError) -> [[Value]] {
        var results: [[Value]] = []
        var seen = Set<[Value]>()
        try forEachCombination(rule) { bindings, _ throws(ExecutionError) in
            guard try Self.holds(rule, bindings, &evaluator) else { return true }
            let terms = Self.instantiate(rule.head.terms, bindings)
            if seen.insert(terms).inserted { results.append(terms) }
            return true
        }
        return results
    }

    // MARK: - Matching

    /// Whether every expression of `rule` is true with `bindings` (one that is not a boolean is
    /// a type error).
    private static func holds(_ rule: CompiledRule, _ bindings: Bindings, _ evaluator: inout ExpressionEvaluator) throws(ExecutionError) -> Bool {
        for expression in rule.expressions {
            guard case .bool(let holds) = try evaluator.evaluate(expression, bindings) else { throw .invalidType }
            if !holds { return false }
        }
        return true
    }

    /// Calls `visit` for each combination of facts the rule may read that matches its body
    /// (one empty combination for a body without predicates), with the bindings and the
    /// combined origin of the facts; `visit` returns whether to go on.
    ///
    /// With `delta`, a semi-naive pass: the body predicate at `delta` ranges over the facts the
    /// last round added, those before it over older facts, those after it over every fact, so
    /// that each combination holding a new fact is visited once.
    private func forEachCombination(_ rule: CompiledRule, delta: Int? = nil, visit: (Bindings, BlockSet) throws(ExecutionError) -> Bool)
        throws(ExecutionError)
    {
        var bindings = Bindings(names: rule.variables, values: Array(repeating: .null, count: rule.variables.count))
        var bound = Array(repeating: false, count: rule.variables.count)
        _ = try join(rule, at: 0, delta: delta, origin: .none, bindings: &bindings, bound: &bound, complete: visit)
    }

    /// The join of the rule's body predicates from `index` on; returns false to stop.
    private func join(
        _ rule: CompiledRule, at index: Int, delta: Int?, origin: BlockSet, bindings: inout Bindings, bound: inout [Bool],
        complete: (Bindings, BlockSet) throws(ExecutionError) -> Bool
    ) throws(ExecutionError) -> Bool {
        guard index < rule.body.count else { return try complete(bindings, origin) }
        let predicate = rule.body[index]
        guard let candidates = byName[predicate.name] else { return true }
        let range: Range = delta.map { index < $0 ? .old : index == $0 ? .delta : .all } ?? .all
        for entry in candidates {
            switch range {
            case .all: break
            case .old: if entry.round >= round { continue }
            case .delta: if entry.round != round { continue }
            }
            let fact = entry.fact
            guard fact.terms.count == predicate.terms.count && fact.origin.isSubset(of: rule.trusted) else { continue }
            var newlyBound: [Int] = []
            var matches = true
            for (pattern, term) in zip(predicate.terms, fact.terms) {
                switch pattern {
                case .value(let value):
                    matches = value == term
                case .never:
                    matches = false
                case .variable(let slot):
                    if bound[slot] {
                        matches = bindings.values[slot] == term
                    } else {
                        bindings.values[slot] = term
                        bound[slot] = true
                        newlyBound.append(slot)
                    }
                }
                if !matches { break }
            }
            var goOn = true
            if matches {
                goOn = try join(
                    rule, at: index + 1, delta: delta, origin: origin.union(fact.origin), bindings: &bindings, bound: &bound, complete: complete)
            }
            for slot in newlyBound { bound[slot] = false }
            if !goOn { return false }
        }
        return true
    }

    private static func instantiate(_ patterns: [Pattern], _ bindings: Bindings) -> [Value] {
        patterns.map { pattern in
            switch pattern {
            case .value(let value): return value
            case .variable(let slot): return bindings.values[slot]
            // Unreachable for a safe rule: its head binds no collection with a variable.
            case .never: return .null
            }
        }
    }
}
