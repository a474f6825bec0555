/// Why bytes could not be decoded as a message of the Biscuit protobuf schema.
///
/// The format layer (`Format/`) throws these; the token layer reports any of them as the
/// reference's `Format.DeserializationError`, whose message it does not compare. Field names are
/// the schema's (`SignedBlock.nextKey`), so that a message points at the bytes at fault.
enum ProtobufError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The input ended inside `field`: in a tag, in a varint, or before the end of a
    /// length-delimited value whose length prefix exceeds what remains.
    case truncated(field: String)
    /// A varint longer than `ProtoLimits.maxVarintBytes` bytes, or whose last byte carries bits
    /// beyond the 64 a varint can hold.
    case malformedVarint
    /// `field` arrived with a wire type that it cannot have: a known field with the wrong type, an
    /// unknown field as a group (3 or 4, which this decoder does not read), or wire type 6 or 7.
    case invalidWireType(field: String, wire: UInt8)
    /// A proto2 `required` field, or a oneof that must hold one of its fields (`content`), is
    /// absent from `message`.
    case missingRequiredField(message: String, field: String)
    /// `message.field` holds a value the wire format does not allow, such as a string that is
    /// not UTF-8, or a tag with field number 0.
    case invalidValue(message: String, field: String, reason: String)
    /// Terms or closures are nested deeper than `ProtoLimits.maxNestingDepth`.
    case tooDeep
    /// A length prefix does not fit in this platform's `Int`.
    case tooLarge

    /// A sentence naming what is wrong.
    var description: String {
        switch self {
        case .truncated(let field):
            return "the input ends inside \(field)"
        case .malformedVarint:
            return "a varint is longer than \(ProtoLimits.maxVarintBytes) bytes or exceeds 64 bits"
        case .invalidWireType(let field, let wire):
            return "\(field) has wire type \(wire), which it cannot have"
        case .missingRequiredField(let message, let field):
            return "\(message).\(field) is required but absent"
        case .invalidValue(let message, let field, let reason):
            return "\(message).\(field) is invalid: \(reason)"
        case .tooDeep:
            return "terms or closures are nested deeper than \(ProtoLimits.maxNestingDepth) levels"
        case .tooLarge:
            return "a length prefix is larger than this platform can address"
        }
    }
}

/// The limits of the protobuf codec, in one place.
enum ProtoLimits {
    /// The most enclosing sets, arrays, maps and closures a term or an operation may have.
    ///
    /// A term directly in a predicate, or an operation directly in an expression, is at depth 0;
    /// each set, array or map around a term, and each closure around an operation, adds one.
    /// Decoding is recursive along this nesting only, so the limit bounds the stack: input nested
    /// deeper is refused with `ProtobufError.tooDeep` instead of overflowing it. (The reference's
    /// prost decoder counts every message level instead, up to 100; no token the reference writes
    /// comes near either limit.)
    static let maxNestingDepth = 64

    /// The most bytes a varint may take: ten 7-bit groups hold 64 bits.
    static let maxVarintBytes = 10
}
