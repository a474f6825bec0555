import RaftCore

/// A peer that holds the cluster secret and sends well-sealed nonsense: messages a correct
/// member could never send, with extreme and random values. The simulator hands them to
/// running replicas between its ordinary events and requires each to be refused
/// (`RaftInstance.refusedMessages` grows by one, and nothing else happens), while every safety
/// property keeps holding and no replica traps.
///
/// It draws from a random source of its own, so adding it left the run of every earlier seed
/// unchanged: a refused message changes nothing a replica does.
struct HostilePeer {
    private var random: DeterministicRandom

    /// The lowest id the hostile peer claims when it poses as a stranger: far above any id the
    /// simulator gives a replica.
    static let firstStrangerID: UInt64 = 1 << 40

    init(seed: UInt64) {
        random = DeterministicRandom(seed: seed ^ 0xBAD_C0FF_EE5E_ED00)
    }

    /// Whether to send one message in this simulated time unit.
    mutating func attacksNow(percent: Int) -> Bool {
        random.below(100) < percent
    }

    /// Picks one of `candidates`.
    mutating func pick(_ candidates: [ReplicaID]) -> ReplicaID {
        candidates[random.below(candidates.count)]
    }

    /// A message to `target` that no correct member could send. Either a term beyond
    /// `RaftBounds.maxTerm` from anyone, a member included, or, from an id no membership
    /// holds, anything but a leader's message (a leader's appends are taken from anyone, see
    /// `RaftInstance.acceptsMessage`; the transport's address book keeps strangers out).
    mutating func message(to target: ReplicaID, members: [ReplicaID]) -> Message {
        let others = members.filter { $0 != target }
        if random.chance(percent: 50), !others.isEmpty {
            let member = others[random.below(others.count)]
            let term = RaftBounds.maxTerm + 1 + UInt64(random.below(1_000)) * (random.chance(percent: 50) ? UInt64.max / 2_000 : 1)
            return Message(from: member, to: target, term: term, kind: anyKind())
        }
        let stranger = ReplicaID(rawValue: Self.firstStrangerID + random.next() % (1 << 20))
        return Message(from: stranger, to: target, term: extremeTerm(), kind: nonLeaderKind())
    }

    private mutating func extremeTerm() -> Term {
        [0, 1, RaftBounds.maxTerm, RaftBounds.maxTerm - 1, random.next() % RaftBounds.maxTerm][random.below(5)]
    }

    private mutating func extremeIndex() -> LogIndex {
        [0, 1, RaftBounds.maxIndex, random.next() % RaftBounds.maxIndex][random.below(4)]
    }

    private mutating func position() -> LogPosition {
        LogPosition(index: extremeIndex(), term: extremeTerm())
    }

    private mutating func nonLeaderKind() -> Message.Kind {
        switch random.below(9) {
        case 0: return .requestVote(VoteRequest(lastPosition: position(), leadershipTransfer: random.chance(percent: 50)))
        case 1: return .requestPreVote(VoteRequest(lastPosition: position(), leadershipTransfer: random.chance(percent: 50)))
        case 2: return .voteResponse(granted: true)
        case 3: return .preVoteResponse(granted: true)
        case 4: return .appendResponse(AppendResponse(index: extremeIndex(), rejected: random.chance(percent: 50), hint: position()))
        case 5: return .heartbeatResponse(readRound: random.chance(percent: 50) ? UInt64.max : random.next())
        case 6: return .timeoutNow
        case 7: return .readIndex(ReadContext(number: random.next()))
        default: return .readIndexResponse(context: ReadContext(number: random.next()), index: extremeIndex())
        }
    }

    private mutating func anyKind() -> Message.Kind {
        switch random.below(4) {
        case 0: return .heartbeat(Heartbeat(commit: extremeIndex(), readRound: random.next()))
        case 1:
            let previous = position()
            return .appendEntries(AppendEntries(previous: previous, entries: [], commit: extremeIndex()))
        case 2: return .installSnapshot(SnapshotMetadata(index: extremeIndex(), term: extremeTerm(), membership: Membership(voters: [1])))
        default: return nonLeaderKind()
        }
    }
}
