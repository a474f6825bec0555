/// An API key bound to a principal. Only a SHA-256 hash of its secret is kept; the secret is
/// shown once, when the key is created.
public struct APIKey: Hashable, Sendable {
    /// The key id (the public half of the credential).
    public var id: EntityID
    /// The principal the key authenticates as.
    public var principal: PrincipalReference
    /// SHA-256 of the secret.
    public var secretHash: [UInt8]
    /// When it was created.
    public var createdAt: Timestamp
    /// The revision of its last change.
    public var revision: UInt64

    /// Creates an API key record.
    public init(id: EntityID, principal: PrincipalReference, secretHash: [UInt8], createdAt: Timestamp, revision: UInt64) {
        self.id = id
        self.principal = principal
        self.secretHash = secretHash
        self.createdAt = createdAt
        self.revision = revision
    }

    /// The length of the secret's hash.
    public static let secretHashBytes = 32
}
