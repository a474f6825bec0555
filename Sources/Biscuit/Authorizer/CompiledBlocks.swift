import Synchronization

/// A token's Datalog compiled for authorizers: its strings interned (in the order an
/// authorizer meets them: block by block, each block's facts, rules, then checks), its facts in
/// a world, its rules and checks with the blocks each may read. Everything here depends on the
/// token alone, so it is compiled once per token and shared by every authorization of it; an
/// authorizer starts from a copy and adds its own Datalog.
struct CompiledBlocks: Sendable {
    var symbols = SymbolTable()
    var world = World()
    var rules: [CompiledRule] = []
    /// Checks by block (the authority's at 0).
    var checks: [[CompiledCheck]] = []
    /// The block ids each third party's key signed.
    var blocksByExternalKey: [PublicKey: [Int]] = [:]

    /// No token: an authorizer's Datalog alone.
    static let empty = CompiledBlocks()

    private init() {}

    /// Compiles `blocks`.
    /// - Throws: `.failedLogic(.invalidBlockRule)` when a block holds an unsafe rule (the
    ///   reference reports block 0).
    init(blocks: [Block]) throws(BiscuitError) {
        for (index, block) in blocks.enumerated() {
            if let key = block.externalKey { blocksByExternalKey[key, default: []].append(index) }
        }
        var compiler = Compiler(symbols: symbols)
        for (index, block) in blocks.enumerated() {
            let origin = BlockSet.block(index)
            for fact in block.facts {
                if let (name, terms) = try compiler.fact(fact) { world.insert(StoredFact(name: name, terms: terms, origin: origin)) }
            }
            let blockTrust = Self.trusted(
                block.scopes, default: BlockSet.block(0).union(.authorizer), current: index, blocksByExternalKey: blocksByExternalKey)
            for rule in block.rules {
                // As the reference: the head only (an expression's unbound variable is an
                // error when it runs), and block 0 whatever the block.
                guard rule.unboundHeadVariables.isEmpty else { throw .failedLogic(.invalidBlockRule(block: 0, rule: "\(rule)")) }
                let trust = Self.trusted(rule.scopes, default: blockTrust, current: index, blocksByExternalKey: blocksByExternalKey)
                rules.append(try compiler.rule(rule, trusted: trust, origin: origin))
            }
            var compiled: [CompiledCheck] = []
            for check in block.checks {
                compiled.append(try Self.compile(check, &compiler, default: blockTrust, current: index, blocksByExternalKey: blocksByExternalKey))
            }
            checks.append(compiled)
        }
        symbols = compiler.symbols
    }

    /// A check compiled with the blocks its queries may read (`current`: its block, nil for the
    /// authorizer).
    static func compile(
        _ check: Check, _ compiler: inout Compiler, default trust: BlockSet, current: Int?, blocksByExternalKey: [PublicKey: [Int]]
    ) throws(BiscuitError) -> CompiledCheck {
        var queries: [CompiledRule] = []
        let origin = current.map(BlockSet.block) ?? .authorizer
        for query in check.queries {
            let trusted = trusted(query.scopes, default: trust, current: current, blocksByExternalKey: blocksByExternalKey)
            queries.append(try compiler.rule(query, trusted: trusted, origin: origin))
        }
        return CompiledCheck(kind: check.kind, queries: queries, check: check)
    }

    /// The blocks a rule with `scopes` may read (the reference's `TrustedOrigins::from_scopes`):
    /// without scopes, `default` with its own block and the authorizer; with scopes, its own
    /// block, the authorizer and what they name (`previous` means nothing for the authorizer).
    /// A rule's scopes replace its block's.
    static func trusted(_ scopes: [Scope], default defaultTrust: BlockSet, current: Int?, blocksByExternalKey: [PublicKey: [Int]]) -> BlockSet {
        let own = current.map(BlockSet.block) ?? .authorizer
        guard !scopes.isEmpty else { return defaultTrust.union(own).union(.authorizer) }
        var trust = own.union(.authorizer)
        for scope in scopes {
            switch scope {
            case .authority: trust = trust.union(.block(0))
            case .previous: if let current { trust = trust.union(.upTo(current)) }
            case .publicKey(let key): for block in blocksByExternalKey[key] ?? [] { trust = trust.union(.block(block)) }
            case .parameter: break
            }
        }
        return trust
    }
}

/// Where a token keeps its compiled Datalog: compiled by the first authorization, shared by the
/// token's copies (a cached verified token pays for it once).
final class CompiledBlocksCache: Sendable {
    private let state = Mutex<Result<CompiledBlocks, BiscuitError>?>(nil)

    init() {}

    /// The compiled form of `blocks` (the token's own blocks: the cache belongs to one token).
    func compiled(_ blocks: [Block]) throws(BiscuitError) -> CompiledBlocks {
        let result = state.withLock { cached in
            if let cached { return cached }
            let result: Result<CompiledBlocks, BiscuitError>
            do throws(BiscuitError) {
                result = .success(try CompiledBlocks(blocks: blocks))
            } catch {
                result = .failure(error)
            }
            cached = result
            return result
        }
        return try result.get()
    }
}
