import Crypto

/// A private key: a root key, the secret of a token's last block, or a third party's key.
/// Its bytes are checked to be a key of its algorithm when it is made; signing makes the key
/// object from them (signing is rare: issuing and attenuating).
public struct PrivateKey: Sendable {
    /// The algorithm.
    public let algorithm: Algorithm
    /// The key's bytes: a 32-byte Ed25519 seed, or a 32-byte big-endian P-256 scalar (secret:
    /// keep them out of logs).
    public let bytes: [UInt8]
    /// The public half.
    public let publicKey: PublicKey

    /// A new random key of `algorithm` (from the system's secure random source).
    public init(algorithm: Algorithm = .ed25519) {
        switch algorithm {
        case .ed25519:
            let key = Curve25519.Signing.PrivateKey()
            bytes = Array(key.rawRepresentation)
            publicKey = PublicKey(trusted: .ed25519, bytes: Array(key.publicKey.rawRepresentation))
        case .secp256r1:
            let key = P256.Signing.PrivateKey()
            bytes = Array(key.rawRepresentation)
            publicKey = PublicKey(trusted: .secp256r1, bytes: Array(key.publicKey.compressedRepresentation))
        }
        self.algorithm = algorithm
    }

    /// A key from its bytes: a 32-byte Ed25519 seed, or a 32-byte big-endian P-256 scalar.
    /// - Throws: `.format(.invalidKey)` when they are not a key of the algorithm.
    public init(algorithm: Algorithm, bytes: [UInt8]) throws(BiscuitError) {
        switch algorithm {
        case .ed25519:
            guard bytes.count == 32, let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: bytes) else {
                throw .format(.invalidKey("an Ed25519 private key is 32 bytes, not \(bytes.count)"))
            }
            publicKey = PublicKey(trusted: .ed25519, bytes: Array(key.publicKey.rawRepresentation))
        case .secp256r1:
            guard bytes.count == 32, let key = try? P256.Signing.PrivateKey(rawRepresentation: bytes) else {
                throw .format(.invalidKey("a P-256 private key is a 32-byte scalar in range, not \(bytes.count) bytes"))
            }
            publicKey = PublicKey(trusted: .secp256r1, bytes: Array(key.publicKey.compressedRepresentation))
        }
        self.algorithm = algorithm
        self.bytes = bytes
    }

    /// A key from its text form: `ed25519-private/<hex>` or `secp256r1-private/<hex>`.
    public init(_ text: String) throws(BiscuitError) {
        let parts = text.split(separator: "/", maxSplits: 1)
        guard parts.count == 2, let algorithm = Algorithm.allCases.first(where: { "\($0)-private" == parts[0] }),
            let bytes = Hex.decode(parts[1])
        else {
            throw .format(.invalidKey("expected ed25519-private/<hex> or secp256r1-private/<hex>"))
        }
        try self.init(algorithm: algorithm, bytes: bytes)
    }

    /// `ed25519-private/<hex>` or `secp256r1-private/<hex>` (secret).
    public var text: String { "\(algorithm)-private/\(Hex.encode(bytes))" }

    /// The signature of `message`: 64 bytes for Ed25519, DER for P-256 (ECDSA with SHA-256).
    func sign(_ message: [UInt8]) throws(BiscuitError) -> [UInt8] {
        do {
            switch algorithm {
            case .ed25519: return Array(try Curve25519.Signing.PrivateKey(rawRepresentation: bytes).signature(for: message))
            case .secp256r1: return Array(try P256.Signing.PrivateKey(rawRepresentation: bytes).signature(for: message).derRepresentation)
            }
        } catch {
            throw .format(.invalidSignature("cannot sign: \(error)"))
        }
    }
}

extension PublicKey {
    /// A key whose bytes come from a key object of the algorithm (not checked again).
    init(trusted algorithm: Algorithm, bytes: [UInt8]) {
        self.algorithm = algorithm
        self.bytes = bytes
    }
}
