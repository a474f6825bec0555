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
        case .unknownPrincipal, .principalSuspended, .noMatchingBinding, nil:
            return .forbidden
        }
    }

    /// The permissions `command` needs, each with the scope it is checked on. Granting a role
    /// also needs every permission the role holds, at the binding's scope: no one grants more
    /// than they have. Commands about entities that do not exist need nothing here; applying
    /// them reports "not found".
    public func requiredAccess(for command: Command) -> [(Permission, Scope)] {
        func need(_ text: String, _ scope: Scope) -> (Permission, Scope) { (Permission(trusted: text), scope) }
        switch command {
        case .createOrganization: return [need("iam.organizations.create", .cluster)]
        case .setOrganizationSuspended: return [need("iam.organizations.update", .cluster)]
        case .deleteOrganization: return [need("iam.organizations.delete", .cluster)]
        case .createProject(let organization, _): return [need("iam.projects.create", .organization(organization))]
        case .deleteProject(let organization, _, _): return [need("iam.projects.delete", .organization(organization))]
        case .createPrincipal(let principal, _): return [need("iam.principals.create", .organization(principal.organization))]
        case .deletePrincipal(let principal, _): return [need("iam.principals.delete", .organization(principal.organization))]
        case .createRole(let organization, _, _): return [need("iam.roles.create", .organization(organization))]
        case .updateRole(let organization, _, _): return [need("iam.roles.update", .organization(organization))]
        case .deleteRole(let organization, _, _): return [need("iam.roles.delete", .organization(organization))]
        case .createBinding(_, _, let role, let scope):
            return [need("iam.bindings.create", scope)] + (self.role(role)?.permissions.map { ($0, scope) } ?? [])
        case .deleteBinding(let id):
            guard let organization = binding(id)?.scope.organization else { return [] }
            return [need("iam.bindings.delete", .organization(organization))]
        case .createAPIKey(_, let principal, _): return [need("iam.apikeys.create", .organization(principal.organization))]
        case .revokeAPIKey(let id):
            guard let organization = apiKey(id)?.principal.organization else { return [] }
            return [need("iam.apikeys.delete", .organization(organization))]
        case .addRootKey, .activateRootKey, .retireRootKey: return [need("rampart.keys.rotate", .cluster)]
        }
    }

    /// Checks the actor of a command against `requiredAccess` at this state. A command with no
    /// actor comes from the cluster itself (the bootstrap, proved with the cluster secret, and
    /// the leader's key maintenance) and needs nothing.
    func checkActor(of envelope: CommandEnvelope) throws(PolicyError) {
        guard let actor = envelope.actor else { return }
        for (permission, scope) in requiredAccess(for: envelope.command) where access(actor, permission, on: scope) == .forbidden {
            throw .forbidden("\(actor) may not use \(permission) on \(scope)")
        }
    }
}
