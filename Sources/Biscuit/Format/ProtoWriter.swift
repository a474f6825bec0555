/// Appends protobuf fields to a byte buffer, as the reference's prost writes them.
///
/// Messages call the writes in ascending field-number order; every value is written in its
/// shortest form; repeated scalars are written unpacked (one tag per value), as the reference's
/// schema asks (`packed = false`). A nested message is encoded into a buffer of its own first, to
/// learn its length.
struct ProtoWriter {
    /// The bytes written so far.
    private(set) var bytes: [UInt8] = []

    /// Makes an empty writer.
    init() {}

    // MARK: - Fields

    /// Writes a `uint64` field.
    mutating func writeUInt64(_ value: UInt64, field fieldNumber: UInt32) {
        writeTag(fieldNumber, .varint)
        writeVarint(value)
    }

    /// Writes a `uint32` field.
    mutating func writeUInt32(_ value: UInt32, field fieldNumber: UInt32) {
        writeUInt64(UInt64(value), field: fieldNumber)
    }

    /// Writes an `int32` or enum field; a negative value is sign-extended to 64 bits (ten bytes),
    /// as protobuf specifies.
    mutating func writeInt32(_ value: Int32, field fieldNumber: UInt32) {
        writeUInt64(UInt64(bitPattern: Int64(value)), field: fieldNumber)
    }

    /// Writes an `int64` field as a two's-complement varint (not zig-zag).
    mutating func writeInt64(_ value: Int64, field fieldNumber: UInt32) {
        writeUInt64(UInt64(bitPattern: value), field: fieldNumber)
    }

    /// Writes a `bool` field as the varint 1 or 0.
    mutating func writeBool(_ value: Bool, field fieldNumber: UInt32) {
        writeUInt64(value ? 1 : 0, field: fieldNumber)
    }

    /// Writes a `bytes` field.
    mutating func writeBytes(_ value: some Collection<UInt8>, field fieldNumber: UInt32) {
        writeTag(fieldNumber, .lengthDelimited)
        writeVarint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    /// Writes a `string` field as its UTF-8 bytes.
    mutating func writeString(_ value: String, field fieldNumber: UInt32) {
        writeBytes(value.utf8, field: fieldNumber)
    }

    /// Writes a message field.
    mutating func writeMessage(_ message: some ProtoMessage, field fieldNumber: UInt32) {
        writeMessage(field: fieldNumber) { message.encode(to: &$0) }
    }

    /// Writes a message field whose fields `encodeFields` writes (for the schema's small
    /// messages that have no Swift type of their own, such as `TermSet` or `OpUnary`).
    mutating func writeMessage(field fieldNumber: UInt32, _ encodeFields: (inout ProtoWriter) -> Void) {
        var nested = ProtoWriter()
        encodeFields(&nested)
        writeBytes(nested.bytes, field: fieldNumber)
    }

    // MARK: - Wire primitives

    /// Writes a tag: the field number and the wire type.
    mutating func writeTag(_ fieldNumber: UInt32, _ wireType: ProtoWireType) {
        writeVarint(UInt64(fieldNumber) << 3 | UInt64(wireType.rawValue))
    }

    /// Writes a varint: seven bits a byte, least significant first, high bit set on all but the
    /// last byte.
    mutating func writeVarint(_ value: UInt64) {
        var remaining = value
        while remaining >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: remaining) | 0x80)
            remaining >>= 7
        }
        bytes.append(UInt8(remaining))
    }
}
