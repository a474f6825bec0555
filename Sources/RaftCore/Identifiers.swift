/// A Raft term: the logical clock of leadership. Terms only grow (Raft §5.1).
public typealias Term = UInt64

/// The position of an entry in the replicated log. Index 0 is the empty prefix; the first real
/// entry has index 1.
public typealias LogIndex = UInt64

/// The largest terms and indexes Raft accepts from outside: from a peer, or from a file.
///
/// Never trust a number that came from the network: a sealed message with term 2^64 - 1 once
/// made every replica trap on its next campaign (`term + 1`), and again after every restart,
/// since the term is durable. No cluster can reach these bounds: a term grows by one per
/// election, and an election takes at least one election timeout (hundreds of milliseconds);
/// at one election a millisecond, 2^48 terms take 8,900 years. An index grows by one per entry;
/// at ten million entries a second, 2^60 take 3,600 years. So a value beyond them is proof of
/// a faulty or hostile peer, never of a busy cluster: decoders refuse it (the message is
/// dropped and counted, as any malformed message), `RaftInstance.step` ignores it, and all
/// arithmetic on terms and indexes below the bounds has room to spare (`term + 1`,
/// `index + count` cannot overflow).
public enum RaftBounds {
    /// The largest term accepted from outside.
    public static let maxTerm: Term = 1 << 48
    /// The largest log index accepted from outside.
    public static let maxIndex: LogIndex = 1 << 60
}

/// The identity of one replica in the cluster. Identifiers are never reused: a replica that was
/// removed and comes back joins under a new identifier.
public struct ReplicaID: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible,
    ExpressibleByIntegerLiteral
{
    /// The numeric identifier. Zero is reserved to mean "nobody".
    public let rawValue: UInt64

    /// Creates an identifier from its numeric value.
    /// - Parameter rawValue: a non-zero number.
    public init(rawValue: UInt64) {
        precondition(rawValue != 0, "ReplicaID 0 is reserved")
        self.rawValue = rawValue
    }

    /// Creates an identifier from its numeric value; a convenience for tests and configuration.
    public init(_ rawValue: UInt64) {
        self.init(rawValue: rawValue)
    }

    public init(integerLiteral value: UInt64) {
        self.init(rawValue: value)
    }

    public static func < (lhs: ReplicaID, rhs: ReplicaID) -> Bool {
        lhs.rawValue < rhs.rawValue
    }

    public var description: String { String(rawValue) }
}

/// The position of one entry: its index and the term it was created in. Two entries with the
/// same position hold the same payload (Raft §5.3, Log Matching).
public struct LogPosition: Hashable, Sendable, CustomStringConvertible {
    /// The entry's index.
    public var index: LogIndex
    /// The term of the leader that created the entry.
    public var term: Term

    /// Creates a position.
    public init(index: LogIndex, term: Term) {
        self.index = index
        self.term = term
    }

    public var description: String { "\(index)@\(term)" }
}
