import PeerTransport
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
                proposals[position.index] = PendingProposal(term: position.term, origin: origin, deadline: deadline)
                metrics.proposals += 1
            case .membership(let change):
                let position = try instance.proposeMembershipChange(change)
                proposals[position.index] = PendingProposal(term: position.term, origin: origin, deadline: deadline)
                logger.info("membership change proposed", metadata: ["change": "\(change)", "index": "\(position.index)"])
            case .forcedPromotion(let learner):
                let position = try instance.proposeMembershipChange(.promote(learner), force: true)
                proposals[position.index] = PendingProposal(term: position.term, origin: origin, deadline: deadline)
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

    private func forward(_ write: PendingWrite, to leader: ReplicaID) {
        let id = nextRequestID
        nextRequestID += 1
        let remaining = ContinuousClock.now.duration(to: write.deadline)
        let milliseconds = min(max(remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000, 1),
            Int64(configuration.limits.maxRequestTimeoutMilliseconds))
        forwarded[id] = write
        metrics.forwardedRequests += 1
        let packet = PeerPacket.request(id: id, body: ForwardCodec.encode(write.request, timeoutMilliseconds: UInt32(milliseconds)))
        // A request that never reached the leader's connection was certainly not proposed, so
        // it can wait for a leader again; one that did is answered or times out (outcome unknown).
        transport.send(packet, to: leader) { [mailbox] in _ = mailbox?.postAlways(.forwardDropped(requestID: id)) }
    }

    /// A forwarded request was dropped before reaching the leader: wait for a leader again.
    func forwardDropped(requestID: UInt64) {
        guard let write = forwarded.removeValue(forKey: requestID) else { return }
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
        let decoded: (WriteRequest, timeoutMilliseconds: UInt32)
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
        let timeout = min(Int(decoded.timeoutMilliseconds), configuration.limits.maxRequestTimeoutMilliseconds)
        submit(decoded.0, origin: origin, deadline: ContinuousClock.now.advanced(by: .milliseconds(timeout)))
    }

    /// The leader answered a forwarded write. "No leader" answers go back to waiting (nothing
    /// was proposed); the rest are the caller's answer.
    func handleForwardedResponse(id: UInt64, body: [UInt8]) {
        guard let write = forwarded.removeValue(forKey: id) else { return }
        let result: Result<WriteResult, ReplicaError>
        do {
            result = try ForwardCodec.decodeResult(body)
        } catch {
            logger.warning("malformed forwarded response", metadata: ["error": "\(error)"])
            write.completion(.failure(.timedOut))
            return
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
            forwarded[id] = nil
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
