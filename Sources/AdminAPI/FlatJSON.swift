import APIModels
/// A reader for the simplest JSON bodies: one object whose values are strings, `true`, `false`
/// or `null` — most request bodies. It exists for the hot request paths (`AdminRoutes.decode`,
/// `FastPath`), where `JSONDecoder` cost more than the rest of the request.
///
/// It accepts a strict subset of JSON and nothing else: a body it returns fields for means
/// exactly what `JSONDecoder` would read from it. Whatever it does not handle — numbers, nested
/// values, escape sequences, duplicate keys, text that is not valid UTF-8 or not JSON — gives
/// nil, and the caller falls back to the general decoder, which also words the error.
enum FlatJSON {
    /// A value of a flat object.
    enum Value: Equatable {
        case string(String)
        case bool(Bool)
        case null
    }

    /// The most fields an object may have (more gives nil).
    static let maxFields = 16

    /// The object's fields in order, or nil when the body is not a flat object this reader handles.
    static func parseObject(_ bytes: UnsafeRawBufferPointer) -> [(key: String, value: Value)]? {
        var reader = Reader(bytes: bytes)
        reader.skipWhitespace()
        guard reader.consume(UInt8(ascii: "{")) else { return nil }
        var fields: [(key: String, value: Value)] = []
        reader.skipWhitespace()
        if reader.consume(UInt8(ascii: "}")) {
            reader.skipWhitespace()
            return reader.atEnd ? fields : nil
        }
        while true {
            reader.skipWhitespace()
            guard let key = reader.string() else { return nil }
            guard fields.count < maxFields, !fields.contains(where: { $0.key == key }) else { return nil }
            reader.skipWhitespace()
            guard reader.consume(UInt8(ascii: ":")) else { return nil }
            reader.skipWhitespace()
            guard let value = reader.value() else { return nil }
            fields.append((key, value))
            reader.skipWhitespace()
            if reader.consume(UInt8(ascii: ",")) { continue }
            guard reader.consume(UInt8(ascii: "}")) else { return nil }
            reader.skipWhitespace()
            return reader.atEnd ? fields : nil
        }
    }

    /// A cursor over the body's bytes.
    private struct Reader {
        let bytes: UnsafeRawBufferPointer
        var position = 0

        var atEnd: Bool { position == bytes.count }

        mutating func skipWhitespace() {
            while position < bytes.count {
                switch bytes[position] {
                case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"): position += 1
                default: return
                }
            }
        }

        mutating func consume(_ byte: UInt8) -> Bool {
            guard position < bytes.count, bytes[position] == byte else { return false }
            position += 1
            return true
        }

        mutating func consume(_ literal: StaticString) -> Bool {
            let count = literal.utf8CodeUnitCount
            guard bytes.count - position >= count else { return false }
            for offset in 0..<count where bytes[position + offset] != literal.utf8Start[offset] { return false }
            position += count
            return true
        }

        mutating func value() -> Value? {
            guard position < bytes.count else { return nil }
            switch bytes[position] {
            case UInt8(ascii: "\""): return string().map(Value.string)
            case UInt8(ascii: "t"): return consume("true") ? .bool(true) : nil
            case UInt8(ascii: "f"): return consume("false") ? .bool(false) : nil
            case UInt8(ascii: "n"): return consume("null") ? .null : nil
            default: return nil
            }
        }

        /// A string without escape sequences or control characters, valid UTF-8.
        mutating func string() -> String? {
            guard consume(UInt8(ascii: "\"")) else { return nil }
            let start = position
            while position < bytes.count {
                let byte = bytes[position]
                if byte == UInt8(ascii: "\"") {
                    let text = String(validating: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
                    position += 1
                    return text
                }
                // An escape sequence or a raw control character: left to the general decoder.
                if byte == UInt8(ascii: "\\") || byte < 0x20 { return nil }
                position += 1
            }
            return nil
        }
    }
}

extension FlatJSON {
    /// Decodes a request body from a flat object, or nil when the body is not one this reader
    /// handles, has a key outside `Body.fields`, or does not decode from its string, boolean and
    /// null fields alone (numbers, arrays, a wrong type): the general decoder then reads it, and
    /// words the error if there is one.
    static func decode<Body: APIRequestBody>(_ type: Body.Type, from bytes: UnsafeRawBufferPointer) -> Body? {
        guard let fields = parseObject(bytes), fields.allSatisfy({ Body.fields.contains($0.key) }) else { return nil }
        return try? Body(from: FieldsDecoder(fields: fields))
    }

    /// A flat object's fields (at most `maxFields`, no key twice), looked up by key: a search
    /// of so few costs less than hashing them into a dictionary.
    private typealias FieldList = [(key: String, value: Value)]

    /// Why `FieldsDecoder` gave up; never shown to a client.
    private struct Unsupported: Error {}

    /// A `Decoder` over the fields of a flat object: strings, booleans and nulls, by key.
    private struct FieldsDecoder: Decoder {
        let fields: FieldList
        var codingPath: [any CodingKey] { [] }
        var userInfo: [CodingUserInfoKey: Any] { [:] }

        func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
            KeyedDecodingContainer(Fields<Key>(fields: fields))
        }

        func unkeyedContainer() throws -> any UnkeyedDecodingContainer { throw Unsupported() }
        func singleValueContainer() throws -> any SingleValueDecodingContainer { throw Unsupported() }
    }

    /// The keyed container: `String`, `Bool` and absent or null optionals; anything else is
    /// unsupported.
    private struct Fields<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let fields: FieldList
        var codingPath: [any CodingKey] { [] }
        var allKeys: [Key] { fields.compactMap { Key(stringValue: $0.key) } }

        private func value(_ key: Key) -> Value? {
            let name = key.stringValue
            return fields.first { $0.key == name }?.value
        }

        func contains(_ key: Key) -> Bool { value(key) != nil }

        func decodeNil(forKey key: Key) throws -> Bool {
            guard let value = value(key) else { throw Unsupported() }
            return value == .null
        }

        func decode(_ type: String.Type, forKey key: Key) throws -> String {
            guard case .string(let text) = value(key) else { throw Unsupported() }
            return text
        }

        func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool {
            guard case .bool(let flag) = value(key) else { throw Unsupported() }
            return flag
        }

        func decode(_ type: Double.Type, forKey key: Key) throws -> Double { throw Unsupported() }
        func decode(_ type: Float.Type, forKey key: Key) throws -> Float { throw Unsupported() }
        func decode(_ type: Int.Type, forKey key: Key) throws -> Int { throw Unsupported() }
        func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { throw Unsupported() }
        func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { throw Unsupported() }
        func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { throw Unsupported() }
        func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { throw Unsupported() }
        func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { throw Unsupported() }
        func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { throw Unsupported() }
        func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { throw Unsupported() }
        func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { throw Unsupported() }
        func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { throw Unsupported() }
        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { throw Unsupported() }

        func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws
            -> KeyedDecodingContainer<NestedKey>
        {
            throw Unsupported()
        }

        func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer { throw Unsupported() }
        func superDecoder() throws -> any Decoder { throw Unsupported() }
        func superDecoder(forKey key: Key) throws -> any Decoder { throw Unsupported() }
    }
}
