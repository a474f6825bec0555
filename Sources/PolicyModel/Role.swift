/// A named set of permissions. Built-in roles are global; custom roles belong to one
/// organization and can be bound only inside it.
public struct Role: Hashable, Sendable {
    /// Which role this is.
    public var reference: RoleReference
    /// The permissions it grants, sorted and without duplicates.
    public var permissions: [Permission]
    /// The revision of its last change (0 for built-in roles).
    public var revision: UInt64

    /// Creates a role record.
    public init(reference: RoleReference, permissions: [Permission], revision: UInt64) {
        self.reference = reference
        self.permissions = Array(Set(permissions)).sorted()
        self.revision = revision
    }

    /// Whether the role grants `requested`.
    public func grants(_ requested: Permission) -> Bool {
        permissions.contains { $0.grants(requested) }
    }
}

/// Names a role: a built-in one, or a custom one of an organization.
public enum RoleReference: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// A built-in, global role.
    case builtIn(BuiltInRole)
    /// A custom role of an organization.
    case custom(organization: Name, name: Name)

    public var description: String {
        switch self {
        case .builtIn(let role): return role.rawValue
        case .custom(let organization, let name): return "\(organization)/\(name)"
        }
    }
}

/// The built-in roles and the scopes they may be bound at.
public enum BuiltInRole: String, Hashable, Comparable, Sendable, CaseIterable {
    /// Everything, everywhere. Cluster scope only.
    case systemAdmin = "system.admin"
    /// Reads every audit record. Cluster scope only.
    case systemAuditor = "system.auditor"
    /// Everything inside one organization.
    case organizationAdmin = "org.admin"
    /// Reads everything inside one organization except audit records.
    case organizationViewer = "org.viewer"
    /// Reads the audit records of one organization.
    case organizationAuditor = "org.auditor"
    /// Everything inside one project.
    case projectAdmin = "project.admin"
    /// Reads everything inside one project.
    case projectViewer = "project.viewer"

    /// The permissions the role grants.
    public var permissions: [Permission] { role.permissions }

    /// The role as a record (built once; authorization reads it on every check).
    public var role: Role { BuiltInRole.records[self]! }

    private static let records: [BuiltInRole: Role] = Dictionary(
        uniqueKeysWithValues: allCases.map { ($0, Role(reference: .builtIn($0), permissions: $0.definedPermissions, revision: 0)) })

    private var definedPermissions: [Permission] {
        switch self {
        case .systemAdmin, .organizationAdmin, .projectAdmin:
            return [Permission(trusted: "*.*.*")]
        case .systemAuditor, .organizationAuditor:
            return [Permission(trusted: "iam.audit.read")]
        case .organizationViewer, .projectViewer:
            return [Permission(trusted: "*.*.get"), Permission(trusted: "*.*.list")]
        }
    }

    /// Whether the role may be bound at `scope`.
    public func canBeBound(at scope: Scope) -> Bool {
        switch (self, scope) {
        case (.systemAdmin, .cluster), (.systemAuditor, .cluster): return true
        case (.organizationAdmin, .organization), (.organizationViewer, .organization),
            (.organizationAuditor, .organization):
            return true
        case (.projectAdmin, .project), (.projectViewer, .project): return true
        default: return false
        }
    }

    public static func < (lhs: BuiltInRole, rhs: BuiltInRole) -> Bool { lhs.rawValue < rhs.rawValue }
}
