import PeerTransport
import PolicyModel
import RaftCore

extension ReplicaRuntime {
    // MARK: - Writes

    /// Carries out a write: proposes it when this replica leads, forwards it to the known
    /// leader otherwise, or keeps it until a leader is known. A write forwarded to this
    /// replica while it does not lead is answered `.noLeader` (never forwarded twice), and the
    /// origin retries with the leader it knows next.
    func submit(_ request: WriteRequest, origin: Origin, deadline: ContinuousClock.Instant) {
        if instance.role == .leader {
            propose(request, origin: origin, deadline: deadline)
            return
        }
        switch origin {
        case .remote:
            waiters.answer(origin, .failure(.noLeader(leaderHint: instance.softState.leader)))
        case .local(let completion):
            let write = PendingWrite(request: request, completion: completion, deadline: deadline)
            if let leader = instance.softState.leader {
                forward(write, to: leader)
            } else {
                waiters.waitForLeader(write)
            }
        }
    }

    private func propose(_ request: WriteRequest, origin: Origin, deadline: ContinuousClock.Instant) {
        do {
            switch request {
            case .command(let bytes):
                let position = try instance.propose(bytes)
                track(position, origin: origin, deadline: deadline)
                metrics.proposals += 1
            case .membership(let change):
                let position = try instance.proposeMembershipChange(change)
                track(position, origin: origin, deadline: deadline)
                logger.info("membership change proposed", metadata: ["change": "\(change)", "index": "\(position.index)"])
            case .forcedPromotion(let learner):
                let position = try instance.proposeMembershipChange(.promote(learner), force: true)
                track(position, origin: origin, deadline: deadline)
                logger.warning(
                    "forced promotion proposed: the learner may not have caught up",
                    metadata: ["learner": "\(learner)", "match": "\(instance.matchIndex(of: learner) ?? 0)", "index": "\(position.index)"])
            case .transferLeadership(let target):
                try instance.transferLeadership(to: target)
                waiters.transfers.append(PendingProposal(term: instance.softState.term, origin: origin, deadline: deadline))
                logger.info("leadership transfer started", metadata: ["to": "\(target)"])
            }
        } catch {
            waiters.answer(origin, .failure(.refused(error)))
        }
    }

    /// Keeps a proposed write's caller until the write is resolved. A local caller waits here;
    /// a replica that forwarded the write is told where it was appended, before the entry is
    /// sent to anyone (on the same connection as the entries, so it arrives first), and
    /// resolves it from what it applies.
    private func track(_ position: LogPosition, origin: Origin, deadline: ContinuousClock.Instant) {
        switch origin {
        case .local:
            // An earlier term's proposal at this index (this replica led before, and its entry
            // was cut from the log) may still be committed by another leader: unknown.
            let proposal = PendingProposal(term: position.term, origin: origin, deadline: deadline)
            if let displaced = waiters.proposals.updateValue(proposal, forKey: position.index) {
                waiters.answer(displaced.origin, .failure(.timedOut))
            }
        case .remote(let peer, let requestID):
            transport.send(.response(id: requestID, body: ForwardCodec.encodeAccepted(position)), to: peer)
        }
    }

    private func forward(_ write: PendingWrite, to leader: ReplicaID) {
        var write = write
        write.leaderTerm = instance.softState.term
        write.position = nil
        let id = nextRequestID
        nextRequestID += 1
        let remaining = ContinuousClock.now.duration(to: write.deadline)
        let milliseconds = min(max(remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000, 1),
            Int64(configuration.limits.maxRequestTimeoutMilliseconds))
        waiters.forward(write, id: id)
        metrics.forwardedRequests += 1
        let packet = PeerPacket.request(
            id: id, body: ForwardCodec.encode(write.request, timeoutMilliseconds: UInt32(milliseconds), leaderTerm: write.leaderTerm))
        // A request that never reached the leader's connection was certainly not proposed, so
        // it can wait for a leader again; one that did is answered or times out (outcome unknown).
        transport.send(packet, to: leader) { [mailbox] in _ = mailbox?.postAlways(.forwardDropped(requestID: id)) }
    }

    /// A forwarded request was dropped before reaching the leader: wait for a leader again.
    func forwardDropped(requestID: UInt64) {
        guard waiters.forwarded[requestID]?.position == nil, let write = waiters.resolveForward(requestID) else { return }
        waiters.waitForLeader(write)
    }

    /// A follower forwarded a write to this replica.
    func handleForwardedRequest(from peer: ReplicaID, id: UInt64, body: [UInt8]) {
        let origin = Origin.remote(peer: peer, requestID: id)
        // Only members write through the leader: a removed replica, or one whose addition is not
        // in this replica's log, is refused before its request is even decoded.
        guard instance.membership.contains(peer) || instance.committedMembership.contains(peer) else {
            metrics.refusedPeerRequests += 1
            logger.warning("refused a forwarded request from a replica that is not a member", metadata: ["from": "\(peer)"])
            waiters.answer(origin, .failure(.leaderRefused("replica \(peer) is not a member")))
            return
        }
        let decoded: (request: WriteRequest, timeoutMilliseconds: UInt32, leaderTerm: UInt64)
        do {
            decoded = try ForwardCodec.decodeRequest(body)
        } catch {
            logger.warning("refused a malformed forwarded request", metadata: ["from": "\(peer)", "error": "\(error)"])
            waiters.answer(origin, .failure(.leaderRefused("malformed request: \(error)")))
            return
        }
        guard stopping == nil else {
            waiters.answer(origin, .failure(.noLeader(leaderHint: nil)))
            return
        }
        // Proposed only in the term it was sent for: once a later term has committed an entry,
        // its origin knows for certain that it was not applied (`resolveAfterApply`), and a
        // copy that reaches this replica late, even after it leads again, must not be.
        guard decoded.leaderTerm == instance.softState.term else {
            waiters.answer(origin, .failure(.noLeader(leaderHint: instance.softState.leader)))
            return
        }
        let timeout = min(Int(decoded.timeoutMilliseconds), configuration.limits.maxRequestTimeoutMilliseconds)
        submit(decoded.request, origin: origin, deadline: ContinuousClock.now.advanced(by: .milliseconds(timeout)))
    }

    /// The leader answered a forwarded write. An acceptance gives the write its position, from
    /// which this replica resolves it (`resolveAfterApply`); "no leader" answers go back to
    /// waiting (nothing was proposed); the rest are the caller's answer.
    func handleForwardedResponse(id: UInt64, body: [UInt8]) {
        guard let write = waiters.forwarded[id] else { return }
        let response: ForwardResponse
        do {
            response = try ForwardCodec.decodeResponse(body)
        } catch {
            logger.warning("malformed forwarded response", metadata: ["error": "\(error)"])
            _ = waiters.resolveForward(id)
            waiters.answerWrite(write.completion, .failure(.timedOut))
            return
        }
        let result: Result<WriteResult, ReplicaError>
        switch response {
        case .accepted(let position):
            guard write.position == nil, position.index > store.appliedIndex else {
                // Accepted twice, or at an index this replica has applied already (it could not
                // match the entry to the write any more): the outcome is unknown.
                _ = waiters.resolveForward(id)
                waiters.answerWrite(write.completion, .failure(.timedOut))
                return
            }
            waiters.accept(id, at: position)
            return
        case .final(let final):
            _ = waiters.resolveForward(id)
            result = final
        }
        if case .failure(.noLeader) = result, ContinuousClock.now < write.deadline,
            waiters.waitingWrites.count < waiters.maxWaitingWrites
        {
            waiters.waitForLeader(write)
            return
        }
        // Answered once this replica has applied the write too (bounded like the waiting reads;
        // beyond that, at once).
        if case .success(let written) = result, written.revision > store.appliedIndex {
            waiters.holdUntilApplied(AcknowledgedWrite(result: written, completion: write.completion, deadline: write.deadline))
            return
        }
        waiters.answerWrite(write.completion, result)
    }

    // MARK: - Reads

    /// Asks the instance for a read index (ReadIndex, Raft §6.4); without a known leader the
    /// read waits and is retried on every tick.
    func requestRead(_ read: PendingRead) {
        do {
            try instance.readIndex(context: ReadContext(number: read.context))
            precondition(waiters.readsAwaitingIndex[read.context] == nil, "read context \(read.context) asked twice")
            waiters.readsAwaitingIndex[read.context] = read
        } catch .notLeader {
            waiters.waitForLeader(read)
        } catch {
            waiters.answer(read.completion, .failure(.refused(error)))
        }
    }

    /// The leader confirmed a read index; the read may proceed once this replica applied it.
    func readIndexKnown(context: ReadContext, index: UInt64) {
        guard let number = context.number, let read = waiters.readsAwaitingIndex.removeValue(forKey: number) else { return }
        waitForApplied(index, completion: read.completion, deadline: read.deadline)
    }

    func waitForApplied(_ index: UInt64, completion: Completion<UInt64>, deadline: ContinuousClock.Instant) {
        if store.appliedIndex >= index { return waiters.answer(completion, .success(store.appliedIndex)) }
        waiters.waitForApplied(AppliedWaiter(index: index, completion: completion, deadline: deadline))
    }

    // MARK: - Retries and deadlines

    /// Retries the writes and reads that were waiting for a leader.
    func retryWaiting() {
        guard instance.softState.leader != nil else { return }
        for write in waiters.takeWaitingWrites() { submit(write.request, origin: .local(write.completion), deadline: write.deadline) }
        for read in waiters.takeWaitingReads() { requestRead(read) }
    }

    /// Answers every caller whose deadline has passed (`Waiters.expire`).
    func expireDeadlines(now: ContinuousClock.Instant) {
        waiters.expire(now: now, leaderHint: instance.softState.leader)
    }
}
extension ReplicaRuntime {
    // MARK: - Resolving writes from what was applied

    /// Resolves the writes that what was just applied decides: `entries` (applied in this
    /// batch, in order, with their `outcomes`), or a snapshot installed up to `last` (no
    /// entries).
    ///
    /// The argument (Raft §5.3: a log's terms never decrease along its indexes; §5.4.1: every
    /// later leader holds every committed entry): once this replica applies an entry of term
    /// T, no entry of a term below T can be committed at a later index, ever.
    /// - A forwarded write the leader accepted at a position is resolved when this replica
    ///   applies that index: its outcome when the entry there has the write's term, "dropped"
    ///   (never applied; the caller may retry) when another term's entry took the index; or
    ///   "dropped" as soon as an entry of a later term is applied before that index. This
    ///   replica's own proposals of an earlier leadership are resolved the same way.
    /// - A forwarded write whose acceptance never came (lost with its leader) can only have
    ///   been proposed in the term it was sent for (`handleForwardedRequest`): it is matched by
    ///   its bytes among the entries of that term this replica applies, and once an entry of a
    ///   later term is applied without a match, it certainly was not applied: it is sent again
    ///   on its caller's behalf, within its deadline.
    /// - What an installed snapshot covers can no longer be matched: "timed out" (unknown).
    func resolveAfterApply(through last: LogPosition, entries: [Entry], outcomes: [CommandOutcome?]) {
        let newTerm = last.term > appliedTerm
        if newTerm {
            appliedTerm = last.term
            for (index, proposal) in waiters.proposals where index > last.index && proposal.term < last.term {
                waiters.proposals[index] = nil
                waiters.answer(proposal.origin, .failure(.proposalDropped))
            }
        }
        guard !waiters.forwarded.isEmpty else { return }
        if waiters.forwarded.count > waiters.acceptedForwards, !entries.isEmpty { matchUnacceptedForwards(entries, outcomes) }
        guard waiters.acceptedForwards > 0 || newTerm else { return }
        for (id, write) in waiters.forwarded {
            if let position = write.position {
                if position.index <= last.index {
                    _ = waiters.resolveForward(id)
                    waiters.answerWrite(write.completion, Self.result(at: position, in: entries, outcomes))
                } else if position.term < last.term {
                    _ = waiters.resolveForward(id)
                    waiters.answerWrite(write.completion, .failure(.proposalDropped))
                }
            } else if entries.isEmpty, write.leaderTerm <= last.term {
                _ = waiters.resolveForward(id)
                waiters.answerWrite(write.completion, .failure(.timedOut))
            } else if write.leaderTerm < last.term {
                _ = waiters.resolveForward(id)
                // Sent again at the next tick (`retryWaiting`): nothing is proposed while a
                // `Ready` is being carried out.
                guard waiters.waitingWrites.count < waiters.maxWaitingWrites else {
                    waiters.answerWrite(write.completion, .failure(.proposalDropped))
                    continue
                }
                metrics.forwardsRetried += 1
                waiters.waitForLeader(write)
            }
        }
    }

    /// Answers the forwarded writes without an acceptance whose entry is among `entries` (the
    /// acceptance was lost, the entry was not): same bytes, in the term they were sent for.
    private func matchUnacceptedForwards(_ entries: [Entry], _ outcomes: [CommandOutcome?]) {
        for (id, write) in waiters.forwarded where write.position == nil {
            guard let offset = entries.firstIndex(where: { $0.term == write.leaderTerm && Self.matches(write.request, $0.payload) }) else {
                continue
            }
            _ = waiters.resolveForward(id)
            waiters.answerWrite(write.completion, .success(WriteResult(revision: entries[offset].index, outcome: outcomes[offset])))
        }
    }

    /// Whether `payload` is the entry `request` becomes when proposed.
    private static func matches(_ request: WriteRequest, _ payload: Entry.Payload) -> Bool {
        switch (request, payload) {
        case (.command(let sent), .command(let applied)): return sent == applied
        case (.membership(let sent), .membership(let applied)): return sent == applied
        case (.forcedPromotion(let learner), .membership(.promote(let promoted))): return learner == promoted
        case (.command, _), (.membership, _), (.forcedPromotion, _), (.transferLeadership, _): return false
        }
    }

    /// The outcome of the write accepted at `position`, from the applied `entries`.
    private static func result(at position: LogPosition, in entries: [Entry], _ outcomes: [CommandOutcome?]) -> Result<WriteResult, ReplicaError> {
        guard let first = entries.first, position.index >= first.index else { return .failure(.timedOut) }
        let offset = Int(position.index - first.index)
        guard entries[offset].term == position.term else { return .failure(.proposalDropped) }
        return .success(WriteResult(revision: position.index, outcome: outcomes[offset]))
    }
}
