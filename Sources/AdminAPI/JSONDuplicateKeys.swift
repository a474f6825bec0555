/// Finds a key that appears twice in one object of a JSON text (outside review, finding 12:
/// `{"name":"a","name":"b"}` was accepted, the first value winning, where another reader of the
/// same bytes could take the second). `JSONDecoder` keeps one of them silently, so request
/// bodies are checked with this first.
///
/// Keys are compared after their escape sequences are decoded (`"a"` and `"\u0061"` are the
/// same key). Text that is not well-formed JSON, or nests deeper than `maxDepth`, gives nil:
/// the decoder then refuses it with its own words.
enum JSONDuplicateKeys {
    /// The deepest nesting scanned.
    static let maxDepth = 64

    /// The first key found twice in one object, or nil.
    static func first(in bytes: UnsafeRawBufferPointer) -> String? {
        var scanner = Scanner(bytes: bytes)
        do {
            try scanner.value(depth: 0)
            return nil
        } catch .duplicate(let key) {
            return key
        } catch {
            return nil
        }
    }

    private enum Stop: Error {
        case duplicate(String)
        case malformed
    }

    private struct Scanner {
        let bytes: UnsafeRawBufferPointer
        var position = 0

        mutating func skipWhitespace() {
            while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
        }

        mutating func value(depth: Int) throws(Stop) {
            guard depth < JSONDuplicateKeys.maxDepth else { throw .malformed }
            skipWhitespace()
            guard position < bytes.count else { throw .malformed }
            switch bytes[position] {
            case UInt8(ascii: "{"): try object(depth: depth)
            case UInt8(ascii: "["): try array(depth: depth)
            case UInt8(ascii: "\""): _ = try string()
            default:
                // A number or a literal: up to the next delimiter.
                let start = position
                while position < bytes.count, ![0x2C, 0x7D, 0x5D, 0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
                guard position > start else { throw .malformed }
            }
        }

        mutating func object(depth: Int) throws(Stop) {
            position += 1
            var keys = Set<[UInt8]>()
            skipWhitespace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
                position += 1
                return
            }
            while true {
                skipWhitespace()
                guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw .malformed }
                let key = try string()
                guard keys.insert(key).inserted else { throw .duplicate(String(decoding: key, as: UTF8.self)) }
                skipWhitespace()
                guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { throw .malformed }
                position += 1
                try value(depth: depth + 1)
                skipWhitespace()
                guard position < bytes.count else { throw .malformed }
                position += 1
                switch bytes[position - 1] {
                case UInt8(ascii: ","): continue
                case UInt8(ascii: "}"): return
                default: throw .malformed
                }
            }
        }

        mutating func array(depth: Int) throws(Stop) {
            position += 1
            skipWhitespace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
                position += 1
                return
            }
            while true {
                try value(depth: depth + 1)
                skipWhitespace()
                guard position < bytes.count else { throw .malformed }
                position += 1
                switch bytes[position - 1] {
                case UInt8(ascii: ","): continue
                case UInt8(ascii: "]"): return
                default: throw .malformed
                }
            }
        }

        /// A string's content with its escapes decoded, as UTF-8.
        mutating func string() throws(Stop) -> [UInt8] {
            position += 1
            var decoded: [UInt8] = []
            while position < bytes.count {
                let byte = bytes[position]
                position += 1
                switch byte {
                case UInt8(ascii: "\""): return decoded
                case UInt8(ascii: "\\"):
                    guard position < bytes.count else { throw .malformed }
                    let escape = bytes[position]
                    position += 1
                    switch escape {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): decoded.append(escape)
                    case UInt8(ascii: "b"): decoded.append(0x08)
                    case UInt8(ascii: "f"): decoded.append(0x0C)
                    case UInt8(ascii: "n"): decoded.append(0x0A)
                    case UInt8(ascii: "r"): decoded.append(0x0D)
                    case UInt8(ascii: "t"): decoded.append(0x09)
                    case UInt8(ascii: "u"): decoded += try unicodeEscape()
                    default: throw .malformed
                    }
                default: decoded.append(byte)
                }
            }
            throw .malformed
        }

        /// The UTF-8 of a `\uXXXX` escape (the `\u` read), with a following low surrogate.
        mutating func unicodeEscape() throws(Stop) -> [UInt8] {
            var scalar = try hex4()
            if (0xD800..<0xDC00).contains(scalar), position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"),
                bytes[position + 1] == UInt8(ascii: "u")
            {
                position += 2
                let low = try hex4()
                guard (0xDC00..<0xE000).contains(low) else { throw .malformed }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            }
            guard let unicode = Unicode.Scalar(scalar) else { throw .malformed }
            return Array(String(Character(unicode)).utf8)
        }

        mutating func hex4() throws(Stop) -> UInt32 {
            guard bytes.count - position >= 4 else { throw .malformed }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[position]
                position += 1
                let digit: UInt32
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
                default: throw .malformed
                }
                value = value << 4 | digit
            }
            return value
        }
    }
}
