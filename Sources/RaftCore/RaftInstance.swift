/// The Raft algorithm for one replica, as a value with no I/O: no clock, no disk, no network,
/// no global randomness.
///
/// The runtime drives it with `tick()`, `step(_:)`, `propose(_:)`, `readIndex(context:)`,
/// `transferLeadership(to:)` and `proposeMembershipChange(_:)`, then collects the resulting work
/// with `ready()`, carries it out in the order `Ready` documents, and calls `advance(_:)`. No
/// other call may come between `ready()` and `advance(_:)`.
///
/// Design choices, with their arguments:
/// - Membership changes are single-replica changes that take effect on a replica as soon as
///   their entry is in its log (Raft thesis §4.1). A leader proposes one only after it has
///   committed an entry of its own term and while no other change is uncommitted (the fix to
///   single-server changes Ongaro published after the thesis). A new change is thus appended only
///   by a leader whose log holds every committed change, and it differs by one voter from the
///   newest committed membership, so the majority that commits it overlaps every majority that
///   could elect a leader or commit an entry under the memberships before it. We first tried
///   taking effect on commit (as etcd does on apply); the simulator showed
///   why the thesis is right: after a leader removes itself, a voter that holds the entry but
///   has not learned it is committed still needs the removed replica's vote.
/// - A leader whose removal commits steps down (thesis §4.2.2); until then it leads without
///   counting itself.
/// - The uncompacted log lives in memory; snapshots bound it. The snapshot's bytes never pass
///   through the instance.
/// - A leader counts itself toward a commit only for entries it has persisted, and sends its
///   appends before persisting them (thesis §10.2.1). Every message produced in a batch that
///   changes the term or vote waits until that change is durable: a lone voter elects itself in
///   one batch, and its appends must not leave before its vote is on disk.
public struct RaftInstance: Sendable {
    // MARK: - Stored state

    /// The options this instance was built with.
    public let options: RaftOptions
    var random: DeterministicRandom

    // Invariant: term never decreases during the instance's life.
    /// The current term.
    public internal(set) var term: Term
    // Invariant: votedFor is only changed when term changes, or from nil to a candidate.
    /// The candidate this replica voted for in `term`.
    public internal(set) var votedFor: ReplicaID?
    /// The leader of `term`, when known.
    public internal(set) var leader: ReplicaID?
    var state: Role
    var log: RaftLog
    // Invariant: memberships follows the log (see MembershipHistory).
    var memberships: MembershipHistory

    var progress: [ReplicaID: Progress] = [:]
    var votes: [ReplicaID: Bool] = [:]
    var electionElapsed = 0
    var heartbeatElapsed = 0
    var randomizedElectionTimeout = 0
    /// The voter a leadership transfer is handing over to.
    public internal(set) var leadTransferee: ReplicaID?
    /// Ticks since the current leadership transfer started.
    var transferElapsed = 0
    /// Removed members to stop replicating to at the next CheckQuorum check (leader only).
    var removedMembersToForget: [ReplicaID] = []
    // Invariant: uncommittedBytes >= 0; only a leader holds a non-zero value.
    var uncommittedBytes = 0
    /// Whether proposals were appended since the last broadcast (flushed in `ready()`).
    var needsBroadcast = false

    /// The last read round handed out; monotonic for the instance's life.
    var readRound: UInt64 = 0
    /// Whether `readRound` holds reads whose heartbeat has not been sent yet. Reads arriving
    /// before the next `ready()` join that round, so a batch of reads costs one heartbeat.
    var readRoundOpen = false
    var pendingReads: [PendingRead] = []
    var readsAwaitingCommit: [(context: ReadContext, requester: ReplicaID)] = []

    /// Messages refused by `step` as impossible from a correct peer (a term beyond
    /// `RaftBounds.maxTerm`, a non-member's vote or answer, an acknowledgement of entries the
    /// leader never had or of a read round it never sent). Wraps, never traps.
    public internal(set) var refusedMessages: UInt64 = 0

    var outbox: [Message] = []
    var outboxAfterPersist: [Message] = []
    var readStates: [ReadState] = []
    var lastSoftState: SoftState
    var lastHardState: HardState
    var awaitingAdvance = false

    /// A linearizable read waiting for a quorum to confirm the leader's leadership.
    struct PendingRead: Sendable {
        var round: UInt64
        var context: ReadContext
        var index: LogIndex
        var requester: ReplicaID
    }

    // MARK: - Creation

    /// Creates an instance from what the replica has persisted.
    /// - Parameters:
    ///   - options: limits and switches; validated here.
    ///   - persisted: the durable state (`.bootstrap(voters:)` for a founding replica of a new
    ///     cluster, `.empty` for a replica that will be added to an existing one).
    ///   - seed: the source of every random choice (election timeouts); equal seeds and equal
    ///     inputs give equal behaviour.
    /// - Throws: `RaftOptionsError` when an option is out of range.
    public init(options: RaftOptions, persisted: PersistedState, seed: UInt64) throws(RaftOptionsError) {
        try options.validate()
        self.options = options
        random = DeterministicRandom(seed: seed ^ (options.id.rawValue &* 0x2545_F491_4F6C_DD1D))
        log = RaftLog(state: persisted)
        term = persisted.hardState.term
        votedFor = persisted.hardState.votedFor
        leader = nil
        state = .follower
        memberships = MembershipHistory(snapshot: persisted.snapshot)
        lastHardState = persisted.hardState
        lastSoftState = SoftState(role: .follower, leader: nil, term: persisted.hardState.term)
        for entry in persisted.entries {
            if case .membership(let change) = entry.payload { memberships.record(change, at: entry.index) }
        }
        lastSoftState = softState
        resetRandomizedElectionTimeout()
    }

    // MARK: - Observers

    /// This replica's identifier.
    public var id: ReplicaID { options.id }

    /// The membership in force: the newest one in the log, committed or not (thesis §4.1).
    public var membership: Membership { memberships.latest }

    /// The membership as of the commit index.
    public var committedMembership: Membership { memberships.membership(at: log.committed) }

    /// Whether this replica may start an election: it is a voter in the newest membership or in
    /// the committed one. The second case matters when a leader appended its own removal and
    /// crashed before replicating it: it holds the newest log, so the others cannot win
    /// without it, and it must be able to win, finish the change and step down. Votes are
    /// always counted in the newest membership.
    public var isPromotable: Bool { membership.isVoter(id) || committedMembership.isVoter(id) }

    /// Whether this replica's removal from the cluster is committed. A runtime shuts such a
    /// replica down once it is no longer the leader (a removed leader steps down by itself).
    public var isRemoved: Bool {
        let committed = committedMembership
        return committed != .empty && !committed.contains(id)
    }

    /// The replica's role; a follower that is a learner in the membership reports `.learner`.
    public var role: Role {
        if state == .follower && membership.isLearner(id) { return .learner }
        return state
    }

    /// The role, leader and term.
    public var softState: SoftState { SoftState(role: role, leader: leader, term: term) }

    /// The state that must be durable.
    public var hardState: HardState { HardState(term: term, votedFor: votedFor, commit: log.committed) }

    /// The highest committed index.
    public var commitIndex: LogIndex { log.committed }

    /// The highest index handed out for applying.
    public var appliedIndex: LogIndex { log.applied }

    /// The last index in the log.
    public var lastIndex: LogIndex { log.lastIndex }

    /// The last entry's position.
    public var lastPosition: LogPosition { log.lastPosition }

    /// The highest index known durable on this replica.
    public var persistedIndex: LogIndex { log.persisted }

    /// The latest snapshot's metadata.
    public var snapshotMetadata: SnapshotMetadata { log.snapshot }

    /// Whether a received snapshot awaits installation through the next `Ready` (`compact`
    /// must wait until it is installed).
    public var hasPendingSnapshot: Bool { log.pendingSnapshot != nil }

    /// The term of the entry at `index`, when held.
    public func term(at index: LogIndex) -> Term? { log.term(at: index) }

    /// The entry at `index`, when held (not compacted and not beyond the end).
    public func entry(at index: LogIndex) -> Entry? {
        guard index > log.snapshot.index && index <= log.lastIndex else { return nil }
        return log.entry(at: index)
    }

    /// On a leader, the highest index known held by `member`; nil elsewhere or for non-members.
    public func matchIndex(of member: ReplicaID) -> LogIndex? {
        guard state == .leader else { return nil }
        if member == id { return log.persisted }
        return progress[member]?.match
    }

    /// Whether an earlier read round was sent and still waits for a quorum. The open round then
    /// waits for it: one round in flight at a time, so under a steady stream of reads each
    /// round trip confirms every read that arrived during the previous one, instead of each
    /// turn sending its own heartbeats. A lost round is resent by the next periodic heartbeat,
    /// which carries the newest round.
    var readRoundInFlight: Bool { (pendingReads.first?.round ?? readRound) < readRound }

    /// Whether `ready()` has work to hand out.
    public var hasReady: Bool {
        needsBroadcast || (readRoundOpen && !readRoundInFlight) || softState != lastSoftState || hardState != lastHardState
            || log.hasUnstableEntries || log.pendingSnapshot != nil || !outbox.isEmpty
            || !outboxAfterPersist.isEmpty || !readStates.isEmpty || log.hasEntriesToApply
    }

    // MARK: - Inputs

    /// Advances logical time by one tick. Followers campaign after their randomized election
    /// timeout; leaders send heartbeats and run the CheckQuorum test.
    public mutating func tick() {
        precondition(!awaitingAdvance, "tick() between ready() and advance()")
        if state == .leader {
            tickLeader()
        } else {
            tickElection()
        }
    }

    /// Starts an election now, as if the election timeout had passed (with a pre-vote first
    /// when enabled). Ignored on leaders and on replicas that are not voters.
    public mutating func campaign() {
        precondition(!awaitingAdvance, "campaign() between ready() and advance()")
        guard state != .leader else { return }
        campaign(transfer: false)
    }

    /// Proposes a command. Only the leader accepts proposals; the runtime forwards them.
    /// - Parameter command: the command's bytes, opaque to Raft.
    /// - Returns: the position the command was appended at. The command is committed if and
    ///   when an entry with this exact position is handed out in `committedEntries`; an entry
    ///   with another term at this index means the proposal was lost.
    /// - Throws: `.notLeader`, `.transferInProgress`, `.proposalTooLarge` or `.overloaded`.
    @discardableResult
    public mutating func propose(_ command: [UInt8]) throws(ProposalError) -> LogPosition {
        precondition(!awaitingAdvance, "propose() between ready() and advance()")
        guard state == .leader else { throw .notLeader(leaderHint: leader) }
        guard leadTransferee == nil else { throw .transferInProgress }
        guard command.count <= options.maxProposalBytes else { throw .proposalTooLarge(limit: options.maxProposalBytes) }
        if uncommittedBytes > 0 && uncommittedBytes + command.count > options.maxUncommittedBytes {
            throw .overloaded
        }
        let position = appendEntry(.command(command))
        needsBroadcast = true
        return position
    }

    /// Proposes a membership change; see the type's documentation for the rules.
    /// - Parameters:
    ///   - change: the change.
    ///   - force: promote a learner that has not caught up (an operator's explicit choice, for
    ///     a cluster that cannot otherwise regain a majority). Ignored for other changes.
    /// - Returns: the position of the change's entry; it takes effect when committed.
    /// - Throws: `.notLeader`, `.transferInProgress`, `.membershipChangePending`,
    ///   `.membershipChangeRejected` when it does not apply to the current membership, or
    ///   `.learnerNotCaughtUp`.
    @discardableResult
    public mutating func proposeMembershipChange(_ change: MembershipChange, force: Bool = false) throws(ProposalError) -> LogPosition {
        precondition(!awaitingAdvance, "proposeMembershipChange() between ready() and advance()")
        guard state == .leader else { throw .notLeader(leaderHint: leader) }
        guard leadTransferee == nil else { throw .transferInProgress }
        // Raft thesis §4.1 erratum: a leader must commit an entry of its own term before it
        // changes membership, and only one change may be uncommitted at a time.
        guard log.term(at: log.committed) == term, memberships.latestIndex <= log.committed else {
            throw .membershipChangePending
        }
        if let rejection = membership.rejection(of: change) { throw .membershipChangeRejected(rejection) }
        if case .promote(let learner) = change, !force {
            // Thesis §4.2.1: a learner becomes a voter only once it has caught up; a lagging
            // voter could leave the new membership unable to commit. Caught up means it has
            // acknowledged entries (a learner that never answered, a typo'd id, has matched
            // nothing, however short the log) and is within `maxPromotionLagEntries`.
            let match = progress[learner]?.match ?? 0
            guard match > 0, match + UInt64(options.maxPromotionLagEntries) >= log.lastIndex else {
                throw .learnerNotCaughtUp(learner)
            }
        }
        let previous = membership
        let position = appendEntry(.membership(change))
        memberships.record(change, at: position.index)
        membershipChanged(from: previous)
        needsBroadcast = true
        return position
    }

    /// Asks for a linearizable read (Raft §6.4, ReadIndex). On the leader the read index is the
    /// commit index once a quorum confirms leadership; a follower forwards the request to its
    /// leader. The answer arrives as a `ReadState` with the same context in a later `Ready`; a
    /// request lost to a leader change gets no answer, so the runtime bounds its wait.
    /// - Throws: `.notLeader(nil)` when no leader is known; `.overloaded` when the leader holds
    ///   `maxPendingReads` reads.
    public mutating func readIndex(context: ReadContext) throws(ProposalError) {
        precondition(!awaitingAdvance, "readIndex() between ready() and advance()")
        if state == .leader {
            guard pendingReads.count + readsAwaitingCommit.count < options.maxPendingReads else { throw .overloaded }
            handleReadIndex(context: context, requester: id)
            return
        }
        guard let leader else { throw .notLeader(leaderHint: nil) }
        send(to: leader, .readIndex(context))
    }

    /// Starts handing leadership to `target` (Raft thesis §3.10): the leader brings the target's
    /// log up to date, then tells it to campaign at once. Proposals are refused meanwhile; the
    /// transfer is abandoned after an election timeout.
    /// - Throws: `.notLeader` or `.invalidTransferTarget`.
    public mutating func transferLeadership(to target: ReplicaID) throws(ProposalError) {
        precondition(!awaitingAdvance, "transferLeadership() between ready() and advance()")
        guard state == .leader else { throw .notLeader(leaderHint: leader) }
        guard target != id, membership.isVoter(target) else { throw .invalidTransferTarget(target) }
        if leadTransferee == target { return }
        leadTransferee = target
        transferElapsed = 0
        if progress[target]?.match == log.lastIndex {
            send(to: target, .timeoutNow)
        } else {
            sendAppend(to: target)
        }
    }

    /// Reports the outcome of a snapshot transfer the runtime carried out for a leader.
    /// - Parameters:
    ///   - member: the follower the snapshot went to.
    ///   - succeeded: whether the follower received all of it.
    public mutating func reportSnapshot(to member: ReplicaID, succeeded: Bool) {
        precondition(!awaitingAdvance, "reportSnapshot() between ready() and advance()")
        guard state == .leader, var memberProgress = progress[member],
            case .snapshot = memberProgress.state
        else { return }
        if !succeeded {
            // Retry from scratch; wait for the next heartbeat response before sending again.
            memberProgress.becomeProbe()
            memberProgress.next = memberProgress.match + 1
        } else {
            memberProgress.becomeProbe()
        }
        memberProgress.probeSent = true
        progress[member] = memberProgress
    }

    /// Reports that `member` could not be reached; a leader stops streaming to it and probes.
    public mutating func reportUnreachable(_ member: ReplicaID) {
        precondition(!awaitingAdvance, "reportUnreachable() between ready() and advance()")
        guard state == .leader, var memberProgress = progress[member] else { return }
        if memberProgress.state == .replicate {
            memberProgress.becomeProbe()
            progress[member] = memberProgress
        }
    }

    /// Drops log entries through `index` after the runtime has durably saved a snapshot of the
    /// state machine at that index.
    /// - Parameter index: at most the applied index.
    /// - Returns: the metadata to store with the snapshot (its term and membership).
    @discardableResult
    public mutating func compact(through index: LogIndex) -> SnapshotMetadata {
        precondition(!awaitingAdvance, "compact() between ready() and advance()")
        precondition(index <= log.applied, "compaction through \(index) beyond applied \(log.applied)")
        precondition(log.pendingSnapshot == nil, "compact() while a received snapshot awaits installation")
        guard index > log.snapshot.index else { return log.snapshot }
        let metadata = log.compact(through: index, membership: memberships.membership(at: index))
        memberships.compact(through: index)
        return metadata
    }

    /// Checks every invariant stated next to a field; a violation stops the process with the
    /// values involved. Cheap enough to run after every step in simulation.
    public func checkInvariants() {
        log.checkInvariants()
        memberships.checkInvariants(snapshotIndex: log.snapshot.index)
        precondition(state != .leader || leader == id, "leader \(id) does not name itself leader")
        precondition(uncommittedBytes >= 0, "negative uncommitted bytes")
        precondition(state == .leader || uncommittedBytes == 0, "non-leader holds uncommitted bytes")
        if state == .leader {
            precondition(votedFor == id, "leader \(id) did not vote for itself in term \(term)")
            for (member, memberProgress) in progress {
                precondition(memberProgress.match < memberProgress.next, "progress of \(member): match \(memberProgress.match) >= next \(memberProgress.next)")
                precondition(memberProgress.match <= log.lastIndex, "progress of \(member): match beyond last index")
            }
        }
    }

    // MARK: - Helpers shared by the extensions

    mutating func resetRandomizedElectionTimeout() {
        randomizedElectionTimeout = options.electionTimeoutTicks + random.below(options.electionTimeoutTicks)
    }

    /// Queues a message from this replica, in the right half of the `Ready` for its kind.
    mutating func send(to recipient: ReplicaID, term messageTerm: Term? = nil, _ kind: Message.Kind) {
        let message = Message(from: id, to: recipient, term: messageTerm ?? term, kind: kind)
        switch kind {
        case .appendEntries, .heartbeat, .installSnapshot, .timeoutNow, .readIndexResponse, .heartbeatResponse,
            .readIndex, .requestPreVote, .preVoteResponse:
            // Pre-votes change no durable state; the rest are a leader's or carry no promise.
            outbox.append(message)
        case .voteResponse:
            if options.plantedBugs.contains(.voteBeforePersist) {
                outbox.append(message)
            } else {
                outboxAfterPersist.append(message)
            }
        case .appendResponse, .requestVote:
            // Raft Figure 2: respond only after persisting; a candidate's own vote must be
            // durable before anyone can grant it leadership.
            outboxAfterPersist.append(message)
        }
    }

    /// Appends an entry of this leader's term.
    mutating func appendEntry(_ payload: Entry.Payload) -> LogPosition {
        let entry = Entry(term: term, index: log.lastIndex + 1, payload: payload)
        log.append([entry])
        uncommittedBytes += entry.payloadBytes
        return entry.position
    }
}
