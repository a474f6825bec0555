/// URL-safe base64 (RFC 4648 §5: `-` and `_` for 62 and 63), written and read exactly as the
/// reference does for tokens, third-party requests and blocks, and snapshots: it uses the Rust
/// crate `base64` 0.13 with the `URL_SAFE` configuration.
///
/// Writing pads with `=`. Reading accepts padded and unpadded text alike, and refuses everything
/// else with the error the reference gives, at the same offset: the standard alphabet's `+` and
/// `/`, whitespace and newlines anywhere, misplaced or surplus padding, a length no encoding has,
/// and a last symbol whose unused low bits are not zero (no two texts decode to the same bytes).
enum Base64URL {
    /// The 64 symbols, in the order of their values.
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// The padding symbol, `=`.
    private static let padding = UInt8(ascii: "=")

    /// How many symbols the reference's decoder takes at a time. Its last chunk (2 to 8 symbols)
    /// is the only place padding may appear, so the errors for bad padding depend on it.
    private static let chunkSymbolCount = 8

    // MARK: - Public API

    /// The URL-safe base64 text of `bytes`, padded with `=` to a multiple of four characters.
    static func encode(_ bytes: [UInt8]) -> String {
        var text: [UInt8] = []
        text.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let available = min(3, bytes.count - index)
            var group: UInt32 = 0
            for offset in 0..<3 {
                group <<= 8
                if offset < available { group |= UInt32(bytes[index + offset]) }
            }
            // Three bytes give four symbols; one byte gives two symbols and two bytes three, padded.
            for symbol in 0..<4 {
                if symbol <= available {
                    text.append(alphabet[Int(group >> UInt32(18 - 6 * symbol) & 0x3F)])
                } else {
                    text.append(padding)
                }
            }
            index += available
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The bytes that URL-safe base64 `text` encodes, padded or not.
    /// - Throws: `Base64Error`, with the case and offset (in UTF-8 bytes) the reference reports:
    ///   `.invalidLength` when the length leaves a lone symbol (1 or 5 beyond a multiple of 8,
    ///   as the reference counts), `.invalidByte` for a byte outside the alphabet or a misplaced
    ///   `=`, `.invalidLastSymbol` when the last symbol has non-zero unused bits.
    static func decode(_ text: String) throws(Base64Error) -> [UInt8] {
        let input = Array(text.utf8)
        let remainder = input.count % chunkSymbolCount
        if remainder == 1 || remainder == 5 {
            // The reference names a bad last byte before the length: a trailing newline is an
            // invalid byte.
            if let last = input.last, last != padding, value(of: last) == nil {
                throw .invalidByte(offset: input.count - 1, byte: last)
            }
            throw .invalidLength
        }
        let lastChunkStart = input.isEmpty ? 0 : (input.count - 1) / chunkSymbolCount * chunkSymbolCount
        var output: [UInt8] = []
        output.reserveCapacity(input.count / 4 * 3 + 2)
        // Every quad before the last chunk is four symbols; padding there is an invalid byte.
        var index = 0
        while index < lastChunkStart {
            var group: UInt32 = 0
            for offset in index..<(index + 4) {
                guard let symbolValue = value(of: input[offset]) else {
                    throw .invalidByte(offset: offset, byte: input[offset])
                }
                group = group << 6 | UInt32(symbolValue)
            }
            output.append(UInt8(truncatingIfNeeded: group >> 16))
            output.append(UInt8(truncatingIfNeeded: group >> 8))
            output.append(UInt8(truncatingIfNeeded: group))
            index += 4
        }
        try decodeLastChunk(input[lastChunkStart...], into: &output)
        return output
    }

    // MARK: - Private helpers

    /// The value of a URL-safe symbol, or `nil` for any other byte (`=` included).
    private static func value(of byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return byte - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): return byte - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0") + 52
        case UInt8(ascii: "-"): return 62
        case UInt8(ascii: "_"): return 63
        default: return nil
        }
    }

    /// Decodes the last chunk as base64 0.13 does: `=` may only take the third and fourth places
    /// of a quad and nothing but `=` may follow it; the bits of the symbols that do not make a
    /// whole byte must be zero.
    private static func decodeLastChunk(_ chunk: ArraySlice<UInt8>, into output: inout [UInt8]) throws(Base64Error) {
        // The symbols' bits, packed from the most significant end.
        var bits: UInt64 = 0
        var symbolCount = 0
        var firstPaddingOffset: Int?
        var lastSymbol: UInt8 = 0
        for offset in chunk.indices {
            let byte = chunk[offset]
            if byte == padding {
                if (offset - chunk.startIndex) % 4 < 2 {
                    throw .invalidByte(offset: firstPaddingOffset ?? offset, byte: padding)
                }
                if firstPaddingOffset == nil { firstPaddingOffset = offset }
                continue
            }
            if let firstPaddingOffset { throw .invalidByte(offset: firstPaddingOffset, byte: padding) }
            guard let symbolValue = value(of: byte) else { throw .invalidByte(offset: offset, byte: byte) }
            lastSymbol = byte
            // At most eight symbols: the lowest shift is 16.
            bits |= UInt64(symbolValue) << UInt64(58 - 6 * symbolCount)
            symbolCount += 1
        }
        let wholeByteBits = symbolCount * 6 / 8 * 8
        if bits & (UInt64.max >> UInt64(wholeByteBits)) != 0 {
            throw .invalidLastSymbol(offset: chunk.startIndex + symbolCount - 1, byte: lastSymbol)
        }
        for shift in stride(from: 56, to: 56 - wholeByteBits, by: -8) {
            output.append(UInt8(truncatingIfNeeded: bits >> UInt64(shift)))
        }
    }
}

/// Why text is not URL-safe base64, with the reference's (`base64` 0.13 `DecodeError`) cases and
/// offsets, so that errors compare case by case.
enum Base64Error: Error, Hashable, Sendable, CustomStringConvertible {
    /// The byte at `offset` (counted in UTF-8 bytes) is not a URL-safe symbol, or is a misplaced `=`.
    case invalidByte(offset: Int, byte: UInt8)
    /// The length leaves a single symbol at the end, which cannot make a byte.
    case invalidLength
    /// The last symbol, at `offset`, has bits set that no byte uses.
    case invalidLastSymbol(offset: Int, byte: UInt8)

    /// The reference's message.
    var description: String {
        switch self {
        case .invalidByte(let offset, let byte): return "Invalid byte \(byte), offset \(offset)."
        case .invalidLength: return "Encoded text cannot have a 6-bit remainder."
        case .invalidLastSymbol(let offset, let byte): return "Invalid last symbol \(byte), offset \(offset)."
        }
    }
}
