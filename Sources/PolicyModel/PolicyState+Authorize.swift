/// The answer to an authorization question.
public struct AuthorizationDecision: Hashable, Sendable {
    /// Whether the request is allowed.
    public var allowed: Bool
    /// The binding that allowed it.
    public var binding: RoleBinding?
    /// Why it was denied.
    public var denial: Denial?

    /// The reasons for a denial, most specific first.
    public enum Denial: String, Hashable, Sendable {
        /// The principal does not exist.
        case unknownPrincipal
        /// The principal's organization is suspended.
        case principalSuspended
        /// The resource's organization or project does not exist.
        case unknownResource
        /// The resource's organization is suspended.
        case resourceSuspended
        /// No binding of the principal grants the permission at the resource.
        case noMatchingBinding
        /// The principal's token has checks (its attenuation) the request does not meet.
        case tokenChecksFailed
    }

    /// A denial for `denial`.
    public static func deny(_ denial: Denial) -> AuthorizationDecision {
        AuthorizationDecision(allowed: false, binding: nil, denial: denial)
    }
}

extension PolicyState {
    /// Decides whether `principal` may use `permission` on `resource`. Deny by default; a
    /// binding at an organization covers its projects; the cluster scope covers everything;
    /// anything in a suspended organization is denied. The first matching binding in id order
    /// decides, so every replica names the same one.
    /// - Parameters:
    ///   - principal: who asks.
    ///   - permission: a concrete permission (no wildcards).
    ///   - resource: the cluster, an organization or a project.
    public func authorize(_ principal: PrincipalReference, _ permission: Permission, on resource: Scope)
        -> AuthorizationDecision
    {
        guard principals[principal] != nil, let home = organizations[principal.organization] else {
            return .deny(.unknownPrincipal)
        }
        if home.suspended { return .deny(.principalSuspended) }
        switch resource {
        case .cluster:
            break
        case .organization(let organization):
            guard let target = organizations[organization] else { return .deny(.unknownResource) }
            if target.suspended { return .deny(.resourceSuspended) }
        case .project(let organization, let project):
            guard let target = organizations[organization], projects[organization]?[project] != nil else {
                return .deny(.unknownResource)
            }
            if target.suspended { return .deny(.resourceSuspended) }
        }
        for id in bindingsByPrincipal[principal] ?? [] {
            guard let binding = bindings[id], binding.scope.covers(resource) else { continue }
            if role(binding.role)?.grants(permission) == true {
                return AuthorizationDecision(allowed: true, binding: binding, denial: nil)
            }
        }
        return .deny(.noMatchingBinding)
    }
}
