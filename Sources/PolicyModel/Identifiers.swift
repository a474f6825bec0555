/// A 128-bit identifier chosen by the proposing replica before a command is replicated (so
/// that applying the command never draws randomness). Written as 32 lowercase hex digits.
public struct EntityID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The high 64 bits.
    public let high: UInt64
    /// The low 64 bits.
    public let low: UInt64

    /// Creates an identifier from its two halves.
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// Parses 32 hex digits.
    /// - Throws: `PolicyError.invalidArgument` for any other text.
    public init(hex: String) throws(PolicyError) {
        let digits = Array(hex.utf8)
        guard digits.count == 32 else { throw .invalidArgument("identifier \"\(hex)\" must be 32 hex digits") }
        var halves: [UInt64] = [0, 0]
        for (offset, digit) in digits.enumerated() {
            let value: UInt8
            switch digit {
            case 0x30...0x39: value = digit - 0x30
            case 0x61...0x66: value = digit - 0x61 + 10
            default: throw .invalidArgument("identifier \"\(hex)\" must be 32 lowercase hex digits")
            }
            halves[offset / 16] = halves[offset / 16] << 4 | UInt64(value)
        }
        high = halves[0]
        low = halves[1]
    }

    public static func < (lhs: EntityID, rhs: EntityID) -> Bool {
        (lhs.high, lhs.low) < (rhs.high, rhs.low)
    }

    public var description: String {
        func hex(_ value: UInt64) -> String {
            let text = String(value, radix: 16)
            return String(repeating: "0", count: 16 - text.count) + text
        }
        return hex(high) + hex(low)
    }
}

/// A point in time, chosen by the proposing replica: milliseconds since 1970-01-01 UTC.
public struct Timestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Milliseconds since the Unix epoch.
    public let millisecondsSinceEpoch: Int64

    /// Creates a timestamp.
    public init(millisecondsSinceEpoch: Int64) {
        self.millisecondsSinceEpoch = millisecondsSinceEpoch
    }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
        lhs.millisecondsSinceEpoch < rhs.millisecondsSinceEpoch
    }

    public var description: String { "\(millisecondsSinceEpoch)ms" }
}
