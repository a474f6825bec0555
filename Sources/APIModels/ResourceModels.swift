public import PolicyModel

/// A request body the API accepts: its JSON object may hold only `fields` (unknown fields are
/// refused, so a misspelt optional field is an error rather than silently ignored).
public protocol APIRequestBody: Codable, Sendable {
    /// The JSON keys the body may hold.
    static var fields: Set<String> { get }
}

extension CreateOrganizationRequest: APIRequestBody {
    public static let fields: Set<String> = ["name"]
}

extension MembershipRequest: APIRequestBody {
    public static let fields: Set<String> = ["action", "replica", "force", "peer_address", "auto_promote"]
}

extension TransferRequest: APIRequestBody {
    public static let fields: Set<String> = ["replica"]
}

/// `PATCH /v1/orgs/{org}`.
public struct UpdateOrganizationRequest: APIRequestBody {
    public static let fields: Set<String> = ["suspended"]
    /// Suspends (true) or resumes (false) the organization.
    public var suspended: Bool

    /// Creates the request.
    public init(suspended: Bool) {
        self.suspended = suspended
    }
}

/// `POST /v1/orgs/{org}/projects`.
public struct CreateProjectRequest: APIRequestBody {
    public static let fields: Set<String> = ["name"]
    /// The project's name.
    public var name: String

    /// Creates the request.
    public init(name: String) {
        self.name = name
    }
}

/// `POST /v1/orgs/{org}/principals`.
public struct CreatePrincipalRequest: APIRequestBody {
    public static let fields: Set<String> = ["name", "kind"]
    /// The principal's name.
    public var name: String
    /// `user` or `service_account`.
    public var kind: String

    /// Creates the request.
    public init(name: String, kind: String) {
        self.name = name
        self.kind = kind
    }
}

/// `POST /v1/orgs/{org}/roles` and `PUT /v1/orgs/{org}/roles/{role}`.
public struct RoleRequest: APIRequestBody {
    public static let fields: Set<String> = ["name", "permissions"]
    /// The role's name (ignored on update, where the path names it).
    public var name: String?
    /// Its permissions, `service.resource.verb` with `*` per segment.
    public var permissions: [String]

    /// Creates the request.
    public init(name: String?, permissions: [String]) {
        self.name = name
        self.permissions = permissions
    }
}

/// `POST /v1/orgs/{org}/bindings`.
public struct CreateBindingRequest: APIRequestBody {
    public static let fields: Set<String> = ["principal", "role", "project"]
    /// The principal's name (in the organization of the path).
    public var principal: String
    /// A built-in role (`org.admin`...) or the name of one of the organization's roles.
    public var role: String
    /// The project the binding is limited to; the whole organization when absent.
    public var project: String?

    /// Creates the request.
    public init(principal: String, role: String, project: String?) {
        self.principal = principal
        self.role = role
        self.project = project
    }
}

/// `POST /v1/authorize`.
public struct AuthorizeRequest: APIRequestBody {
    public static let fields: Set<String> = ["principal", "token", "permission", "organization", "project"]
    /// `org/name` of the principal asking; with a token, the principal the token must be
    /// issued to (optional then).
    public var principal: String?
    /// A Biscuit token Rampart issued, whose holder asks: verified, its checks run with the
    /// request's facts, and its principal decided against the current policy.
    public var token: String?
    /// The permission needed, without wildcards.
    public var permission: String
    /// The resource's organization.
    public var organization: String
    /// The resource's project, if the resource is in one.
    public var project: String?

    /// Creates the request.
    public init(principal: String?, token: String? = nil, permission: String, organization: String, project: String?) {
        self.principal = principal
        self.token = token
        self.permission = permission
        self.organization = organization
        self.project = project
    }
}

/// The answer to `POST /v1/authorize`.
public struct AuthorizeResponse: Codable, Sendable, Hashable {
    /// Whether the request is allowed.
    public var allowed: Bool
    /// The binding that allowed it.
    public var binding: String?
    /// Why it was denied.
    public var reason: String?
    /// The revision of the state that decided.
    public var revision: UInt64

    /// Creates the value.
    public init(allowed: Bool, binding: String?, reason: String?, revision: UInt64) {
        self.allowed = allowed
        self.binding = binding
        self.reason = reason
        self.revision = revision
    }
}

extension AuthorizeResponse {
    /// The response for `decision`, taken at `revision`.
    public init(_ decision: AuthorizationDecision, revision: UInt64) {
        self.init(allowed: decision.allowed, binding: decision.binding.map { "\($0.id)" }, reason: decision.denial?.rawValue, revision: revision)
    }
}

/// A project.
public struct ProjectResponse: Codable, Sendable, Hashable {
    public var organization: String
    public var name: String
    public var revision: UInt64

    /// Creates the value.
    public init(organization: String, name: String, revision: UInt64) {
        self.organization = organization
        self.name = name
        self.revision = revision
    }
}

/// A principal.
public struct PrincipalResponse: Codable, Sendable, Hashable {
    public var organization: String
    public var name: String
    public var kind: String
    public var revision: UInt64

    /// Creates the value.
    public init(organization: String, name: String, kind: String, revision: UInt64) {
        self.organization = organization
        self.name = name
        self.kind = kind
        self.revision = revision
    }
}

/// An API key (never its secret).
public struct APIKeyResponse: Codable, Sendable, Hashable {
    public var id: String
    public var principal: String
    public var revision: UInt64

    /// Creates the value.
    public init(id: String, principal: String, revision: UInt64) {
        self.id = id
        self.principal = principal
        self.revision = revision
    }
}

/// A new API key: the token is shown once and never stored.
public struct APIKeyCreatedResponse: Codable, Sendable, Hashable {
    public var id: String
    public var principal: String
    /// The bearer token `<id>.<secret>`.
    public var token: String
    public var revision: UInt64

    /// Creates the value.
    public init(id: String, principal: String, token: String, revision: UInt64) {
        self.id = id
        self.principal = principal
        self.token = token
        self.revision = revision
    }
}

/// A role.
public struct RoleResponse: Codable, Sendable, Hashable {
    /// The organization of a custom role; absent for built-in roles.
    public var organization: String?
    public var name: String
    public var builtIn: Bool
    public var permissions: [String]
    public var revision: UInt64

    enum CodingKeys: String, CodingKey {
        case organization, name, permissions, revision
        case builtIn = "built_in"
    }

    /// Creates the value.
    public init(organization: String?, name: String, builtIn: Bool, permissions: [String], revision: UInt64) {
        self.organization = organization
        self.name = name
        self.builtIn = builtIn
        self.permissions = permissions
        self.revision = revision
    }
}

/// A role binding.
public struct BindingResponse: Codable, Sendable, Hashable {
    public var id: String
    public var principal: String
    public var role: String
    public var scope: String
    public var revision: UInt64

    /// Creates the value.
    public init(id: String, principal: String, role: String, scope: String, revision: UInt64) {
        self.id = id
        self.principal = principal
        self.role = role
        self.scope = scope
        self.revision = revision
    }
}

/// A public root key.
public struct PublicKeyResponse: Codable, Sendable, Hashable {
    public var id: String
    /// The id a Biscuit token signed by this key carries (`rootKeyId`).
    public var rootKeyID: UInt32
    public var algorithm: String
    /// The Ed25519 public key, hex.
    public var publicKey: String
    /// `pending`, `active` or `retiring` (`retired` only in the answer that retired it).
    public var state: String
    /// When it is planned to leave the key set (RFC 3339); null while nothing plans it.
    public var retiresAt: String?

    enum CodingKeys: String, CodingKey {
        case id, algorithm, state
        case rootKeyID = "root_key_id"
        case publicKey = "public_key"
        case retiresAt = "retires_at"
    }

    /// Creates the value.
    public init(id: String, rootKeyID: UInt32, algorithm: String, publicKey: String, state: String, retiresAt: String? = nil) {
        self.id = id
        self.rootKeyID = rootKeyID
        self.algorithm = algorithm
        self.publicKey = publicKey
        self.state = state
        self.retiresAt = retiresAt
    }
}

/// One key of the Biscuit Web Key set (`GET /.well-known/biscuit-web-keys`), in the form the
/// Biscuit libraries read: the algorithm, the public key's bytes in hex, the key id a token
/// carries, the issuer, and when it stops verifying (RFC 3339), null while that is not planned.
public struct BiscuitWebKey: Codable, Sendable, Hashable {
    /// `ed25519`.
    public var algorithm: String
    /// The public key, hex.
    public var keyBytes: String
    /// The `rootKeyId` of the tokens it signs.
    public var keyID: UInt32
    /// Who issues the tokens it signs.
    public var issuer: String?
    /// When it stops verifying; nil while that is not planned.
    public var expiresAt: String?

    enum CodingKeys: String, CodingKey {
        case algorithm, issuer
        case keyBytes = "key_bytes"
        case keyID = "key_id"
        case expiresAt = "expires_at"
    }

    /// Creates the value.
    public init(algorithm: String, keyBytes: String, keyID: UInt32, issuer: String?, expiresAt: String?) {
        self.algorithm = algorithm
        self.keyBytes = keyBytes
        self.keyID = keyID
        self.issuer = issuer
        self.expiresAt = expiresAt
    }

    /// Writes every field, the absent ones as null (as the reference writes them).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(algorithm, forKey: .algorithm)
        try container.encode(keyBytes, forKey: .keyBytes)
        try container.encode(keyID, forKey: .keyID)
        try container.encode(issuer, forKey: .issuer)
        try container.encode(expiresAt, forKey: .expiresAt)
    }
}

/// The keys that verify Rampart's tokens: pending (published ahead of signing), active and
/// retiring.
public struct BiscuitWebKeySet: Codable, Sendable, Hashable {
    /// The keys, by key id.
    public var keys: [BiscuitWebKey]

    /// Creates the value.
    public init(keys: [BiscuitWebKey]) {
        self.keys = keys
    }
}

/// An audit record.
public struct AuditRecordResponse: Codable, Sendable, Hashable {
    public var sequence: UInt64
    public var revision: UInt64
    public var timeMilliseconds: Int64
    public var actor: String
    public var action: String
    public var target: String
    public var organization: String
    public var requestID: String
    public var outcome: String
    public var previousHash: String
    public var hash: String

    enum CodingKeys: String, CodingKey {
        case sequence, revision, actor, action, target, organization, outcome, hash
        case timeMilliseconds = "time_ms"
        case requestID = "request_id"
        case previousHash = "previous_hash"
    }

    /// The record in the API's form.
    public init(_ record: AuditRecord) {
        sequence = record.sequence
        revision = record.revision
        timeMilliseconds = record.time.millisecondsSinceEpoch
        actor = record.actor
        action = record.action
        target = record.target
        organization = record.organization
        requestID = record.requestID
        outcome = record.outcome
        previousHash = Hex.encode(record.previousHash)
        hash = Hex.encode(record.hash)
    }
}

/// One page of a listing.
public struct ListResponse<Item: Codable & Sendable>: Codable, Sendable {
    /// The items, in key order.
    public var items: [Item]
    /// Pass as `cursor` for the next page; absent on the last page.
    public var nextCursor: String?
    /// The revision the page reflects.
    public var revision: UInt64

    enum CodingKeys: String, CodingKey {
        case items, revision
        case nextCursor = "next_cursor"
    }

    /// Creates the value.
    public init(items: [Item], nextCursor: String?, revision: UInt64) {
        self.items = items
        self.nextCursor = nextCursor
        self.revision = revision
    }
}

/// `POST /v1/tokens`: a Biscuit token for the caller. Both fields are optional, and so is the
/// body.
public struct IssueTokenRequest: APIRequestBody {
    public static let fields: Set<String> = ["ttl_seconds", "attenuation"]
    /// How long the token lives, in seconds (at most the server's `token_max_ttl_seconds`, the
    /// default too).
    public var ttlSeconds: Int?
    /// Blocks of Datalog appended to the token at issue (each one attenuates it: its checks
    /// must hold too).
    public var attenuation: [String]?

    enum CodingKeys: String, CodingKey {
        case attenuation
        case ttlSeconds = "ttl_seconds"
    }

    /// Creates the request.
    public init(ttlSeconds: Int? = nil, attenuation: [String]? = nil) {
        self.ttlSeconds = ttlSeconds
        self.attenuation = attenuation
    }
}

/// A token issued by `POST /v1/tokens`.
public struct TokenResponse: Codable, Sendable, Hashable {
    /// The token, base64url.
    public var token: String
    /// The id of the root key that signed it (`key_id` in the Biscuit Web Key set).
    public var rootKeyID: UInt32
    /// When it stops being valid (RFC 3339).
    public var expiresAt: String
    /// Its blocks' revocation ids, hex, authority block first.
    public var revocationIDs: [String]
    /// The revision of the state it was decided at.
    public var revision: UInt64
    /// What the caller asked for and did not get as asked (a life cut to the server's maximum or
    /// to the life of the presenting token); absent when none.
    public var warnings: [String]?

    enum CodingKeys: String, CodingKey {
        case token, revision, warnings
        case rootKeyID = "root_key_id"
        case expiresAt = "expires_at"
        case revocationIDs = "revocation_ids"
    }

    /// Creates the value.
    public init(token: String, rootKeyID: UInt32, expiresAt: String, revocationIDs: [String], revision: UInt64, warnings: [String]? = nil) {
        self.token = token
        self.rootKeyID = rootKeyID
        self.expiresAt = expiresAt
        self.revocationIDs = revocationIDs
        self.revision = revision
        self.warnings = warnings
    }
}

/// `POST /v1/tokens/revoke`: exactly one of `token` (its last block's revocation id is
/// revoked: that token and what was made from it), `revocation_ids` (hex), `principal`
/// (`org/name`: every token it was issued up to now), `organization` (every token of its
/// principals issued up to now) or `certificate` (a client certificate, PEM, until it
/// expires), with an optional reason.
public struct RevokeTokensRequest: APIRequestBody {
    public static let fields: Set<String> = ["token", "revocation_ids", "principal", "organization", "certificate", "reason"]
    public var token: String?
    public var revocationIDs: [String]?
    /// A client certificate (PEM) to revoke: it no longer authenticates, until it expires.
    public var certificate: String?
    public var principal: String?
    public var organization: String?
    public var reason: String?

    enum CodingKeys: String, CodingKey {
        case token, principal, organization, certificate, reason
        case revocationIDs = "revocation_ids"
    }

    /// Creates the request.
    public init(
        token: String? = nil, revocationIDs: [String]? = nil, principal: String? = nil, organization: String? = nil, certificate: String? = nil,
        reason: String? = nil
    ) {
        self.certificate = certificate
        self.token = token
        self.revocationIDs = revocationIDs
        self.principal = principal
        self.organization = organization
        self.reason = reason
    }
}

/// One entry of the revocation list (`GET /v1/revocations`, and the answer to a revocation).
public struct RevocationResponse: Codable, Sendable, Hashable {
    /// `id`, `principal` or `organization`.
    public var kind: String
    /// The revoked revocation id (hex), for `id`.
    public var revocationID: String?
    /// The principal (`org/name`) whose tokens issued up to `revoked_at` are revoked.
    public var principal: String?
    /// The organization whose principals' tokens issued up to `revoked_at` are revoked.
    public var organization: String?
    /// Why.
    public var reason: String
    /// When it was revoked (RFC 3339).
    public var revokedAt: String
    /// When it leaves the list: no token it names is valid after it (RFC 3339).
    public var expiresAt: String
    /// The revision that wrote it.
    public var revision: UInt64

    enum CodingKeys: String, CodingKey {
        case kind, principal, organization, reason, revision
        case revocationID = "revocation_id"
        case revokedAt = "revoked_at"
        case expiresAt = "expires_at"
    }

    /// Creates the value.
    public init(
        kind: String, revocationID: String?, principal: String?, organization: String?, reason: String, revokedAt: String, expiresAt: String,
        revision: UInt64
    ) {
        self.kind = kind
        self.revocationID = revocationID
        self.principal = principal
        self.organization = organization
        self.reason = reason
        self.revokedAt = revokedAt
        self.expiresAt = expiresAt
        self.revision = revision
    }
}

/// A page of the revocation feed (`GET /v1/revocations?since=N`).
public struct RevocationsPage: Codable, Sendable, Hashable {
    /// The revocations written after `since`, oldest first.
    public var items: [RevocationResponse]
    /// The `since` of the next page: the last item's revision (or `since` when there was none).
    public var nextSince: UInt64
    /// Whether more revocations follow (ask again with `next_since` at once).
    public var more: Bool
    /// The oldest `since` the feed still serves completely (revocations that expired at or
    /// before it are gone).
    public var floor: UInt64
    /// The revision the page reflects.
    public var revision: UInt64

    enum CodingKeys: String, CodingKey {
        case items, more, floor, revision
        case nextSince = "next_since"
    }

    /// Creates the value.
    public init(items: [RevocationResponse], nextSince: UInt64, more: Bool, floor: UInt64, revision: UInt64) {
        self.items = items
        self.nextSince = nextSince
        self.more = more
        self.floor = floor
        self.revision = revision
    }
}

/// The answer to `POST /v1/tokens/revoke`.
public struct RevokeTokensResponse: Codable, Sendable, Hashable {
    /// What was revoked.
    public var revoked: [RevocationResponse]
    /// The revision of the revocation: a replica that has applied it refuses the tokens.
    public var revision: UInt64

    /// Creates the value.
    public init(revoked: [RevocationResponse], revision: UInt64) {
        self.revoked = revoked
        self.revision = revision
    }
}

/// One line of the change stream (`GET /v1/watch`, JSON lines): a committed change, or, when
/// nothing changed for a while, how far the replica has applied.
public struct WatchEvent: Codable, Sendable, Hashable {
    /// `change` or `progress`.
    public var type: String
    /// The change's revision; for `progress`, the revision the replica has applied (every change
    /// up to it was sent).
    public var revision: UInt64
    /// The change's audit sequence number.
    public var sequence: UInt64?
    /// When the change was made (RFC 3339, milliseconds, UTC).
    public var time: String?
    /// Who made it (`org/name`).
    public var actor: String?
    /// What it was (`organization.create`, `binding.delete`...: the audit log's actions).
    public var action: String?
    /// What it changed (`orgs/acme/principals/alice`...).
    public var target: String?
    /// The organization it belongs to.
    public var organization: String?
    /// The request that made it.
    public var requestID: String?

    /// A change.
    public init(_ record: AuditRecord, time: String) {
        type = "change"
        revision = record.revision
        sequence = record.sequence
        self.time = time
        actor = record.actor
        action = record.action
        target = record.target
        organization = record.organization
        requestID = record.requestID
    }

    /// A progress line.
    public init(progress revision: UInt64) {
        type = "progress"
        self.revision = revision
    }

    enum CodingKeys: String, CodingKey {
        case type, revision, sequence, time, actor, action, target, organization
        case requestID = "request_id"
    }
}
