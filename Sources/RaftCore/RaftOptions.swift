/// The tunable limits and switches of one `RaftInstance`. Every limit the instance enforces is
/// named here and checked by `validate()` before an instance is built.
public struct RaftOptions: Sendable {
    /// This replica's identifier.
    public var id: ReplicaID
    /// Ticks without hearing from a leader before a follower campaigns. The actual timeout is
    /// drawn from `[electionTimeoutTicks, 2 × electionTimeoutTicks)` with the instance's seed.
    public var electionTimeoutTicks: Int = 10
    /// Ticks between two heartbeats from a leader. Must be less than `electionTimeoutTicks`.
    public var heartbeatIntervalTicks: Int = 1
    /// The most append messages in flight to one follower (pipelining window).
    public var maxInflightMessages: Int = 256
    /// The most entry bytes in flight to one follower.
    public var maxInflightBytes: Int = 32 << 20
    /// The most entry bytes in one append message (at least one entry is always sent).
    public var maxAppendBytes: Int = 1 << 20
    /// The largest single command a leader accepts; larger proposals are refused with
    /// `proposalTooLarge`. At most `RaftEncoding.maxCommandBytes`, which storage and transport
    /// accept.
    public var maxProposalBytes: Int = 8 << 20
    /// The most bytes of proposals a leader holds uncommitted before it answers `overloaded`.
    public var maxUncommittedBytes: Int = 64 << 20
    /// The most committed-entry bytes handed out in one `Ready` (at least one entry is).
    public var maxApplyBytesPerReady: Int = 16 << 20
    /// The most linearizable reads a leader holds while it confirms its leadership.
    public var maxPendingReads: Int = 4096
    /// How far behind the leader's last index a learner may be and still be promoted (one
    /// that has acknowledged nothing never is, unless the promotion is forced).
    public var maxPromotionLagEntries: Int = 1000
    /// Whether a leader that has not heard from a quorum for an election timeout steps down,
    /// and voters ignore campaigns while they hear from a leader (the leader lease).
    public var checkQuorum: Bool = true
    /// Whether a replica asks for pre-votes before it increments its term (Raft thesis §9.6).
    public var preVote: Bool = true
    /// Deliberate protocol bugs, for proving the simulator can catch them. Visible only inside
    /// this package; always empty in a real replica.
    package var plantedBugs: PlantedBugs = []

    /// Creates options with the default limits.
    /// - Parameter id: this replica's identifier.
    public init(id: ReplicaID) {
        self.id = id
    }

    /// Checks every limit.
    /// - Throws: `RaftOptionsError` naming the first invalid field.
    public func validate() throws(RaftOptionsError) {
        if electionTimeoutTicks < 2 { throw .invalid("electionTimeoutTicks must be at least 2") }
        if heartbeatIntervalTicks < 1 || heartbeatIntervalTicks >= electionTimeoutTicks {
            throw .invalid("heartbeatIntervalTicks must be at least 1 and below electionTimeoutTicks")
        }
        if maxInflightMessages < 1 { throw .invalid("maxInflightMessages must be at least 1") }
        if maxInflightBytes < 1 { throw .invalid("maxInflightBytes must be at least 1") }
        if maxAppendBytes < 1 { throw .invalid("maxAppendBytes must be at least 1") }
        if maxProposalBytes < 1 || maxProposalBytes > RaftEncoding.maxCommandBytes {
            throw .invalid("maxProposalBytes must be 1 to \(RaftEncoding.maxCommandBytes)")
        }
        if maxUncommittedBytes < 1 { throw .invalid("maxUncommittedBytes must be at least 1") }
        if maxApplyBytesPerReady < 1 { throw .invalid("maxApplyBytesPerReady must be at least 1") }
        if maxPendingReads < 1 { throw .invalid("maxPendingReads must be at least 1") }
        if maxPromotionLagEntries < 0 { throw .invalid("maxPromotionLagEntries must not be negative") }
    }
}

/// A configuration that cannot run.
public enum RaftOptionsError: Error, Hashable, Sendable {
    /// A field is out of range; the message names it.
    case invalid(String)
}

/// Deliberate bugs that the simulator must catch. Each one breaks a rule the paper states.
package struct PlantedBugs: OptionSet, Sendable, Hashable {
    package let rawValue: UInt32
    package init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Vote grants are sent before the vote is durable (breaks Raft §5.2 / Figure 2 "persist
    /// before responding").
    package static let voteBeforePersist = PlantedBugs(rawValue: 1 << 0)
    /// Entries of earlier terms are committed by counting replicas (the Figure 8 bug, §5.4.2).
    package static let commitPreviousTermByCounting = PlantedBugs(rawValue: 1 << 1)
    /// A new leader does not append a no-op entry (§8), so it cannot serve reads or commit.
    package static let noNoopAtTermStart = PlantedBugs(rawValue: 1 << 2)
    /// The leader answers ReadIndex from its commit index without a heartbeat round (§6.4).
    package static let readIndexWithoutHeartbeat = PlantedBugs(rawValue: 1 << 3)
    /// Votes are granted without the up-to-date check (§5.4.1).
    package static let voteIgnoringLogUpToDate = PlantedBugs(rawValue: 1 << 4)

    /// Every planted bug with a name for reports.
    package static let named: [(String, PlantedBugs)] = [
        ("voteBeforePersist", .voteBeforePersist),
        ("commitPreviousTermByCounting", .commitPreviousTermByCounting),
        ("noNoopAtTermStart", .noNoopAtTermStart),
        ("readIndexWithoutHeartbeat", .readIndexWithoutHeartbeat),
        ("voteIgnoringLogUpToDate", .voteIgnoringLogUpToDate),
    ]
}
