import RaftCore
import RaftSimulation
import Testing

/// Elections: Raft §5.1, §5.2, §5.4.1, thesis §9.6 (PreVote) and §6.2 (CheckQuorum).
@Suite struct ElectionTests {
    func vote(from candidate: ReplicaID, to voter: ReplicaID, term: Term, last: LogPosition) -> Message {
        Message(
            from: candidate, to: voter, term: term,
            kind: .requestVote(VoteRequest(lastPosition: last, leadershipTransfer: false)))
    }

    func voteGranted(_ messages: [Message]) -> Bool? {
        for message in messages { if case .voteResponse(let granted) = message.kind { return granted } }
        return nil
    }

    // Raft §5.2: "If election timeout elapses without receiving AppendEntries RPC from current
    // leader or granting vote to candidate: convert to candidate"; timeouts are randomized in
    // [electionTimeout, 2 × electionTimeout).
    @Test func followerCampaignsAfterRandomizedElectionTimeout() throws {
        var timeouts: Set<Int> = []
        for id: ReplicaID in [1, 2, 3, 4, 5, 6, 7, 8] {
            var replica = try makeInstance(id, voters: [1, 2, 3, 4, 5, 6, 7, 8])
            var ticks = 0
            while replica.role == .follower && ticks < 100 {
                replica.tick()
                ticks += 1
            }
            #expect(replica.role == .preCandidate)
            #expect(ticks >= 10 && ticks < 20, "replica \(id) campaigned after \(ticks) ticks")
            timeouts.insert(ticks)
        }
        #expect(timeouts.count > 1, "timeouts must differ between replicas")
    }

    // Raft §5.1: a replica that sees a higher term adopts it and becomes follower.
    @Test func replicaAdoptsHigherTermAndBecomesFollower() throws {
        var replica = try makeInstance(1) { $0.preVote = false }
        replica.electSelf(grantedBy: [2])
        #expect(replica.role == .leader)
        replica.step(Message(from: 2, to: 1, term: 9, kind: .appendResponse(AppendResponse(index: 0))))
        #expect(replica.role == .follower)
        #expect(replica.term == 9)
        #expect(replica.votedFor == nil)
    }

    // Raft §5.2: each server votes for at most one candidate in a given term, first come first served.
    @Test func voterGrantsAtMostOneVotePerTerm() throws {
        var voter = try makeInstance(3)
        voter.step(vote(from: 1, to: 3, term: 2, last: LogPosition(index: 1, term: 1)))
        #expect(voteGranted(voter.drainMessages()) == true)
        voter.step(vote(from: 2, to: 3, term: 2, last: LogPosition(index: 1, term: 1)))
        #expect(voteGranted(voter.drainMessages()) == false)
        // A retransmitted request from the same candidate is granted again.
        voter.step(vote(from: 1, to: 3, term: 2, last: LogPosition(index: 1, term: 1)))
        #expect(voteGranted(voter.drainMessages()) == true)
        #expect(voter.votedFor == 1)
    }

    // Raft Figure 2: the vote must be durable before the voter answers.
    @Test func voteIsSentOnlyAfterItIsPersisted() throws {
        var voter = try makeInstance(3)
        voter.step(vote(from: 1, to: 3, term: 2, last: LogPosition(index: 1, term: 1)))
        let batch = voter.drain()
        #expect(batch.hardState?.votedFor == 1)
        #expect(batch.hardState?.term == 2)
        #expect(batch.mustSync)
        #expect(voteGranted(batch.messages) == nil)
        #expect(voteGranted(batch.messagesAfterPersist) == true)
    }

    // Raft §5.4.1: a voter denies its vote if its own log is more up to date than the
    // candidate's: a later last term, or the same last term and a longer log.
    @Test(arguments: [
        (LogPosition(index: 3, term: 2), true),
        (LogPosition(index: 2, term: 3), true),
        (LogPosition(index: 9, term: 2), true),
        (LogPosition(index: 2, term: 2), false),
        (LogPosition(index: 9, term: 1), false),
    ])
    func voterRejectsCandidateWithLessUpToDateLog(candidateLast: LogPosition, granted: Bool) throws {
        let entries = [
            Entry(term: 1, index: 1, payload: .membership(.bootstrap(voters: [1, 2, 3]))),
            Entry(term: 2, index: 2, payload: .noop), Entry(term: 2, index: 3, payload: .command([1])),
        ]
        let persisted = PersistedState(
            hardState: HardState(term: 2, votedFor: nil, commit: 1), snapshot: .empty, entries: entries, applied: 0)
        var voter = try RaftInstance(options: RaftOptions(id: 3), persisted: persisted, seed: 1)
        voter.step(vote(from: 1, to: 3, term: 5, last: candidateLast))
        #expect(voteGranted(voter.drainMessages()) == granted)
    }

    // Raft §5.2: a candidate that receives an append from a leader of its own term becomes a follower.
    @Test func candidateStepsDownOnAppendFromLeaderOfSameTerm() throws {
        var candidate = try makeInstance(2) { $0.preVote = false }
        candidate.campaign()
        #expect(candidate.role == .candidate)
        let term = candidate.term
        let append = AppendEntries(previous: LogPosition(index: 1, term: 1), entries: [], commit: 1)
        candidate.step(Message(from: 1, to: 2, term: term, kind: .appendEntries(append)))
        #expect(candidate.role == .follower)
        #expect(candidate.leader == 1)
        #expect(candidate.term == term)
    }

    // Raft §5.2: a candidate that a majority rejects gives up (and waits for a new timeout).
    @Test func candidateRejectedByMajorityBecomesFollower() throws {
        var candidate = try makeInstance(1) { $0.preVote = false }
        candidate.campaign()
        let term = candidate.term
        candidate.step(Message(from: 2, to: 1, term: term, kind: .voteResponse(granted: false)))
        #expect(candidate.role == .candidate)
        candidate.step(Message(from: 3, to: 1, term: term, kind: .voteResponse(granted: false)))
        #expect(candidate.role == .follower)
    }

    // Thesis §9.6: a pre-candidate asks about term + 1 without changing its own term or vote.
    @Test func preVoteDoesNotChangeTermOrVote() throws {
        var replica = try makeInstance(1)
        replica.campaign()
        #expect(replica.role == .preCandidate)
        #expect(replica.term == 1)
        #expect(replica.votedFor == nil)
        let requests = replica.drainMessages().filter {
            if case .requestPreVote = $0.kind { return $0.term == 2 }
            return false
        }
        #expect(requests.map(\.to) == [2, 3])
    }

    // Thesis §6.2 / §9.6: while a follower hears from its leader (its lease), it ignores
    // campaigns from others, so a rejoining replica cannot disrupt the cluster.
    @Test func followerInLeaseIgnoresPreVote() throws {
        var follower = try makeInstance(2)
        let heartbeat = Heartbeat(commit: 1, readRound: 0)
        follower.step(Message(from: 1, to: 2, term: 2, kind: .heartbeat(heartbeat)))
        _ = follower.drainMessages()
        follower.step(
            Message(
                from: 3, to: 2, term: 3,
                kind: .requestPreVote(VoteRequest(lastPosition: LogPosition(index: 9, term: 2), leadershipTransfer: false))))
        #expect(follower.drainMessages().isEmpty)
        #expect(follower.term == 2)
        // After an election timeout without the leader, the lease is over.
        for _ in 0..<10 { follower.tick() }
        follower.step(
            Message(
                from: 3, to: 2, term: 3,
                kind: .requestPreVote(VoteRequest(lastPosition: LogPosition(index: 9, term: 2), leadershipTransfer: false))))
        let answers = follower.drainMessages().filter { if case .preVoteResponse(true) = $0.kind { return true } else { return false } }
        #expect(answers.count == 1)
    }

    // Raft §8: a new leader appends a no-op entry of its term.
    @Test func newLeaderAppendsNoopOfItsTerm() throws {
        var leader = try makeInstance(1) { $0.preVote = false }
        leader.electSelf(grantedBy: [2])
        #expect(leader.role == .leader)
        #expect(leader.entry(at: leader.lastIndex)?.payload == .noop)
        #expect(leader.lastPosition.term == leader.term)
    }

    // Thesis §6.2: a leader that hears from no quorum for an election timeout steps down.
    @Test func leaderWithoutQuorumStepsDown() throws {
        var leader = try makeInstance(1) { $0.preVote = false }
        leader.electSelf(grantedBy: [2])
        _ = leader.drain()
        leader.step(Message(from: 2, to: 1, term: leader.term, kind: .appendResponse(AppendResponse(index: 2))))
        for _ in 0..<10 {
            leader.tick()
            _ = leader.drain()
        }
        // Replica 2 answered during the first period, so the leader stays.
        #expect(leader.role == .leader)
        for _ in 0..<10 {
            leader.tick()
            _ = leader.drain()
        }
        #expect(leader.role == .follower)
        #expect(leader.leader == nil)
    }

    // Regression (found by the simulator): a stale-term append is answered with index 0, so
    // that the same replica, leader again in a newer term, cannot read it as an acknowledgement.
    @Test func staleTermAppendIsAnsweredWithoutAcknowledgingEntries() throws {
        var follower = try makeInstance(2)
        follower.step(Message(from: 3, to: 2, term: 5, kind: .heartbeat(Heartbeat(commit: 1, readRound: 0))))
        _ = follower.drainMessages()
        let stale = AppendEntries(previous: LogPosition(index: 1, term: 1), entries: [], commit: 1)
        follower.step(Message(from: 1, to: 2, term: 4, kind: .appendEntries(stale)))
        let answers = follower.drainMessages()
        #expect(answers.count == 1)
        #expect(answers.first?.term == 5)
        if case .appendResponse(let response)? = answers.first?.kind {
            #expect(response.index == 0)
            #expect(!response.rejected)
        } else {
            Issue.record("expected an append response, got \(answers)")
        }
    }
}
