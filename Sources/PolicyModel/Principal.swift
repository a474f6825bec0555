/// A user or service account; it belongs to exactly one organization, and its name is unique
/// there.
public struct Principal: Hashable, Sendable {
    /// The principal's identity.
    public var reference: PrincipalReference
    /// Whether it is a person or a workload.
    public var kind: PrincipalKind
    /// When it was created.
    public var createdAt: Timestamp
    /// The revision of its last change.
    public var revision: UInt64

    /// Creates a principal record.
    public init(reference: PrincipalReference, kind: PrincipalKind, createdAt: Timestamp, revision: UInt64) {
        self.reference = reference
        self.kind = kind
        self.createdAt = createdAt
        self.revision = revision
    }
}

/// The two kinds of principal.
public enum PrincipalKind: UInt8, Hashable, Sendable, CaseIterable {
    /// A person.
    case user = 1
    /// A workload.
    case serviceAccount = 2
}

/// Names a principal: its organization and its name there.
public struct PrincipalReference: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The principal's organization.
    public var organization: Name
    /// The principal's name within it.
    public var name: Name

    /// Creates a reference.
    public init(organization: Name, name: Name) {
        self.organization = organization
        self.name = name
    }

    public static func < (lhs: PrincipalReference, rhs: PrincipalReference) -> Bool {
        (lhs.organization, lhs.name) < (rhs.organization, rhs.name)
    }

    public var description: String { "\(organization)/\(name)" }
}
