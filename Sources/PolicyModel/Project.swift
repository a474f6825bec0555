/// A tenancy unit inside an organization; its name is unique within the organization.
public struct Project: Hashable, Sendable {
    /// The owning organization.
    public var organization: Name
    /// The project's name.
    public var name: Name
    /// When it was created.
    public var createdAt: Timestamp
    /// The revision of its last change.
    public var revision: UInt64

    /// Creates a project record.
    public init(organization: Name, name: Name, createdAt: Timestamp, revision: UInt64) {
        self.organization = organization
        self.name = name
        self.createdAt = createdAt
        self.revision = revision
    }
}
