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
        switch command {
        case .createOrganization: return [(CommandPermission.organizationsCreate, .cluster)]
        case .setOrganizationSuspended: return [(CommandPermission.organizationsUpdate, .cluster)]
        case .deleteOrganization: return [(CommandPermission.organizationsDelete, .cluster)]
        case .createProject(let organization, _): return [(CommandPermission.projectsCreate, .organization(organization))]
        case .deleteProject(let organization, _, _): return [(CommandPermission.projectsDelete, .organization(organization))]
        case .createPrincipal(let principal, _): return [(CommandPermission.principalsCreate, .organization(principal.organization))]
        case .deletePrincipal(let principal, _): return [(CommandPermission.principalsDelete, .organization(principal.organization))]
        case .createRole(let organization, _, _): return [(CommandPermission.rolesCreate, .organization(organization))]
        case .updateRole(let organization, _, _): return [(CommandPermission.rolesUpdate, .organization(organization))]
        case .deleteRole(let organization, _, _): return [(CommandPermission.rolesDelete, .organization(organization))]
        case .createBinding(_, _, let role, let scope):
            return [(CommandPermission.bindingsCreate, scope)] + (self.role(role)?.permissions.map { ($0, scope) } ?? [])
        case .deleteBinding(let id):
            guard let organization = binding(id)?.scope.organization else { return [] }
            return [(CommandPermission.bindingsDelete, .organization(organization))]
        case .createAPIKey(_, let principal, _): return [(CommandPermission.apiKeysCreate, .organization(principal.organization))]
        case .revokeAPIKey(let id):
            guard let organization = apiKey(id)?.principal.organization else { return [] }
            return [(CommandPermission.apiKeysDelete, .organization(organization))]
        case .addRootKey, .activateRootKey, .retireRootKey: return [(CommandPermission.keysRotate, .cluster)]
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

/// The permissions Rampart's own commands need (`PolicyState.requiredAccess`), parsed once:
/// every command on every replica is checked against them.
enum CommandPermission {
    static let apiKeysCreate = Permission(trusted: "iam.apikeys.create")
    static let apiKeysDelete = Permission(trusted: "iam.apikeys.delete")
    static let bindingsCreate = Permission(trusted: "iam.bindings.create")
    static let bindingsDelete = Permission(trusted: "iam.bindings.delete")
    static let organizationsCreate = Permission(trusted: "iam.organizations.create")
    static let organizationsDelete = Permission(trusted: "iam.organizations.delete")
    static let organizationsUpdate = Permission(trusted: "iam.organizations.update")
    static let principalsCreate = Permission(trusted: "iam.principals.create")
    static let principalsDelete = Permission(trusted: "iam.principals.delete")
    static let projectsCreate = Permission(trusted: "iam.projects.create")
    static let projectsDelete = Permission(trusted: "iam.projects.delete")
    static let rolesCreate = Permission(trusted: "iam.roles.create")
    static let rolesDelete = Permission(trusted: "iam.roles.delete")
    static let rolesUpdate = Permission(trusted: "iam.roles.update")
    static let keysRotate = Permission(trusted: "rampart.keys.rotate")
}
