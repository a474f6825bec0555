/// A reader for the simplest JSON bodies: one object whose values are strings, `true`, `false`
/// or `null`. It exists for the hot request paths (see `AuthorizeFastPath`), where a general
/// decoder costs more than the decision itself.
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
