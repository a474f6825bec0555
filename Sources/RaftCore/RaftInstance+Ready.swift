// Handing work to the runtime and hearing back that it is done.
extension RaftInstance {
    /// Collects the work accumulated since the last call. The runtime must carry it out in the
    /// order `Ready` documents and then call `advance(_:)` before any other call.
    /// - Returns: the batch; check `hasReady` first to avoid empty batches.
    public mutating func ready() -> Ready {
        precondition(!awaitingAdvance, "ready() called twice without advance()")
        if needsBroadcast {
            needsBroadcast = false
            broadcastAppend()
        }
        if readRoundOpen && !readRoundInFlight {
            // Sent after every read of the round was registered: a quorum's answer confirms
            // leadership at a moment after each of them arrived (§6.4 step 2).
            broadcastHeartbeat(readRound: readRound)
        }
        let currentSoft = softState
        let currentHard = hardState
        let hardStateChanged = currentHard != lastHardState
        let termOrVoteChanged = currentHard.term != lastHardState.term || currentHard.votedFor != lastHardState.votedFor
        if termOrVoteChanged {
            // Nothing said in a term may leave before that term and vote are durable.
            let early = options.plantedBugs.contains(.voteBeforePersist) ? outbox.filter(\.isVoteResponse) : []
            outboxAfterPersist = outbox.filter { !early.contains($0) } + outboxAfterPersist
            outbox = early
        }
        let entries = log.unstableEntries
        let snapshot = log.pendingSnapshot
        let ready = Ready(
            softState: currentSoft != lastSoftState ? currentSoft : nil,
            hardState: hardStateChanged ? currentHard : nil,
            snapshot: snapshot,
            entries: entries,
            messages: outbox,
            messagesAfterPersist: outboxAfterPersist,
            committedEntries: log.entriesToApply(maxBytes: options.maxApplyBytesPerReady),
            readStates: readStates,
            mustSync: !entries.isEmpty || snapshot != nil || termOrVoteChanged
        )
        outbox = []
        outboxAfterPersist = []
        readStates = []
        lastSoftState = currentSoft
        lastHardState = currentHard
        log.markHandedOut()
        awaitingAdvance = true
        return ready
    }

    /// Tells the instance that the runtime carried out `ready`: everything in it is durable
    /// and its committed entries are applied.
    /// - Parameter ready: the batch returned by the last `ready()` call.
    public mutating func advance(_ ready: Ready) {
        precondition(awaitingAdvance, "advance() without ready()")
        awaitingAdvance = false
        if let snapshot = ready.snapshot {
            log.markPersisted(through: LogPosition(index: snapshot.index, term: snapshot.term))
            log.applied = max(log.applied, snapshot.index)
        }
        if let last = ready.entries.last {
            log.markPersisted(through: last.position)
        }
        if let last = ready.committedEntries.last {
            precondition(last.index > log.applied || ready.snapshot != nil, "applied index would go back")
            log.applied = max(log.applied, last.index)
        }
        // The leader's own durable entries count toward commitment only now.
        if state == .leader && commitIfPossible() {
            broadcastAppend()
        }
    }
}
