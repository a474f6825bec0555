/// The wire type carried in the low three bits of a protobuf tag.
enum ProtoWireType: UInt8, Hashable, Sendable {
    /// A varint: integers, booleans and enums.
    case varint = 0
    /// Eight little-endian bytes (`fixed64`, `sfixed64`, `double`); the schema has none.
    case fixed64 = 1
    /// A varint length, then that many bytes: bytes, strings, messages and packed scalars.
    case lengthDelimited = 2
    /// The start of a proto2 group, which this decoder refuses.
    case startGroup = 3
    /// The end of a proto2 group, which this decoder refuses.
    case endGroup = 4
    /// Four little-endian bytes (`fixed32`, `sfixed32`, `float`); the schema has none.
    case fixed32 = 5
}

/// The key in front of every field: its number and how its value is laid out.
struct ProtoTag: Hashable, Sendable {
    /// The field number, from 1 to 2^29 - 1.
    let fieldNumber: UInt32
    /// How the value that follows is laid out.
    let wireType: ProtoWireType
}

/// Reads the fields of one protobuf message, front to back, without copying its bytes.
///
/// A message's decoder calls `nextTag()` until it returns `nil`, and for each tag either one of
/// the typed reads (which check the wire type against the schema) or `skipField(_:)` for a field
/// it does not know, as proto2 readers must. Every length and every count read from the input is
/// checked against what remains before use: no input makes a read trap.
///
/// Scalars are converted as protobuf specifies (and the reference's prost does): a varint read
/// for a 32-bit field keeps its low 32 bits, and a varint read as a `bool` is true when non-zero.
struct ProtoReader {
    /// The bytes of the message: its fields, without the tag and length that enclose it.
    private let bytes: ArraySlice<UInt8>
    /// The index in `bytes` of the next byte to read.
    // Invariant: bytes.startIndex <= position <= bytes.endIndex.
    private var position: Int
    /// The schema name of the message being read (`"SignedBlock"`), for errors.
    let messageName: String

    /// Makes a reader of the fields in `bytes`, which hold one message of type `messageName`.
    init(_ bytes: ArraySlice<UInt8>, messageName: String) {
        self.bytes = bytes
        self.position = bytes.startIndex
        self.messageName = messageName
    }

    /// Whether every byte of the message has been read.
    var isAtEnd: Bool { position == bytes.endIndex }

    // MARK: - Tags

    /// Reads the next field's tag, or returns `nil` at the end of the message.
    /// - Throws: `.truncated` or `.malformedVarint` for a bad key, `.invalidWireType` for wire
    ///   type 6 or 7, `.invalidValue` for field number 0 or a key beyond 32 bits.
    mutating func nextTag() throws(ProtobufError) -> ProtoTag? {
        guard !isAtEnd else { return nil }
        let key = try readRawVarint(field: "\(messageName) tag")
        // The reference (prost) refuses keys beyond 32 bits and field number 0, as protobuf does.
        guard key <= UInt64(UInt32.max) else {
            throw .invalidValue(message: messageName, field: "tag", reason: "key \(key) exceeds 32 bits")
        }
        let fieldNumber = UInt32(key >> 3)
        guard fieldNumber != 0 else {
            throw .invalidValue(message: messageName, field: "tag", reason: "field number 0")
        }
        let wire = UInt8(key & 0x7)
        guard let wireType = ProtoWireType(rawValue: wire) else {
            throw .invalidWireType(field: "\(messageName) field \(fieldNumber)", wire: wire)
        }
        return ProtoTag(fieldNumber: fieldNumber, wireType: wireType)
    }

    /// Skips the value of a field this decoder does not know.
    /// - Throws: `.invalidWireType` for a group (wire type 3 or 4), or the read errors.
    mutating func skipField(_ tag: ProtoTag) throws(ProtobufError) {
        let field = "\(messageName) field \(tag.fieldNumber)"
        switch tag.wireType {
        case .varint: _ = try readRawVarint(field: field)
        case .fixed64: try advance(byteCount: 8, field: field)
        case .fixed32: try advance(byteCount: 4, field: field)
        case .lengthDelimited: _ = try readRawLengthDelimited(field: field)
        case .startGroup, .endGroup: throw .invalidWireType(field: field, wire: tag.wireType.rawValue)
        }
    }

    // MARK: - Scalars

    /// Reads a `uint64` field.
    mutating func readUInt64(_ tag: ProtoTag, field: String) throws(ProtobufError) -> UInt64 {
        try expect(tag, .varint, field: field)
        return try readRawVarint(field: qualified(field))
    }

    /// Reads a `uint32` field, keeping the varint's low 32 bits.
    mutating func readUInt32(_ tag: ProtoTag, field: String) throws(ProtobufError) -> UInt32 {
        UInt32(truncatingIfNeeded: try readUInt64(tag, field: field))
    }

    /// Reads an `int32` or enum field, keeping the varint's low 32 bits (negative values arrive
    /// sign-extended to ten bytes).
    mutating func readInt32(_ tag: ProtoTag, field: String) throws(ProtobufError) -> Int32 {
        Int32(truncatingIfNeeded: try readUInt64(tag, field: field))
    }

    /// Reads an `int64` field: a two's-complement varint (not zig-zag).
    mutating func readInt64(_ tag: ProtoTag, field: String) throws(ProtobufError) -> Int64 {
        Int64(bitPattern: try readUInt64(tag, field: field))
    }

    /// Reads a `bool` field: true when the varint is not zero.
    mutating func readBool(_ tag: ProtoTag, field: String) throws(ProtobufError) -> Bool {
        try readUInt64(tag, field: field) != 0
    }

    /// Reads one occurrence of a repeated `uint32` field, packed (a length-delimited run of
    /// varints) or not (one varint), and appends its values to `values`.
    mutating func readRepeatedUInt32(_ tag: ProtoTag, field: String, into values: inout [UInt32]) throws(ProtobufError) {
        switch tag.wireType {
        case .varint:
            values.append(UInt32(truncatingIfNeeded: try readRawVarint(field: qualified(field))))
        case .lengthDelimited:
            var packed = ProtoReader(try readRawLengthDelimited(field: qualified(field)), messageName: messageName)
            while !packed.isAtEnd {
                values.append(UInt32(truncatingIfNeeded: try packed.readRawVarint(field: qualified(field))))
            }
        case .fixed64, .fixed32, .startGroup, .endGroup:
            throw .invalidWireType(field: qualified(field), wire: tag.wireType.rawValue)
        }
    }

    // MARK: - Length-delimited values

    /// Reads a length-delimited field's content, without copying it.
    mutating func readLengthDelimited(_ tag: ProtoTag, field: String) throws(ProtobufError) -> ArraySlice<UInt8> {
        try expect(tag, .lengthDelimited, field: field)
        return try readRawLengthDelimited(field: qualified(field))
    }

    /// Reads a `bytes` field.
    mutating func readBytes(_ tag: ProtoTag, field: String) throws(ProtobufError) -> [UInt8] {
        Array(try readLengthDelimited(tag, field: field))
    }

    /// Reads a `string` field, which must be UTF-8.
    mutating func readString(_ tag: ProtoTag, field: String) throws(ProtobufError) -> String {
        let content = try readLengthDelimited(tag, field: field)
        guard let string = String(validating: content, as: UTF8.self) else {
            throw .invalidValue(message: messageName, field: field, reason: "not UTF-8")
        }
        return string
    }

    /// Reads one occurrence of a singular message field and merges it into `slot`.
    ///
    /// Protobuf merges repeated occurrences of a singular message field, and merging is the same
    /// as decoding the occurrences' bytes one after the other; so the decoder keeps the bytes
    /// here and decodes them once, after the enclosing message's last field.
    mutating func mergeMessage(_ tag: ProtoTag, field: String, into slot: inout ArraySlice<UInt8>?) throws(ProtobufError) {
        let content = try readLengthDelimited(tag, field: field)
        if slot == nil {
            slot = content
        } else {
            slot?.append(contentsOf: content)
        }
    }

    /// Reads one occurrence of a oneof's message field into `content`: merged with the bytes
    /// already there when the oneof already holds this field (as protobuf merges), replacing
    /// whatever the oneof held otherwise.
    mutating func mergeOneofMessage<Value>(
        _ tag: ProtoTag, field: String, into content: inout OneofContent<Value>?
    ) throws(ProtobufError) {
        let bytes = try readLengthDelimited(tag, field: field)
        if case .message(tag.fieldNumber, var merged)? = content {
            // Dropping the oneof's reference first leaves `merged` the only owner of its buffer, so
            // that appending does not copy it: many occurrences merge in linear time.
            content = nil
            merged.append(contentsOf: bytes)
            content = .message(fieldNumber: tag.fieldNumber, bytes: merged)
        } else {
            content = .message(fieldNumber: tag.fieldNumber, bytes: bytes)
        }
    }

    /// Reads a field holding the schema's `Empty` message, whose fields (none are defined) are
    /// skipped like any unknown field.
    mutating func readEmptyMessage(_ tag: ProtoTag, field: String) throws(ProtobufError) {
        var empty = ProtoReader(try readLengthDelimited(tag, field: field), messageName: "Empty")
        while let inner = try empty.nextTag() {
            try empty.skipField(inner)
        }
    }

    // MARK: - Private helpers

    /// `Message.field`, for errors.
    private func qualified(_ field: String) -> String {
        "\(messageName).\(field)"
    }

    /// Checks that a known field arrived with the wire type the schema gives it.
    private func expect(_ tag: ProtoTag, _ wireType: ProtoWireType, field: String) throws(ProtobufError) {
        guard tag.wireType == wireType else {
            throw .invalidWireType(field: qualified(field), wire: tag.wireType.rawValue)
        }
    }

    /// Reads a varint of at most `ProtoLimits.maxVarintBytes` bytes.
    ///
    /// Like the reference's prost, the tenth byte may only be 0 or 1: anything else is either an
    /// eleventh byte to come or bits beyond 64.
    private mutating func readRawVarint(field: String) throws(ProtobufError) -> UInt64 {
        var value: UInt64 = 0
        for index in 0..<ProtoLimits.maxVarintBytes {
            guard position < bytes.endIndex else { throw .truncated(field: field) }
            let byte = bytes[position]
            position += 1
            if index == ProtoLimits.maxVarintBytes - 1, byte > 1 { throw .malformedVarint }
            value |= UInt64(byte & 0x7F) << UInt64(7 * index)
            if byte < 0x80 { return value }
        }
        // Not reached: the last allowed byte either ends the varint or throws above.
        throw .malformedVarint
    }

    /// Reads a varint length and returns that many bytes, checked against what remains.
    private mutating func readRawLengthDelimited(field: String) throws(ProtobufError) -> ArraySlice<UInt8> {
        let length = try readRawVarint(field: field)
        guard length <= UInt64(Int.max) else { throw .tooLarge }
        let start = position
        try advance(byteCount: Int(length), field: field)
        return bytes[start..<position]
    }

    /// Moves past `byteCount` bytes, which must remain.
    private mutating func advance(byteCount: Int, field: String) throws(ProtobufError) {
        // Subtracting (rather than adding to `position`) cannot overflow: both are valid indices.
        guard byteCount <= bytes.endIndex - position else { throw .truncated(field: field) }
        position += byteCount
    }
}

/// A oneof's content while its message is read: a value already decoded, or the bytes of a
/// message field, kept to be merged with later occurrences and decoded at the end.
enum OneofContent<Value> {
    /// A scalar field, decoded.
    case value(Value)
    /// A message field's bytes (the concatenation of its occurrences), not yet decoded.
    case message(fieldNumber: UInt32, bytes: ArraySlice<UInt8>)
}
