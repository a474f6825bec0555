// Elections: ticks, role transitions, campaigns and votes (Raft §5.2, thesis §9.6 PreVote,
// §6.2 CheckQuorum).
extension RaftInstance {
    // MARK: - Ticks

    mutating func tickElection() {
        electionElapsed += 1
        if isPromotable && electionElapsed >= randomizedElectionTimeout {
            electionElapsed = 0
            campaign(transfer: false)
        }
    }

    mutating func tickLeader() {
        heartbeatElapsed += 1
        electionElapsed += 1
        if electionElapsed >= options.electionTimeoutTicks {
            electionElapsed = 0
            if options.checkQuorum {
                // Thesis §6.2: a leader that has not heard from a quorum within an election
                // timeout may have been replaced; it steps down rather than serve stale reads.
                guard quorumRecentlyActive() else {
                    becomeFollower(term: term, leader: nil)
                    return
                }
            }
        }
        if leadTransferee != nil {
            transferElapsed += 1
            // A transfer that has not finished within an election timeout is abandoned.
            if transferElapsed >= options.electionTimeoutTicks { leadTransferee = nil }
        }
        if heartbeatElapsed >= options.heartbeatIntervalTicks {
            heartbeatElapsed = 0
            broadcastHeartbeat(readRound: pendingReads.last?.round ?? 0)
        }
    }

    /// Counts voters heard from since the last check (the leader counts itself), and starts a
    /// new period. Members whose removal was committed before this period are no longer
    /// replicated to: they had a whole period of heartbeats carrying the commit index.
    mutating func quorumRecentlyActive() -> Bool {
        for member in removedMembersToForget { progress[member] = nil }
        removedMembersToForget = replicationTargets.filter { !membership.contains($0) && !committedMembership.contains($0) }
        var active = 0
        for voter in membership.voters {
            if voter == id || progress[voter]?.recentActive == true { active += 1 }
        }
        for member in replicationTargets {
            progress[member]?.recentActive = false
        }
        return active >= membership.quorum
    }

    // MARK: - Role transitions

    mutating func becomeFollower(term newTerm: Term, leader newLeader: ReplicaID?) {
        resetForTerm(newTerm)
        state = .follower
        leader = newLeader
    }

    mutating func becomePreCandidate() {
        precondition(state != .leader, "a leader cannot become pre-candidate")
        // A pre-candidate changes neither its term nor its vote (thesis §9.6).
        state = .preCandidate
        leader = nil
        votes = [:]
    }

    mutating func becomeCandidate() {
        precondition(state != .leader, "a leader cannot become candidate")
        resetForTerm(term + 1)
        votedFor = id
        state = .candidate
    }

    mutating func becomeLeader() {
        precondition(state == .candidate, "only a candidate becomes leader, not a \(state)")
        resetForTerm(term)
        state = .leader
        leader = id
        progress = [:]
        // Members whose removal is not yet committed keep receiving the log, so they learn of it.
        for member in membership.allMembers + committedMembership.allMembers where member != id {
            progress[member] = newProgress()
        }
        if !options.plantedBugs.contains(.noNoopAtTermStart) {
            // Raft §8: a no-op of the new term lets the leader learn the commit index.
            _ = appendEntry(.noop)
        }
        broadcastAppend()
    }

    func newProgress() -> Progress {
        Progress(
            next: log.lastIndex + 1, maxInflightMessages: options.maxInflightMessages,
            maxInflightBytes: options.maxInflightBytes)
    }

    /// Resets everything that lives for one term. Changing the term clears the vote.
    mutating func resetForTerm(_ newTerm: Term) {
        precondition(newTerm >= term, "term would go back from \(term) to \(newTerm)")
        if newTerm != term {
            term = newTerm
            votedFor = nil
        }
        leader = nil
        electionElapsed = 0
        heartbeatElapsed = 0
        resetRandomizedElectionTimeout()
        leadTransferee = nil
        votes = [:]
        progress = [:]
        uncommittedBytes = 0
        pendingReads = []
        readRoundOpen = false
        readsAwaitingCommit = []
        needsBroadcast = false
        removedMembersToForget = []
        transferElapsed = 0
    }

    // MARK: - Campaigns

    /// Starts a pre-vote (or, for a transfer or without PreVote, a real election).
    mutating func campaign(transfer: Bool) {
        guard isPromotable else { return }
        if options.preVote && !transfer {
            becomePreCandidate()
            requestVotes(inTerm: term + 1, preVote: true, transfer: false)
        } else {
            becomeCandidate()
            requestVotes(inTerm: term, preVote: false, transfer: transfer)
        }
    }

    private mutating func requestVotes(inTerm voteTerm: Term, preVote: Bool, transfer: Bool) {
        if recordVote(from: id, granted: true) == .won {
            electionWon(preVote: preVote, transfer: transfer)
            return
        }
        let request = VoteRequest(lastPosition: log.lastPosition, leadershipTransfer: transfer)
        for voter in membership.voters where voter != id {
            send(to: voter, term: voteTerm, preVote ? .requestPreVote(request) : .requestVote(request))
        }
    }

    enum ElectionOutcome { case pending, won, lost }

    /// Records one voter's answer and tells whether the election is decided.
    mutating func recordVote(from voter: ReplicaID, granted: Bool) -> ElectionOutcome {
        if votes[voter] == nil { votes[voter] = granted }
        var grantedCount = 0
        var rejectedCount = 0
        for member in membership.voters {
            switch votes[member] {
            case true?: grantedCount += 1
            case false?: rejectedCount += 1
            case nil: break
            }
        }
        if grantedCount >= membership.quorum { return .won }
        if rejectedCount > membership.voters.count - membership.quorum { return .lost }
        return .pending
    }

    mutating func electionWon(preVote: Bool, transfer: Bool) {
        if preVote {
            becomeCandidate()
            requestVotes(inTerm: term, preVote: false, transfer: transfer)
        } else {
            becomeLeader()
        }
    }

    /// Handles a vote or pre-vote response in a campaign of the current term.
    mutating func handleVoteResponse(from voter: ReplicaID, granted: Bool, preVote: Bool) {
        let campaigning: Role = preVote ? .preCandidate : .candidate
        guard state == campaigning else { return }
        switch recordVote(from: voter, granted: granted) {
        case .won: electionWon(preVote: preVote, transfer: false)
        case .lost: becomeFollower(term: term, leader: nil)
        case .pending: break
        }
    }

    /// Answers a vote or pre-vote request whose term is at least ours (Raft §5.2, §5.4.1).
    mutating func handleVoteRequest(_ message: Message, _ request: VoteRequest, preVote: Bool) {
        let canVote =
            votedFor == message.from || (votedFor == nil && leader == nil) || (preVote && message.term > term)
        let upToDate =
            options.plantedBugs.contains(.voteIgnoringLogUpToDate) || log.isUpToDate(request.lastPosition)
        guard canVote && upToDate else {
            send(to: message.from, preVote ? .preVoteResponse(granted: false) : .voteResponse(granted: false))
            return
        }
        if preVote {
            // Answer in the term asked about, so the pre-candidate counts it; our term is unchanged.
            send(to: message.from, term: message.term, .preVoteResponse(granted: true))
        } else {
            electionElapsed = 0
            votedFor = message.from
            send(to: message.from, .voteResponse(granted: true))
        }
    }
}
