public import Biscuit

/// Who a Rampart token says its holder is: the facts of its authority block (signed by a root
/// key, so trusted), as `POST /v1/tokens` writes them.
public struct TokenHolder: Hashable, Sendable {
    /// `principal(...)`: the principal, as `organization/name`.
    public var principal: String
    /// `principal_kind(...)`: `user` or `service_account`.
    public var kind: String
    /// `organization(...)`: the principal's organization.
    public var organization: String
    /// `api_key(...)`: the id of the API key the token was first issued for.
    public var apiKey: String
    /// `issued_at(...)`: when it was issued, in seconds since 1970.
    public var issuedAt: UInt64

    /// Reads the holder from an authority block.
    /// - Throws: `TokenRefusal.notIssuedByRampart` when a fact is missing, repeated or of
    ///   another type.
    init(authority: Block) throws(TokenRefusal) {
        var strings: [String: String] = [:]
        var issued: UInt64?
        for fact in authority.facts {
            let predicate = fact.predicate
            guard predicate.terms.count == 1 else { continue }
            switch (predicate.name, predicate.terms[0]) {
            case ("principal", .string(let value)), ("principal_kind", .string(let value)), ("organization", .string(let value)),
                ("api_key", .string(let value)):
                guard strings.updateValue(value, forKey: predicate.name) == nil else {
                    throw .notIssuedByRampart("the authority block states \(predicate.name) twice")
                }
            case ("issued_at", .date(let value)):
                guard issued == nil else { throw .notIssuedByRampart("the authority block states issued_at twice") }
                issued = value
            default:
                continue
            }
        }
        guard let principal = strings["principal"], let kind = strings["principal_kind"], let organization = strings["organization"],
            let apiKey = strings["api_key"], let issued
        else {
            throw .notIssuedByRampart("its authority block lacks principal, principal_kind, organization, api_key or issued_at")
        }
        self.init(principal: principal, kind: kind, organization: organization, apiKey: apiKey, issuedAt: issued)
    }

    /// A holder with these facts.
    public init(principal: String, kind: String, organization: String, apiKey: String, issuedAt: UInt64) {
        self.principal = principal
        self.kind = kind
        self.organization = organization
        self.apiKey = apiKey
        self.issuedAt = issuedAt
    }

    /// Seconds since 1970 as RFC 3339 in UTC.
    public static func rfc3339(_ seconds: UInt64) -> String { DateText.format(seconds) }
}

/// A token whose signatures have been verified against a published root key, with what a
/// decision needs read out of it once: the holder, the expiry, the revocation ids, and whether
/// its checks depend on anything but the time. Cached (`TokenCache`) so a repeated token is
/// not verified again.
public struct VerifiedToken: Sendable {
    /// The most base64 characters of a token presented to Rampart (far above what issuance
    /// with its 8 attenuation blocks writes; a larger one is refused before it is decoded).
    public static let maxTextBytes = 32 * 1024

    /// The token, as verified.
    public let token: Token
    /// The id of the root key that signed it.
    public let rootKeyID: UInt32
    /// The public key that verified it.
    public let rootKey: PublicKey
    /// The revocation ids, authority first.
    public let revocationIDs: [[UInt8]]
    /// Who it says holds it.
    public let holder: TokenHolder
    /// Its expiry, from the authority block's `check if time($time), $time < <date>`; nil when
    /// the authority block has no such check (then the token never expires by itself).
    public let expiresAt: UInt64?
    /// Whether its only check is that expiry, so that deciding needs no Datalog: a token
    /// exactly as issued, without attenuation.
    public let onlyExpiry: Bool
    /// The authority block's `right(scope, permission)` facts: what the policy granted the
    /// holder when the token was issued (`grants(_:)`).
    public let rights: [TokenRight]

    /// The run limits of a token's checks when they must run: the reference's fact and
    /// iteration limits, and 5 ms rather than its 1 ms (the checks of Rampart's tokens take
    /// microseconds). The time limit counts work, not scheduling delays (`RunLimits.maxTime`):
    /// a loaded replica does not refuse a token because its thread waited for the CPU.
    public static let runLimits = RunLimits(maxFacts: 1000, maxIterations: 100, maxTime: .milliseconds(5))

    /// Verifies a token in URL-safe base64 against the key set.
    /// - Parameters:
    ///   - text: the token.
    ///   - rootKey: the published key with this Biscuit key id, nil when none is.
    /// - Throws: `TokenRefusal`: malformed, unknown root key, invalid signature, or not a token
    ///   Rampart issued.
    public init(text: String, rootKey: (UInt32) -> PublicKey?) throws(TokenRefusal) {
        guard text.utf8.count <= Self.maxTextBytes else { throw .malformed("longer than \(Self.maxTextBytes) characters") }
        var named: UInt32?
        var used: PublicKey?
        let token: Token
        do {
            token = try Token(base64: text) { id in
                named = id
                guard let id, let key = rootKey(id) else { return nil }
                used = key
                return key
            }
        } catch {
            switch error {
            case .format(.unknownRootKey): throw .unknownRootKey(named)
            case .format(.invalidSignature(let reason)): throw .invalidSignature(reason)
            case .format(.sealedSignature): throw .invalidSignature("the sealed signature is wrong")
            default: throw .malformed(error.description)
            }
        }
        guard let named, let used else { throw .unknownRootKey(nil) }
        try self.init(token: token, rootKeyID: named, rootKey: used)
    }

    /// Reads what a decision needs from a token already verified with `rootKey`.
    init(token: Token, rootKeyID: UInt32, rootKey: PublicKey) throws(TokenRefusal) {
        guard let authority = token.blocks.first else { throw .malformed("no authority block") }
        self.token = token
        self.rootKeyID = rootKeyID
        self.rootKey = rootKey
        revocationIDs = token.revocationIDs
        holder = try TokenHolder(authority: authority)
        let expiry = authority.checks.count == 1 ? Self.expiry(of: authority.checks[0]) : nil
        expiresAt = expiry
        onlyExpiry = expiry != nil && token.blocks.count == 1 && authority.rules.isEmpty
        rights = authority.facts.compactMap { fact in
            guard fact.predicate.name == "right", fact.predicate.terms.count == 2, case .string(let scope) = fact.predicate.terms[0],
                case .string(let permission) = fact.predicate.terms[1]
            else { return nil }
            return TokenRight(scope: scope, permission: permission)
        }
    }

    /// Whether a right the token states covers the request's permission at its resource: a
    /// right's scope covers itself and what is inside it (`cluster` everything, an organization
    /// its projects), and its permission's `*` segments match any segment. A request without a
    /// permission is granted by no right.
    public func grants(_ request: TokenRequest) -> Bool {
        guard let permission = request.permission else { return false }
        let resource = request.resource
        return rights.contains { $0.covers(resource) && $0.grants(permission) }
    }

    /// The date of `check if time($time), $time < <date>`; nil for any other check.
    static func expiry(of check: Check) -> UInt64? {
        guard check.kind == .one, check.queries.count == 1 else { return nil }
        let query = check.queries[0]
        guard query.scopes.isEmpty, query.body == [Predicate("time", [.variable("time")])], query.expressions.count == 1 else { return nil }
        let ops = query.expressions[0].ops
        guard ops.count == 3, ops[0] == .value(.variable("time")), case .value(.date(let date)) = ops[1], ops[2] == .binary(.lessThan) else {
            return nil
        }
        return date
    }

    /// Whether the token may be used for `request`: not expired, and every check of every
    /// block holds with the request's facts (`TokenRequest`). A token exactly as issued is
    /// decided by its expiry alone, without Datalog.
    /// - Returns: nil when it may, or why not (`expired` or `checksFailed`).
    public func refusal(for request: TokenRequest, limits: RunLimits = VerifiedToken.runLimits) -> TokenRefusal? {
        if let expiresAt, request.time >= expiresAt { return .expired(expiresAt: expiresAt) }
        if onlyExpiry { return nil }
        var builder = AuthorizerBuilder()
        builder.limits = limits
        builder.addTime(secondsSince1970: request.time)
        builder.facts.append(Fact("resource", [.string(request.resource)]))
        if let organization = request.organization { builder.facts.append(Fact("resource_organization", [.string(organization)])) }
        if let project = request.project { builder.facts.append(Fact("resource_project", [.string(project)])) }
        if let permission = request.permission { builder.facts.append(Fact("permission", [.string(permission)])) }
        builder.facts.append(Fact("operation", [.string(request.operation.rawValue)]))
        builder.policies = [Self.allowAll]
        do {
            _ = try builder.authorize(token)
            return nil
        } catch {
            switch error {
            case .failedLogic(.unauthorized(_, let checks)), .failedLogic(.noMatchingPolicy(let checks)):
                return .checksFailed(checks.map(\.description).joined(separator: "; "))
            default:
                return .checksFailed(error.description)
            }
        }
    }

    /// `allow if true`: the token's checks decide; the policy (the caller's permissions) is
    /// decided elsewhere, from the replicated state.
    static let allowAll = Policy(kind: .allow, queries: [Rule.query(body: [], expressions: [Expression([.value(.bool(true))])])])
}

/// One `right(scope, permission)` fact of a token's authority block.
public struct TokenRight: Hashable, Sendable {
    /// `cluster`, `orgs/<org>` or `orgs/<org>/projects/<project>`.
    public var scope: String
    /// `service.resource.verb`, each segment possibly `*`.
    public var permission: String

    /// A right.
    public init(scope: String, permission: String) {
        self.scope = scope
        self.permission = permission
    }

    /// Whether the scope is `resource` or holds it.
    public func covers(_ resource: String) -> Bool {
        scope == "cluster" || resource == scope || resource.hasPrefix(scope + "/projects/")
    }

    /// Whether the permission matches `requested` (three segments each; `*` matches any).
    public func grants(_ requested: String) -> Bool {
        let granted = permission.split(separator: ".", omittingEmptySubsequences: false)
        let asked = requested.split(separator: ".", omittingEmptySubsequences: false)
        guard granted.count == 3, asked.count == 3 else { return false }
        return zip(granted, asked).allSatisfy { $0 == "*" || $0 == $1 }
    }
}
