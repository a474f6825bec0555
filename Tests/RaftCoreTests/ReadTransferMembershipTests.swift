import RaftCore
import RaftSimulation
import Testing

/// ReadIndex (Raft §6.4), leadership transfer (thesis §3.10) and membership changes (thesis
/// §4.1–§4.2).
@Suite struct ReadIndexTests {
    /// Replica 1 elected by 2, with its term's first entry (index 2) acknowledged by 2 and
    /// so committed: it may answer reads (§6.4 step 1).
    static func leaderThatCommittedInItsTerm() throws -> RaftInstance {
        var leader = try makeInstance(1) { $0.preVote = false }
        leader.electSelf(grantedBy: [2])
        _ = leader.drain()
        leader.step(Message(from: 2, to: 1, term: leader.term, kind: .appendResponse(AppendResponse(index: 2))))
        _ = leader.drain()
        return leader
    }

    // Raft §6.4: the read index is the commit index, returned only after a heartbeat round
    // confirms that a majority still follows this leader.
    @Test func readIndexWaitsForHeartbeatQuorum() throws {
        var leader = try Self.leaderThatCommittedInItsTerm()
        #expect(leader.commitIndex == 2)
        try leader.readIndex(context: ReadContext(number: 7))
        let batch = leader.drain()
        #expect(batch.readStates.isEmpty)
        let rounds = batch.messages.compactMap { message -> UInt64? in
            if case .heartbeat(let heartbeat) = message.kind { return heartbeat.readRound } else { return nil }
        }
        #expect(rounds.count == 2 && rounds.allSatisfy { $0 > 0 })
        leader.step(Message(from: 3, to: 1, term: leader.term, kind: .heartbeatResponse(readRound: rounds[0])))
        #expect(leader.drain().readStates == [ReadState(context: ReadContext(number: 7), index: 2)])
    }

    // Reads that arrive before a round is sent share it (one heartbeat per follower). A read
    // arriving while that round waits for a quorum opens the next round, which is sent only
    // once the first is confirmed, and is not confirmed by the first round's answers.
    @Test func readsShareOneHeartbeatRoundWithOneRoundInFlight() throws {
        var leader = try Self.leaderThatCommittedInItsTerm()
        for number: UInt64 in 1...3 { try leader.readIndex(context: ReadContext(number: number)) }
        let first = Self.readRounds(leader.drain())
        #expect(first.count == 2 && Set(first).count == 1, "one heartbeat per follower for three reads")
        try leader.readIndex(context: ReadContext(number: 4))
        #expect(!leader.hasReady, "the second round waits for the first")
        leader.step(Message(from: 3, to: 1, term: leader.term, kind: .heartbeatResponse(readRound: first[0])))
        let confirmed = leader.drain()
        #expect(confirmed.readStates.map(\.context) == [UInt64(1), 2, 3].map { ReadContext(number: $0) })
        let second = Self.readRounds(confirmed)
        #expect(second.count == 2 && second[0] > first[0], "the second round leaves once the first is confirmed")
        leader.step(Message(from: 2, to: 1, term: leader.term, kind: .heartbeatResponse(readRound: first[0])))
        #expect(leader.drain().readStates.isEmpty, "an answer to the first round does not confirm the second")
        leader.step(Message(from: 2, to: 1, term: leader.term, kind: .heartbeatResponse(readRound: second[0])))
        #expect(leader.drain().readStates.map(\.context) == [ReadContext(number: 4)])
    }

    // A round whose answers are lost does not hold the next one forever: the periodic
    // heartbeat carries the newest round, and its answers confirm every read.
    @Test func periodicHeartbeatCarriesAWaitingReadRound() throws {
        var leader = try Self.leaderThatCommittedInItsTerm()
        try leader.readIndex(context: ReadContext(number: 1))
        let lost = Self.readRounds(leader.drain())
        #expect(lost.count == 2)
        try leader.readIndex(context: ReadContext(number: 2))
        var periodic: [UInt64] = []
        for _ in 0..<leader.options.heartbeatIntervalTicks where periodic.isEmpty {
            leader.tick()
            periodic = Self.readRounds(leader.drain())
        }
        #expect(periodic.count == 2 && periodic[0] > lost[0])
        leader.step(Message(from: 3, to: 1, term: leader.term, kind: .heartbeatResponse(readRound: periodic[0])))
        #expect(leader.drain().readStates.map(\.context) == [ReadContext(number: 1), ReadContext(number: 2)])
    }

    /// The read rounds of the heartbeats in a batch.
    static func readRounds(_ batch: Ready) -> [UInt64] {
        batch.messages.compactMap { message -> UInt64? in
            if case .heartbeat(let heartbeat) = message.kind, heartbeat.readRound > 0 { return heartbeat.readRound } else { return nil }
        }
    }

    // Raft §6.4 step 1: a new leader answers reads only once an entry of its term is committed.
    @Test func newLeaderDelaysReadsUntilItCommitsInItsTerm() throws {
        var leader = try makeInstance(1) { $0.preVote = false }
        leader.electSelf(grantedBy: [2])
        _ = leader.drain()
        try leader.readIndex(context: ReadContext(number: 1))
        let early = leader.drain()
        #expect(early.readStates.isEmpty)
        #expect(!early.messages.contains { if case .heartbeat = $0.kind { return true } else { return false } })
        leader.step(Message(from: 2, to: 1, term: leader.term, kind: .appendResponse(AppendResponse(index: 2))))
        let round = leader.drain().messages.compactMap { message -> UInt64? in
            if case .heartbeat(let heartbeat) = message.kind, heartbeat.readRound > 0 { return heartbeat.readRound }
            return nil
        }
        #expect(!round.isEmpty)
        leader.step(Message(from: 2, to: 1, term: leader.term, kind: .heartbeatResponse(readRound: round[0])))
        #expect(leader.drain().readStates.map(\.index) == [2])
    }

    @Test func singleVoterAnswersReadsAtOnce() throws {
        var single = try makeInstance(1, voters: [1])
        single.campaign()
        _ = single.drain()
        try single.readIndex(context: ReadContext(number: 3))
        #expect(single.drain().readStates == [ReadState(context: ReadContext(number: 3), index: 2)])
    }

    // A tick's heartbeat can close the open read round before the next Ready; a single voter
    // must still answer the read.
    @Test func singleVoterAnswersAReadWhoseRoundATickClosed() throws {
        var single = try makeInstance(1, voters: [1])
        single.campaign()
        _ = single.drain()
        try single.readIndex(context: ReadContext(number: 4))
        for _ in 0..<5 { single.tick() }
        #expect(single.hasReady)
        #expect(single.drain().readStates == [ReadState(context: ReadContext(number: 4), index: 2)])
    }

    // A follower forwards the read to its leader and gets the index back.
    @Test func followerReadIsForwardedToLeader() throws {
        var cluster = stableCluster()
        try cluster.with(2) { (instance) throws(ProposalError) in try instance.readIndex(context: ReadContext(number: 5)) }
        cluster.stabilize()
        let output = cluster.takeOutput()
        #expect(output.contains("2->1 MsgReadIndex term=2 ctx5"))
        #expect(output.contains("2: read ctx5 at 2"))
    }

    @Test func readWithoutKnownLeaderIsRefused() throws {
        var follower = try makeInstance(2)
        #expect(throws: ProposalError.notLeader(leaderHint: nil)) {
            try follower.readIndex(context: ReadContext(number: 1))
        }
    }

    @Test func pendingReadsAreBounded() throws {
        var leader = try makeInstance(1) {
            $0.preVote = false
            $0.maxPendingReads = 2
        }
        leader.electSelf(grantedBy: [2])
        try leader.readIndex(context: ReadContext(number: 1))
        try leader.readIndex(context: ReadContext(number: 2))
        #expect(throws: ProposalError.overloaded) { try leader.readIndex(context: ReadContext(number: 3)) }
    }
}

@Suite struct LeadershipTransferTests {
    // Thesis §3.10: the target is brought up to date, told to campaign, and wins at once;
    // proposals are refused meanwhile.
    @Test func transferHandsLeadershipToCaughtUpTarget() throws {
        var cluster = stableCluster()
        try cluster.with(1) { (instance) throws(ProposalError) in try instance.transferLeadership(to: 3) }
        #expect(throws: ProposalError.transferInProgress) {
            try cluster.with(1) { (instance) throws(ProposalError) in try instance.propose([1]) }
        }
        cluster.stabilize()
        #expect(cluster.instance(3)?.role == .leader)
        #expect(cluster.instance(1)?.role == .follower)
        #expect(cluster.instance(1)?.leader == 3)
    }

    @Test(arguments: [ReplicaID(1), ReplicaID(9)])
    func transferToSelfOrNonVoterIsRefused(target: ReplicaID) throws {
        var cluster = stableCluster()
        #expect(throws: ProposalError.invalidTransferTarget(target)) {
            try cluster.with(1) { (instance) throws(ProposalError) in try instance.transferLeadership(to: target) }
        }
    }

    // A transfer that does not finish within an election timeout is abandoned.
    @Test func unfinishedTransferIsAbandonedAfterElectionTimeout() throws {
        var cluster = stableCluster()
        cluster.partition([3], [1, 2])
        try cluster.with(1) { (instance) throws(ProposalError) in try instance.transferLeadership(to: 3) }
        for _ in 0..<10 {
            cluster.with(1) { $0.tick() }
            cluster.with(2) { $0.tick() }
            cluster.stabilize()
        }
        #expect(cluster.instance(1)?.role == .leader)
        #expect(cluster.instance(1)?.leadTransferee == nil)
        try propose(&cluster, on: 1)
    }
}

@Suite struct MembershipTests {
    // Thesis §4.1: a membership change takes effect on a replica as soon as it is in its log.
    @Test func membershipTakesEffectWhenAppended() throws {
        var cluster = stableCluster()
        cluster.addReplica(4, persisted: .empty)
        try cluster.with(1) { (instance) throws(ProposalError) in try instance.proposeMembershipChange(.addLearner(4)) }
        let leader = try #require(cluster.instance(1))
        #expect(leader.membership.learners == [4])
        #expect(leader.committedMembership.learners.isEmpty)
        cluster.stabilize()
        #expect(cluster.instance(4)?.role == .learner)
        #expect(cluster.instance(4)?.committedMembership == Membership(voters: [1, 2, 3], learners: [4]))
        #expect(cluster.stateMachine(4) == cluster.stateMachine(1))
    }

    // One change at a time, and only after the leader has committed an entry of its term.
    @Test func changesWaitForCommitOfPreviousChangeAndOfLeadersTerm() throws {
        var cluster = stableCluster()
        try cluster.with(1) { (instance) throws(ProposalError) in try instance.proposeMembershipChange(.addLearner(4)) }
        #expect(throws: ProposalError.membershipChangePending) {
            try cluster.with(1) { (instance) throws(ProposalError) in try instance.proposeMembershipChange(.remove(3)) }
        }
        var fresh = try makeInstance(1) { $0.preVote = false }
        fresh.electSelf(grantedBy: [2])
        #expect(throws: ProposalError.membershipChangePending) { try fresh.proposeMembershipChange(.remove(3)) }
    }

    @Test(arguments: [
        (MembershipChange.addLearner(2), MembershipChange.Rejection.alreadyMember(2)),
        (.promote(2), .notLearner(2)),
        (.remove(7), .notMember(7)),
        (.bootstrap(voters: [1]), .alreadyBootstrapped),
    ])
    func invalidChangeIsRejected(change: MembershipChange, rejection: MembershipChange.Rejection) throws {
        var cluster = stableCluster()
        #expect(throws: ProposalError.membershipChangeRejected(rejection)) {
            try cluster.with(1) { (instance) throws(ProposalError) in try instance.proposeMembershipChange(change) }
        }
        #expect(cluster.instance(1)?.lastIndex == 2, "a refused change appends nothing")
    }

    @Test func removingTheLastVoterIsRejected() throws {
        var single = try makeInstance(1, voters: [1])
        single.campaign()
        _ = single.drain()
        #expect(throws: ProposalError.membershipChangeRejected(.wouldLeaveNoVoters)) {
            try single.proposeMembershipChange(.remove(1))
        }
    }

    // An uncommitted change that a new leader overwrites stops being in force.
    @Test func truncatedMembershipEntryIsReverted() throws {
        var follower = try makeInstance(2)
        let change = Entry(term: 2, index: 2, payload: .membership(.remove(3)))
        follower.step(
            Message(
                from: 1, to: 2, term: 2,
                kind: .appendEntries(AppendEntries(previous: LogPosition(index: 1, term: 1), entries: [change], commit: 1))))
        #expect(follower.membership == Membership(voters: [1, 2]))
        _ = follower.drain()
        let replacement = Entry(term: 3, index: 2, payload: .noop)
        follower.step(
            Message(
                from: 3, to: 2, term: 3,
                kind: .appendEntries(AppendEntries(previous: LogPosition(index: 1, term: 1), entries: [replacement], commit: 1))))
        #expect(follower.membership == Membership(voters: [1, 2, 3]))
    }

    // Thesis §4.2.2: a leader that removes itself leads until the change commits, then steps
    // down; the remaining voters elect a leader without it.
    @Test func removedLeaderStepsDownAndOthersElectWithoutIt() throws {
        var cluster = stableCluster()
        try cluster.with(1) { (instance) throws(ProposalError) in try instance.proposeMembershipChange(.remove(1)) }
        cluster.stabilize()
        #expect(cluster.instance(1)?.role == .follower)
        #expect(cluster.instance(1)?.isRemoved == true)
        #expect(cluster.instance(2)?.committedMembership == Membership(voters: [2, 3]))
        cluster.crash(1)
        for _ in 0..<10 { cluster.with(3) { $0.tick() } }
        cluster.with(2) { $0.campaign() }
        cluster.stabilize()
        #expect(cluster.instance(2)?.role == .leader)
        try propose(&cluster, on: 2)
    }

    // Regression (found by the simulator): a leader appends its own removal in a two-voter
    // cluster and crashes before replicating it. It must still be able to campaign (it is a
    // voter in the committed membership), finish the change and step down; otherwise the other
    // voter, which needs its vote, waits forever.
    @Test func leaderThatCrashedWithItsOwnRemovalCanFinishIt() throws {
        var cluster = stableCluster(voters: [1, 2])
        try cluster.with(1) { (instance) throws(ProposalError) in try instance.proposeMembershipChange(.remove(1)) }
        cluster.processReady(1)
        cluster.dropQueued()
        cluster.crash(1)
        cluster.restart(1)
        let restarted = try #require(cluster.instance(1))
        #expect(!restarted.membership.isVoter(1))
        #expect(restarted.isPromotable)
        for _ in 0..<10 { cluster.with(2) { $0.tick() } }
        cluster.stabilize()
        cluster.with(1) { $0.campaign() }
        cluster.stabilize()
        #expect(cluster.instance(2)?.committedMembership == Membership(voters: [2]))
        #expect(cluster.instance(1)?.isRemoved == true)
        #expect(cluster.instance(1)?.role != .leader)
        cluster.crash(1)
        cluster.with(2) { $0.campaign() }
        cluster.stabilize()
        #expect(cluster.instance(2)?.role == .leader)
    }
}

@Suite struct OptionsTests {
    @Test(arguments: [
        "electionTimeoutTicks", "heartbeatIntervalTicks", "maxInflightMessages", "maxInflightBytes", "maxAppendBytes",
        "maxUncommittedBytes", "maxApplyBytesPerReady", "maxPendingReads", "maxProposalBytes",
    ])
    func outOfRangeOptionIsRejectedByName(field: String) {
        var options = RaftOptions(id: 1)
        switch field {
        case "electionTimeoutTicks": options.electionTimeoutTicks = 1
        case "heartbeatIntervalTicks": options.heartbeatIntervalTicks = options.electionTimeoutTicks
        case "maxInflightMessages": options.maxInflightMessages = 0
        case "maxInflightBytes": options.maxInflightBytes = 0
        case "maxAppendBytes": options.maxAppendBytes = 0
        case "maxUncommittedBytes": options.maxUncommittedBytes = 0
        case "maxApplyBytesPerReady": options.maxApplyBytesPerReady = 0
        case "maxProposalBytes": options.maxProposalBytes = RaftEncoding.maxCommandBytes + 1
        default: options.maxPendingReads = 0
        }
        do {
            _ = try RaftInstance(options: options, persisted: .empty, seed: 1)
            Issue.record("\(field) out of range was accepted")
        } catch {
            guard case .invalid(let message) = error else { return }
            #expect(message.hasPrefix(field))
        }
    }

    @Test func defaultOptionsAreValid() throws {
        try RaftOptions(id: 1).validate()
    }
}

/// Regressions for findings of the code review.
@Suite struct ReviewRegressionTests {
    // A lone voter elects itself in one batch: its appends (to learners) must wait until its new
    // term and vote are durable, or a crash could let it reuse the term for different entries.
    @Test func loneVoterAppendsWaitForItsVoteToBeDurable() throws {
        var options = RaftOptions(id: 1)
        options.preVote = false
        let persisted = PersistedState(
            hardState: HardState(term: 1, commit: 1), snapshot: .empty,
            entries: [Entry(term: 1, index: 1, payload: .membership(.bootstrap(voters: [1])))], applied: 0)
        var leader = try RaftInstance(options: options, persisted: persisted, seed: 1)
        leader.campaign()
        _ = leader.drain()
        try leader.proposeMembershipChange(.addLearner(2))
        _ = leader.drain()
        leader.step(Message(from: 2, to: 1, term: leader.term, kind: .appendResponse(AppendResponse(index: 3))))
        _ = leader.drain()
        // Restart it: the next election, with a proposal before the first Ready, is one batch.
        var restarted = try RaftInstance(
            options: options,
            persisted: PersistedState(
                hardState: HardState(term: leader.term, commit: leader.commitIndex), snapshot: .empty,
                entries: (1...leader.lastIndex).compactMap { leader.entry(at: $0) }, applied: 0),
            seed: 2)
        restarted.campaign()
        #expect(restarted.role == .leader)
        try restarted.propose([1])
        let batch = restarted.ready()
        #expect(batch.hardState?.votedFor == 1)
        #expect(batch.mustSync)
        #expect(batch.messages.isEmpty, "sent before the vote is durable: \(batch.messages)")
        #expect(batch.messagesAfterPersist.contains { $0.to == 2 })
        restarted.advance(batch)
    }

    // The commit index is written without a sync; after a crash it may be older than what the
    // durable state machine applied. The replica must start, not stop.
    @Test func restartWithAppliedBeyondPersistedCommitIndex() throws {
        let entries = [
            Entry(term: 1, index: 1, payload: .membership(.bootstrap(voters: [1, 2, 3]))),
            Entry(term: 2, index: 2, payload: .noop), Entry(term: 2, index: 3, payload: .command([1])),
        ]
        let persisted = PersistedState(
            hardState: HardState(term: 2, commit: 1), snapshot: .empty, entries: entries, applied: 3)
        let replica = try RaftInstance(options: RaftOptions(id: 2), persisted: persisted, seed: 1)
        #expect(replica.commitIndex == 3)
        #expect(replica.appliedIndex == 3)
    }

    // A read waiting for a removed voter's acknowledgement is answered when the smaller
    // membership's quorum already confirms it.
    @Test func pendingReadCompletesWhenQuorumShrinks() throws {
        var leader = try makeInstance(1, voters: [1, 2]) { $0.preVote = false }
        leader.electSelf(grantedBy: [2])
        _ = leader.drain()
        leader.step(Message(from: 2, to: 1, term: leader.term, kind: .appendResponse(AppendResponse(index: 2))))
        _ = leader.drain()
        try leader.readIndex(context: ReadContext(number: 1))
        #expect(leader.drain().readStates.isEmpty)
        try leader.proposeMembershipChange(.remove(2))
        #expect(leader.drain().readStates.map(\.context) == [ReadContext(number: 1)])
    }

    // A new leader keeps replicating to a member whose removal is not yet committed, so that
    // the member can learn of it.
    @Test func newLeaderReplicatesToMemberWithUncommittedRemoval() throws {
        var cluster = stableCluster(voters: [1, 2, 3, 4])
        cluster.partition([4], [1, 2, 3])
        try cluster.with(1) { (instance) throws(ProposalError) in try instance.proposeMembershipChange(.remove(4)) }
        cluster.processReady(1)
        cluster.deliver(to: 2)
        cluster.processReady(2)
        cluster.dropQueued()
        cluster.crash(1)
        cluster.heal()
        for _ in 0..<10 { cluster.with(3) { $0.tick() } }
        cluster.with(2) { $0.campaign() }
        cluster.stabilize()
        #expect(cluster.instance(2)?.role == .leader)
        #expect(cluster.instance(2)?.committedMembership == Membership(voters: [1, 2, 3]))
        #expect(cluster.instance(4)?.isRemoved == true, "replica 4 must learn that it was removed")
    }

    // Repeated transfer requests do not postpone CheckQuorum.
    @Test func transferRequestsDoNotDelayCheckQuorum() throws {
        var leader = try makeInstance(1) { $0.preVote = false }
        leader.electSelf(grantedBy: [2])
        _ = leader.drain()
        for _ in 0..<25 {
            try? leader.transferLeadership(to: 2)
            leader.tick()
            _ = leader.drain()
        }
        #expect(leader.role == .follower)
    }

    // Thesis §4.2.1: a learner that has not caught up is not promoted.
    @Test func laggingLearnerIsNotPromoted() throws {
        var leader = try makeInstance(1) {
            $0.preVote = false
            $0.maxPromotionLagEntries = 2
        }
        leader.electSelf(grantedBy: [2])
        _ = leader.drain()
        leader.step(Message(from: 2, to: 1, term: leader.term, kind: .appendResponse(AppendResponse(index: 2))))
        try leader.proposeMembershipChange(.addLearner(4))
        for byte: UInt8 in 1...3 { try leader.propose([byte]) }
        _ = leader.drain()
        leader.step(Message(from: 2, to: 1, term: leader.term, kind: .appendResponse(AppendResponse(index: leader.lastIndex))))
        #expect(leader.committedMembership.learners == [4])
        #expect(throws: ProposalError.learnerNotCaughtUp(4)) { try leader.proposeMembershipChange(.promote(4)) }
        leader.step(Message(from: 4, to: 1, term: leader.term, kind: .appendResponse(AppendResponse(index: leader.lastIndex))))
        try leader.proposeMembershipChange(.promote(4))
    }

    // A learner that never answered (a typo'd id, a replica never started) is not caught up,
    // however short the log; an operator may still force it.
    @Test func aLearnerThatNeverAnsweredIsPromotedOnlyWhenForced() throws {
        var leader = try makeInstance(1) { $0.preVote = false }
        leader.electSelf(grantedBy: [2])
        _ = leader.drain()
        leader.step(Message(from: 2, to: 1, term: leader.term, kind: .appendResponse(AppendResponse(index: leader.lastIndex))))
        try leader.proposeMembershipChange(.addLearner(4))
        _ = leader.drain()
        leader.step(Message(from: 2, to: 1, term: leader.term, kind: .appendResponse(AppendResponse(index: leader.lastIndex))))
        #expect(leader.committedMembership.learners == [4])
        #expect(leader.lastIndex < UInt64(leader.options.maxPromotionLagEntries))
        #expect(throws: ProposalError.learnerNotCaughtUp(4)) { try leader.proposeMembershipChange(.promote(4)) }
        try leader.proposeMembershipChange(.promote(4), force: true)
        #expect(leader.membership.voters.contains(4))
    }
}
