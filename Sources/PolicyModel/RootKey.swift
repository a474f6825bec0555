/// A root signing key (Ed25519). Its private half is stored only sealed (AES-GCM under the
/// replicas' key-encryption key); it never appears in a log line, a response or an audit record.
public struct RootKey: Hashable, Sendable {
    /// The key id.
    public var id: EntityID
    /// Where the key is in its life.
    public var state: RootKeyState
    /// The 32-byte Ed25519 public key.
    public var publicKey: [UInt8]
    /// The sealed private key.
    public var sealedPrivateKey: [UInt8]
    /// When it was added.
    public var createdAt: Timestamp
    /// The revision of its last change.
    public var revision: UInt64

    /// Creates a root key record.
    public init(id: EntityID, state: RootKeyState, publicKey: [UInt8], sealedPrivateKey: [UInt8], createdAt: Timestamp, revision: UInt64) {
        self.id = id
        self.state = state
        self.publicKey = publicKey
        self.sealedPrivateKey = sealedPrivateKey
        self.createdAt = createdAt
        self.revision = revision
    }

    /// The id a Biscuit token signed by this key carries (`rootKeyId`), so that a verifier
    /// picks the key without trying each one: the low 32 bits of the key's id. No two
    /// published keys share one (the state machine refuses such a key).
    public var biscuitKeyID: UInt32 { Self.biscuitKeyID(of: id) }

    /// The Biscuit key id of the key with id `id`.
    public static func biscuitKeyID(of id: EntityID) -> UInt32 {
        UInt32(truncatingIfNeeded: id.low)
    }

    /// The length of an Ed25519 public key.
    public static let publicKeyBytes = 32
    /// The most bytes of a sealed private key (nonce, ciphertext and tag with room to spare).
    public static let maxSealedPrivateKeyBytes = 256
}

/// The life of a root key: published for verification, then signing, then verifying only,
/// then gone from the key set. Exactly one key is active at any revision once one was activated.
public enum RootKeyState: UInt8, Hashable, Sendable, CaseIterable {
    /// Published for verification; not yet signing.
    case pending = 1
    /// Signs, and verifies.
    case active = 2
    /// Verifies only.
    case retiring = 3
    /// No longer published.
    case retired = 4
}
