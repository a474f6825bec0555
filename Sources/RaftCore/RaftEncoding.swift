/// The binary encoding of entries, memberships and snapshot metadata, shared by durable
/// storage and the peer transport. Little-endian fixed-width integers; every length is
/// checked against the bytes that remain, so malformed input is an error, never a crash.
public enum RaftEncoding {
    /// The most voters plus learners a membership may list when decoded.
    public static let maxMembers = 64
    /// The most bytes of one command when decoded.
    public static let maxCommandBytes = 16 << 20

    /// Appends the encoding of `entry` to `buffer`.
    public static func append(_ entry: Entry, to buffer: inout [UInt8]) {
        appendInteger(entry.term, to: &buffer)
        appendInteger(entry.index, to: &buffer)
        switch entry.payload {
        case .noop:
            buffer.append(0)
        case .command(let bytes):
            buffer.append(1)
            appendInteger(UInt32(bytes.count), to: &buffer)
            buffer.append(contentsOf: bytes)
        case .membership(let change):
            buffer.append(2)
            append(change, to: &buffer)
        }
    }

    /// Appends the encoding of a membership change.
    public static func append(_ change: MembershipChange, to buffer: inout [UInt8]) {
        switch change {
        case .bootstrap(let voters):
            buffer.append(0)
            appendIDs(voters, to: &buffer)
        case .addLearner(let id):
            buffer.append(1)
            appendInteger(id.rawValue, to: &buffer)
        case .promote(let id):
            buffer.append(2)
            appendInteger(id.rawValue, to: &buffer)
        case .remove(let id):
            buffer.append(3)
            appendInteger(id.rawValue, to: &buffer)
        }
    }

    /// Appends the encoding of snapshot metadata.
    public static func append(_ metadata: SnapshotMetadata, to buffer: inout [UInt8]) {
        appendInteger(metadata.index, to: &buffer)
        appendInteger(metadata.term, to: &buffer)
        appendIDs(metadata.membership.voters, to: &buffer)
        appendIDs(metadata.membership.learners, to: &buffer)
    }

    /// Appends the encoding of a hard state.
    public static func append(_ hardState: HardState, to buffer: inout [UInt8]) {
        appendInteger(hardState.term, to: &buffer)
        appendInteger(hardState.votedFor?.rawValue ?? 0, to: &buffer)
        appendInteger(hardState.commit, to: &buffer)
    }

    /// Appends a fixed-width little-endian integer.
    public static func appendInteger<Value: FixedWidthInteger>(_ value: Value, to buffer: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { buffer.append(contentsOf: $0) }
    }

    private static func appendIDs(_ ids: [ReplicaID], to buffer: inout [UInt8]) {
        appendInteger(UInt16(ids.count), to: &buffer)
        for id in ids { appendInteger(id.rawValue, to: &buffer) }
    }
}

/// Why bytes could not be decoded.
public enum RaftDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The bytes end in the middle of the named field.
    case truncated(String)
    /// The named field holds an impossible value.
    case invalid(String)

    public var description: String {
        switch self {
        case .truncated(let field): return "truncated in \(field)"
        case .invalid(let field): return "invalid \(field)"
        }
    }
}

/// Reads the encoding of `RaftEncoding` from a byte buffer.
public struct RaftDecoder {
    private let bytes: [UInt8]
    private let end: Int
    /// The position of the next byte to read.
    public private(set) var offset: Int

    /// Creates a decoder over `bytes[offset..<end]` (to the end when `end` is nil). The array is
    /// shared, not copied.
    public init(_ bytes: [UInt8], offset: Int = 0, end: Int? = nil) {
        precondition(offset >= 0 && offset <= (end ?? bytes.count) && (end ?? 0) <= bytes.count, "decoder bounds out of range")
        self.bytes = bytes
        self.offset = offset
        self.end = end ?? bytes.count
    }

    /// The number of bytes not yet read.
    public var remaining: Int { end - offset }

    /// Reads a fixed-width little-endian integer.
    public mutating func integer<Value: FixedWidthInteger>(_: Value.Type, _ field: String) throws(RaftDecodingError) -> Value {
        let size = MemoryLayout<Value>.size
        guard remaining >= size else { throw .truncated(field) }
        var value: Value = 0
        for index in 0..<size { value |= Value(bytes[offset + index]) << (8 * index) }
        offset += size
        return value
    }

    /// Reads a term: at most `RaftBounds.maxTerm`.
    public mutating func term(_ field: String) throws(RaftDecodingError) -> Term {
        let value = try integer(UInt64.self, field)
        guard value <= RaftBounds.maxTerm else { throw .invalid("\(field) \(value) beyond the largest term \(RaftBounds.maxTerm)") }
        return value
    }

    /// Reads a log index: at most `RaftBounds.maxIndex`.
    public mutating func index(_ field: String) throws(RaftDecodingError) -> LogIndex {
        let value = try integer(UInt64.self, field)
        guard value <= RaftBounds.maxIndex else { throw .invalid("\(field) \(value) beyond the largest index \(RaftBounds.maxIndex)") }
        return value
    }

    /// Reads one byte.
    public mutating func byte(_ field: String) throws(RaftDecodingError) -> UInt8 {
        try integer(UInt8.self, field)
    }

    /// Reads `count` raw bytes.
    public mutating func bytes(count: Int, _ field: String) throws(RaftDecodingError) -> [UInt8] {
        guard count >= 0, remaining >= count else { throw .truncated(field) }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    /// Reads a replica id (non-zero).
    public mutating func replicaID(_ field: String) throws(RaftDecodingError) -> ReplicaID {
        let raw = try integer(UInt64.self, field)
        guard raw != 0 else { throw .invalid(field) }
        return ReplicaID(rawValue: raw)
    }

    /// Reads an entry.
    public mutating func entry() throws(RaftDecodingError) -> Entry {
        let term = try term("entry term")
        let index = try index("entry index")
        let payload: Entry.Payload
        switch try byte("entry kind") {
        case 0:
            payload = .noop
        case 1:
            let count = Int(try integer(UInt32.self, "command length"))
            guard count <= RaftEncoding.maxCommandBytes else { throw .invalid("command length") }
            payload = .command(try bytes(count: count, "command"))
        case 2:
            payload = .membership(try membershipChange())
        default:
            throw .invalid("entry kind")
        }
        return Entry(term: term, index: index, payload: payload)
    }

    /// Reads a membership change.
    public mutating func membershipChange() throws(RaftDecodingError) -> MembershipChange {
        switch try byte("membership change") {
        case 0: return .bootstrap(voters: try ids("bootstrap voters"))
        case 1: return .addLearner(try replicaID("learner"))
        case 2: return .promote(try replicaID("promoted learner"))
        case 3: return .remove(try replicaID("removed member"))
        default: throw .invalid("membership change")
        }
    }

    /// Reads snapshot metadata.
    public mutating func snapshotMetadata() throws(RaftDecodingError) -> SnapshotMetadata {
        let index = try index("snapshot index")
        let term = try term("snapshot term")
        let voters = try ids("voters", sorted: true)
        let learners = try ids("learners", sorted: true)
        guard Set(voters).isDisjoint(with: learners) else { throw .invalid("membership") }
        return SnapshotMetadata(index: index, term: term, membership: Membership(voters: voters, learners: learners))
    }

    /// Reads a hard state.
    public mutating func hardState() throws(RaftDecodingError) -> HardState {
        let term = try term("term")
        let vote = try integer(UInt64.self, "vote")
        let commit = try index("commit")
        return HardState(term: term, votedFor: vote == 0 ? nil : ReplicaID(rawValue: vote), commit: commit)
    }

    /// Reads a list of replica ids without duplicates. A membership's lists are written sorted,
    /// and must be read sorted, so that every membership has exactly one encoding.
    private mutating func ids(_ field: String, sorted: Bool = false) throws(RaftDecodingError) -> [ReplicaID] {
        let count = Int(try integer(UInt16.self, field))
        guard count <= RaftEncoding.maxMembers else { throw .invalid(field) }
        var result: [ReplicaID] = []
        for _ in 0..<count { result.append(try replicaID(field)) }
        guard Set(result).count == result.count else { throw .invalid(field) }
        if sorted && result != result.sorted() { throw .invalid(field) }
        return result
    }
}
