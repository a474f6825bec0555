/// A batch of work the instance hands to the runtime. The runtime carries it out in this order,
/// in one function, and then calls `RaftInstance.advance(_:)`:
///
/// 1. send `messages`;
/// 2. persist `snapshot` (install its bytes into the state machine), `hardState` and `entries`
///    (entries replace any stored entries from `entries.first.index` on), syncing to disk when
///    `mustSync`;
/// 3. send `messagesAfterPersist`;
/// 4. apply `committedEntries` in order;
/// 5. answer `readStates` once the state machine has applied through each one's index;
/// 6. call `advance`.
public struct Ready: Sendable {
    /// The role, leader and term, when they changed since the last `Ready`.
    public var softState: SoftState?
    /// The hard state to persist, when it changed.
    public var hardState: HardState?
    /// A snapshot received from the leader: install it and persist its metadata before the
    /// entries.
    public var snapshot: SnapshotMetadata?
    /// Entries to persist.
    public var entries: [Entry]
    /// Messages that may be sent before anything is persisted (a leader's appends: Raft thesis
    /// §10.2.1 lets a leader write to its disk and its followers' in parallel).
    public var messages: [Message]
    /// Messages that may only be sent once `hardState`, `entries` and `snapshot` are durable:
    /// votes, vote requests and append acknowledgements.
    public var messagesAfterPersist: [Message]
    /// Committed entries to apply, in order.
    public var committedEntries: [Entry]
    /// Reads whose leadership check completed.
    public var readStates: [ReadState]
    /// Whether persisting this batch needs a durable sync (a vote, a term or entries changed).
    public var mustSync: Bool

    /// Whether there is nothing to do.
    public var isEmpty: Bool {
        softState == nil && hardState == nil && snapshot == nil && entries.isEmpty && messages.isEmpty
            && messagesAfterPersist.isEmpty && committedEntries.isEmpty && readStates.isEmpty
    }
}

/// The volatile state of an instance, for observers: role, leader and term.
public struct SoftState: Hashable, Sendable, CustomStringConvertible {
    /// The replica's role.
    public var role: Role
    /// The leader this replica follows, if known.
    public var leader: ReplicaID?
    /// The current term.
    public var term: Term

    public var description: String { "\(role) term=\(term) leader=\(leader.map(\.description) ?? "-")" }
}

/// The roles of a replica (Raft §5.1, plus pre-candidate from thesis §9.6 and learner §4.2.1).
public enum Role: String, Hashable, Sendable, CustomStringConvertible {
    /// Follows a leader and votes.
    case follower
    /// Asks for pre-votes before starting an election.
    case preCandidate
    /// Campaigns for leadership in a new term.
    case candidate
    /// Leads the cluster for its term.
    case leader
    /// Receives the log but does not vote or campaign.
    case learner

    public var description: String { rawValue }
}
