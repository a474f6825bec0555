public import RaftCore
public import PolicyModel

/// Everything a replica needs to run, validated by `validate()` before it starts.
public struct ReplicaConfiguration: Sendable {
    /// This replica's id.
    public var id: ReplicaID
    /// The directory holding the Raft log, the policy database and snapshot files.
    public var dataDirectory: String
    /// The founding voters of a new cluster. A replica whose log is empty starts from the
    /// bootstrap entry naming them; an empty list means it joins an existing cluster and waits
    /// for the leader to add it (as a learner) and send it the log.
    public var initialVoters: [ReplicaID]
    /// Raft's logical-time settings and flow-control limits.
    public var raft: RaftOptions
    /// A snapshot of the state machine is taken, and the log compacted, once this many entries
    /// were applied since the last snapshot.
    public var snapshotIntervalEntries: Int = 100_000
    /// The runtime's own limits.
    public var limits = ReplicaLimits()
    /// The domain limits every replica applies commands with.
    public var policyLimits: PolicyLimits = .standard
    /// Seed of the instance's election timeouts (the runtime draws it from the system).
    public var seed: UInt64

    /// Creates a configuration with default limits.
    public init(id: ReplicaID, dataDirectory: String, initialVoters: [ReplicaID], seed: UInt64) {
        self.id = id
        self.dataDirectory = dataDirectory
        self.initialVoters = initialVoters
        self.raft = RaftOptions(id: id)
        self.seed = seed
    }

    /// Checks the configuration; the error names the first problem found.
    public func validate() throws(ReplicaError) {
        do {
            try raft.validate()
        } catch {
            throw .invalidConfiguration("raft options: \(error)")
        }
        guard raft.id == id else { throw .invalidConfiguration("the Raft options are for replica \(raft.id), not \(id)") }
        guard !dataDirectory.isEmpty else { throw .invalidConfiguration("the data directory is empty") }
        guard Set(initialVoters).count == initialVoters.count else { throw .invalidConfiguration("initial voters repeat an id") }
        guard initialVoters.isEmpty || initialVoters.contains(id) else {
            throw .invalidConfiguration("replica \(id) founds a cluster it is not a voter of")
        }
        guard snapshotIntervalEntries >= 1 else { throw .invalidConfiguration("the snapshot interval must be at least 1 entry") }
        try limits.validate()
    }
}

/// Named maxima of the runtime, validated at start-up.
public struct ReplicaLimits: Sendable, Hashable {
    /// Events (messages, ticks, requests) waiting for the runtime; a request arriving when it is
    /// full is refused with `.overloaded`, a message is dropped (Raft retransmits).
    public var maxPendingEvents = 16_384
    /// Events the runtime takes in one turn, so one `Ready` batches many proposals into one
    /// durable write without starving the rest.
    public var maxEventsPerTurn = 4_096
    /// Requests waiting for a leader to be known (or forwarded and unanswered).
    public var maxWaitingRequests = 8_192
    /// Reads waiting for their read index or for the state machine to catch up.
    public var maxWaitingReads = 8_192
    /// The longest a forwarded request may ask the leader to keep it, in milliseconds.
    public var maxRequestTimeoutMilliseconds = 60_000
    /// How long a leader stopping gracefully waits for its leadership transfer, in milliseconds.
    public var shutdownTransferMilliseconds = 3_000

    /// The default limits.
    public init() {}

    /// Checks that every limit is positive.
    public func validate() throws(ReplicaError) {
        let named = [
            ("maxPendingEvents", maxPendingEvents), ("maxEventsPerTurn", maxEventsPerTurn), ("maxWaitingRequests", maxWaitingRequests),
            ("maxWaitingReads", maxWaitingReads), ("maxRequestTimeoutMilliseconds", maxRequestTimeoutMilliseconds),
            ("shutdownTransferMilliseconds", shutdownTransferMilliseconds),
        ]
        for (name, value) in named where value < 1 { throw .invalidConfiguration("\(name) must be at least 1") }
    }
}
