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
    /// Upper bounds, in seconds, of the durable-write latency histogram.
    public static let syncBucketsSeconds: [Double] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]

    /// Proposals accepted by this replica as leader.
    public var proposals = 0
    /// Requests this replica refused or failed (overloaded, timed out, dropped, not leader).
    public var failedRequests = 0
    /// Requests forwarded to the leader.
    public var forwardedRequests = 0
    /// Committed entries applied to the state machine.
    public var appliedEntries = 0
    /// `Ready` batches persisted.
    public var persistedBatches = 0
    /// Durable-write latency: counts per bucket of `syncBucketsSeconds` (the last is +Inf).
    public var syncLatencyCounts = [Int](repeating: 0, count: ReplicaMetrics.syncBucketsSeconds.count + 1)
    /// Durable-write latency: sum in seconds.
    public var syncLatencySumSeconds = 0.0
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

    /// Creates zeroed metrics.
    public init() {}

    mutating func recordSync(seconds: Double) {
        let bucket = Self.syncBucketsSeconds.firstIndex { seconds <= $0 } ?? Self.syncBucketsSeconds.count
        syncLatencyCounts[bucket] += 1
        syncLatencySumSeconds += seconds
    }
}
