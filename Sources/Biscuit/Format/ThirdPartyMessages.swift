/// `ThirdPartyBlockRequest`: what a token holder sends a third party to have a block signed.
///
/// Field numbers: 1 `legacyPreviousKey` (optional), 2 `legacyPublicKeys` (repeated),
/// 3 `previousSignature` (required bytes). The reference requires the legacy fields to be absent
/// and empty; that check belongs to the token layer.
struct ThirdPartyBlockRequestMessage: Hashable, Sendable {
    /// A legacy (v0) field: the previous block's next key. Must be absent.
    var legacyPreviousKey: PublicKeyMessage?
    /// A legacy (v0) field: the token's public keys. Must be empty.
    var legacyPublicKeys: [PublicKeyMessage]
    /// The signature of the token's last block, which the third party's signature binds.
    var previousSignature: [UInt8]
}

extension ThirdPartyBlockRequestMessage: ProtoMessage {
    /// Decodes a `ThirdPartyBlockRequest`.
    init(decoding bytes: ArraySlice<UInt8>, depth: Int) throws(ProtobufError) {
        var reader = ProtoReader(bytes, messageName: "ThirdPartyBlockRequest")
        var legacyPreviousKey: ArraySlice<UInt8>?
        var legacyPublicKeys: [PublicKeyMessage] = []
        var previousSignature: [UInt8]?
        while let tag = try reader.nextTag() {
            switch tag.fieldNumber {
            case 1: try reader.mergeMessage(tag, field: "legacyPreviousKey", into: &legacyPreviousKey)
            case 2:
                legacyPublicKeys.append(
                    try reader.readElement(tag, field: "legacyPublicKeys", as: PublicKeyMessage.self, depth: depth))
            case 3: previousSignature = try reader.readBytes(tag, field: "previousSignature")
            default: try reader.skipField(tag)
            }
        }
        self.init(
            legacyPreviousKey: try .decodeOptional(legacyPreviousKey, depth: depth),
            legacyPublicKeys: legacyPublicKeys,
            previousSignature: try requireField(
                previousSignature, message: "ThirdPartyBlockRequest", field: "previousSignature"))
    }

    /// Writes a `ThirdPartyBlockRequest`'s fields.
    func encode(to writer: inout ProtoWriter) {
        if let legacyPreviousKey { writer.writeMessage(legacyPreviousKey, field: 1) }
        for key in legacyPublicKeys { writer.writeMessage(key, field: 2) }
        writer.writeBytes(previousSignature, field: 3)
    }
}

/// `ThirdPartyBlockContents`: the block a third party signed, and its signature.
///
/// Field numbers: 1 `payload` (required bytes: a serialized `Block`), 2 `externalSignature`
/// (required).
struct ThirdPartyBlockContentsMessage: Hashable, Sendable {
    /// The serialized `Block` the third party signed; kept as bytes, never re-encoded.
    var payload: [UInt8]
    /// The third party's signature and key.
    var externalSignature: ExternalSignatureMessage
}

extension ThirdPartyBlockContentsMessage: ProtoMessage {
    /// Decodes a `ThirdPartyBlockContents`.
    init(decoding bytes: ArraySlice<UInt8>, depth: Int) throws(ProtobufError) {
        var reader = ProtoReader(bytes, messageName: "ThirdPartyBlockContents")
        var payload: [UInt8]?
        var externalSignature: ArraySlice<UInt8>?
        while let tag = try reader.nextTag() {
            switch tag.fieldNumber {
            case 1: payload = try reader.readBytes(tag, field: "payload")
            case 2: try reader.mergeMessage(tag, field: "externalSignature", into: &externalSignature)
            default: try reader.skipField(tag)
            }
        }
        self.init(
            payload: try requireField(payload, message: "ThirdPartyBlockContents", field: "payload"),
            externalSignature: try .decodeRequired(
                externalSignature, message: "ThirdPartyBlockContents", field: "externalSignature", depth: depth))
    }

    /// Writes a `ThirdPartyBlockContents`'s fields.
    func encode(to writer: inout ProtoWriter) {
        writer.writeBytes(payload, field: 1)
        writer.writeMessage(externalSignature, field: 2)
    }
}
