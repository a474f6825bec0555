/// Grants a role to a principal at a scope. A binding never crosses organizations: the scope,
/// the principal and a custom role all belong to the same organization.
public struct RoleBinding: Hashable, Sendable {
    /// The binding's identifier.
    public var id: EntityID
    /// Who is granted the role.
    public var principal: PrincipalReference
    /// The role granted.
    public var role: RoleReference
    /// Where it applies.
    public var scope: Scope
    /// When it was created.
    public var createdAt: Timestamp
    /// The revision that created it.
    public var revision: UInt64

    /// Creates a binding record.
    public init(id: EntityID, principal: PrincipalReference, role: RoleReference, scope: Scope, createdAt: Timestamp, revision: UInt64) {
        self.id = id
        self.principal = principal
        self.role = role
        self.scope = scope
        self.createdAt = createdAt
        self.revision = revision
    }
}
