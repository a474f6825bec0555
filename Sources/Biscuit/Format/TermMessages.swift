/// `Term` (formerly `TermV2`): a value or a variable in a predicate or an expression.
///
/// A oneof `Content`: 1 `variable` (uint32), 2 `integer` (int64), 3 `string` (uint64), 4 `date`
/// (uint64), 5 `bytes`, 6 `bool`, 7 `set` (`TermSet`), 8 `null` (`Empty`), 9 `array` (`Array`),
/// 10 `map` (`Map`). One must be present. Collections nest at most
/// `ProtoLimits.maxNestingDepth` deep.
indirect enum TermMessage: Hashable, Sendable {
    /// A variable, as the symbol index of its name.
    case variable(UInt32)
    /// A 64-bit signed integer.
    case integer(Int64)
    /// A string, as a symbol index.
    case string(UInt64)
    /// A date: seconds since the Unix epoch, UTC.
    case date(UInt64)
    /// A byte string.
    case bytes([UInt8])
    /// A boolean.
    case bool(Bool)
    /// A set (`TermSet.set`, field 1), elements in the order written; the token layer checks
    /// what a set may hold.
    case set([TermMessage])
    /// `null` (block version 6), an `Empty` message on the wire.
    case null
    /// An array (`Array.array`, field 1; block version 6).
    case array([TermMessage])
    /// A map (`Map.entries`, field 1; block version 6), entries in the order written.
    case map([MapEntryMessage])
}

extension TermMessage: ProtoMessage {
    /// Decodes a `Term` at `depth` enclosing collections and closures.
    /// - Throws: `.tooDeep` beyond `ProtoLimits.maxNestingDepth`, `.missingRequiredField` for
    ///   an empty oneof, or the wire's errors.
    init(decoding bytes: ArraySlice<UInt8>, depth: Int) throws(ProtobufError) {
        guard depth <= ProtoLimits.maxNestingDepth else { throw .tooDeep }
        var reader = ProtoReader(bytes, messageName: "Term")
        var content: OneofContent<TermMessage>?
        while let tag = try reader.nextTag() {
            switch tag.fieldNumber {
            case 1: content = .value(.variable(try reader.readUInt32(tag, field: "variable")))
            case 2: content = .value(.integer(try reader.readInt64(tag, field: "integer")))
            case 3: content = .value(.string(try reader.readUInt64(tag, field: "string")))
            case 4: content = .value(.date(try reader.readUInt64(tag, field: "date")))
            case 5: content = .value(.bytes(try reader.readBytes(tag, field: "bytes")))
            case 6: content = .value(.bool(try reader.readBool(tag, field: "bool")))
            case 7: try reader.mergeOneofMessage(tag, field: "set", into: &content)
            case 8:
                try reader.readEmptyMessage(tag, field: "null")
                content = .value(.null)
            case 9: try reader.mergeOneofMessage(tag, field: "array", into: &content)
            case 10: try reader.mergeOneofMessage(tag, field: "map", into: &content)
            default: try reader.skipField(tag)
            }
        }
        switch content {
        case nil:
            throw .missingRequiredField(message: "Term", field: "content")
        case .value(let term)?:
            self = term
        case .message(let fieldNumber, let bytes)?:
            self = try Self.collection(fieldNumber: fieldNumber, bytes: bytes, depth: depth)
        }
    }

    /// Writes a `Term`'s field.
    func encode(to writer: inout ProtoWriter) {
        switch self {
        case .variable(let index): writer.writeUInt32(index, field: 1)
        case .integer(let value): writer.writeInt64(value, field: 2)
        case .string(let index): writer.writeUInt64(index, field: 3)
        case .date(let seconds): writer.writeUInt64(seconds, field: 4)
        case .bytes(let bytes): writer.writeBytes(bytes, field: 5)
        case .bool(let value): writer.writeBool(value, field: 6)
        case .set(let elements):
            writer.writeMessage(field: 7) { set in
                for element in elements { set.writeMessage(element, field: 1) }
            }
        case .null:
            writer.writeMessage(field: 8) { _ in }
        case .array(let elements):
            writer.writeMessage(field: 9) { array in
                for element in elements { array.writeMessage(element, field: 1) }
            }
        case .map(let entries):
            writer.writeMessage(field: 10) { map in
                for entry in entries { map.writeMessage(entry, field: 1) }
            }
        }
    }

    // MARK: - Private helpers

    /// Decodes the `TermSet`, `Array` or `Map` message of a term's oneof field `fieldNumber`; its
    /// elements are one level deeper than the term.
    private static func collection(
        fieldNumber: UInt32, bytes: ArraySlice<UInt8>, depth: Int
    ) throws(ProtobufError) -> TermMessage {
        switch fieldNumber {
        case 7:
            return .set(try elements(of: bytes, messageName: "TermSet", field: "set", depth: depth + 1))
        case 9:
            return .array(try elements(of: bytes, messageName: "Array", field: "array", depth: depth + 1))
        default:
            // Only fields 7, 9 and 10 are merged as messages (see `init(decoding:depth:)`).
            var reader = ProtoReader(bytes, messageName: "Map")
            var entries: [MapEntryMessage] = []
            while let tag = try reader.nextTag() {
                switch tag.fieldNumber {
                case 1: entries.append(try reader.readElement(tag, field: "entries", as: MapEntryMessage.self, depth: depth + 1))
                default: try reader.skipField(tag)
                }
            }
            return .map(entries)
        }
    }

    /// Decodes a `TermSet` or an `Array`: a message whose field 1 is a repeated `Term`.
    private static func elements(
        of bytes: ArraySlice<UInt8>, messageName: String, field: String, depth: Int
    ) throws(ProtobufError) -> [TermMessage] {
        var reader = ProtoReader(bytes, messageName: messageName)
        var elements: [TermMessage] = []
        while let tag = try reader.nextTag() {
            switch tag.fieldNumber {
            case 1: elements.append(try reader.readElement(tag, field: field, as: TermMessage.self, depth: depth))
            default: try reader.skipField(tag)
            }
        }
        return elements
    }
}

/// `MapEntry`: one key and value of a map term.
///
/// Field numbers: 1 `key` (required `MapKey`), 2 `value` (required `Term`).
struct MapEntryMessage: Hashable, Sendable {
    /// The entry's key.
    var key: MapKeyMessage
    /// The entry's value.
    var value: TermMessage
}

extension MapEntryMessage: ProtoMessage {
    /// Decodes a `MapEntry`, whose value is at the entry's `depth`.
    init(decoding bytes: ArraySlice<UInt8>, depth: Int) throws(ProtobufError) {
        var reader = ProtoReader(bytes, messageName: "MapEntry")
        var key: ArraySlice<UInt8>?
        var value: ArraySlice<UInt8>?
        while let tag = try reader.nextTag() {
            switch tag.fieldNumber {
            case 1: try reader.mergeMessage(tag, field: "key", into: &key)
            case 2: try reader.mergeMessage(tag, field: "value", into: &value)
            default: try reader.skipField(tag)
            }
        }
        self.init(
            key: try .decodeRequired(key, message: "MapEntry", field: "key", depth: depth),
            value: try .decodeRequired(value, message: "MapEntry", field: "value", depth: depth))
    }

    /// Writes a `MapEntry`'s fields.
    func encode(to writer: inout ProtoWriter) {
        writer.writeMessage(key, field: 1)
        writer.writeMessage(value, field: 2)
    }
}

/// `MapKey`: a map's key, an integer or a string.
///
/// A oneof `Content`: 1 `integer` (int64), 2 `string` (uint64). One must be present.
enum MapKeyMessage: Hashable, Sendable {
    /// An integer key.
    case integer(Int64)
    /// A string key, as a symbol index.
    case string(UInt64)
}

extension MapKeyMessage: ProtoMessage {
    /// Decodes a `MapKey`.
    init(decoding bytes: ArraySlice<UInt8>, depth: Int) throws(ProtobufError) {
        var reader = ProtoReader(bytes, messageName: "MapKey")
        var content: MapKeyMessage?
        while let tag = try reader.nextTag() {
            switch tag.fieldNumber {
            case 1: content = .integer(try reader.readInt64(tag, field: "integer"))
            case 2: content = .string(try reader.readUInt64(tag, field: "string"))
            default: try reader.skipField(tag)
            }
        }
        self = try requireField(content, message: "MapKey", field: "content")
    }

    /// Writes a `MapKey`'s field.
    func encode(to writer: inout ProtoWriter) {
        switch self {
        case .integer(let value): writer.writeInt64(value, field: 1)
        case .string(let index): writer.writeUInt64(index, field: 2)
        }
    }
}
