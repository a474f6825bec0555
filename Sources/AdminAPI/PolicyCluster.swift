public import APIModels
public import PolicyModel

/// What the HTTP API needs from the cluster: the narrow view a replica offers, in four concerns
/// a consumer can take one at a time (`ReplicaCluster` in ClusterService wires the real replica
/// in; route tests use a fake). The API never sees Raft types.
public protocol PolicyCluster: ClusterHealth, ClusterWriter, ClusterReader, ReplicaResources, ClusterBackups {}

/// Backups: the replicated state at one revision, as a snapshot file (`SnapshotArchive`).
public protocol ClusterBackups: Sendable {
    /// Copies this replica's database at one revision, at least as new as `consistency` asks
    /// (linearizable: every write acknowledged before the call), and describes it in a
    /// snapshot header. Writes go on meanwhile.
    /// - Throws: `.overloaded` while another copy is being made, or why the copy failed.
    func exportSnapshot(consistency: ReadConsistency, timeout: Duration) async throws(ClusterError) -> SnapshotExport
}

/// A snapshot ready to be sent: the header line, then the database file's bytes.
public struct SnapshotExport: Sendable {
    /// What the snapshot holds.
    public var header: SnapshotHeader
    /// The magic and header lines (`SnapshotArchive.encode`).
    public var headerBytes: [UInt8]
    /// The database copy, `header.databaseBytes` long.
    public var databasePath: String
    /// Removes the copy: called once it was sent, or could not be.
    public var remove: @Sendable () -> Void

    /// Creates an export.
    public init(header: SnapshotHeader, headerBytes: [UInt8], databasePath: String, remove: @escaping @Sendable () -> Void) {
        self.header = header
        self.headerBytes = headerBytes
        self.databasePath = databasePath
        self.remove = remove
    }
}

/// How the replica is: for operators and probes.
public protocol ClusterHealth: Sendable {
    /// This replica's view of the cluster.
    func status() -> ClusterStatus
    /// Whether the replica's runtime is running (liveness).
    func isHealthy() -> Bool
    /// Whether the replica can serve: a leader is known and its state is caught up.
    func isReady() -> Bool
    /// Metrics in the Prometheus text format.
    func metricsText() -> String
    /// The state hash (hex) of the replica's database, at the revision returned.
    func stateHash() async throws(ClusterError) -> (hash: String, revision: UInt64)
}

/// Changes through the leader: commands, membership, leadership.
public protocol ClusterWriter: Sendable {
    /// Proposes a command through the leader and waits for its outcome.
    func submit(_ envelope: CommandEnvelope, timeout: Duration) async throws(ClusterError) -> CommandOutcome
    /// `submit` for a caller that cannot suspend (the request fast path, on an event loop).
    /// - Parameter completion: called exactly once, on any thread, with what `submit` would
    ///   return or throw; it must not block.
    func submit(_ envelope: CommandEnvelope, timeout: Duration, completion: @escaping @Sendable (Result<CommandOutcome, ClusterError>) -> Void)
    /// Changes the membership through the leader.
    func changeMembership(_ change: MembershipOperation, timeout: Duration) async throws(ClusterError) -> UInt64
    /// Proves that replica `replica` runs at `address` (`host:port`): a peer connection to it
    /// completes the handshake (it holds the cluster secret, and with peer TLS, a certificate
    /// naming it) within `timeout`, and is closed.
    /// - Throws: `.invalidArgument` naming the address and why it could not be reached.
    func probePeer(_ replica: UInt64, at address: String, timeout: Duration) async throws(ClusterError)
    /// Hands leadership to `replica`.
    func transferLeadership(to replica: UInt64, timeout: Duration) async throws(ClusterError)
}

/// Reads of the replicated state at a chosen consistency.
public protocol ClusterReader: Sendable {
    /// Runs `body` on the replica's state after waiting for the consistency asked for.
    /// - Returns: the body's value and the revision the state reflects.
    func read<Value: Sendable>(_ consistency: ReadConsistency, timeout: Duration, _ body: @escaping @Sendable (PolicyState) -> Value)
        async throws(ClusterError) -> (value: Value, revision: UInt64)
    /// Runs `body` on the replica's state as it is now, on the caller's thread and without
    /// waiting (a stale read that never suspends, for the request fast path).
    /// - Returns: the body's value and the revision the state reflects.
    func readNow<Value>(_ body: (PolicyState) -> Value) throws(ClusterError) -> (value: Value, revision: UInt64)
    /// A page of audit records after `cursor`, filtered, after waiting for the consistency asked.
    func auditRecords(after cursor: String?, limit: Int, filter: AuditQuery, consistency: ReadConsistency, timeout: Duration)
        async throws(ClusterError) -> (records: [AuditRecord], nextCursor: String?, revision: UInt64)
    /// Waits until this replica has applied `revision` (read-your-writes on any replica).
    func waitForRevision(_ revision: UInt64, timeout: Duration) async throws(ClusterError)
}

/// What a command needs that the deterministic state machine may not make itself: ids, secrets,
/// root keys and the time, chosen before proposing; and the cluster secret's proofs, checked
/// without the secret leaving the replica.
public protocol ReplicaResources: Sendable {
    /// Checks, in constant time, that `proof` is `HMAC-SHA256(cluster secret, message)`
    /// (`ClusterProof`).
    func verifyClusterProof(_ proof: [UInt8], of message: [UInt8]) -> Bool
    /// A new random entity id (chosen before proposing; commands are deterministic).
    func newEntityID() -> EntityID
    /// A new root key pair for a rotation: its id, public key and private key sealed under the
    /// replica's key-encryption key (never in the clear outside the sealer).
    func newRootKey() throws(ClusterError) -> (id: EntityID, publicKey: [UInt8], sealedPrivateKey: [UInt8])
    /// The private half of root key `key`, opened from its sealed form for one signature (the
    /// caller keeps it no longer than that).
    func openRootKey(_ key: RootKey) throws(ClusterError) -> [UInt8]
    /// New random secret bytes for an API key.
    func newSecret() -> [UInt8]
    /// The wall-clock time to stamp a command with.
    func now() -> Timestamp
}

/// Which audit records to list.
public struct AuditQuery: Sendable, Hashable {
    /// Only records of this organization.
    public var organization: String?
    /// Only records of this actor (`org/name`).
    public var actor: String?
    /// Only records of this action (`organization.create`...).
    public var action: String?
    /// Only records at or after this time (milliseconds since the epoch).
    public var sinceMilliseconds: Int64?
    /// Only records before this time.
    public var untilMilliseconds: Int64?
    /// Only the record of this request id.
    public var requestID: String?
    /// With `organization`: only the records of the organization of that name that exists now,
    /// not those of an earlier one deleted before the name was created again (what a tenant's
    /// auditors read).
    public var currentOrganizationOnly = false
    /// Only records of this revision or later (`GET /v1/watch?from_revision=`).
    public var fromRevision: UInt64?

    /// A query with no filter.
    public init(
        organization: String? = nil, actor: String? = nil, action: String? = nil, sinceMilliseconds: Int64? = nil,
        untilMilliseconds: Int64? = nil, requestID: String? = nil
    ) {
        self.organization = organization
        self.actor = actor
        self.action = action
        self.sinceMilliseconds = sinceMilliseconds
        self.untilMilliseconds = untilMilliseconds
        self.requestID = requestID
    }
}

/// How fresh a read must be.
public enum ReadConsistency: String, Sendable, CaseIterable {
    /// Reflects every write acknowledged before the read began (ReadIndex).
    case linearizable
    /// The leader's state without a quorum round (on a follower: as linearizable).
    case leader
    /// This replica's state as it is, possibly behind.
    case stale
}

/// A membership change, in the API's words.
public enum MembershipOperation: Sendable, Hashable {
    /// Adds a replica as a learner (it receives the log, does not vote).
    case addLearner(UInt64)
    /// Makes a learner a voter: one that has caught up, or with `force`, any learner.
    case promote(UInt64, force: Bool)
    /// Removes a replica.
    case remove(UInt64)
}

/// Why the cluster could not serve a request; mapped to HTTP in `APIError`.
public enum ClusterError: Error, Sendable, Hashable {
    /// No leader is known; retry after the hinted delay.
    case unavailable(String)
    /// The deadline passed; the write's outcome is unknown.
    case timedOut
    /// The cluster refused the request (membership rules, transfer target...).
    case refused(String)
    /// An argument is invalid (a malformed cursor...).
    case invalidArgument(String)
    /// The replica is saturated.
    case overloaded
    /// The replica failed or is stopping.
    case internalFailure(String)
}
