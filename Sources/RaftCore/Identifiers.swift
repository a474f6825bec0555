/// A Raft term: the logical clock of leadership. Terms only grow (Raft §5.1).
public typealias Term = UInt64

/// The position of an entry in the replicated log. Index 0 is the empty prefix; the first real
/// entry has index 1.
public typealias LogIndex = UInt64

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
