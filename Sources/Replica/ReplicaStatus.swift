public import RaftCore

/// What a replica reports about itself; published by the runtime after every turn.
public struct ReplicaStatus: Hashable, Sendable {
    /// This replica.
    public var id: ReplicaID
    /// Its Raft role.
    public var role: Role = .follower
    /// Its current term.
    public var term: Term = 0
    /// The leader it knows of.
    public var leader: ReplicaID?
    /// The highest index known committed.
    public var commitIndex: LogIndex = 0
    /// The highest index applied to the state machine (the revision reads reflect).
    public var appliedIndex: LogIndex = 0
    /// The index of the last entry in the log.
    public var lastIndex: LogIndex = 0
    /// The index of the latest snapshot (entries up to it are compacted).
    public var snapshotIndex: LogIndex = 0
    /// The membership in force.
    public var membership: Membership = .empty
    /// The audit log's newest sequence number.
    public var auditSequence: UInt64 = 0
    /// The audit log's head hash (hex).
    public var auditHead: String = ""
    /// How far each member has replicated (leader only).
    public var matchIndexes: [ReplicaID: LogIndex] = [:]
    /// When the runtime last handled a packet from each peer (the start of that turn), for the
    /// operators' view of the cluster; a peer never heard from is absent.
    public var lastContact: [ReplicaID: ContinuousClock.Instant] = [:]
    /// Whether the replica was removed from the cluster.
    public var removed = false
    /// Whether the runtime stopped (gracefully, removed, or after a failure).
    public var stopped = false
    /// Why the runtime failed, if it did.
    public var failure: String?

    /// A status with nothing known yet.
    public init(id: ReplicaID) {
        self.id = id
    }
}

/// Counters and histograms of a replica, for metrics.
public struct ReplicaMetrics: Hashable, Sendable {
    /// Proposals accepted by this replica as leader.
    public var proposals = 0
    /// Requests this replica refused or failed (overloaded, timed out, dropped, not leader).
    public var failedRequests = 0
    /// Callers waiting for an answer from the runtime now (taken in, not yet answered).
    public var waitingCallers = 0
    /// Requests forwarded to the leader.
    public var forwardedRequests = 0
    /// Forwarded writes sent again for their callers: the leader they went to lost its term,
    /// and a later term's entry was applied without them (so they certainly were not).
    public var forwardsRetried = 0
    /// Committed entries applied to the state machine.
    public var appliedEntries = 0
    /// `Ready` batches persisted.
    public var persistedBatches = 0
    /// Durable log writes: one per synced `Ready`, from the append to the end of its fdatasync.
    public var logSync = LatencyHistogram()
    /// On the leader, each command from its proposal to its application (replication to a
    /// quorum, both fdatasyncs, and the wait for its batch to be applied).
    public var proposalCommit = LatencyHistogram()
    /// Each batch of committed entries applied: to the in-memory state, its callers answered,
    /// then to the database in one transaction.
    public var applyBatch = LatencyHistogram()
    /// Snapshots taken here (followed by compaction).
    public var snapshotsTaken = 0
    /// Snapshots sent to followers.
    public var snapshotsSent = 0
    /// Snapshots received and installed.
    public var snapshotsInstalled = 0
    /// Peer messages dropped because the runtime's queue was full.
    public var droppedEvents = 0
    /// Leader elections this replica saw (leader changes).
    public var leaderChanges = 0
    /// Peer messages the Raft instance refused as impossible from a correct peer (a term beyond
    /// its bound, a non-member's vote or answer; `RaftInstance.refusedMessages`).
    public var refusedPeerMessages: UInt64 = 0
    /// Forwarded writes refused because their sender is not a member.
    public var refusedPeerRequests = 0

    /// Creates zeroed metrics.
    public init() {}
}

/// A latency histogram with fixed buckets, in the shape Prometheus exposes.
public struct LatencyHistogram: Hashable, Sendable {
    /// Upper bounds of the buckets, in seconds (a last bucket, +Inf, takes the rest).
    public static let boundsSeconds: [Double] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]

    /// Observations per bucket of `boundsSeconds`, the last being +Inf (not cumulative).
    public private(set) var counts = [Int](repeating: 0, count: LatencyHistogram.boundsSeconds.count + 1)
    /// The sum of the observations, in seconds.
    public private(set) var sumSeconds = 0.0

    /// An empty histogram.
    public init() {}

    /// The number of observations.
    public var count: Int { counts.reduce(0, +) }

    /// Records one observation.
    public mutating func record(_ duration: Duration) {
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        let bucket = Self.boundsSeconds.firstIndex { seconds <= $0 } ?? Self.boundsSeconds.count
        counts[bucket] += 1
        sumSeconds += seconds
    }
}
