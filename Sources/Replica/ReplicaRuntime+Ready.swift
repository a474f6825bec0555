import PeerTransport
import PolicyModel
import PolicyStore
import RaftCore

extension ReplicaRuntime {
    /// Carries out one `Ready` in the one safe order (Raft Figure 2 and the `Ready` contract):
    /// 1. send the messages that may leave before persistence (the leader's appends: Raft
    ///    §10.2.1 lets it write to disk in parallel with its followers);
    /// 2. install a received snapshot in the log, persist hard state and entries: one record,
    ///    one fdatasync for the whole batch (group commit);
    /// 3. bring the database to the installed snapshot, if any;
    /// 4. send the messages that had to wait for durability (votes, append acknowledgements);
    /// 5. apply committed entries in memory, answer their callers, then write them in one
    ///    database transaction;
    /// 6. answer reads whose read index is known;
    /// 7. advance the instance.
    ///
    /// A batch with nothing to make durable that commits entries (the leader hearing the
    /// acknowledgements) applies them and answers their callers before it sends its messages:
    /// those only tell the followers the new commit index, and need not hold the callers.
    func processReady() throws(ReplicaError) {
        let ready = instance.ready()
        if let soft = ready.softState { softStateChanged(soft) }
        let answerFirst = !ready.mustSync && ready.snapshot == nil && !ready.committedEntries.isEmpty
        if !answerFirst { send(ready.messages) }
        if let snapshot = ready.snapshot {
            guard files.exists(files.snapshotPath(index: snapshot.index)) else {
                throw .storage("the snapshot file for index \(snapshot.index) is missing")
            }
        }
        let started = ContinuousClock.now
        do {
            try storage.persist(ready)
        } catch {
            throw .storage("persisting the log: \(error)")
        }
        if ready.mustSync { metrics.logSync.record(ContinuousClock.now - started) }
        metrics.persistedBatches += 1
        if let snapshot = ready.snapshot { try installSnapshotInDatabase(snapshot) }
        if !answerFirst { send(ready.messagesAfterPersist) }
        try apply(ready.committedEntries)
        if answerFirst {
            send(ready.messages)
            send(ready.messagesAfterPersist)
        }
        for state in ready.readStates { readIndexKnown(context: state.context, index: state.index) }
        instance.advance(ready)
    }

    /// Sends Raft messages; an `installSnapshot` message starts a chunked file transfer instead
    /// (the instance names the follower and the snapshot; the bytes never pass through it).
    private func send(_ messages: [Message]) {
        for message in messages {
            if case .installSnapshot(let metadata) = message.kind {
                startSnapshotTransfer(message, metadata: metadata)
            } else {
                transport.send(.raft(message), to: message.to)
            }
        }
    }

    /// Applies committed entries: commands to the state, no-ops and membership changes as
    /// empty entries (they advance the applied index). The in-memory state changes first, with
    /// readers kept out; then the writes proposed here are answered and the status published,
    /// and only then is the batch written to the database, while the callers' threads send
    /// their answers. An answer never waits for SQLite: the entries are committed in the Raft
    /// log, which a restart applies again from the database's applied index (the database is
    /// `replayable`), and nothing reads the database before the write ends this same turn.
    private func apply(_ entries: [Entry]) throws(ReplicaError) {
        guard !entries.isEmpty else { return }
        // Entries at or below the applied index were covered by an installed snapshot.
        let fresh = entries.filter { $0.index > store.appliedIndex }
        let applied: [AppliedEntry] = fresh.map { entry in
            if case .command(let bytes) = entry.payload { return AppliedEntry(index: entry.index, command: bytes) }
            return AppliedEntry(index: entry.index, command: nil)
        }
        let outcomes: [CommandOutcome?]
        let started = ContinuousClock.now
        do {
            outcomes = try shared.changing { () throws(PolicyStoreError) in try store.stage(applied) }
        } catch {
            throw .storage("applying entries \(applied.first?.index ?? 0)...\(applied.last?.index ?? 0): \(error)")
        }
        let now = ContinuousClock.now
        metrics.appliedEntries += fresh.count
        for (entry, outcome) in zip(fresh, outcomes) {
            guard let proposal = waiters.proposals.removeValue(forKey: entry.index) else { continue }
            if proposal.term == entry.term {
                metrics.proposalCommit.record(now - proposal.proposed)
                waiters.answer(proposal.origin, .success(WriteResult(revision: entry.index, outcome: outcome)))
            } else {
                // Another leader's entry took this index: ours was never committed.
                waiters.answer(proposal.origin, .failure(.proposalDropped))
            }
        }
        if let last = fresh.last { resolveAfterApply(through: last.position, entries: fresh, outcomes: outcomes) }
        waiters.release(applied: store.appliedIndex)
        answerNow()
        do {
            try store.writeStaged()
        } catch {
            // The state in memory stays ahead of the database: it holds committed entries only,
            // and the replica stops now; after a restart the log brings the database up to it.
            throw .storage("writing entries \(applied.first?.index ?? 0)...\(applied.last?.index ?? 0) to the database: \(error)")
        }
        metrics.applyBatch.record(ContinuousClock.now - started)
    }

    /// Reacts to a change of role, term or leader.
    private func softStateChanged(_ soft: SoftState) {
        if soft.leader != lastLeader {
            metrics.leaderChanges += 1
            logger.info("leader changed", metadata: ["leader": "\(soft.leader.map(\.description) ?? "none")", "term": "\(soft.term)"])
            lastLeader = soft.leader
            waiters.leaderChanged()
        }
        if soft.role != .leader, !waiters.transfers.isEmpty {
            waiters.leadershipEnded(commitIndex: instance.commitIndex)
        }
    }
}
