import RaftCore

/// A broken safety or liveness property, found by the simulator.
public struct SimulationViolation: Error, Sendable, CustomStringConvertible {
    /// The property that was broken.
    public var property: Property
    /// What was observed, with the values involved.
    public var detail: String
    /// The simulated time at which it was observed.
    public var time: UInt64

    /// The properties the simulator checks.
    public enum Property: String, Sendable {
        /// At most one leader per term (Raft §5.2).
        case electionSafety
        /// A leader never overwrites or deletes entries of its log (§5.3).
        case leaderAppendOnly
        /// Equal index and term imply equal entries and equal prefixes (§5.3).
        case logMatching
        /// A leader holds every entry committed before its term (§5.4).
        case leaderCompleteness
        /// No two replicas apply different entries at one index (§5.4.3).
        case stateMachineSafety
        /// Commit and applied indexes never go back.
        case monotonicIndexes
        /// A replica never votes for two candidates in one term, restarts included.
        case singleVotePerTerm
        /// A linearizable read reflects every write acknowledged before it began (§6.4).
        case linearizableRead
        /// After the network heals: a stable leader, reads served, acknowledged writes applied.
        case liveness
        /// The instance's own invariants (checked with preconditions inside the core).
        case instanceInvariant
        /// A message no correct member could send (`HostilePeer`) was refused, not stepped.
        case hostileMessageRefused
    }

    public var description: String { "\(property.rawValue) at t=\(time): \(detail)" }
}

/// The global record of what every replica did, checked after every simulation step.
struct SafetyChecker {
    private var leaders: [Term: ReplicaID] = [:]
    private var entryRegistry: [LogPosition: (digest: UInt64, previousTerm: Term)] = [:]
    private(set) var committedTerms: [LogIndex: Term] = [:]
    /// For each committed index, the lowest term in which any replica knew it committed: the
    /// term of the leader that committed it.
    private var committedInTerm: [LogIndex: Term] = [:]
    private(set) var maxCommitted: LogIndex = 0
    private var appliedDigests: [LogIndex: UInt64] = [:]
    private var grantedVotes: [VoteKey: ReplicaID] = [:]
    private var lastCommit: [ReplicaID: LogIndex] = [:]
    private var lastApplied: [ReplicaID: LogIndex] = [:]
    private var leaderLogs: [ReplicaID: (term: Term, last: LogPosition)] = [:]
    var time: UInt64 = 0
    private(set) var elections = 0

    private struct VoteKey: Hashable {
        var voter: ReplicaID
        var term: Term
    }

    func violation(_ property: SimulationViolation.Property, _ detail: String) -> SimulationViolation {
        SimulationViolation(property: property, detail: detail, time: time)
    }

    /// Forgets what is tied to one incarnation (its commit index, which may restart lower).
    mutating func replicaRestarted(_ id: ReplicaID, commit: LogIndex) {
        lastCommit[id] = commit
        leaderLogs[id] = nil
    }

    /// Checks what one `Ready` did on `replica`.
    mutating func observe(_ outcome: SimulatedReplica.ReadyOutcome, on replica: ReplicaID) throws(SimulationViolation) {
        for message in outcome.sentBeforePersist + outcome.sentAfterPersist {
            guard case .voteResponse(granted: true) = message.kind else { continue }
            let key = VoteKey(voter: replica, term: message.term)
            if let earlier = grantedVotes[key], earlier != message.to {
                throw violation(
                    .singleVotePerTerm,
                    "replica \(replica) voted for \(earlier) and then \(message.to) in term \(message.term)")
            }
            grantedVotes[key] = message.to
        }
        for (entry, previousTerm) in outcome.persistedEntries {
            let digest = StateMachineImage(index: entry.index - 1, digest: 0).applying(entry).digest
            if let known = entryRegistry[entry.position] {
                if known.digest != digest || known.previousTerm != previousTerm {
                    throw violation(
                        .logMatching,
                        "replica \(replica) holds \(entry) after term \(previousTerm); another holds the same position with a different entry or after term \(known.previousTerm)")
                }
            } else {
                entryRegistry[entry.position] = (digest, previousTerm)
            }
        }
        if let snapshot = outcome.installedSnapshot, let image = outcome.installedImage {
            try checkSnapshotImage(image, installedOn: replica)
            try recordCommitted(index: snapshot.index, term: snapshot.term, by: replica, inTerm: outcome.term)
            lastCommit[replica] = max(lastCommit[replica] ?? 0, snapshot.index)
        }
        for (entry, image) in outcome.applied {
            if image.index <= (lastApplied[replica] ?? 0) {
                throw violation(.monotonicIndexes, "replica \(replica) applied \(image.index) after \(lastApplied[replica] ?? 0)")
            }
            lastApplied[replica] = image.index
            if let known = appliedDigests[image.index], known != image.digest {
                throw violation(
                    .stateMachineSafety, "replica \(replica) applied \(entry) giving \(image); another replica's state at that index differs")
            }
            appliedDigests[image.index] = image.digest
        }
    }

    /// Checks a snapshot image against what was applied at its index.
    private mutating func checkSnapshotImage(_ image: StateMachineImage, installedOn replica: ReplicaID) throws(SimulationViolation) {
        if image.index < (lastApplied[replica] ?? 0) {
            throw violation(.monotonicIndexes, "replica \(replica) installed snapshot \(image.index) below applied \(lastApplied[replica] ?? 0)")
        }
        lastApplied[replica] = image.index
        if let known = appliedDigests[image.index], known != image.digest {
            throw violation(.stateMachineSafety, "snapshot \(image) installed on \(replica) differs from the applied state")
        }
        appliedDigests[image.index] = image.digest
    }

    private mutating func recordCommitted(index: LogIndex, term: Term, by replica: ReplicaID, inTerm currentTerm: Term)
        throws(SimulationViolation)
    {
        if let known = committedTerms[index], known != term {
            throw violation(
                .stateMachineSafety, "replica \(replica) committed index \(index) with term \(term); term \(known) was committed there before")
        }
        committedTerms[index] = term
        committedInTerm[index] = min(committedInTerm[index] ?? currentTerm, currentTerm)
        maxCommitted = max(maxCommitted, index)
    }

    /// Checks one replica's instance after a step.
    mutating func checkReplica(_ instance: RaftInstance) throws(SimulationViolation) {
        let id = instance.id
        instance.checkInvariants()
        let commit = instance.commitIndex
        let previousCommit = lastCommit[id] ?? 0
        if commit < previousCommit {
            throw violation(.monotonicIndexes, "replica \(id) commit went back from \(previousCommit) to \(commit)")
        }
        if commit > previousCommit {
            var index = max(previousCommit + 1, instance.snapshotMetadata.index + 1)
            if instance.snapshotMetadata.index > previousCommit {
                try recordCommitted(
                    index: instance.snapshotMetadata.index, term: instance.snapshotMetadata.term, by: id,
                    inTerm: instance.term)
            }
            while index <= commit {
                guard let term = instance.term(at: index) else { break }
                try recordCommitted(index: index, term: term, by: id, inTerm: instance.term)
                index += 1
            }
            lastCommit[id] = commit
        }
        guard instance.role == .leader else {
            leaderLogs[id] = nil
            return
        }
        if let holder = leaders[instance.term], holder != id {
            throw violation(.electionSafety, "replicas \(holder) and \(id) are both leaders of term \(instance.term)")
        }
        if leaders[instance.term] == nil {
            leaders[instance.term] = id
            elections += 1
            try checkLeaderCompleteness(instance)
        }
        if let previous = leaderLogs[id], previous.term == instance.term {
            let last = previous.last
            let stillHeld =
                last.index <= instance.snapshotMetadata.index || instance.term(at: last.index) == last.term
            if !stillHeld || instance.lastIndex < last.index {
                throw violation(
                    .leaderAppendOnly, "leader \(id) of term \(instance.term) held \(last) and now ends at \(instance.lastPosition)")
            }
        }
        leaderLogs[id] = (instance.term, instance.lastPosition)
    }

    /// Raft §5.4: an entry committed in some term is in the log of every leader of a later
    /// term. (A leader of an earlier term elected late, from votes delayed in the network, need
    /// not hold it; it cannot make followers of later terms accept anything.)
    private func checkLeaderCompleteness(_ leader: RaftInstance) throws(SimulationViolation) {
        var index = leader.snapshotMetadata.index + 1
        while index <= maxCommitted {
            if let committedTerm = committedTerms[index], let inTerm = committedInTerm[index], inTerm < leader.term,
                leader.term(at: index) != committedTerm
            {
                throw violation(
                    .leaderCompleteness,
                    "leader \(leader.id) of term \(leader.term) holds term \(leader.term(at: index).map(String.init) ?? "none") at \(index), where term \(committedTerm) was committed in term \(inTerm)")
            }
            index += 1
        }
    }
}
