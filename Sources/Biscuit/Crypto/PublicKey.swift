import Crypto

/// The signature algorithms of keys. Raw values are the format's codes.
public enum Algorithm: Int32, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// Ed25519: 32-byte keys, 64-byte signatures.
    case ed25519 = 0
    /// ECDSA on P-256 with SHA-256: 33-byte compressed keys, DER signatures.
    case secp256r1 = 1

    /// The name in a key's text form.
    public var description: String {
        switch self {
        case .ed25519: return "ed25519"
        case .secp256r1: return "secp256r1"
        }
    }
}

/// A public key: a root key, the next key of a block, or a third party's key. Its bytes are
/// checked to be a key of its algorithm when it is made.
public struct PublicKey: Hashable, Sendable, CustomStringConvertible {
    /// The algorithm.
    public let algorithm: Algorithm
    /// The key's bytes: 32 for Ed25519, 33 (compressed SEC1) for P-256.
    public let bytes: [UInt8]

    /// A key from its algorithm and bytes.
    /// - Throws: `BiscuitError.format(.invalidKey)` when they are not a key of the algorithm.
    public init(algorithm: Algorithm, bytes: [UInt8]) throws(BiscuitError) {
        switch algorithm {
        case .ed25519:
            guard bytes.count == 32, Ed25519Point.isValid(bytes) else {
                throw .format(.invalidKey("not an Ed25519 public key: \(bytes.count == 32 ? "not a point of the curve" : "\(bytes.count) bytes")"))
            }
            self.bytes = bytes
        case .secp256r1:
            // The reference reads any SEC1 encoding and writes the compressed one.
            let key: P256.Signing.PublicKey
            do {
                key = try P256.Signing.PublicKey(x963Representation: bytes)
            } catch {
                do {
                    key = try P256.Signing.PublicKey(compressedRepresentation: bytes)
                } catch {
                    throw .format(.invalidKey("not a P-256 public key (\(bytes.count) bytes)"))
                }
            }
            self.bytes = Array(key.compressedRepresentation)
        }
        self.algorithm = algorithm
    }

    /// A key that signs the next block of a token: its length is checked, not whether an
    /// Ed25519 key is a point of the curve (that costs tens of microseconds, and a key that is
    /// not fails to verify the next signature anyway).
    init(nextKey algorithm: Algorithm, bytes: [UInt8]) throws(BiscuitError) {
        if algorithm == .ed25519 {
            guard bytes.count == 32 else { throw .format(.invalidKey("an Ed25519 public key is 32 bytes, not \(bytes.count)")) }
            self.init(trusted: .ed25519, bytes: bytes)
        } else {
            try self.init(algorithm: algorithm, bytes: bytes)
        }
    }

    /// A key from its text form: `ed25519/<64 hex digits>` or `secp256r1/<66 hex digits>`.
    /// - Throws: `BiscuitError.format(.invalidKey)` when it is not one.
    public init(_ text: String) throws(BiscuitError) {
        let parts = text.split(separator: "/", maxSplits: 1)
        guard parts.count == 2, let algorithm = Algorithm.allCases.first(where: { $0.description == parts[0] }),
            let bytes = Hex.decode(parts[1])
        else {
            throw .format(.invalidKey("expected ed25519/<hex> or secp256r1/<hex>, got \"\(text.prefix(80))\""))
        }
        try self.init(algorithm: algorithm, bytes: bytes)
    }

    /// `ed25519/<hex>` or `secp256r1/<hex>`, lower-case.
    public var description: String { "\(algorithm)/\(Hex.encode(bytes))" }

    /// Whether `signature` is this key's signature of `message`.
    func verifies(_ signature: [UInt8], of message: [UInt8]) throws(BiscuitError) -> Bool {
        switch algorithm {
        case .ed25519:
            guard signature.count == 64 else {
                throw .format(.blockSignatureDeserialization("an Ed25519 signature is 64 bytes, not \(signature.count)"))
            }
            guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: bytes) else {
                throw .format(.invalidKey("not an Ed25519 public key"))
            }
            return key.isValidSignature(signature, for: message)
        case .secp256r1:
            let parsed: P256.Signing.ECDSASignature
            do {
                parsed = try P256.Signing.ECDSASignature(derRepresentation: signature)
            } catch {
                throw .format(.blockSignatureDeserialization("not a DER-encoded ECDSA signature (\(signature.count) bytes)"))
            }
            guard let key = try? P256.Signing.PublicKey(compressedRepresentation: bytes) else {
                throw .format(.invalidKey("not a P-256 public key"))
            }
            return key.isValidSignature(parsed, for: message)
        }
    }
}

/// Lower-case hexadecimal.
enum Hex {
    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var characters: [UInt8] = []
        for byte in bytes {
            characters.append(digits[Int(byte >> 4)])
            characters.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: characters, as: UTF8.self)
    }

    /// The bytes of an even number of hex digits (either case); nil for anything else.
    static func decode(_ text: some StringProtocol) -> [UInt8]? {
        let characters = Array(text.utf8)
        guard characters.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(characters.count / 2)
        var index = 0
        while index < characters.count {
            guard let high = value(characters[index]), let low = value(characters[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func value(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return character - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return character - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
