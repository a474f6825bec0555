/// A message between two replicas. Every message carries its sender's term; the receiver
/// compares terms before anything else (Raft §5.1).
public struct Message: Hashable, Sendable, CustomStringConvertible {
    /// The sending replica.
    public var from: ReplicaID
    /// The receiving replica.
    public var to: ReplicaID
    /// The sender's term (for a pre-vote request: the term the sender would campaign in).
    public var term: Term
    /// What the message says.
    public var kind: Kind

    /// Creates a message.
    public init(from: ReplicaID, to: ReplicaID, term: Term, kind: Kind) {
        self.from = from
        self.to = to
        self.term = term
        self.kind = kind
    }

    /// The kinds of message in the protocol.
    public enum Kind: Hashable, Sendable {
        /// Leader → follower: entries to append after `prev` (Raft §5.3).
        case appendEntries(AppendEntries)
        /// Follower → leader: the outcome of an append or a snapshot installation.
        case appendResponse(AppendResponse)
        /// Leader → follower: keeps the follower's election timer reset, carries the commit
        /// index and the latest read round (Raft §6.4).
        case heartbeat(Heartbeat)
        /// Follower → leader: acknowledges a heartbeat and the read round it carried.
        case heartbeatResponse(readRound: UInt64)
        /// Candidate → voter: asks for a vote (Raft §5.2).
        case requestVote(VoteRequest)
        /// Voter → candidate: the vote.
        case voteResponse(granted: Bool)
        /// Pre-candidate → voter: would you vote for me in `term`? Changes no state (Raft thesis §9.6).
        case requestPreVote(VoteRequest)
        /// Voter → pre-candidate: the answer to a pre-vote.
        case preVoteResponse(granted: Bool)
        /// Leader → follower: install the snapshot described here; the runtime carries its bytes.
        case installSnapshot(SnapshotMetadata)
        /// Leader → transfer target: campaign now, without waiting for the election timeout
        /// (Raft thesis §3.10).
        case timeoutNow
        /// Follower → leader: confirm leadership and return a read index for `context`.
        case readIndex(ReadContext)
        /// Leader → follower: the read index for a forwarded request.
        case readIndexResponse(context: ReadContext, index: LogIndex)
    }

    public var description: String {
        "\(from)->\(to) \(kind.summary(term: term))"
    }

    /// Whether this is an answer to a vote request (not a pre-vote).
    var isVoteResponse: Bool {
        if case .voteResponse = kind { return true }
        return false
    }
}

/// The body of an append request.
public struct AppendEntries: Hashable, Sendable {
    /// The position the new entries follow; the receiver must hold exactly this entry.
    public var previous: LogPosition
    /// The entries to append, contiguous from `previous.index + 1`. Empty for a probe.
    public var entries: [Entry]
    /// The leader's commit index.
    public var commit: LogIndex

    /// Creates an append request.
    public init(previous: LogPosition, entries: [Entry], commit: LogIndex) {
        self.previous = previous
        self.entries = entries
        self.commit = commit
    }
}

/// The body of an append (or snapshot) response.
public struct AppendResponse: Hashable, Sendable {
    /// On success, the last index now known to match the leader. On rejection, the
    /// `previous.index` of the request that was rejected.
    public var index: LogIndex
    /// Whether the follower's log did not contain the request's previous entry.
    public var rejected: Bool
    /// On rejection: the follower's best guess of the last index the logs may share, so the
    /// leader can skip a whole term of conflicting entries in one round (Raft §5.3 optimisation).
    public var hint: LogPosition

    /// Creates an append response.
    public init(index: LogIndex, rejected: Bool = false, hint: LogPosition = LogPosition(index: 0, term: 0)) {
        self.index = index
        self.rejected = rejected
        self.hint = hint
    }
}

/// The body of a heartbeat.
public struct Heartbeat: Hashable, Sendable {
    /// The commit index, capped at what the follower is known to hold.
    public var commit: LogIndex
    /// The newest read round the leader is confirming; 0 when none.
    public var readRound: UInt64

    /// Creates a heartbeat.
    public init(commit: LogIndex, readRound: UInt64) {
        self.commit = commit
        self.readRound = readRound
    }
}

/// The body of a vote or pre-vote request.
public struct VoteRequest: Hashable, Sendable {
    /// The candidate's last log position, for the up-to-date check (Raft §5.4.1).
    public var lastPosition: LogPosition
    /// Set when the election was started by a leadership transfer; voters then ignore their
    /// leader lease, since the current leader asked for it.
    public var leadershipTransfer: Bool

    /// Creates a vote request.
    public init(lastPosition: LogPosition, leadershipTransfer: Bool) {
        self.lastPosition = lastPosition
        self.leadershipTransfer = leadershipTransfer
    }
}

/// An opaque identifier the runtime chooses for one linearizable read; returned unchanged in the
/// matching `ReadState`. It must be unique among the runtime's outstanding reads.
public struct ReadContext: Hashable, Sendable, CustomStringConvertible {
    /// The identifier's bytes.
    public var bytes: [UInt8]

    /// Creates a read context.
    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// Creates a read context from a number, a convenience for runtimes that count reads.
    public init(number: UInt64) {
        self.bytes = (0..<8).map { UInt8(truncatingIfNeeded: number >> (8 * UInt64($0))) }
    }

    /// The number this context was made from with `init(number:)`, when it is eight bytes long.
    public var number: UInt64? {
        guard bytes.count == 8 else { return nil }
        var value: UInt64 = 0
        for (offset, byte) in bytes.enumerated() { value |= UInt64(byte) << (8 * UInt64(offset)) }
        return value
    }

    public var description: String {
        number.map { "ctx\($0)" } ?? "ctx[\(bytes.count)]"
    }
}

/// A completed read: the state machine may serve the read identified by `context` once it has
/// applied through `index`.
public struct ReadState: Hashable, Sendable, CustomStringConvertible {
    /// The runtime's identifier for the read.
    public var context: ReadContext
    /// The commit index that was current when leadership was confirmed.
    public var index: LogIndex

    /// Creates a read state.
    public init(context: ReadContext, index: LogIndex) {
        self.context = context
        self.index = index
    }

    public var description: String { "read \(context) at \(index)" }
}

extension Message.Kind {
    /// A one-line, stable rendering used by logs and transcript tests.
    func summary(term: Term) -> String {
        switch self {
        case .appendEntries(let append):
            let entries = append.entries.map(\.description).joined(separator: ", ")
            return "MsgApp term=\(term) prev=\(append.previous) commit=\(append.commit) entries=[\(entries)]"
        case .appendResponse(let response):
            if response.rejected {
                return "MsgAppResp term=\(term) reject index=\(response.index) hint=\(response.hint)"
            }
            return "MsgAppResp term=\(term) index=\(response.index)"
        case .heartbeat(let heartbeat):
            return "MsgHeartbeat term=\(term) commit=\(heartbeat.commit) read=\(heartbeat.readRound)"
        case .heartbeatResponse(let round):
            return "MsgHeartbeatResp term=\(term) read=\(round)"
        case .requestVote(let request):
            return "MsgVote term=\(term) last=\(request.lastPosition)\(request.leadershipTransfer ? " transfer" : "")"
        case .voteResponse(let granted):
            return "MsgVoteResp term=\(term) \(granted ? "granted" : "rejected")"
        case .requestPreVote(let request):
            return "MsgPreVote term=\(term) last=\(request.lastPosition)"
        case .preVoteResponse(let granted):
            return "MsgPreVoteResp term=\(term) \(granted ? "granted" : "rejected")"
        case .installSnapshot(let metadata):
            return "MsgSnap term=\(term) \(metadata)"
        case .timeoutNow:
            return "MsgTimeoutNow term=\(term)"
        case .readIndex(let context):
            return "MsgReadIndex term=\(term) \(context)"
        case .readIndexResponse(let context, let index):
            return "MsgReadIndexResp term=\(term) \(context) index=\(index)"
        }
    }
}
