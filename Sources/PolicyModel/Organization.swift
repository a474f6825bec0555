/// The tenant root. Its name is unique in the cluster. A suspended organization's principals
/// are denied everything, and nothing in it can be reached.
public struct Organization: Hashable, Sendable {
    /// The reserved organization of the cluster's operators; the only one whose principals may
    /// hold cluster-wide (`system.*`) roles. It cannot be deleted or suspended.
    public static let systemName = Name(trusted: "system")

    /// The organization's name.
    public var name: Name
    /// Whether it is suspended.
    public var suspended: Bool
    /// When it was created.
    public var createdAt: Timestamp
    /// The revision of its last change.
    public var revision: UInt64

    /// Creates an organization record.
    public init(name: Name, suspended: Bool = false, createdAt: Timestamp, revision: UInt64) {
        self.name = name
        self.suspended = suspended
        self.createdAt = createdAt
        self.revision = revision
    }
}
