/// `Biscuit`: the token container, the bytes a token is serialized to.
///
/// Field numbers: 1 `rootKeyId` (optional uint32), 2 `authority` (required), 3 `blocks`
/// (repeated), 4 `proof` (required).
struct BiscuitMessage: Hashable, Sendable {
    /// A hint for choosing the root public key that signed the authority block.
    var rootKeyID: UInt32?
    /// The first block, signed by the root key.
    var authority: SignedBlockMessage
    /// The blocks appended after the authority block, in order.
    var blocks: [SignedBlockMessage]
    /// The secret that allows appending, or the signature that seals the token.
    var proof: ProofMessage
}

extension BiscuitMessage: ProtoMessage {
    /// Decodes a `Biscuit`.
    init(decoding bytes: ArraySlice<UInt8>, depth: Int) throws(ProtobufError) {
        var reader = ProtoReader(bytes, messageName: "Biscuit")
        var rootKeyID: UInt32?
        var authority: ArraySlice<UInt8>?
        var blocks: [SignedBlockMessage] = []
        var proof: ArraySlice<UInt8>?
        while let tag = try reader.nextTag() {
            switch tag.fieldNumber {
            case 1: rootKeyID = try reader.readUInt32(tag, field: "rootKeyId")
            case 2: try reader.mergeMessage(tag, field: "authority", into: &authority)
            case 3: blocks.append(try reader.readElement(tag, field: "blocks", as: SignedBlockMessage.self, depth: depth))
            case 4: try reader.mergeMessage(tag, field: "proof", into: &proof)
            default: try reader.skipField(tag)
            }
        }
        self.init(
            rootKeyID: rootKeyID,
            authority: try .decodeRequired(authority, message: "Biscuit", field: "authority", depth: depth),
            blocks: blocks,
            proof: try .decodeRequired(proof, message: "Biscuit", field: "proof", depth: depth))
    }

    /// Writes a `Biscuit`'s fields.
    func encode(to writer: inout ProtoWriter) {
        if let rootKeyID { writer.writeUInt32(rootKeyID, field: 1) }
        writer.writeMessage(authority, field: 2)
        for block in blocks { writer.writeMessage(block, field: 3) }
        writer.writeMessage(proof, field: 4)
    }
}

/// `SignedBlock`: a block's bytes with the key for the next block and the signature over both.
///
/// Field numbers: 1 `block` (required bytes), 2 `nextKey` (required), 3 `signature` (required
/// bytes), 4 `externalSignature` (optional), 5 `version` (optional uint32).
struct SignedBlockMessage: Hashable, Sendable {
    /// The serialized `Block`: these exact bytes are signed, so they are kept, never re-encoded.
    var block: [UInt8]
    /// The public key of the next block's signer.
    var nextKey: PublicKeyMessage
    /// The signature of this block (Ed25519: 64 bytes; P-256: DER).
    var signature: [UInt8]
    /// A third party's signature, on third-party blocks only.
    var externalSignature: ExternalSignatureMessage?
    /// The signature payload's version; absent means 0. (Not the Datalog version.)
    var version: UInt32?
}

extension SignedBlockMessage: ProtoMessage {
    /// Decodes a `SignedBlock`.
    init(decoding bytes: ArraySlice<UInt8>, depth: Int) throws(ProtobufError) {
        var reader = ProtoReader(bytes, messageName: "SignedBlock")
        var block: [UInt8]?
        var nextKey: ArraySlice<UInt8>?
        var signature: [UInt8]?
        var externalSignature: ArraySlice<UInt8>?
        var version: UInt32?
        while let tag = try reader.nextTag() {
            switch tag.fieldNumber {
            case 1: block = try reader.readBytes(tag, field: "block")
            case 2: try reader.mergeMessage(tag, field: "nextKey", into: &nextKey)
            case 3: signature = try reader.readBytes(tag, field: "signature")
            case 4: try reader.mergeMessage(tag, field: "externalSignature", into: &externalSignature)
            case 5: version = try reader.readUInt32(tag, field: "version")
            default: try reader.skipField(tag)
            }
        }
        self.init(
            block: try requireField(block, message: "SignedBlock", field: "block"),
            nextKey: try .decodeRequired(nextKey, message: "SignedBlock", field: "nextKey", depth: depth),
            signature: try requireField(signature, message: "SignedBlock", field: "signature"),
            externalSignature: try .decodeOptional(externalSignature, depth: depth),
            version: version)
    }

    /// Writes a `SignedBlock`'s fields.
    func encode(to writer: inout ProtoWriter) {
        writer.writeBytes(block, field: 1)
        writer.writeMessage(nextKey, field: 2)
        writer.writeBytes(signature, field: 3)
        if let externalSignature { writer.writeMessage(externalSignature, field: 4) }
        if let version { writer.writeUInt32(version, field: 5) }
    }
}

/// `ExternalSignature`: a third party's signature of a block, and its key.
///
/// Field numbers: 1 `signature` (required bytes), 2 `publicKey` (required). It has no version
/// field: the payload's version is the enclosing `SignedBlock.version`.
struct ExternalSignatureMessage: Hashable, Sendable {
    /// The third party's signature.
    var signature: [UInt8]
    /// The third party's public key.
    var publicKey: PublicKeyMessage
}

extension ExternalSignatureMessage: ProtoMessage {
    /// Decodes an `ExternalSignature`.
    init(decoding bytes: ArraySlice<UInt8>, depth: Int) throws(ProtobufError) {
        var reader = ProtoReader(bytes, messageName: "ExternalSignature")
        var signature: [UInt8]?
        var publicKey: ArraySlice<UInt8>?
        while let tag = try reader.nextTag() {
            switch tag.fieldNumber {
            case 1: signature = try reader.readBytes(tag, field: "signature")
            case 2: try reader.mergeMessage(tag, field: "publicKey", into: &publicKey)
            default: try reader.skipField(tag)
            }
        }
        self.init(
            signature: try requireField(signature, message: "ExternalSignature", field: "signature"),
            publicKey: try .decodeRequired(publicKey, message: "ExternalSignature", field: "publicKey", depth: depth))
    }

    /// Writes an `ExternalSignature`'s fields.
    func encode(to writer: inout ProtoWriter) {
        writer.writeBytes(signature, field: 1)
        writer.writeMessage(publicKey, field: 2)
    }
}

/// `PublicKey`: an algorithm and a key's bytes.
///
/// Field numbers: 1 `algorithm` (required enum), 2 `key` (required bytes).
struct PublicKeyMessage: Hashable, Sendable {
    /// The raw `Algorithm` enum value: 0 is Ed25519, 1 is secp256r1 (P-256); others are kept
    /// for the token layer to refuse.
    var algorithm: Int32
    /// The key: Ed25519, 32 bytes; P-256, SEC1 (compressed, 33 bytes, when the reference writes it).
    var key: [UInt8]
}

extension PublicKeyMessage: ProtoMessage {
    /// Decodes a `PublicKey`.
    init(decoding bytes: ArraySlice<UInt8>, depth: Int) throws(ProtobufError) {
        var reader = ProtoReader(bytes, messageName: "PublicKey")
        var algorithm: Int32?
        var key: [UInt8]?
        while let tag = try reader.nextTag() {
            switch tag.fieldNumber {
            case 1: algorithm = try reader.readInt32(tag, field: "algorithm")
            case 2: key = try reader.readBytes(tag, field: "key")
            default: try reader.skipField(tag)
            }
        }
        self.init(
            algorithm: try requireField(algorithm, message: "PublicKey", field: "algorithm"),
            key: try requireField(key, message: "PublicKey", field: "key"))
    }

    /// Writes a `PublicKey`'s fields.
    func encode(to writer: inout ProtoWriter) {
        writer.writeInt32(algorithm, field: 1)
        writer.writeBytes(key, field: 2)
    }
}

/// `Proof`: what the holder keeps to append (the next secret key) or the seal.
///
/// A oneof `Content`: 1 `nextSecret` (bytes), 2 `finalSignature` (bytes). One must be present.
enum ProofMessage: Hashable, Sendable {
    /// The private key matching the last block's `nextKey`: the token can be attenuated.
    case nextSecret([UInt8])
    /// The signature that seals the token: no block can be appended.
    case finalSignature([UInt8])
}

extension ProofMessage: ProtoMessage {
    /// Decodes a `Proof`.
    init(decoding bytes: ArraySlice<UInt8>, depth: Int) throws(ProtobufError) {
        var reader = ProtoReader(bytes, messageName: "Proof")
        var content: ProofMessage?
        while let tag = try reader.nextTag() {
            switch tag.fieldNumber {
            case 1: content = .nextSecret(try reader.readBytes(tag, field: "nextSecret"))
            case 2: content = .finalSignature(try reader.readBytes(tag, field: "finalSignature"))
            default: try reader.skipField(tag)
            }
        }
        self = try requireField(content, message: "Proof", field: "content")
    }

    /// Writes a `Proof`'s fields.
    func encode(to writer: inout ProtoWriter) {
        switch self {
        case .nextSecret(let secret): writer.writeBytes(secret, field: 1)
        case .finalSignature(let signature): writer.writeBytes(signature, field: 2)
        }
    }
}
