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
            answer(origin, .failure(.noLeader(leaderHint: instance.softState.leader)))
        case .local(let completion):
            let write = PendingWrite(request: request, completion: completion, deadline: deadline)
            if let leader = instance.softState.leader {
                forward(write, to: leader)
            } else if waitingWrites.count < configuration.limits.maxWaitingRequests {
                waitingWrites.append(write)
            } else {
                completion(.failure(.overloaded))
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
                transfers.append(PendingProposal(term: instance.softState.term, origin: origin, deadline: deadline))
                logger.info("leadership transfer started", metadata: ["to": "\(target)"])
            }
        } catch {
            answer(origin, .failure(.refused(error)))
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
            if let displaced = proposals.updateValue(PendingProposal(term: position.term, origin: origin, deadline: deadline), forKey: position.index) {
                answer(displaced.origin, .failure(.timedOut))
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
        forwarded[id] = write
        metrics.forwardedRequests += 1
        let packet = PeerPacket.request(
            id: id, body: ForwardCodec.encode(write.request, timeoutMilliseconds: UInt32(milliseconds), leaderTerm: write.leaderTerm))
        // A request that never reached the leader's connection was certainly not proposed, so
        // it can wait for a leader again; one that did is answered or times out (outcome unknown).
        transport.send(packet, to: leader) { [mailbox] in _ = mailbox?.postAlways(.forwardDropped(requestID: id)) }
    }

    /// Removes a forwarded write that is being answered, keeping `acceptedForwards` true.
    @discardableResult
    func forwardedResolved(_ id: UInt64) -> PendingWrite? {
        guard let write = forwarded.removeValue(forKey: id) else { return nil }
        if write.position != nil { acceptedForwards -= 1 }
        return write
    }

    /// A forwarded request was dropped before reaching the leader: wait for a leader again.
    func forwardDropped(requestID: UInt64) {
        guard forwarded[requestID]?.position == nil, let write = forwardedResolved(requestID) else { return }
        guard waitingWrites.count < configuration.limits.maxWaitingRequests else { return write.completion(.failure(.overloaded)) }
        waitingWrites.append(write)
    }

    /// A follower forwarded a write to this replica.
    func handleForwardedRequest(from peer: ReplicaID, id: UInt64, body: [UInt8]) {
        let origin = Origin.remote(peer: peer, requestID: id)
        // Only members write through the leader: a removed replica, or one whose addition is not
        // in this replica's log, is refused before its request is even decoded.
        guard instance.membership.contains(peer) || instance.committedMembership.contains(peer) else {
            metrics.refusedPeerRequests += 1
            logger.warning("refused a forwarded request from a replica that is not a member", metadata: ["from": "\(peer)"])
            answer(origin, .failure(.leaderRefused("replica \(peer) is not a member")))
            return
        }
        let decoded: (request: WriteRequest, timeoutMilliseconds: UInt32, leaderTerm: UInt64)
        do {
            decoded = try ForwardCodec.decodeRequest(body)
        } catch {
            logger.warning("refused a malformed forwarded request", metadata: ["from": "\(peer)", "error": "\(error)"])
            answer(origin, .failure(.leaderRefused("malformed request: \(error)")))
            return
        }
        guard stopping == nil else {
            answer(origin, .failure(.noLeader(leaderHint: nil)))
            return
        }
        // Proposed only in the term it was sent for: once a later term has committed an entry,
        // its origin knows for certain that it was not applied (`resolveAfterApply`), and a
        // copy that reaches this replica late, even after it leads again, must not be.
        guard decoded.leaderTerm == instance.softState.term else {
            answer(origin, .failure(.noLeader(leaderHint: instance.softState.leader)))
            return
        }
        let timeout = min(Int(decoded.timeoutMilliseconds), configuration.limits.maxRequestTimeoutMilliseconds)
        submit(decoded.request, origin: origin, deadline: ContinuousClock.now.advanced(by: .milliseconds(timeout)))
    }

    /// The leader answered a forwarded write. An acceptance gives the write its position, from
    /// which this replica resolves it (`resolveAfterApply`); "no leader" answers go back to
    /// waiting (nothing was proposed); the rest are the caller's answer.
    func handleForwardedResponse(id: UInt64, body: [UInt8]) {
        guard var write = forwarded[id] else { return }
        let response: ForwardResponse
        do {
            response = try ForwardCodec.decodeResponse(body)
        } catch {
            logger.warning("malformed forwarded response", metadata: ["error": "\(error)"])
            forwardedResolved(id)
            write.completion(.failure(.timedOut))
            return
        }
        let result: Result<WriteResult, ReplicaError>
        switch response {
        case .accepted(let position):
            guard write.position == nil, position.index > store.appliedIndex else {
                // Accepted twice, or at an index this replica has applied already (it could not
                // match the entry to the write any more): the outcome is unknown.
                forwardedResolved(id)
                write.completion(.failure(.timedOut))
                return
            }
            write.position = position
            forwarded[id] = write
            acceptedForwards += 1
            return
        case .final(let final):
            forwardedResolved(id)
            result = final
        }
        if case .failure(.noLeader) = result, ContinuousClock.now < write.deadline,
            waitingWrites.count < configuration.limits.maxWaitingRequests
        {
            waitingWrites.append(write)
            return
        }
        if case .failure = result { metrics.failedRequests += 1 }
        // Answered once this replica has applied the write too (bounded like the waiting reads;
        // beyond that, at once).
        if case .success(let written) = result, written.revision > store.appliedIndex,
            acknowledgedAwaitingApply.count < configuration.limits.maxWaitingReads
        {
            acknowledgedAwaitingApply.append(AcknowledgedWrite(result: written, completion: write.completion, deadline: write.deadline))
            return
        }
        write.completion(result)
    }

    // MARK: - Reads

    /// Asks the instance for a read index (ReadIndex, Raft §6.4); without a known leader the
    /// read waits and is retried on every tick.
    func requestRead(_ read: PendingRead) {
        do {
            try instance.readIndex(context: ReadContext(number: read.context))
            readsAwaitingIndex[read.context] = read
        } catch .notLeader {
            guard waitingReads.count < configuration.limits.maxWaitingReads else { return read.completion(.failure(.overloaded)) }
            waitingReads.append(read)
        } catch {
            read.completion(.failure(.refused(error)))
        }
    }

    /// The leader confirmed a read index; the read may proceed once this replica applied it.
    func readIndexKnown(context: ReadContext, index: UInt64) {
        guard let number = context.number, let read = readsAwaitingIndex.removeValue(forKey: number) else { return }
        waitForApplied(index, completion: read.completion, deadline: read.deadline)
    }

    func waitForApplied(_ index: UInt64, completion: Completion<UInt64>, deadline: ContinuousClock.Instant) {
        if store.appliedIndex >= index { return completion(.success(store.appliedIndex)) }
        guard appliedWaiters.count < configuration.limits.maxWaitingReads else { return completion(.failure(.overloaded)) }
        appliedWaiters.append(AppliedWaiter(index: index, completion: completion, deadline: deadline))
    }

    func releaseAppliedWaiters() {
        let applied = store.appliedIndex
        if !appliedWaiters.isEmpty {
            appliedWaiters.removeAll { waiter in
                guard waiter.index <= applied else { return false }
                answersAfterPublish.append { waiter.completion(.success(applied)) }
                return true
            }
        }
        if !acknowledgedAwaitingApply.isEmpty {
            acknowledgedAwaitingApply.removeAll { write in
                guard write.result.revision <= applied else { return false }
                answersAfterPublish.append { write.completion(.success(write.result)) }
                return true
            }
        }
    }

    // MARK: - Retries and deadlines

    /// Retries the writes and reads that were waiting for a leader.
    func retryWaiting() {
        guard instance.softState.leader != nil else { return }
        let writes = waitingWrites
        waitingWrites = []
        for write in writes { submit(write.request, origin: .local(write.completion), deadline: write.deadline) }
        let reads = waitingReads
        waitingReads = []
        for read in reads { requestRead(read) }
    }

    /// Answers every caller whose deadline has passed: `.noLeader` for those that never found a
    /// leader, `.timedOut` (outcome unknown) for the rest.
    func expireDeadlines(now: ContinuousClock.Instant) {
        let hint = instance.softState.leader
        waitingWrites.removeAll { write in
            guard write.deadline <= now else { return false }
            metrics.failedRequests += 1
            write.completion(.failure(.noLeader(leaderHint: hint)))
            return true
        }
        for (id, write) in forwarded where write.deadline <= now {
            forwardedResolved(id)
            metrics.failedRequests += 1
            write.completion(.failure(.timedOut))
        }
        // Committed, but not applied here in time: the caller gets its answer all the same.
        acknowledgedAwaitingApply.removeAll { write in
            guard write.deadline <= now else { return false }
            write.completion(.success(write.result))
            return true
        }
        for (index, proposal) in proposals where proposal.deadline <= now {
            proposals[index] = nil
            if case .local = proposal.origin { answer(proposal.origin, .failure(.timedOut)) }
        }
        transfers.removeAll { transfer in
            guard transfer.deadline <= now else { return false }
            answer(transfer.origin, .failure(.timedOut))
            return true
        }
        waitingReads.removeAll { read in
            guard read.deadline <= now else { return false }
            read.completion(.failure(.noLeader(leaderHint: hint)))
            return true
        }
        for (context, read) in readsAwaitingIndex where read.deadline <= now {
            readsAwaitingIndex[context] = nil
            read.completion(.failure(.timedOut))
        }
        appliedWaiters.removeAll { waiter in
            guard waiter.deadline <= now else { return false }
            waiter.completion(.failure(.timedOut))
            return true
        }
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
            for (index, proposal) in proposals where index > last.index && proposal.term < last.term {
                proposals[index] = nil
                answer(proposal.origin, .failure(.proposalDropped))
            }
        }
        guard !forwarded.isEmpty else { return }
        if forwarded.count > acceptedForwards, !entries.isEmpty { matchUnacceptedForwards(entries, outcomes) }
        guard acceptedForwards > 0 || newTerm else { return }
        for (id, write) in forwarded {
            if let position = write.position {
                if position.index <= last.index {
                    forwardedResolved(id)
                    answer(.local(write.completion), Self.result(at: position, in: entries, outcomes))
                } else if position.term < last.term {
                    forwardedResolved(id)
                    answer(.local(write.completion), .failure(.proposalDropped))
                }
            } else if entries.isEmpty, write.leaderTerm <= last.term {
                forwardedResolved(id)
                answer(.local(write.completion), .failure(.timedOut))
            } else if write.leaderTerm < last.term {
                forwardedResolved(id)
                // Sent again at the next tick (`retryWaiting`): nothing is proposed while a
                // `Ready` is being carried out.
                guard waitingWrites.count < configuration.limits.maxWaitingRequests else {
                    answer(.local(write.completion), .failure(.proposalDropped))
                    continue
                }
                metrics.forwardsRetried += 1
                waitingWrites.append(write)
            }
        }
    }

    /// Answers the forwarded writes without an acceptance whose entry is among `entries` (the
    /// acceptance was lost, the entry was not): same bytes, in the term they were sent for.
    private func matchUnacceptedForwards(_ entries: [Entry], _ outcomes: [CommandOutcome?]) {
        for (id, write) in forwarded where write.position == nil {
            guard let offset = entries.firstIndex(where: { $0.term == write.leaderTerm && Self.matches(write.request, $0.payload) }) else {
                continue
            }
            forwardedResolved(id)
            answer(.local(write.completion), .success(WriteResult(revision: entries[offset].index, outcome: outcomes[offset])))
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
