/// A writer for the simplest JSON answers: one object whose values are strings, booleans and
/// integers, with absent optionals left out — most single-resource answers. It exists for the
/// hot answer paths (`AdminRoutes.json`, the fast path's creates), where `JSONEncoder`, which
/// builds a tree of values before it writes any, was a tenth of the leader's HTTP work.
///
/// Whatever it does not handle — a nested value, an array, a floating-point number, a value
/// that is not an object, an explicit `encodeNil` — gives nil, and the caller falls back to
/// `JSONEncoder`. What it writes is what `JSONEncoder` would write for the same value, but for
/// insignificant details: the keys in the order the value encodes them, `/` not escaped.
enum FlatJSONWriter {
    /// The JSON of `value`, or nil when it is not a flat object this writer handles.
    static func encode<Value: Encodable>(_ value: Value) -> [UInt8]? {
        let output = Output()
        do {
            try value.encode(to: FlatEncoder(output: output))
        } catch {
            return nil
        }
        guard output.handled, output.opened else { return nil }
        output.bytes.append(UInt8(ascii: "}"))
        return output.bytes
    }

    /// Appends `text` as a JSON string: quoted, with `"`, `\` and control characters escaped.
    static func appendString(_ text: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case UInt8(ascii: "\n"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case UInt8(ascii: "\r"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case UInt8(ascii: "\t"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0..<0x20:
                let digits = Array("0123456789abcdef".utf8)
                bytes += Array("\\u00".utf8) + [digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]]
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// What is written so far, and whether everything could be.
    private final class Output {
        var bytes: [UInt8] = [UInt8(ascii: "{")]
        /// Whether the value opened its one keyed container.
        var opened = false
        /// False once anything the writer does not handle was asked of it.
        var handled = true
        var fields = 0

        /// Starts the next field: a separator, the key and the colon.
        func key(_ key: some CodingKey) {
            if fields > 0 { bytes.append(UInt8(ascii: ",")) }
            fields += 1
            FlatJSONWriter.appendString(key.stringValue, to: &bytes)
            bytes.append(UInt8(ascii: ":"))
        }

        func integer(_ value: some BinaryInteger, forKey key: some CodingKey) {
            self.key(key)
            bytes.append(contentsOf: String(value).utf8)
        }
    }

    /// Thrown to stop at the first thing the writer does not handle.
    private struct Unhandled: Error {}

    private struct FlatEncoder: Encoder {
        let output: Output
        var codingPath: [any CodingKey] { [] }
        var userInfo: [CodingUserInfoKey: Any] { [:] }

        func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
            // One object: a second container (a superclass's, a nested value's) is not flat.
            if output.opened { output.handled = false }
            output.opened = true
            return KeyedEncodingContainer(Fields<Key>(output: output))
        }

        func unkeyedContainer() -> any UnkeyedEncodingContainer {
            output.handled = false
            return Refusing(output: output)
        }

        func singleValueContainer() -> any SingleValueEncodingContainer {
            output.handled = false
            return Refusing(output: output)
        }
    }

    /// The object's fields.
    private struct Fields<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let output: Output
        var codingPath: [any CodingKey] { [] }

        mutating func encode(_ value: String, forKey key: Key) throws {
            output.key(key)
            FlatJSONWriter.appendString(value, to: &output.bytes)
        }

        mutating func encode(_ value: Bool, forKey key: Key) throws {
            output.key(key)
            output.bytes.append(contentsOf: (value ? "true" : "false").utf8)
        }

        mutating func encode(_ value: Int, forKey key: Key) throws { output.integer(value, forKey: key) }
        mutating func encode(_ value: Int8, forKey key: Key) throws { output.integer(value, forKey: key) }
        mutating func encode(_ value: Int16, forKey key: Key) throws { output.integer(value, forKey: key) }
        mutating func encode(_ value: Int32, forKey key: Key) throws { output.integer(value, forKey: key) }
        mutating func encode(_ value: Int64, forKey key: Key) throws { output.integer(value, forKey: key) }
        mutating func encode(_ value: UInt, forKey key: Key) throws { output.integer(value, forKey: key) }
        mutating func encode(_ value: UInt8, forKey key: Key) throws { output.integer(value, forKey: key) }
        mutating func encode(_ value: UInt16, forKey key: Key) throws { output.integer(value, forKey: key) }
        mutating func encode(_ value: UInt32, forKey key: Key) throws { output.integer(value, forKey: key) }
        mutating func encode(_ value: UInt64, forKey key: Key) throws { output.integer(value, forKey: key) }

        mutating func encode(_ value: Double, forKey key: Key) throws { throw refuse() }
        mutating func encode(_ value: Float, forKey key: Key) throws { throw refuse() }
        mutating func encodeNil(forKey key: Key) throws { throw refuse() }
        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { throw refuse() }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key)
            -> KeyedEncodingContainer<NestedKey>
        {
            output.handled = false
            return KeyedEncodingContainer(Fields<NestedKey>(output: output))
        }

        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
            output.handled = false
            return Refusing(output: output)
        }

        mutating func superEncoder() -> any Encoder {
            output.handled = false
            return FlatEncoder(output: output)
        }

        mutating func superEncoder(forKey key: Key) -> any Encoder {
            output.handled = false
            return FlatEncoder(output: output)
        }

        private func refuse() -> Unhandled {
            output.handled = false
            return Unhandled()
        }
    }

    /// An array or a bare value: not handled; every write refuses.
    private struct Refusing: UnkeyedEncodingContainer, SingleValueEncodingContainer {
        let output: Output
        var codingPath: [any CodingKey] { [] }
        var count: Int { 0 }

        private func refuse() -> Unhandled {
            output.handled = false
            return Unhandled()
        }

        mutating func encodeNil() throws { throw refuse() }
        mutating func encode(_ value: Bool) throws { throw refuse() }
        mutating func encode(_ value: String) throws { throw refuse() }
        mutating func encode(_ value: Double) throws { throw refuse() }
        mutating func encode(_ value: Float) throws { throw refuse() }
        mutating func encode(_ value: Int) throws { throw refuse() }
        mutating func encode(_ value: Int8) throws { throw refuse() }
        mutating func encode(_ value: Int16) throws { throw refuse() }
        mutating func encode(_ value: Int32) throws { throw refuse() }
        mutating func encode(_ value: Int64) throws { throw refuse() }
        mutating func encode(_ value: UInt) throws { throw refuse() }
        mutating func encode(_ value: UInt8) throws { throw refuse() }
        mutating func encode(_ value: UInt16) throws { throw refuse() }
        mutating func encode(_ value: UInt32) throws { throw refuse() }
        mutating func encode(_ value: UInt64) throws { throw refuse() }
        mutating func encode<T: Encodable>(_ value: T) throws { throw refuse() }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
            output.handled = false
            return KeyedEncodingContainer(Fields<NestedKey>(output: output))
        }

        mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
            output.handled = false
            return self
        }

        mutating func superEncoder() -> any Encoder {
            output.handled = false
            return FlatEncoder(output: output)
        }
    }
}
