/// One record of the replicated log.
public struct Entry: Hashable, Sendable, CustomStringConvertible {
    /// The term of the leader that created the entry.
    public var term: Term
    /// The entry's position in the log.
    public var index: LogIndex
    /// What the entry carries.
    public var payload: Payload

    /// What a log entry carries.
    public enum Payload: Hashable, Sendable {
        /// The empty entry a leader appends at the start of its term (Raft §8), so that it can
        /// commit entries of earlier terms and serve reads.
        case noop
        /// An opaque command for the state machine.
        case command([UInt8])
        /// A membership change; it takes effect on a replica as soon as the entry is in its log.
        case membership(MembershipChange)
    }

    /// Creates an entry.
    public init(term: Term, index: LogIndex, payload: Payload) {
        self.term = term
        self.index = index
        self.payload = payload
    }

    /// The entry's position.
    public var position: LogPosition { LogPosition(index: index, term: term) }

    /// The size charged to flow control and to the uncommitted-bytes limit: the command bytes,
    /// or a small fixed amount for other payloads.
    public var payloadBytes: Int {
        switch payload {
        case .command(let bytes): return bytes.count
        case .noop, .membership: return 0
        }
    }

    /// The bytes an entry is assumed to take on the wire beyond its payload, for message sizing.
    static let overheadBytes = 24

    public var description: String {
        switch payload {
        case .noop: return "\(index)@\(term) noop"
        case .command(let bytes): return "\(index)@\(term) cmd[\(bytes.count)]"
        case .membership(let change): return "\(index)@\(term) \(change)"
        }
    }
}

/// The state a replica must make durable before it may answer votes or acknowledge appends.
public struct HardState: Hashable, Sendable, CustomStringConvertible {
    /// The latest term this replica has seen.
    public var term: Term
    /// The candidate this replica voted for in `term`, if any.
    public var votedFor: ReplicaID?
    /// The highest index known committed. Persisting it is an optimisation (fewer entries to
    /// re-apply after a restart); losing it is safe.
    public var commit: LogIndex

    /// Creates a hard state.
    public init(term: Term = 0, votedFor: ReplicaID? = nil, commit: LogIndex = 0) {
        self.term = term
        self.votedFor = votedFor
        self.commit = commit
    }

    public var description: String {
        "term=\(term) vote=\(votedFor.map(\.description) ?? "-") commit=\(commit)"
    }
}

/// What identifies a snapshot: the last entry it covers and the membership in force there. The
/// snapshot's bytes never pass through the instance; the runtime stores and ships them.
public struct SnapshotMetadata: Hashable, Sendable, CustomStringConvertible {
    /// The index of the last entry the snapshot covers.
    public var index: LogIndex
    /// The term of that entry.
    public var term: Term
    /// The membership in force at `index`.
    public var membership: Membership

    /// Creates snapshot metadata.
    public init(index: LogIndex, term: Term, membership: Membership) {
        self.index = index
        self.term = term
        self.membership = membership
    }

    /// The metadata of the empty snapshot every log starts from.
    public static let empty = SnapshotMetadata(index: 0, term: 0, membership: .empty)

    public var description: String { "snapshot(\(index)@\(term) \(membership))" }
}

/// Everything a replica reloads from durable storage when it starts.
public struct PersistedState: Hashable, Sendable {
    /// The last durable hard state.
    public var hardState: HardState
    /// The latest durable snapshot's metadata (`.empty` when there is none).
    public var snapshot: SnapshotMetadata
    /// The durable entries after the snapshot, contiguous from `snapshot.index + 1`.
    public var entries: [Entry]
    /// The index the state machine has applied through; at least `snapshot.index`.
    public var applied: LogIndex

    /// Creates a persisted state.
    public init(hardState: HardState, snapshot: SnapshotMetadata, entries: [Entry], applied: LogIndex) {
        self.hardState = hardState
        self.snapshot = snapshot
        self.entries = entries
        self.applied = applied
    }

    /// The state of a replica that has never run and knows no cluster yet; it waits to be added
    /// by a leader.
    public static let empty = PersistedState(hardState: HardState(), snapshot: .empty, entries: [], applied: 0)

    /// The state every founding replica of a new cluster starts from: one committed entry at
    /// index 1, term 1, that names the initial voters. All founders must use the same voters.
    /// - Parameter voters: the founding voters.
    public static func bootstrap(voters: [ReplicaID]) -> PersistedState {
        let first = Entry(term: 1, index: 1, payload: .membership(.bootstrap(voters: voters.sorted())))
        return PersistedState(
            hardState: HardState(term: 1, votedFor: nil, commit: 1), snapshot: .empty, entries: [first],
            applied: 0)
    }
}
