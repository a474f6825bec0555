// Message handling: the term comparison every message goes through first (Raft §5.1), then
// the handler for the receiver's role.
extension RaftInstance {
    /// Hands a message from another replica to the instance. Messages addressed to another
    /// replica, from an older term, or that make no sense in the current role are ignored, as
    /// Raft tolerates lost and duplicated messages.
    ///
    /// Messages a correct peer could not have sent are refused and counted in
    /// `refusedMessages`: a term beyond `RaftBounds.maxTerm`, or a message from a replica that is
    /// not a member (`acceptsMessage(from:kind:)`).
    public mutating func step(_ message: Message) {
        precondition(!awaitingAdvance, "step() between ready() and advance()")
        guard message.to == id, message.from != id else { return }
        guard message.term <= RaftBounds.maxTerm, acceptsMessage(from: message.from, kind: message.kind) else {
            refusedMessages &+= 1
            return
        }
        if message.term > term {
            guard stepHigherTerm(message) else { return }
        } else if message.term < term {
            stepLowerTerm(message)
            return
        }
        switch message.kind {
        case .requestVote(let request):
            handleVoteRequest(message, request, preVote: false)
        case .requestPreVote(let request):
            handleVoteRequest(message, request, preVote: true)
        case .voteResponse(let granted):
            handleVoteResponse(from: message.from, granted: granted, preVote: false)
        case .preVoteResponse(let granted):
            handleVoteResponse(from: message.from, granted: granted, preVote: true)
        case .appendEntries(let append):
            guard followLeader(message) else { return }
            handleAppendEntries(from: message.from, append)
        case .heartbeat(let heartbeat):
            guard followLeader(message) else { return }
            handleHeartbeat(from: message.from, heartbeat)
        case .installSnapshot(let metadata):
            guard followLeader(message) else { return }
            handleInstallSnapshot(from: message.from, metadata)
        case .appendResponse(let response):
            guard state == .leader else { return }
            handleAppendResponse(from: message.from, response)
        case .heartbeatResponse(let round):
            guard state == .leader else { return }
            handleHeartbeatResponse(from: message.from, readRound: round)
        case .timeoutNow:
            // Thesis §3.10: the leader asked us to take over; campaign at once, skipping PreVote.
            guard state != .leader, isPromotable else { return }
            campaign(transfer: true)
        case .readIndex(let context):
            guard state == .leader else { return }
            guard pendingReads.count + readsAwaitingCommit.count < options.maxPendingReads else { return }
            handleReadIndex(context: context, requester: message.from)
        case .readIndexResponse(let context, let index):
            readStates.append(ReadState(context: context, index: index))
        }
    }

    /// Whether a message from `sender` may be stepped. Only members speak: a replica in the
    /// newest membership or the committed one (a voter whose removal is not yet committed may
    /// still be needed for a vote, see `isPromotable`). Two exceptions keep a cluster live:
    /// - a replica that is not a member itself (one being added, whose log does not yet hold
    ///   its own addition) listens to whoever leads;
    /// - messages only a leader sends (appends, heartbeats, snapshots) are taken from anyone,
    ///   since a replica that was down while members were added may be led by a replica its
    ///   log does not know yet; what it then learns from the leader's log makes it a member.
    /// Votes, vote answers, reads and `timeoutNow` from a non-member are refused, and so are
    /// replication answers from a replica the leader does not replicate to: none of them can
    /// come from a correct replica.
    func acceptsMessage(from sender: ReplicaID, kind: Message.Kind) -> Bool {
        let newest = membership
        if newest.contains(sender) || !newest.contains(id) { return true }
        if committedMembership.contains(sender) { return true }
        switch kind {
        case .appendEntries, .heartbeat, .installSnapshot:
            return true
        case .appendResponse, .heartbeatResponse:
            // A leader still replicates to a replica whose removal it committed, until it
            // forgets it, so that the replica learns of its removal.
            return progress[sender] != nil
        case .requestVote, .requestPreVote, .voteResponse, .preVoteResponse, .timeoutNow,
            .readIndex, .readIndexResponse:
            return false
        }
    }

    /// Handles a message from a higher term.
    /// - Returns: whether processing continues with the role handlers.
    private mutating func stepHigherTerm(_ message: Message) -> Bool {
        switch message.kind {
        case .requestVote(let request), .requestPreVote(let request):
            // The leader lease (thesis §6.2 with CheckQuorum): while we hear from a leader, a
            // campaign is a disruption from a partitioned replica, unless the leader asked for it.
            let inLease =
                options.checkQuorum && leader != nil && electionElapsed < options.electionTimeoutTicks
            if inLease && !request.leadershipTransfer { return false }
            if case .requestPreVote = message.kind { return true }
            becomeFollower(term: message.term, leader: nil)
        case .preVoteResponse(granted: true):
            // A granted pre-vote carries the term we would campaign in; nothing changes yet.
            break
        case .appendEntries, .heartbeat, .installSnapshot:
            becomeFollower(term: message.term, leader: message.from)
        case .appendResponse, .heartbeatResponse, .voteResponse, .preVoteResponse, .timeoutNow, .readIndex,
            .readIndexResponse:
            becomeFollower(term: message.term, leader: nil)
        }
        return true
    }

    /// Handles a message from an older term.
    private mutating func stepLowerTerm(_ message: Message) {
        switch message.kind {
        case .appendEntries, .heartbeat:
            // A stale leader cut off by a partition: answer with our term so it steps down.
            // With PreVote it might otherwise never learn the newer term, since the replicas
            // that elected the new leader do not campaign against it.
            // The answer acknowledges nothing (index 0): the same replica may be leader again in
            // a newer term by the time it arrives, and must not read it as a match.
            if options.checkQuorum || options.preVote {
                send(to: message.from, .appendResponse(AppendResponse(index: 0)))
            }
        case .requestPreVote:
            send(to: message.from, .preVoteResponse(granted: false))
        case .requestVote, .voteResponse, .preVoteResponse, .appendResponse, .heartbeatResponse,
            .installSnapshot, .timeoutNow, .readIndex, .readIndexResponse:
            break
        }
    }

    /// Recognizes the sender of a same-term append, heartbeat or snapshot as leader.
    /// - Returns: false when this replica is itself the leader of the term (impossible unless
    ///   election safety is broken; the message is ignored).
    private mutating func followLeader(_ message: Message) -> Bool {
        if state == .leader { return false }
        if state != .follower || leader != message.from {
            becomeFollower(term: term, leader: message.from)
        }
        electionElapsed = 0
        return true
    }

    // MARK: - Follower handlers

    private mutating func handleAppendEntries(from sender: ReplicaID, _ append: AppendEntries) {
        if append.previous.index < log.committed {
            // Everything through our commit index matches; tell the leader where to resume.
            send(to: sender, .appendResponse(AppendResponse(index: log.committed)))
            return
        }
        guard log.matches(append.previous) else {
            // Raft §5.3, with the fast backtracking optimisation: say where our log might match
            // so the leader can skip every entry of a conflicting term at once.
            let hintIndex = log.lastIndex(
                atOrBelow: min(append.previous.index, log.lastIndex), withTermAtMost: append.previous.term)
            let hint = LogPosition(index: hintIndex, term: log.term(at: hintIndex) ?? 0)
            send(to: sender, .appendResponse(AppendResponse(index: append.previous.index, rejected: true, hint: hint)))
            return
        }
        let previousMembership = membership
        let (lastNew, firstWritten) = log.appendFromLeader(after: append.previous, append.entries)
        if let firstWritten {
            if firstWritten <= memberships.latestIndex { memberships.truncate(from: firstWritten) }
            for entry in append.entries where entry.index >= firstWritten {
                if case .membership(let change) = entry.payload { memberships.record(change, at: entry.index) }
            }
            membershipChanged(from: previousMembership)
        }
        advanceCommit(to: min(append.commit, lastNew))
        send(to: sender, .appendResponse(AppendResponse(index: lastNew)))
    }

    private mutating func handleHeartbeat(from sender: ReplicaID, _ heartbeat: Heartbeat) {
        advanceCommit(to: min(heartbeat.commit, log.lastIndex))
        send(to: sender, .heartbeatResponse(readRound: heartbeat.readRound))
    }

    private mutating func handleInstallSnapshot(from sender: ReplicaID, _ metadata: SnapshotMetadata) {
        if metadata.index <= log.committed {
            send(to: sender, .appendResponse(AppendResponse(index: log.committed)))
            return
        }
        if log.matches(LogPosition(index: metadata.index, term: metadata.term)) {
            // We already hold the snapshot's last entry: fast-forward the commit index instead of
            // throwing the log away.
            advanceCommit(to: metadata.index)
            send(to: sender, .appendResponse(AppendResponse(index: metadata.index)))
            return
        }
        let previousMembership = membership
        log.restore(metadata)
        memberships.reset(to: metadata)
        membershipChanged(from: previousMembership)
        send(to: sender, .appendResponse(AppendResponse(index: metadata.index)))
    }
}
