/// `name(term, ...)`: a fact's content, or a pattern in a rule's body or head.
public struct Predicate: Hashable, Sendable {
    /// The predicate's name.
    public var name: String
    /// Its terms, in order.
    public var terms: [Term]

    /// Creates a predicate.
    public init(_ name: String, _ terms: [Term]) {
        self.name = name
        self.terms = terms
    }
}

/// A fact: a predicate without variables, true in the block (or authorizer) that states it.
public struct Fact: Hashable, Sendable {
    /// The fact's predicate.
    public var predicate: Predicate

    /// Creates a fact.
    public init(_ predicate: Predicate) {
        self.predicate = predicate
    }

    /// Creates a fact `name(terms...)`.
    public init(_ name: String, _ terms: [Term]) {
        predicate = Predicate(name, terms)
    }
}

/// Where a rule, check or policy looks for facts: the facts of the authority block, of the
/// blocks before (and including) its own, or of the blocks signed by a third party's key.
public enum Scope: Hashable, Sendable {
    /// The authority block (block 0).
    case authority
    /// Every block up to and including the rule's own.
    case previous
    /// The third-party blocks signed by this key.
    case publicKey(PublicKey)
    /// `{name}`: a key given when the code is added.
    case parameter(String)
}

/// `head <- body, expressions`: for every combination of facts that matches the body and makes
/// every expression true, the head (with the variables bound) is a new fact. A check's or a
/// policy's query is a rule whose head is `query()`.
public struct Rule: Hashable, Sendable {
    /// The fact the rule produces.
    public var head: Predicate
    /// The predicates that must match facts.
    public var body: [Predicate]
    /// The conditions on the body's variables.
    public var expressions: [Expression]
    /// Where the rule looks for facts; empty for its block's default.
    public var scopes: [Scope]

    /// Creates a rule.
    public init(head: Predicate, body: [Predicate], expressions: [Expression] = [], scopes: [Scope] = []) {
        self.head = head
        self.body = body
        self.expressions = expressions
        self.scopes = scopes
    }

    /// A check's or a policy's query: `body, expressions trusting scopes`.
    public static func query(body: [Predicate], expressions: [Expression] = [], scopes: [Scope] = []) -> Rule {
        Rule(head: Predicate("query", []), body: body, expressions: expressions, scopes: scopes)
    }

    /// The variables of the head that no body predicate binds (what the reference's authorizer
    /// refuses a token's rule for: `InvalidBlockRule`).
    public var unboundHeadVariables: [String] {
        var bound = Set<String>()
        for predicate in body { for term in predicate.terms { term.collectVariables(into: &bound) } }
        var headVariables = Set<String>()
        for term in head.terms { term.collectVariables(into: &headVariables) }
        return headVariables.filter { !bound.contains($0) }.sorted()
    }

    /// The variables of the head and the expressions that no body predicate binds; empty for a
    /// safe rule.
    public var unboundVariables: [String] {
        var bound = Set<String>()
        for predicate in body { for term in predicate.terms { term.collectVariables(into: &bound) } }
        var unbound: [String] = []
        func check(_ name: String) {
            if !bound.contains(name) && !unbound.contains(name) { unbound.append(name) }
        }
        var headVariables = Set<String>()
        for term in head.terms { term.collectVariables(into: &headVariables) }
        for name in headVariables.sorted() { check(name) }
        for expression in expressions {
            for name in expression.freeVariables { check(name) }
        }
        return unbound
    }
}

/// A check: the token (or authorizer) is refused unless it holds.
public struct Check: Hashable, Sendable {
    /// How the queries decide.
    public enum Kind: Hashable, Sendable {
        /// `check if`: holds when some query matches.
        case one
        /// `check all`: holds when, for some query, every combination matching its body makes
        /// its expressions true (and there is at least one).
        case all
        /// `reject if`: holds when some query does not match (block version 6).
        case reject
    }

    /// How the queries decide.
    public var kind: Kind
    /// The queries, alternatives joined by `or`.
    public var queries: [Rule]

    /// Creates a check.
    public init(kind: Kind, queries: [Rule]) {
        self.kind = kind
        self.queries = queries
    }
}

/// An authorizer's policy: the first one whose query matches decides.
public struct Policy: Hashable, Sendable {
    /// Allow or deny.
    public enum Kind: Hashable, Sendable {
        /// `allow if`.
        case allow
        /// `deny if`.
        case deny
    }

    /// Allow or deny.
    public var kind: Kind
    /// The queries, alternatives joined by `or`.
    public var queries: [Rule]

    /// Creates a policy.
    public init(kind: Kind, queries: [Rule]) {
        self.kind = kind
        self.queries = queries
    }
}

extension Term {
    /// Adds the names of the variables this term holds to `names`.
    func collectVariables(into names: inout Set<String>) {
        switch self {
        case .variable(let name): names.insert(name)
        case .setValue(let elements), .array(let elements): for element in elements { element.collectVariables(into: &names) }
        case .mapValue(let entries): for entry in entries { entry.value.collectVariables(into: &names) }
        case .integer, .string, .date, .bytes, .bool, .parameter, .null: break
        }
    }
}
