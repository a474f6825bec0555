public import RaftCore

/// The simulated state machine: how far it has applied and a digest of everything it applied,
/// in order. Two replicas with equal images applied exactly the same entries.
public struct StateMachineImage: Hashable, Sendable, CustomStringConvertible {
    /// The last applied index.
    public var index: LogIndex
    /// A running digest over every applied entry.
    public var digest: UInt64

    /// Creates an image.
    public init(index: LogIndex = 0, digest: UInt64 = 0xCBF2_9CE4_8422_2325) {
        self.index = index
        self.digest = digest
    }

    /// Returns the image after applying `entry`, which must be the next index.
    public func applying(_ entry: Entry) -> StateMachineImage {
        precondition(entry.index == index + 1, "apply of \(entry.index) after \(index)")
        var hash = digest
        func mix(_ value: UInt64) {
            hash ^= value
            hash = hash &* 0x0000_0100_0000_01B3
            hash ^= hash >> 29
        }
        mix(entry.index)
        mix(entry.term)
        switch entry.payload {
        case .noop:
            mix(1)
        case .command(let bytes):
            mix(2)
            for byte in bytes { mix(UInt64(byte)) }
        case .membership(let change):
            mix(3)
            for byte in change.description.utf8 { mix(UInt64(byte)) }
        }
        return StateMachineImage(index: entry.index, digest: hash)
    }

    public var description: String {
        let hex = String(digest, radix: 16)
        return "sm(\(index) #\(String(repeating: "0", count: max(0, 16 - hex.count)) + hex))"
    }
}

/// Encodes a proposal identifier as a command, and back.
public enum SimulatedCommand {
    /// The command bytes for proposal `id`.
    public static func encode(_ id: UInt64) -> [UInt8] {
        ReadContext(number: id).bytes
    }

    /// The proposal identifier in `bytes`, when it is a simulated command.
    public static func decode(_ bytes: [UInt8]) -> UInt64? {
        ReadContext(bytes).number
    }
}
