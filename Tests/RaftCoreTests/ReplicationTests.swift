import RaftCore
import RaftSimulation
import Testing

/// Log replication and commitment: Raft §5.3, §5.4.2, thesis §10.2.1, flow control and fast
/// backtracking.
@Suite struct ReplicationTests {
    func append(from leader: ReplicaID = 1, to follower: ReplicaID = 2, term: Term, previous: LogPosition,
        _ entries: [Entry], commit: LogIndex) -> Message
    {
        Message(
            from: leader, to: follower, term: term,
            kind: .appendEntries(AppendEntries(previous: previous, entries: entries, commit: commit)))
    }

    func appendResponses(_ messages: [Message]) -> [AppendResponse] {
        messages.compactMap { if case .appendResponse(let response) = $0.kind { return response } else { return nil } }
    }

    func appends(_ messages: [Message], to member: ReplicaID) -> [AppendEntries] {
        messages.compactMap {
            if case .appendEntries(let append) = $0.kind, $0.to == member { return append } else { return nil }
        }
    }

    /// A leader of term 2 (replica 1 of three) whose no-op 2@2 is persisted.
    func leader(configure: (inout RaftOptions) -> Void = { _ in }) throws -> RaftInstance {
        var leader = try makeInstance(1) {
            $0.preVote = false
            configure(&$0)
        }
        leader.electSelf(grantedBy: [2])
        _ = leader.drain()
        return leader
    }

    // Raft §5.3: the follower refuses entries whose predecessor it does not hold.
    @Test func followerRejectsAppendWithMismatchedPreviousTerm() throws {
        var follower = try makeInstance(2)
        follower.step(append(term: 2, previous: LogPosition(index: 1, term: 2), [], commit: 1))
        let responses = appendResponses(follower.drainMessages())
        #expect(responses.count == 1)
        #expect(responses.first?.rejected == true)
        #expect(responses.first?.index == 1)
        #expect(responses.first?.hint == LogPosition(index: 1, term: 1))
        #expect(follower.lastIndex == 1)
    }

    // Raft §5.3: "If an existing entry conflicts with a new one (same index but different
    // terms), delete the existing entry and all that follow it."
    @Test func followerReplacesConflictingSuffix() throws {
        var follower = try makeInstance(2)
        let old = [Entry(term: 2, index: 2, payload: .noop), Entry(term: 2, index: 3, payload: .command([7]))]
        follower.step(append(term: 2, previous: LogPosition(index: 1, term: 1), old, commit: 1))
        _ = follower.drain()
        #expect(follower.lastPosition == LogPosition(index: 3, term: 2))
        let new = [Entry(term: 3, index: 3, payload: .noop)]
        follower.step(append(from: 3, term: 3, previous: LogPosition(index: 2, term: 2), new, commit: 1))
        let batch = follower.drain()
        #expect(batch.entries == new)
        #expect(follower.lastPosition == LogPosition(index: 3, term: 3))
        #expect(follower.term(at: 2) == 2)
    }

    // Raft §5.3: appending entries already held changes nothing (retransmissions are harmless).
    @Test func duplicateAppendChangesNothing() throws {
        var follower = try makeInstance(2)
        let entries = [Entry(term: 2, index: 2, payload: .noop)]
        let message = append(term: 2, previous: LogPosition(index: 1, term: 1), entries, commit: 1)
        follower.step(message)
        _ = follower.drain()
        follower.step(message)
        let batch = follower.drain()
        #expect(batch.entries.isEmpty)
        #expect(appendResponses(batch.messagesAfterPersist).first?.index == 2)
    }

    // Raft Figure 2: "If leaderCommit > commitIndex, set commitIndex = min(leaderCommit, index of
    // last new entry)".
    @Test func followerCommitIsCappedByLastNewEntry() throws {
        var follower = try makeInstance(2)
        follower.step(append(term: 2, previous: LogPosition(index: 1, term: 1), [Entry(term: 2, index: 2, payload: .noop)], commit: 9))
        #expect(follower.commitIndex == 2)
    }

    // Raft Figure 2: acknowledgements are sent only once the entries are durable.
    @Test func appendAcknowledgementWaitsForPersistence() throws {
        var follower = try makeInstance(2)
        follower.step(append(term: 2, previous: LogPosition(index: 1, term: 1), [Entry(term: 2, index: 2, payload: .noop)], commit: 1))
        let batch = follower.drain()
        #expect(batch.entries.count == 1)
        #expect(appendResponses(batch.messages).isEmpty)
        #expect(appendResponses(batch.messagesAfterPersist).map(\.index) == [2])
        #expect(batch.mustSync)
    }

    // Thesis §10.2.1: the leader sends its appends before its own write completes, and counts
    // itself toward a majority only for what it has persisted.
    @Test func leaderSendsBeforePersistingAndCountsItselfAfter() throws {
        var single = try makeInstance(1, voters: [1])
        single.campaign()
        #expect(single.role == .leader)
        _ = single.drain()
        #expect(single.commitIndex == 2)
        try single.propose([1])
        let batch = single.ready()
        #expect(batch.entries.map(\.index) == [3])
        #expect(single.commitIndex == 2, "not durable yet, so not counted")
        single.advance(batch)
        #expect(single.commitIndex == 3)

        var leader = try leader()
        leader.step(Message(from: 2, to: 1, term: leader.term, kind: .appendResponse(AppendResponse(index: 2))))
        _ = leader.drain()
        try leader.propose([1])
        let sent = leader.drain()
        #expect(appends(sent.messages, to: 2).flatMap(\.entries).map(\.index).contains(3))
    }

    // The runtime reads followers' progress (to promote a caught-up learner) from the leader only.
    @Test func matchIndexIsKnownOnTheLeaderOnly() throws {
        var leader = try leader()
        leader.step(Message(from: 2, to: 1, term: leader.term, kind: .appendResponse(AppendResponse(index: 2))))
        #expect(leader.matchIndex(of: 2) == 2)
        #expect(leader.matchIndex(of: 3) == 0)
        #expect(leader.matchIndex(of: 1) == leader.persistedIndex)
        #expect(leader.matchIndex(of: 9) == nil)
        let follower = try makeInstance(2)
        #expect(follower.matchIndex(of: 1) == nil)
    }

    // Raft §5.3: an entry is committed once the leader has replicated it on a majority.
    @Test func leaderCommitsWhenMajorityHoldsEntry() throws {
        var leader = try leader()
        #expect(leader.commitIndex == 1)
        leader.step(Message(from: 2, to: 1, term: leader.term, kind: .appendResponse(AppendResponse(index: 2))))
        #expect(leader.commitIndex == 2)
        let position = try leader.propose([1])
        _ = leader.drain()
        leader.step(Message(from: 3, to: 1, term: leader.term, kind: .appendResponse(AppendResponse(index: position.index))))
        #expect(leader.commitIndex == position.index)
    }

    // Raft §5.4.2: entries of earlier terms are never committed by counting replicas.
    @Test func leaderDoesNotCommitPreviousTermEntryByCounting() throws {
        let entries = [
            Entry(term: 1, index: 1, payload: .membership(.bootstrap(voters: [1, 2, 3]))),
            Entry(term: 2, index: 2, payload: .command([9])),
        ]
        let persisted = PersistedState(
            hardState: HardState(term: 3, votedFor: nil, commit: 1), snapshot: .empty, entries: entries, applied: 0)
        var options = RaftOptions(id: 1)
        options.preVote = false
        var leader = try RaftInstance(options: options, persisted: persisted, seed: 1)
        leader.electSelf(grantedBy: [2])
        _ = leader.drain()
        #expect(leader.lastPosition == LogPosition(index: 3, term: 4))
        leader.step(Message(from: 2, to: 1, term: 4, kind: .appendResponse(AppendResponse(index: 2))))
        #expect(leader.commitIndex == 1, "2@2 is on a majority but is of an earlier term")
        leader.step(Message(from: 2, to: 1, term: 4, kind: .appendResponse(AppendResponse(index: 3))))
        #expect(leader.commitIndex == 3)
    }

    // Flow control: at most `maxInflightMessages` appends are outstanding to one follower.
    @Test func inflightWindowBoundsPipelinedAppends() throws {
        var leader = try leader { $0.maxInflightMessages = 2 }
        leader.step(Message(from: 2, to: 1, term: leader.term, kind: .appendResponse(AppendResponse(index: 2))))
        _ = leader.drain()
        var sent: [AppendEntries] = []
        for byte: UInt8 in 1...5 {
            try leader.propose([byte])
            sent += appends(leader.drain().messages, to: 2)
        }
        #expect(sent.filter { !$0.entries.isEmpty }.count == 2)
        // An acknowledgement frees the window; everything pending goes out.
        let firstLast = try #require(sent.first?.entries.last?.index)
        leader.step(Message(from: 2, to: 1, term: leader.term, kind: .appendResponse(AppendResponse(index: firstLast))))
        let more = appends(leader.drain().messages, to: 2)
        #expect(!more.isEmpty)
        #expect(more.last?.entries.last?.index == leader.lastIndex)
    }

    // Raft §5.3 (optimisation): the rejection hint lets the leader skip a whole conflicting
    // term in one round trip instead of one entry at a time.
    @Test func rejectionHintSkipsConflictingTermInOneRoundTrip() throws {
        let bootstrap = Entry(term: 1, index: 1, payload: .membership(.bootstrap(voters: [1, 2, 3])))
        let leaderEntries = [bootstrap] + (2...30).map { Entry(term: 3, index: LogIndex($0), payload: .command([1])) }
        let followerEntries = [bootstrap] + (2...30).map { Entry(term: 2, index: LogIndex($0), payload: .command([2])) }
        var options = RaftOptions(id: 1)
        options.preVote = false
        var leader = try RaftInstance(
            options: options,
            persisted: PersistedState(hardState: HardState(term: 3, commit: 1), snapshot: .empty, entries: leaderEntries, applied: 0),
            seed: 1)
        var follower = try RaftInstance(
            options: RaftOptions(id: 2),
            persisted: PersistedState(hardState: HardState(term: 2, commit: 1), snapshot: .empty, entries: followerEntries, applied: 0),
            seed: 2)
        leader.electSelf(grantedBy: [3])
        var toFollower = leader.drainMessages().filter { $0.to == 2 }
        var roundTrips = 0
        while follower.lastPosition != leader.lastPosition && roundTrips < 10 {
            roundTrips += 1
            for message in toFollower { follower.step(message) }
            for answer in follower.drainMessages() { leader.step(answer) }
            toFollower = leader.drainMessages().filter { $0.to == 2 }
        }
        #expect(follower.lastPosition == leader.lastPosition)
        #expect(roundTrips <= 2, "took \(roundTrips) round trips")
        #expect(follower.term(at: 2) == 3)
    }

    // A proposal beyond the uncommitted-bytes limit is refused with `overloaded`; one proposal
    // is always accepted when nothing is pending, so large commands are never stuck.
    @Test func proposalsBeyondUncommittedLimitAreOverloaded() throws {
        var leader = try leader { $0.maxUncommittedBytes = 10 }
        try leader.propose(Array(repeating: 1, count: 16))
        #expect(throws: ProposalError.overloaded) { try leader.propose([1]) }
        let batch = leader.drain()
        let last = try #require(batch.entries.last?.index)
        leader.step(Message(from: 2, to: 1, term: leader.term, kind: .appendResponse(AppendResponse(index: last))))
        #expect(leader.commitIndex == last)
        try leader.propose(Array(repeating: 1, count: 8))
    }

    @Test func proposalLargerThanTheLimitIsRefused() throws {
        var leader = try leader { $0.maxProposalBytes = 8 }
        #expect(throws: ProposalError.proposalTooLarge(limit: 8)) { try leader.propose(Array(repeating: 1, count: 9)) }
        try leader.propose(Array(repeating: 1, count: 8))
    }

    // Only the leader accepts proposals; others name the leader they know.
    @Test func followerRefusesProposalWithLeaderHint() throws {
        var follower = try makeInstance(2)
        follower.step(Message(from: 1, to: 2, term: 2, kind: .heartbeat(Heartbeat(commit: 1, readRound: 0))))
        #expect(throws: ProposalError.notLeader(leaderHint: 1)) { try follower.propose([1]) }
    }

    // Snapshots: a follower whose needed entries are compacted receives the snapshot, then the
    // entries after it, and ends with the same state machine.
    @Test func farBehindFollowerCatchesUpBySnapshot() throws {
        var cluster = stableCluster()
        cluster.partition([3], [1, 2])
        for byte: UInt8 in 1...5 { try propose(&cluster, on: 1, byte) }
        cluster.stabilize()
        cluster.compact(1)
        cluster.heal()
        try propose(&cluster, on: 1, 9)
        cluster.stabilize()
        let follower = try #require(cluster.instance(3))
        #expect(follower.snapshotMetadata.index == 7)
        #expect(follower.commitIndex == 8)
        #expect(cluster.stateMachine(3) == cluster.stateMachine(1))
    }

    // A snapshot older than what the follower has committed is ignored.
    @Test func followerIgnoresSnapshotBelowItsCommitIndex() throws {
        var follower = try makeInstance(2)
        let entries = (2...5).map { Entry(term: 2, index: LogIndex($0), payload: .command([1])) }
        follower.step(append(term: 2, previous: LogPosition(index: 1, term: 1), entries, commit: 5))
        _ = follower.drain()
        let snapshot = SnapshotMetadata(index: 3, term: 2, membership: Membership(voters: [1, 2, 3]))
        follower.step(Message(from: 1, to: 2, term: 2, kind: .installSnapshot(snapshot)))
        let batch = follower.drain()
        #expect(batch.snapshot == nil)
        #expect(appendResponses(batch.messagesAfterPersist).map(\.index) == [5])
        #expect(follower.lastIndex == 5)
    }
}
