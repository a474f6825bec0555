// The leader's work: replication with pipelining and flow control (Raft §5.3), commitment
// (§5.3, §5.4.2), membership changes taking effect, ReadIndex (§6.4) and leadership transfer.
extension RaftInstance {
    // MARK: - Sending

    /// Sends entries (or a snapshot, when the needed entries were compacted) to one member.
    /// - Parameter sendIfEmpty: whether to send an append with no entries (to carry the commit
    ///   index, or to probe).
    /// - Returns: whether a message was sent.
    @discardableResult
    mutating func sendAppend(to member: ReplicaID, sendIfEmpty: Bool = true) -> Bool {
        guard var memberProgress = progress[member], !memberProgress.isPaused else { return false }
        memberProgress.next = min(memberProgress.next, log.lastIndex + 1)
        let previousIndex = memberProgress.next - 1
        guard let previousTerm = log.term(at: previousIndex) else {
            // The entries the follower needs are compacted: it needs the snapshot.
            memberProgress.becomeSnapshot(at: log.snapshot.index)
            progress[member] = memberProgress
            send(to: member, .installSnapshot(log.snapshot))
            return true
        }
        let entries = log.entries(from: memberProgress.next, maxBytes: options.maxAppendBytes)
        if entries.isEmpty && !sendIfEmpty { return false }
        let bytes = entries.reduce(0) { $0 + $1.payloadBytes + Entry.overheadBytes }
        memberProgress.sentEntries(through: entries.last?.index ?? previousIndex, bytes: bytes)
        progress[member] = memberProgress
        let append = AppendEntries(
            previous: LogPosition(index: previousIndex, term: previousTerm), entries: entries, commit: log.committed)
        send(to: member, .appendEntries(append))
        return true
    }

    /// The replicas a leader sends to: every other member, and members whose removal is not
    /// yet committed (so that they learn of it). Sorted, for determinism.
    var replicationTargets: [ReplicaID] { progress.keys.sorted() }

    /// Sends appends to every replication target.
    mutating func broadcastAppend() {
        for member in replicationTargets {
            sendAppend(to: member)
        }
    }

    /// Sends heartbeats to every replication target.
    /// A heartbeat carrying the open read round closes it; a single voter confirms it at once.
    mutating func broadcastHeartbeat(readRound: UInt64) {
        if readRoundOpen && readRound == self.readRound {
            readRoundOpen = false
            releaseConfirmedReads()
        }
        for member in replicationTargets {
            guard let memberProgress = progress[member] else { continue }
            // Never tell a follower to commit beyond what it is known to hold.
            let commit = min(memberProgress.match, log.committed)
            send(to: member, .heartbeat(Heartbeat(commit: commit, readRound: readRound)))
        }
    }

    // MARK: - Responses

    mutating func handleAppendResponse(from member: ReplicaID, _ response: AppendResponse) {
        guard var memberProgress = progress[member] else { return }
        memberProgress.recentActive = true
        if response.rejected {
            var hint = response.hint.index
            if response.hint.term > 0 {
                // Skip every leader entry whose term is above the follower's conflicting term.
                hint = log.lastIndex(atOrBelow: response.hint.index, withTermAtMost: response.hint.term)
            }
            let decreased = memberProgress.decreaseIfNeeded(rejected: response.index, hint: hint)
            if decreased && memberProgress.state == .replicate { memberProgress.becomeProbe() }
            progress[member] = memberProgress
            if decreased { sendAppend(to: member) }
            return
        }
        // An acknowledgement of entries this leader does not have is a lie: counting it could
        // commit an entry no majority holds (or one that does not exist).
        guard response.index <= log.lastIndex else {
            refusedMessages &+= 1
            return
        }
        let wasPaused = memberProgress.isPaused
        guard memberProgress.updateIfNeeded(to: response.index) else {
            progress[member] = memberProgress
            return
        }
        switch memberProgress.state {
        case .probe:
            memberProgress.becomeReplicate()
        case .snapshot(let pendingIndex):
            if memberProgress.match >= pendingIndex {
                // The snapshot is installed. If the leader compacted past it meanwhile, probing
                // sends the newer snapshot.
                if memberProgress.match + 1 >= log.firstIndex {
                    memberProgress.becomeReplicate()
                } else {
                    memberProgress.becomeProbe()
                }
            }
        case .replicate:
            memberProgress.inflights.free(through: response.index)
        }
        progress[member] = memberProgress
        if commitIfPossible() {
            broadcastAppend()
        } else if wasPaused {
            sendAppend(to: member)
        }
        // Fill the pipeline while the window allows.
        while sendAppend(to: member, sendIfEmpty: false) {}
        if member == leadTransferee && progress[member]?.match == log.lastIndex {
            send(to: member, .timeoutNow)
        }
    }

    mutating func handleHeartbeatResponse(from member: ReplicaID, readRound: UInt64) {
        guard var memberProgress = progress[member] else { return }
        // A read round this leader never sent cannot be confirmed: it would release reads
        // without a quorum's word (thesis §6.4).
        guard readRound <= self.readRound else {
            refusedMessages &+= 1
            return
        }
        memberProgress.recentActive = true
        switch memberProgress.state {
        case .probe:
            memberProgress.probeSent = false
        case .replicate:
            // Appends in a full window may all have been lost; let one more through so that the
            // follower's answer (or rejection) restarts the flow.
            if memberProgress.inflights.isFull { memberProgress.inflights.freeFirst() }
        case .snapshot:
            break
        }
        if readRound > memberProgress.acknowledgedReadRound { memberProgress.acknowledgedReadRound = readRound }
        progress[member] = memberProgress
        if memberProgress.match < log.lastIndex { sendAppend(to: member) }
        releaseConfirmedReads()
    }

    // MARK: - Commitment

    /// Raises the commit index to the highest index a quorum of voters holds, if that entry is
    /// of the current term.
    /// - Returns: whether the commit index moved.
    @discardableResult
    mutating func commitIfPossible() -> Bool {
        var moved = false
        while state == .leader {
            var matches: [LogIndex] = []
            matches.reserveCapacity(membership.voters.count)
            for voter in membership.voters {
                matches.append(voter == id ? log.persisted : (progress[voter]?.match ?? 0))
            }
            guard !matches.isEmpty else { break }
            matches.sort(by: >)
            let candidate = matches[membership.quorum - 1]
            guard candidate > log.committed else { break }
            // Raft §5.4.2 (Figure 8): only entries of the current term are committed by counting
            // replicas; earlier ones are committed indirectly, by the Log Matching property.
            if log.term(at: candidate) != term && !options.plantedBugs.contains(.commitPreviousTermByCounting) {
                break
            }
            let committedInTermBefore = log.term(at: log.committed) == term
            advanceCommit(to: candidate)
            moved = true
            if !committedInTermBefore && state == .leader && log.term(at: log.committed) == term {
                releaseReadsAwaitingCommit()
            }
        }
        return moved
    }

    /// Raises the commit index. A leader whose own removal is now committed steps down.
    mutating func advanceCommit(to index: LogIndex) {
        let previous = log.committed
        guard log.commit(to: index) else { return }
        if state == .leader {
            var cursor = previous + 1
            while cursor <= index {
                let entry = log.entry(at: cursor)
                if entry.term == term { uncommittedBytes = max(0, uncommittedBytes - entry.payloadBytes) }
                cursor += 1
            }
            membershipCommitted(previousCommit: previous)
        }
    }

    /// Reacts to the commit of a membership entry (an index in `(previousCommit, commit]`):
    /// removed members get a heartbeat that tells them the removal is committed (they stay
    /// replication targets until the CheckQuorum check after next, so later heartbeats repeat
    /// it), and a leader whose own removal is committed steps down (thesis §4.2.2); the
    /// remaining voters hold the new membership and elect among themselves.
    private mutating func membershipCommitted(previousCommit: LogIndex) {
        guard state == .leader, memberships.changeIndex(atOrBelow: log.committed) > previousCommit else { return }
        let leaderRemoved = !membership.isVoter(id) && memberships.latestIndex <= log.committed
        let committed = committedMembership
        if leaderRemoved || replicationTargets.contains(where: { !committed.contains($0) }) {
            broadcastHeartbeat(readRound: 0)
        }
        if leaderRemoved { becomeFollower(term: term, leader: nil) }
    }

    /// Adjusts to a new membership in force (after an append, a truncation or a snapshot).
    mutating func membershipChanged(from previous: Membership) {
        guard membership != previous else { return }
        switch state {
        case .leader:
            for member in membership.allMembers where member != id && progress[member] == nil {
                progress[member] = newProgress()
            }
            // A removed member keeps receiving the log until its removal commits; it leaves
            // quorums at once, since it is no longer in the membership in force.
            if let transferee = leadTransferee, !membership.isVoter(transferee) { leadTransferee = nil }
            // A smaller quorum may confirm reads that were waiting.
            releaseConfirmedReads()
        case .candidate, .preCandidate:
            if !isPromotable { becomeFollower(term: term, leader: nil) }
        case .follower, .learner:
            break
        }
    }

    // MARK: - Reads

    /// Starts the leadership confirmation for one read (Raft §6.4).
    mutating func handleReadIndex(context: ReadContext, requester: ReplicaID) {
        if options.plantedBugs.contains(.readIndexWithoutHeartbeat) {
            answerRead(context: context, index: log.committed, requester: requester)
            return
        }
        // §6.4 step 1: until the leader has committed an entry of its term, its commit index
        // may be behind the cluster's.
        guard log.term(at: log.committed) == term else {
            readsAwaitingCommit.append((context, requester))
            return
        }
        // §6.4 step 2: reads that arrive before the round is sent share it (one heartbeat);
        // `ready()` sends it, once no earlier round waits for a quorum (`readRoundInFlight`).
        if !readRoundOpen {
            readRound += 1
            readRoundOpen = true
        }
        pendingReads.append(PendingRead(round: readRound, context: context, index: log.committed, requester: requester))
    }

    private mutating func releaseReadsAwaitingCommit() {
        let waiting = readsAwaitingCommit
        readsAwaitingCommit = []
        for read in waiting {
            handleReadIndex(context: read.context, requester: read.requester)
        }
    }

    /// Answers, in order, every read whose round a quorum of voters has acknowledged.
    mutating func releaseConfirmedReads() {
        var released = 0
        for read in pendingReads {
            var acknowledgements = 0
            for voter in membership.voters {
                if voter == id || (progress[voter]?.acknowledgedReadRound ?? 0) >= read.round {
                    acknowledgements += 1
                }
            }
            guard acknowledgements >= membership.quorum else { break }
            released += 1
        }
        guard released > 0 else { return }
        let confirmed = pendingReads.prefix(released)
        pendingReads.removeFirst(released)
        for read in confirmed {
            answerRead(context: read.context, index: read.index, requester: read.requester)
        }
    }

    private mutating func answerRead(context: ReadContext, index: LogIndex, requester: ReplicaID) {
        if requester == id {
            readStates.append(ReadState(context: context, index: index))
        } else {
            send(to: requester, .readIndexResponse(context: context, index: index))
        }
    }
}
