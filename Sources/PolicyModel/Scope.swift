/// Where a role binding applies, and what an authorization check is about. An organization
/// scope covers all of the organization's projects; the cluster scope covers everything.
public enum Scope: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The whole cluster (only for principals of the system organization).
    case cluster
    /// One organization and all its projects.
    case organization(Name)
    /// One project of one organization.
    case project(organization: Name, project: Name)

    /// The organization the scope is inside, if any.
    public var organization: Name? {
        switch self {
        case .cluster: return nil
        case .organization(let name): return name
        case .project(let organization, _): return organization
        }
    }

    /// Whether a binding at this scope applies to `resource`.
    public func covers(_ resource: Scope) -> Bool {
        switch (self, resource) {
        case (.cluster, _): return true
        case (.organization(let organization), _): return resource.organization == organization
        case (.project, _): return self == resource
        }
    }

    public var description: String {
        switch self {
        case .cluster: return "cluster"
        case .organization(let name): return "orgs/\(name)"
        case .project(let organization, let project): return "orgs/\(organization)/projects/\(project)"
        }
    }
}
