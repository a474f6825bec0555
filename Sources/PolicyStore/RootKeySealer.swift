public import PolicyModel
internal import Crypto

/// Creates root keys and seals their private halves under the replicas' key-encryption key
/// (AES-256-GCM, with the key id as authenticated data so a sealed key cannot be swapped onto
/// another id). Used by the replica that proposes a key; apply only stores what it is given.
public struct RootKeySealer: Sendable {
    // Kept as bytes: `SymmetricKey` is not `Sendable`; one is built for each operation.
    private let keyEncryptionKeyBytes: [UInt8]

    private var keyEncryptionKey: SymmetricKey { SymmetricKey(data: keyEncryptionKeyBytes) }

    /// Creates a sealer.
    /// - Parameter keyEncryptionKey: 32 bytes, read by every replica from a local file.
    /// - Throws: `PolicyError.invalidArgument` for a key of another length.
    public init(keyEncryptionKey: [UInt8]) throws(PolicyError) {
        guard keyEncryptionKey.count == 32 else { throw .invalidArgument("the key-encryption key must be 32 bytes") }
        keyEncryptionKeyBytes = keyEncryptionKey
    }

    /// A new Ed25519 key pair: the public key and the sealed private key, ready for
    /// `Command.addRootKey`.
    public func generate(id: EntityID) throws(PolicyError) -> (publicKey: [UInt8], sealedPrivateKey: [UInt8]) {
        let privateKey = Curve25519.Signing.PrivateKey()
        return (Array(privateKey.publicKey.rawRepresentation), try seal(Array(privateKey.rawRepresentation), id: id))
    }

    /// Seals a private key for `id`.
    public func seal(_ privateKey: [UInt8], id: EntityID) throws(PolicyError) -> [UInt8] {
        do {
            let box = try AES.GCM.seal(privateKey, using: keyEncryptionKey, authenticating: Array(id.description.utf8))
            guard let combined = box.combined else { throw PolicyError.invalidState("sealing produced no output") }
            return Array(combined)
        } catch let error as PolicyError {
            throw error
        } catch {
            throw .invalidState("sealing failed")
        }
    }

    /// Opens a sealed private key of `id`.
    /// - Throws: `PolicyError.invalidArgument` when the key-encryption key or id does not match.
    public func open(_ sealed: [UInt8], id: EntityID) throws(PolicyError) -> [UInt8] {
        do {
            let box = try AES.GCM.SealedBox(combined: sealed)
            return Array(try AES.GCM.open(box, using: keyEncryptionKey, authenticating: Array(id.description.utf8)))
        } catch {
            throw .invalidArgument("the sealed key of \(id) does not open with this key-encryption key")
        }
    }

    /// Signs `message` with the sealed private key of `id`.
    public func sign(_ message: [UInt8], with sealed: [UInt8], id: EntityID) throws(PolicyError) -> [UInt8] {
        let raw = try open(sealed, id: id)
        do {
            return Array(try Curve25519.Signing.PrivateKey(rawRepresentation: raw).signature(for: message))
        } catch {
            throw .invalidArgument("the sealed key of \(id) is not an Ed25519 private key")
        }
    }

    /// Whether `signature` over `message` verifies with `publicKey`.
    public static func verify(_ signature: [UInt8], of message: [UInt8], publicKey: [UInt8]) -> Bool {
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: publicKey) else { return false }
        return key.isValidSignature(signature, for: message)
    }
}

extension RootKeySealer: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Never the key: a sealer printed (a service's description in a debug log) says only
    /// what it is.
    public var description: String { "RootKeySealer(key redacted)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}
