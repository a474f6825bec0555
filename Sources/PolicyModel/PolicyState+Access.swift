// Who may make which change: the permission every command needs and the scope it is checked
// on. The admin API checks it when a request arrives; the state machine checks it again when
// the command is applied, against the state at that revision, so a permission revoked in
// between stops the change on every replica alike.

/// The outcome of an access check at the API's level of detail.
public enum Access: Hashable, Sendable {
    /// The principal may act.
    case allowed
    /// The resource does not exist, and the principal may learn that (it could act where the
    /// resource would be: its organization, or the whole cluster).
    case notFound
    /// The principal may not act (or may not learn whether the resource exists).
    case forbidden
}

extension PolicyState {
    /// Whether `principal` may use `permission` on `scope`, with the two refinements the admin
    /// surface needs: a cluster-wide grant reaches a suspended organization (its administrators
    /// must be able to resume it), and a missing resource is `notFound` only for a principal
    /// allowed where it would be.
    public func access(_ principal: PrincipalReference, _ permission: Permission, on scope: Scope) -> Access {
        let decision = authorize(principal, permission, on: scope)
        if decision.allowed { return .allowed }
        switch decision.denial {
        case .unknownResource:
            var ancestors: [Scope] = [.cluster]
            if case .project(let organization, _) = scope, self.organization(organization) != nil {
                ancestors.insert(.organization(organization), at: 0)
            }
            return ancestors.contains { authorize(principal, permission, on: $0).allowed } ? .notFound : .forbidden
        case .resourceSuspended:
            return authorize(principal, permission, on: .cluster).allowed ? .allowed : .forbidden
        case .unknownPrincipal, .principalSuspended, .noMatchingBinding, .tokenChecksFailed, nil:
            return .forbidden
        }
    }

    /// The permissions `command` needs, each with the scope it is checked on.
    ///
    /// No escalation, one rule wherever what a principal may do can grow: the actor must hold
    /// every permission it makes reachable, at the scope where it becomes reachable.
    /// - Granting a role (a binding) needs every permission the role holds, at the binding's
    ///   scope.
    /// - Replacing a role's permissions needs every permission the new set adds (one no old
    ///   permission of the role already covers), at every scope the role is bound at.
    /// - Creating an API key for a principal hands over everything that principal may do, so it
    ///   needs every permission of every binding of that principal, at the binding's scope.
    ///
    /// Commands about entities that do not exist need nothing more here; applying them reports
    /// "not found".
    public func requiredAccess(for command: Command) -> [(Permission, Scope)] {
        switch command {
        case .createOrganization: return [(CommandPermission.organizationsCreate, .cluster)]
        case .setOrganizationSuspended: return [(CommandPermission.organizationsUpdate, .cluster)]
        case .deleteOrganization: return [(CommandPermission.organizationsDelete, .cluster)]
        case .createProject(let organization, _): return [(CommandPermission.projectsCreate, .organization(organization))]
        case .deleteProject(let organization, _, _): return [(CommandPermission.projectsDelete, .organization(organization))]
        case .createPrincipal(let principal, _): return [(CommandPermission.principalsCreate, .organization(principal.organization))]
        case .deletePrincipal(let principal, _): return [(CommandPermission.principalsDelete, .organization(principal.organization))]
        case .createRole(let organization, _, _): return [(CommandPermission.rolesCreate, .organization(organization))]
        case .updateRole(let organization, let name, let permissions):
            let reference = RoleReference.custom(organization: organization, name: name)
            return [(CommandPermission.rolesUpdate, .organization(organization))] + addedAccess(to: reference, permissions)
        case .deleteRole(let organization, _, _): return [(CommandPermission.rolesDelete, .organization(organization))]
        case .createBinding(_, _, let role, let scope):
            return [(CommandPermission.bindingsCreate, scope)] + (self.role(role)?.permissions.map { ($0, scope) } ?? [])
        case .deleteBinding(let id):
            guard let binding = binding(id) else { return [] }
            // A cluster-wide binding is removed only by who may remove bindings cluster-wide.
            return [(CommandPermission.bindingsDelete, binding.scope.organization.map { .organization($0) } ?? .cluster)]
        case .createAPIKey(_, let principal, _):
            return [(CommandPermission.apiKeysCreate, .organization(principal.organization))] + heldAccess(of: principal)
        case .revokeAPIKey(let id):
            guard let organization = apiKey(id)?.principal.organization else { return [] }
            return [(CommandPermission.apiKeysDelete, .organization(organization))]
        case .addRootKey, .activateRootKey, .retireRootKey, .revokeRootKey: return [(CommandPermission.keysRotate, .cluster)]
        case .revokeTokens(_, let organization, _, _):
            return [(CommandPermission.tokensRevoke, organization.map { .organization($0) } ?? .cluster)]
        case .revokeTokenEpoch(.principal(let principal), _, _): return [(CommandPermission.tokensRevoke, .organization(principal.organization))]
        case .revokeTokenEpoch(.organization(let name), _, _): return [(CommandPermission.tokensRevoke, .organization(name))]
        case .revokeTokenEpoch(.id, _, _): return [(CommandPermission.tokensRevoke, .cluster)]
        case .setPeerAddress, .removePeerAddress: return [(CommandPermission.clusterUpdate, .cluster)]
        // Refused with any actor before access is checked (`Command.isClusterOnly`).
        case .bootstrap, .breakGlass, .recordDenial, .expireRevocations: return []
        }
    }

    /// The first permission of `requiredAccess(for: command)` that `actor` does not hold at its
    /// scope, or nil when it holds them all. The admin API asks before it proposes a command
    /// (a refused request then changes nothing, not even the audit log); the state machine
    /// asks again when it applies it, against the state at that revision.
    public func missingAccess(of actor: PrincipalReference, for command: Command) -> (permission: Permission, scope: Scope)? {
        for (permission, scope) in requiredAccess(for: command) where access(actor, permission, on: scope) == .forbidden {
            return (permission, scope)
        }
        return nil
    }

    /// Checks the actor of a command against `requiredAccess` at this state. A command with no
    /// actor comes from the cluster itself (the bootstrap, proved with the cluster secret, and
    /// the leader's key maintenance) and needs nothing.
    func checkActor(of envelope: CommandEnvelope) throws(PolicyError) {
        guard let actor = envelope.actor, let missing = missingAccess(of: actor, for: envelope.command) else { return }
        throw .forbidden("\(actor) may not use \(missing.permission) on \(missing.scope)")
    }

    /// What replacing `reference`'s permissions with `permissions` makes reachable: each new
    /// permission that no current permission of the role covers, at each scope the role is
    /// bound at (in binding id order, each scope once).
    private func addedAccess(to reference: RoleReference, _ permissions: [Permission]) -> [(Permission, Scope)] {
        guard case .custom(let organization, _) = reference, let current = roles[reference] else { return [] }
        let added = permissions.filter { !current.grants($0) }
        guard !added.isEmpty else { return [] }
        var scopes: [Scope] = []
        for binding in bindings(in: organization) where binding.role == reference && !scopes.contains(binding.scope) {
            scopes.append(binding.scope)
        }
        return scopes.flatMap { scope in added.map { ($0, scope) } }
    }

    /// Everything `principal` may do: each permission of each of its bindings, at the binding's
    /// scope.
    private func heldAccess(of principal: PrincipalReference) -> [(Permission, Scope)] {
        bindings(of: principal).flatMap { binding in (role(binding.role)?.permissions ?? []).map { ($0, binding.scope) } }
    }
}

/// The permissions Rampart's own commands need (`PolicyState.requiredAccess`).
typealias CommandPermission = RampartPermission
