/// One block of a token, as Datalog: what it states (facts), derives (rules) and requires
/// (checks), whose facts it trusts (scopes), and the symbols and keys it declared.
public struct Block: Hashable, Sendable {
    /// The facts it states.
    public var facts: [Fact] = []
    /// Its rules.
    public var rules: [Rule] = []
    /// Its checks.
    public var checks: [Check] = []
    /// Whose facts its rules and checks see, by default (empty: the authority block's, its
    /// own, and the authorizer's).
    public var scopes: [Scope] = []
    /// Free text the issuer attached.
    public var context: String?
    /// The Datalog version the block declares (3...6).
    public var version: UInt32 = Block.minimumVersion
    /// The symbols the block declared (added to the token's table, or, for a third-party
    /// block, its own).
    public var symbols: [String] = []
    /// The public keys the block declared.
    public var publicKeys: [PublicKey] = []
    /// The third party's key that signed the block, for a third-party block.
    public var externalKey: PublicKey?

    /// The lowest and highest Datalog versions read and written.
    public static let minimumVersion: UInt32 = 3
    public static let maximumVersion: UInt32 = 6

    /// An empty block.
    public init() {}

    /// A block of `source`'s facts, rules and checks.
    public init(facts: [Fact] = [], rules: [Rule] = [], checks: [Check] = [], scopes: [Scope] = [], context: String? = nil) {
        self.facts = facts
        self.rules = rules
        self.checks = checks
        self.scopes = scopes
        self.context = context
    }
}

// MARK: - Versions

extension Block {
    /// What the block uses that needs a version above 3, as the reference detects it.
    struct Features {
        /// Scopes (block, rule or query): version 4.
        var scopes = false
        /// Bitwise operations or `!==`: version 4.
        var bitwiseOrNotEqual = false
        /// `check all`: version 4.
        var checkAll = false
        /// `reject if`, `null`, closures, `.type()`, extern calls, lenient equality, lazy
        /// operations, `.all`/`.any`: version 6.
        var version6 = false
        /// Arrays, maps and `.get` (the reference does not count them: it writes such blocks as
        /// version 3; this library writes them as 6, the version that defines them).
        var arraysOrMaps = false

        /// The lowest version that expresses these features; `strict` counts arrays and maps.
        func minimumVersion(strict: Bool) -> UInt32 {
            if version6 || (strict && arraysOrMaps) { return 6 }
            if scopes || bitwiseOrNotEqual || checkAll { return 4 }
            return 3
        }
    }

    /// The features the block uses.
    var features: Features {
        var features = Features()
        features.scopes = !scopes.isEmpty
        for fact in facts { Self.note(fact.predicate, into: &features) }
        for rule in rules { Self.note(rule, into: &features) }
        for check in checks {
            switch check.kind {
            case .one: break
            case .all: features.checkAll = true
            case .reject: features.version6 = true
            }
            for query in check.queries { Self.note(query, into: &features, isQuery: true) }
        }
        return features
    }

    /// The lowest version that expresses the block, as this library writes it; a third-party
    /// block is at least version 5.
    func minimumVersion(thirdParty: Bool) -> UInt32 {
        let version = features.minimumVersion(strict: true)
        return thirdParty ? max(version, 5) : version
    }

    private static func note(_ rule: Rule, into features: inout Features, isQuery: Bool = false) {
        if !rule.scopes.isEmpty { features.scopes = true }
        // The reference does not inspect a check's head (always `query()`).
        if !isQuery { note(rule.head, into: &features) }
        for predicate in rule.body { note(predicate, into: &features) }
        for expression in rule.expressions { note(expression.ops, into: &features) }
    }

    private static func note(_ predicate: Predicate, into features: inout Features) {
        for term in predicate.terms { note(term, into: &features) }
    }

    private static func note(_ term: Term, into features: inout Features) {
        switch term {
        case .null: features.version6 = true
        case .setValue(let elements): if elements.contains(.null) { features.version6 = true }
        case .array, .mapValue: features.arraysOrMaps = true
        case .variable, .integer, .string, .date, .bytes, .bool, .parameter: break
        }
    }

    private static func note(_ ops: [Op], into features: inout Features) {
        for op in ops {
            switch op {
            case .value(let term): note(term, into: &features)
            case .closure(_, let body):
                features.version6 = true
                note(body, into: &features)
            case .unary(let operation):
                switch operation {
                case .typeOf, .external: features.version6 = true
                case .negate, .parens, .length: break
                }
            case .binary(let operation):
                switch operation {
                case .bitwiseAnd, .bitwiseOr, .bitwiseXor, .notEqual: features.bitwiseOrNotEqual = true
                case .heterogeneousEqual, .heterogeneousNotEqual, .lazyAnd, .lazyOr, .all, .any, .external, .tryOr: features.version6 = true
                case .get: features.arraysOrMaps = true
                case .lessThan, .greaterThan, .lessOrEqual, .greaterOrEqual, .equal, .contains, .prefix, .suffix, .regex, .add, .sub, .mul,
                    .div, .and, .or, .intersection, .union:
                    break
                }
            }
        }
    }
}
