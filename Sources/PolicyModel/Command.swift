/// A replicated change to the policy state. It is fully determined before it is proposed:
/// generated ids, key material and the time are chosen by the proposing replica, so that every
/// replica applies it identically.
public enum Command: Hashable, Sendable {
    /// Creates an organization.
    case createOrganization(name: Name)
    /// Suspends or resumes an organization.
    case setOrganizationSuspended(name: Name, suspended: Bool)
    /// Deletes an organization; with projects, principals or roles left it needs `force`, which
    /// deletes them all.
    case deleteOrganization(name: Name, force: Bool)
    /// Creates a project.
    case createProject(organization: Name, name: Name)
    /// Deletes a project; with bindings left it needs `force`, which deletes them.
    case deleteProject(organization: Name, name: Name, force: Bool)
    /// Creates a principal.
    case createPrincipal(PrincipalReference, kind: PrincipalKind)
    /// Deletes a principal; with bindings or API keys left it needs `force`, which deletes them.
    case deletePrincipal(PrincipalReference, force: Bool)
    /// Creates a custom role.
    case createRole(organization: Name, name: Name, permissions: [Permission])
    /// Replaces a custom role's permissions.
    case updateRole(organization: Name, name: Name, permissions: [Permission])
    /// Deletes a custom role; with bindings left it needs `force`, which deletes them.
    case deleteRole(organization: Name, name: Name, force: Bool)
    /// Grants a role to a principal at a scope.
    case createBinding(id: EntityID, principal: PrincipalReference, role: RoleReference, scope: Scope)
    /// Removes a binding.
    case deleteBinding(id: EntityID)
    /// Adds an API key for a principal.
    case createAPIKey(id: EntityID, principal: PrincipalReference, secretHash: [UInt8])
    /// Deletes an API key.
    case revokeAPIKey(id: EntityID)
    /// Adds a root key in the pending state.
    case addRootKey(id: EntityID, publicKey: [UInt8], sealedPrivateKey: [UInt8])
    /// Makes a pending key active; the previously active key becomes retiring.
    case activateRootKey(id: EntityID)
    /// Retires a retiring key.
    case retireRootKey(id: EntityID)
    /// Revokes a root key at once (a compromise): it leaves the key set, so every token it
    /// signed is refused. When it was the active key, the newest pending key becomes active at
    /// once; with none, no key signs until a rotation publishes and activates one.
    case revokeRootKey(id: EntityID)
    /// Creates the cluster's first administrator, once per cluster: the principal
    /// `system/admin`, its cluster-wide `system.admin` binding, an API key, and the first root
    /// key, active at once, when the cluster has none. Only the cluster itself proposes it (it
    /// has no actor): the admin API does, after a one-time proof of the cluster secret.
    case bootstrap(admin: AdministratorKey, rootKey: RootKeyMaterial)
    /// The break-glass path: a new API key for `system/admin` in a bootstrapped cluster,
    /// re-creating the principal and its `system.admin` binding if they were deleted. Proposed
    /// only by the cluster itself, after a one-time proof of the cluster secret; audited.
    case breakGlass(admin: AdministratorKey)
    /// Records in the audit log that requests of a principal were refused (HTTP 403): a replica
    /// gathers its refusals and proposes one such command per distinct refusal at most every
    /// few seconds (`DenialLog` in the admin API), so that a flood of refusals leaves a bounded
    /// trace. It changes nothing else. Only the cluster itself proposes it.
    case recordDenial(DeniedAccess)
    /// Revokes tokens by revocation id (1 to `TokenRevocation.maxIDs` ids, `TokenRevocation`):
    /// the ids of a token of `organization` (whose `iam.tokens.revoke` it needs), or, with no
    /// organization, any ids (which need it at cluster scope). `expiresAt`, chosen by the
    /// proposing replica, is when no token it names can still be valid (the time plus the
    /// longest token life).
    case revokeTokens(ids: [[UInt8]], organization: Name?, reason: String, expiresAt: Timestamp)
    /// Revokes every token of a principal, or of an organization (the target), issued up to
    /// now; `expiresAt` as for `revokeTokens`.
    case revokeTokenEpoch(TokenRevocation.Target, reason: String, expiresAt: Timestamp)
    /// Drops the revocations that expired at the command's time from the list. Only the
    /// cluster itself (the leader's maintenance) proposes it.
    case expireRevocations
    /// Writes a replica's entry in the peer address book (`PeerAddress`): where its peers
    /// reach it, and whether the leader promotes it once it has caught up. Written before the
    /// replica is added as a learner, so that every replica can reach it when it joins.
    case setPeerAddress(replica: UInt64, address: String, autoPromote: Bool)
    /// Removes a replica's entry from the peer address book (after the replica left).
    case removePeerAddress(replica: UInt64)

    /// The action name recorded in the audit log.
    public var action: String {
        switch self {
        case .createOrganization: return "organization.create"
        case .setOrganizationSuspended(_, let suspended): return suspended ? "organization.suspend" : "organization.resume"
        case .deleteOrganization: return "organization.delete"
        case .createProject: return "project.create"
        case .deleteProject: return "project.delete"
        case .createPrincipal: return "principal.create"
        case .deletePrincipal: return "principal.delete"
        case .createRole: return "role.create"
        case .updateRole: return "role.update"
        case .deleteRole: return "role.delete"
        case .createBinding: return "binding.create"
        case .deleteBinding: return "binding.delete"
        case .createAPIKey: return "apikey.create"
        case .revokeAPIKey: return "apikey.revoke"
        case .addRootKey: return "rootkey.add"
        case .activateRootKey: return "rootkey.activate"
        case .retireRootKey: return "rootkey.retire"
        case .revokeRootKey: return "rootkey.revoke"
        case .bootstrap: return "cluster.bootstrap"
        case .breakGlass: return "cluster.break-glass"
        case .recordDenial: return "access.denied"
        case .revokeTokens, .revokeTokenEpoch: return "tokens.revoke"
        case .expireRevocations: return "tokens.revocations-expire"
        case .setPeerAddress: return "cluster.peer-address.set"
        case .removePeerAddress: return "cluster.peer-address.remove"
        }
    }

    /// The target recorded in the audit log. Never contains a secret.
    public var target: String {
        switch self {
        case .createOrganization(let name), .setOrganizationSuspended(let name, _), .deleteOrganization(let name, _):
            return Scope.organization(name).description
        case .createProject(let organization, let name), .deleteProject(let organization, let name, _):
            return Scope.project(organization: organization, project: name).description
        case .createPrincipal(let principal, _), .deletePrincipal(let principal, _):
            return "orgs/\(principal.organization)/principals/\(principal.name)"
        case .createRole(let organization, let name, _), .updateRole(let organization, let name, _),
            .deleteRole(let organization, let name, _):
            return "orgs/\(organization)/roles/\(name)"
        case .createBinding(let id, _, _, _), .deleteBinding(let id):
            return "bindings/\(id)"
        case .createAPIKey(let id, _, _), .revokeAPIKey(let id):
            return "apikeys/\(id)"
        case .addRootKey(let id, _, _), .activateRootKey(let id), .retireRootKey(let id), .revokeRootKey(let id):
            return "keys/\(id)"
        case .bootstrap(let admin, _), .breakGlass(let admin):
            return "apikeys/\(admin.keyID)"
        case .recordDenial(let denied):
            return "\(denied.permission) on \(denied.scope) (\(denied.count) \(denied.count == 1 ? "request" : "requests"))"
        case .revokeTokens(let ids, _, _, _):
            let first = TokenRevocation.Target.id(ids.first ?? []).description
            return ids.count > 1 ? "\(first) and \(ids.count - 1) more" : first
        case .revokeTokenEpoch(let target, _, _):
            return target.description
        case .expireRevocations:
            return "tokens/revocations"
        case .setPeerAddress(let replica, let address, _):
            return "replicas/\(replica) at \(address)"
        case .removePeerAddress(let replica):
            return "replicas/\(replica)"
        }
    }

    /// The organization the command is about, for audit filtering and tenancy checks.
    public var organization: Name? {
        switch self {
        case .createOrganization(let name), .setOrganizationSuspended(let name, _), .deleteOrganization(let name, _):
            return name
        case .createProject(let organization, _), .deleteProject(let organization, _, _),
            .createRole(let organization, _, _), .updateRole(let organization, _, _), .deleteRole(let organization, _, _):
            return organization
        case .createPrincipal(let principal, _), .deletePrincipal(let principal, _),
            .createBinding(_, let principal, _, _), .createAPIKey(_, let principal, _):
            return principal.organization
        case .bootstrap, .breakGlass:
            return Organization.systemName
        case .recordDenial(let denied):
            return denied.scope.organization ?? denied.principal.organization
        case .revokeTokenEpoch(.principal(let principal), _, _):
            return principal.organization
        case .revokeTokenEpoch(.organization(let name), _, _):
            return name
        case .revokeTokens(_, let organization, _, _):
            return organization
        case .revokeTokenEpoch(.id, _, _), .expireRevocations:
            return nil
        case .deleteBinding, .revokeAPIKey, .addRootKey, .activateRootKey, .retireRootKey, .revokeRootKey:
            return nil
        case .setPeerAddress, .removePeerAddress:
            return nil
        }
    }

    /// The command with the values the proposing replica generates for it (ids, secrets, key
    /// material) blanked: what its client asked for, which a retry asks for again.
    var withoutGeneratedValues: Command {
        let none = EntityID(high: 0, low: 0)
        let admin = AdministratorKey(keyID: none, secretHash: [], bindingID: none)
        switch self {
        case .createBinding(_, let principal, let role, let scope): return .createBinding(id: none, principal: principal, role: role, scope: scope)
        case .createAPIKey(_, let principal, _): return .createAPIKey(id: none, principal: principal, secretHash: [])
        case .addRootKey: return .addRootKey(id: none, publicKey: [], sealedPrivateKey: [])
        case .bootstrap: return .bootstrap(admin: admin, rootKey: RootKeyMaterial(id: none, publicKey: [], sealedPrivateKey: []))
        case .breakGlass: return .breakGlass(admin: admin)
        default: return self
        }
    }

    /// Whether it creates something (so no expected revision applies to it).
    public var isCreation: Bool {
        switch self {
        case .createOrganization, .createProject, .createPrincipal, .createRole, .createBinding, .createAPIKey, .addRootKey, .bootstrap,
            .breakGlass, .recordDenial, .revokeTokens, .revokeTokenEpoch, .expireRevocations:
            return true
        case .setPeerAddress, .removePeerAddress:
            return false
        case .setOrganizationSuspended, .deleteOrganization, .deleteProject, .deletePrincipal, .updateRole, .deleteRole, .deleteBinding,
            .revokeAPIKey, .activateRootKey, .retireRootKey, .revokeRootKey:
            return false
        }
    }

    /// Whether only the cluster itself may propose it (with no actor).
    public var isClusterOnly: Bool {
        switch self {
        case .bootstrap, .breakGlass, .recordDenial, .expireRevocations: return true
        default: return false
        }
    }
}

/// Refused requests of one principal for one permission on one scope, for one reason, counted
/// over a few seconds on one replica (`Command.recordDenial`).
public struct DeniedAccess: Hashable, Sendable {
    /// Why requests are refused.
    public enum Reason: UInt8, Hashable, Sendable, CaseIterable {
        /// The principal does not hold the permission the request needs there.
        case lacksPermission = 1
        /// The request would grant a permission the principal does not hold there (no
        /// escalation).
        case cannotGrant = 2

        /// The audit log's word for it.
        public var code: String {
            switch self {
            case .lacksPermission: return "lacks_permission"
            case .cannotGrant: return "cannot_grant"
            }
        }
    }

    /// The most requests one record counts (more are counted in the next one).
    public static let maxCount: UInt64 = 1 << 32

    /// The refused principal.
    public var principal: PrincipalReference
    /// The permission it lacked.
    public var permission: Permission
    /// Where it lacked it.
    public var scope: Scope
    /// Why it was refused.
    public var reason: Reason
    /// How many requests were refused (1 to `maxCount`).
    public var count: UInt64

    /// Creates the record.
    public init(principal: PrincipalReference, permission: Permission, scope: Scope, reason: Reason, count: UInt64) {
        self.principal = principal
        self.permission = permission
        self.scope = scope
        self.reason = reason
        self.count = count
    }
}

/// The credential `bootstrap` and `breakGlass` give the cluster's administrator,
/// `system/admin`: an API key (its id and the hash of its secret, chosen by the proposing
/// replica) and the id of its `system.admin` binding, used if the binding must be created.
public struct AdministratorKey: Hashable, Sendable {
    /// The administrator principal.
    public static let principal = PrincipalReference(organization: Organization.systemName, name: Name(trusted: "admin"))

    /// The API key's id.
    public var keyID: EntityID
    /// SHA-256 of the key's secret.
    public var secretHash: [UInt8]
    /// The id of the administrator's `system.admin` binding, should it be created.
    public var bindingID: EntityID

    /// Creates the credential.
    public init(keyID: EntityID, secretHash: [UInt8], bindingID: EntityID) {
        self.keyID = keyID
        self.secretHash = secretHash
        self.bindingID = bindingID
    }
}

/// A root key as the proposing replica generated it: its id, its public key and its private
/// key sealed under the key-encryption key.
public struct RootKeyMaterial: Hashable, Sendable {
    /// The key id.
    public var id: EntityID
    /// The Ed25519 public key.
    public var publicKey: [UInt8]
    /// The sealed private key.
    public var sealedPrivateKey: [UInt8]

    /// Creates the material.
    public init(id: EntityID, publicKey: [UInt8], sealedPrivateKey: [UInt8]) {
        self.id = id
        self.publicKey = publicKey
        self.sealedPrivateKey = sealedPrivateKey
    }
}

/// A command with everything that travels with it through the log.
public struct CommandEnvelope: Hashable, Sendable {
    /// The change.
    public var command: Command
    /// The authenticated principal that asked for it (nil for the bootstrap).
    public var actor: PrincipalReference?
    /// The request id, for tracing and for resolving timed-out requests from the audit log.
    public var requestID: String
    /// When present, a retry with the same key within the idempotency window is applied at most
    /// once and answered with the first result.
    public var idempotencyKey: String?
    /// When present, the command applies only if the target's revision equals it (`If-Match`).
    public var expectedRevision: UInt64?
    /// The time chosen by the proposing replica.
    public var time: Timestamp

    /// What makes two requests the same request for their idempotency key: the command, without
    /// the ids and secrets the proposing replica generates for it, and the expected revision
    /// (not the request id or the time, which a retry may change), as a
    /// 64-bit FNV-1a hash of their encoding, never 0. A key is scoped to its actor, so only an
    /// actor's own requests can collide; a collision would answer a request with the first
    /// outcome, as before fingerprints existed.
    public var fingerprint: UInt64 {
        var writer = ByteWriter()
        writer.command(command.withoutGeneratedValues)
        writer.optional(expectedRevision) { $0.varint($1) }
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in writer.bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        return hash == 0 ? 1 : hash
    }

    /// Creates an envelope.
    public init(
        command: Command, actor: PrincipalReference?, requestID: String, idempotencyKey: String? = nil,
        expectedRevision: UInt64? = nil, time: Timestamp
    ) {
        self.command = command
        self.actor = actor
        self.requestID = requestID
        self.idempotencyKey = idempotencyKey
        self.expectedRevision = expectedRevision
        self.time = time
    }
}
