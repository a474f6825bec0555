/// A message of the Biscuit protobuf schema (`format/schema.proto` of the reference), decoded
/// and encoded by hand.
///
/// This layer decodes the wire format faithfully and nothing more: it keeps enum values raw and
/// symbol indices unresolved, and leaves every semantic check (operation kinds, versions, index
/// ranges) to the token layer. Its own errors are the wire's: malformed input, a missing proto2
/// `required` field, an empty oneof, a string that is not UTF-8, and nesting beyond
/// `ProtoLimits.maxNestingDepth`.
///
/// Encoding follows the reference byte for byte: fields in ascending number order, `required`
/// fields always, `optional` ones only when set, repeated scalars unpacked. Decoding then encoding
/// a token the reference wrote gives its bytes back. Unknown fields are skipped when decoding and
/// so are not written back; never re-encode bytes that were signed (a block), keep them.
///
/// The protocol lets the reader and writer handle every message field the same way; each message
/// of the schema with a Swift type conforms.
protocol ProtoMessage: Hashable, Sendable {
    /// Decodes a message from the bytes of its fields (without an enclosing tag and length).
    /// - Parameters:
    ///   - bytes: the message's fields.
    ///   - depth: how many sets, arrays, maps and closures enclose this message (0 at the top);
    ///     messages that cannot nest pass it on unchanged.
    /// - Throws: `ProtobufError` for input that is not a valid message of this type.
    init(decoding bytes: ArraySlice<UInt8>, depth: Int) throws(ProtobufError)

    /// Appends the message's fields to `writer`, in ascending field-number order.
    func encode(to writer: inout ProtoWriter)
}

extension ProtoMessage {
    /// Decodes a whole buffer as one message of this type.
    /// - Throws: `ProtobufError` for input that is not a valid message of this type.
    init(decoding bytes: [UInt8]) throws(ProtobufError) {
        try self.init(decoding: bytes[...], depth: 0)
    }

    /// The message's protobuf bytes, as the reference writes them.
    func encoded() -> [UInt8] {
        var writer = ProtoWriter()
        encode(to: &writer)
        return writer.bytes
    }

    /// Decodes a `required` message field from the bytes the reader merged for it.
    /// - Throws: `.missingRequiredField` when the field never occurred, or the field's errors.
    static func decodeRequired(
        _ bytes: ArraySlice<UInt8>?, message: String, field: String, depth: Int
    ) throws(ProtobufError) -> Self {
        guard let bytes else { throw .missingRequiredField(message: message, field: field) }
        return try Self(decoding: bytes, depth: depth)
    }

    /// Decodes an `optional` message field from the bytes the reader merged for it, if it occurred.
    static func decodeOptional(_ bytes: ArraySlice<UInt8>?, depth: Int) throws(ProtobufError) -> Self? {
        guard let bytes else { return nil }
        return try Self(decoding: bytes, depth: depth)
    }
}

extension ProtoReader {
    /// Reads one element of a repeated message field and decodes it at once (repeated fields,
    /// unlike singular ones, are never merged).
    mutating func readElement<Message: ProtoMessage>(
        _ tag: ProtoTag, field: String, as type: Message.Type, depth: Int
    ) throws(ProtobufError) -> Message {
        try Message(decoding: try readLengthDelimited(tag, field: field), depth: depth)
    }
}

/// Requires a `required` scalar field that the decoder read into an optional.
/// - Throws: `.missingRequiredField` when the field never occurred.
func requireField<Value>(_ value: Value?, message: String, field: String) throws(ProtobufError) -> Value {
    guard let value else { throw .missingRequiredField(message: message, field: field) }
    return value
}
