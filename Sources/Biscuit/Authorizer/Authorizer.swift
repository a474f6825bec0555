/// Decides whether a token may be used, as a service decides it: the token's blocks (facts,
/// rules, checks), the service's own facts (the request: resource, operation, time...), rules,
/// checks and policies, run to a fixpoint within limits; then every check must hold and the
/// first policy that matches must allow.
///
/// Whose facts each rule sees follows the reference: a block's rules and checks see the
/// authority block, their own block and the authorizer (or what their scopes say); the
/// authorizer's see the authority block and the authorizer; a fact derived by a rule comes from
/// the rule's block and every block whose facts it used. So a block appended by a holder can
/// only restrict: its facts never reach the authority's checks or the authorizer's policies.
public struct Authorizer: Sendable {
    /// The token, if one is being authorized.
    public let token: Token?
    /// The authorizer's own Datalog.
    public let builder: AuthorizerBuilder

    private var symbols = SymbolTable()
    private var world: World
    private var rules: [CompiledRule] = []
    /// Checks by block (the authority's at 0), and the authorizer's.
    private var blockChecks: [[CompiledCheck]] = []
    private var authorizerChecks: [CompiledCheck] = []
    private var policies: [CompiledPolicy] = []
    /// The block ids each third party's key signed.
    private let blocksByExternalKey: [PublicKey: [Int]]
    private var ranRules = false
    /// The rounds of rule application the last run took.
    public private(set) var iterations = 0

    /// Prepares the authorization of `token` (nil: the authorizer's Datalog alone): the
    /// token's compiled Datalog (compiled once per token), then the authorizer's.
    /// - Throws: `.failedLogic(.invalidBlockRule)` when a block holds an unsafe rule (the
    ///   reference reports block 0), `.language` for parameters left unset.
    init(token: Token?, builder: AuthorizerBuilder) throws(BiscuitError) {
        self.token = token
        self.builder = builder
        let base = try token?.compiledBlocks() ?? .empty
        world = base.world
        rules = base.rules
        blockChecks = base.checks
        blocksByExternalKey = base.blocksByExternalKey
        var compiler = Compiler(symbols: base.symbols)
        let authorizerTrust = trusted(builder.scopes, default: BlockSet.block(0).union(.authorizer))
        for fact in builder.facts {
            if let (name, terms) = try compiler.fact(fact) { world.insert(StoredFact(name: name, terms: terms, origin: .authorizer)) }
        }
        for rule in builder.rules {
            guard rule.unboundVariables.isEmpty else {
                throw .language(.unboundVariables(rule: "\(rule)", variables: rule.unboundVariables))
            }
            rules.append(try compiler.rule(rule, trusted: trusted(rule.scopes, default: authorizerTrust), origin: .authorizer))
        }
        for check in builder.checks {
            authorizerChecks.append(
                try CompiledBlocks.compile(check, &compiler, default: authorizerTrust, current: nil, blocksByExternalKey: blocksByExternalKey))
        }
        for policy in builder.policies {
            var queries: [CompiledRule] = []
            for query in policy.queries {
                queries.append(try compiler.rule(query, trusted: trusted(query.scopes, default: authorizerTrust), origin: .authorizer))
            }
            policies.append(CompiledPolicy(kind: policy.kind, queries: queries))
        }
        symbols = compiler.symbols
    }

    /// The blocks the authorizer's rule with `scopes` may read (`CompiledBlocks.trusted`).
    private func trusted(_ scopes: [Scope], default defaultTrust: BlockSet) -> BlockSet {
        CompiledBlocks.trusted(scopes, default: defaultTrust, current: nil, blocksByExternalKey: blocksByExternalKey)
    }

    // MARK: - Authorizing

    /// Runs the rules, then the checks and policies, in the reference's order: the
    /// authorizer's checks, the authority block's checks, the policies (the first that matches
    /// decides), then the other blocks' checks.
    /// - Returns: the index of the allow policy that matched.
    /// - Throws: `.failedLogic(.unauthorized)` (a deny policy, or an allow one with failed
    ///   checks), `.failedLogic(.noMatchingPolicy)`, a run limit, or an expression's error.
    public mutating func authorize() throws(BiscuitError) -> Int {
        var deadline = RunDeadline(after: builder.limits.maxTime)
        var evaluator = ExpressionEvaluator(symbols: symbols, externs: builder.externs)
        try runRules(&evaluator, deadline: &deadline)
        if deadline.passed() { throw .runLimit(.timeout) }
        var failed: [FailedCheck] = []
        func evaluate(_ check: CompiledCheck, _ evaluator: inout ExpressionEvaluator) throws(BiscuitError) -> Bool {
            for query in check.queries {
                let holds: Bool
                do {
                    switch check.kind {
                    case .one: holds = try world.anyMatch(query, evaluator: &evaluator)
                    case .all: holds = try world.allMatch(query, evaluator: &evaluator)
                    case .reject: holds = try !world.anyMatch(query, evaluator: &evaluator)
                    }
                } catch {
                    throw .execution(error)
                }
                if deadline.passed() { throw .runLimit(.timeout) }
                if holds { return true }
            }
            return false
        }
        for (index, check) in authorizerChecks.enumerated() where try !evaluate(check, &evaluator) {
            failed.append(.authorizer(check: index, rule: check.text(symbols)))
        }
        if let authority = blockChecks.first {
            for (index, check) in authority.enumerated() where try !evaluate(check, &evaluator) {
                failed.append(.block(block: 0, check: index, rule: check.text(symbols)))
            }
        }
        var matched: MatchedPolicy?
        policies: for (index, policy) in policies.enumerated() {
            for query in policy.queries {
                let matches: Bool
                do {
                    matches = try world.anyMatch(query, evaluator: &evaluator)
                } catch {
                    throw .execution(error)
                }
                if deadline.passed() { throw .runLimit(.timeout) }
                if matches {
                    matched = policy.kind == .allow ? .allow(index) : .deny(index)
                    break policies
                }
            }
        }
        for (block, checks) in blockChecks.enumerated().dropFirst() {
            for (index, check) in checks.enumerated() where try !evaluate(check, &evaluator) {
                failed.append(.block(block: block, check: index, rule: check.text(symbols)))
            }
        }
        switch matched {
        case .allow(let index)? where failed.isEmpty: return index
        case let policy?: throw .failedLogic(.unauthorized(policy: policy, checks: failed))
        case nil: throw .failedLogic(.noMatchingPolicy(checks: failed))
        }
    }

    private mutating func runRules(_ evaluator: inout ExpressionEvaluator, deadline: inout RunDeadline) throws(BiscuitError) {
        guard !ranRules else { return }
        iterations = try world.run(rules, evaluator: &evaluator, limits: builder.limits, deadline: &deadline)
        ranRules = true
    }

    // MARK: - Queries

    /// The facts `rule`'s head gives over the world after the rules ran (by default reading
    /// the authority block and the authorizer, as the reference's `query`; `trusting` scopes
    /// widen it).
    public mutating func query(_ rule: Rule) throws(BiscuitError) -> [Fact] {
        guard rule.unboundVariables.isEmpty else {
            throw .language(.unboundVariables(rule: "\(rule)", variables: rule.unboundVariables))
        }
        var compiler = Compiler(symbols: symbols)
        let compiled = try compiler.rule(
            rule, trusted: trusted(rule.scopes, default: BlockSet.block(0).union(.authorizer)), origin: .authorizer)
        symbols = compiler.symbols
        var evaluator = ExpressionEvaluator(symbols: symbols, externs: builder.externs)
        var deadline = RunDeadline(after: builder.limits.maxTime)
        try runRules(&evaluator, deadline: &deadline)
        do {
            return try world.results(compiled, evaluator: &evaluator).map { terms throws(ExecutionError) in
                Fact(rule.head.name, try terms.map { value throws(ExecutionError) in try evaluator.term(value) })
            }
        } catch {
            throw .execution(error)
        }
    }

    // MARK: - The world

    /// The world as the reference shows it: every fact (after the rules ran) with the blocks it
    /// comes from (nil for the authorizer), every rule and check with where it is, the policies.
    public mutating func snapshot() throws(BiscuitError) -> AuthorizerWorld {
        var evaluator = ExpressionEvaluator(symbols: symbols, externs: builder.externs)
        var deadline = RunDeadline(after: builder.limits.maxTime)
        try runRules(&evaluator, deadline: &deadline)
        var facts: [AuthorizerWorld.FactGroup] = []
        var byOrigin: [[Int?]: [Fact]] = [:]
        do throws(ExecutionError) {
            for fact in world.facts {
                let terms = try fact.terms.map { value throws(ExecutionError) in try evaluator.term(value) }
                guard let name = symbols.symbol(at: fact.name) else { throw ExecutionError.unknownSymbol(fact.name) }
                byOrigin[fact.origin.members, default: []].append(Fact(name, terms))
            }
        } catch {
            throw .execution(error)
        }
        for (origin, group) in byOrigin { facts.append(AuthorizerWorld.FactGroup(origin: origin, facts: group)) }
        var rules: [(origin: Int?, rule: Rule)] = []
        var checks: [(origin: Int?, check: Check)] = []
        for (index, block) in (token?.blocks ?? []).enumerated() {
            rules += block.rules.map { (index, $0) }
            checks += block.checks.map { (index, $0) }
        }
        rules += builder.rules.map { (nil, $0) }
        checks += builder.checks.map { (nil, $0) }
        return AuthorizerWorld(facts: facts, rules: rules, checks: checks, policies: builder.policies)
    }
}

/// What an authorizer holds, for inspection and tests.
public struct AuthorizerWorld: Sendable {
    /// Facts that come from the same blocks.
    public struct FactGroup: Sendable {
        /// The block ids, in order; nil is the authorizer (last).
        public var origin: [Int?]
        /// The facts.
        public var facts: [Fact]
    }

    /// The facts, grouped by origin.
    public var facts: [FactGroup]
    /// The rules with their block (nil for the authorizer).
    public var rules: [(origin: Int?, rule: Rule)]
    /// The checks with their block (nil for the authorizer).
    public var checks: [(origin: Int?, check: Check)]
    /// The authorizer's policies, in order.
    public var policies: [Policy]
}

/// The Datalog of an authorizer (the service's side), its limits and extern functions; `build`
/// makes the `Authorizer` for a token.
public struct AuthorizerBuilder: Sendable {
    /// The service's facts (the request: resource, operation, time...).
    public var facts: [Fact] = []
    /// Its rules.
    public var rules: [Rule] = []
    /// Its checks.
    public var checks: [Check] = []
    /// Its policies, in order: the first that matches decides.
    public var policies: [Policy] = []
    /// Whose facts its rules, checks and policies see by default (empty: the authority block
    /// and the authorizer's own).
    public var scopes: [Scope] = []
    /// The limits of a run.
    public var limits = RunLimits()
    /// The functions `.extern::name(...)` calls.
    public var externs: [String: ExternFunction] = [:]

    /// An empty authorizer.
    public init() {}

    /// Adds `time(now)`: the fact expiry checks compare with.
    public mutating func addTime(secondsSince1970 seconds: UInt64) {
        facts.append(Fact("time", [.date(seconds)]))
    }

    /// The authorizer for `token` (nil: without a token).
    public func build(_ token: Token?) throws(BiscuitError) -> Authorizer {
        try Authorizer(token: token, builder: self)
    }

    /// Builds the authorizer for `token` and authorizes (`Authorizer.authorize`).
    /// - Returns: the index of the allow policy that matched.
    public func authorize(_ token: Token?) throws(BiscuitError) -> Int {
        var authorizer = try build(token)
        return try authorizer.authorize()
    }
}
