import PeerTransport
import RaftCore

/// Every caller waiting on the runtime, and the one rule by which each is answered.
///
/// A caller enters when the runtime takes its event (`admit`) and sits in at most one table at
/// a time, moving between them as its request progresses (waiting for a leader, forwarded,
/// acknowledged by the leader and waiting for this replica to apply it...), until it is
/// answered. Every answer, to a caller here or to a peer that forwarded a write, is queued and
/// handed over by `deliver`, which the runtime calls right after it publishes its status: a
/// caller that reads the status next sees at least what its answer reflects, and no answer runs
/// in the middle of a runtime step.
///
/// Invariant (every caller is answered exactly once): `admitted == answered + waiting`, where
/// `waiting` counts the callers in the tables. A caller answered twice, or dropped from a table
/// without an answer, breaks it; `checkInvariant` (called at the end of every turn in debug
/// builds, so in every replica and simulator-driven test) and `finishAll` (in every build)
/// check it.
///
/// Not thread-safe: owned by `ReplicaRuntime`, touched only in its turns.
struct Waiters {
    /// Writes this replica proposed as leader for its own callers, by index (a write forwarded
    /// here is not kept: its origin resolves it, see `ForwardResponse.accepted`). Each is
    /// answered when the entry at its index is applied (its outcome when the term is its own,
    /// `.proposalDropped` otherwise), or as dropped once an entry of a later term is applied
    /// before its index (`ReplicaRuntime.resolveAfterApply`).
    var proposals: [UInt64: ReplicaRuntime.PendingProposal] = [:]
    /// Writes forwarded to the leader, by request id. Once the leader accepted one (appended it
    /// at a position) it is resolved here from what this replica applies, like a proposal.
    private(set) var forwarded: [UInt64: ReplicaRuntime.PendingWrite] = [:]
    /// How many of `forwarded` have a position (kept by `forward`, `accept` and
    /// `resolveForward`, checked by `checkInvariant`).
    private(set) var acceptedForwards = 0
    /// Writes waiting for a leader to be known; retried on every tick.
    private(set) var waitingWrites: [ReplicaRuntime.PendingWrite] = []
    /// Leadership transfers this leader started, answered when it stops leading.
    var transfers: [ReplicaRuntime.PendingProposal] = []
    /// Reads asked of the instance, by context, waiting for their read index.
    var readsAwaitingIndex: [UInt64: ReplicaRuntime.PendingRead] = [:]
    /// Reads waiting for a leader to be known; retried on every tick.
    private(set) var waitingReads: [ReplicaRuntime.PendingRead] = []
    /// Callers waiting for the state machine to reach an index.
    private(set) var appliedWaiters: [ReplicaRuntime.AppliedWaiter] = []
    /// Forwarded writes the leader acknowledged, held until this replica has applied them too,
    /// so that a caller's next request here sees its write (read-your-writes through the
    /// replica a client talks to).
    private(set) var acknowledgedAwaitingApply: [ReplicaRuntime.AcknowledgedWrite] = []

    /// Callers taken in (events with a completion the runtime handled).
    private(set) var admitted = 0
    /// Callers answered (each counted once, when its answer is queued).
    private(set) var answered = 0
    /// Writes answered with a failure (`ReplicaMetrics.failedRequests`).
    private(set) var failedWrites = 0
    /// Answers queued until `deliver`.
    private var queued: [() -> Void] = []
    /// Answers to peers queued until `deliver`.
    private var outgoing: [(peer: ReplicaID, packet: PeerPacket)] = []

    /// The most writes (and, separately, reads and apply waits) that may wait at once; past it
    /// a caller is answered `.overloaded`.
    let maxWaitingWrites: Int
    /// The most reads, apply waits and acknowledged writes that may wait at once.
    let maxWaitingReads: Int

    init(limits: ReplicaLimits) {
        maxWaitingWrites = limits.maxWaitingRequests
        maxWaitingReads = limits.maxWaitingReads
    }

    /// The callers in the tables, this replica's own (a proposal or transfer for a peer is the
    /// peer's caller, counted there).
    var waiting: Int {
        proposals.values.count(where: \.origin.isLocal) + transfers.count(where: \.origin.isLocal) + forwarded.count
            + waitingWrites.count + readsAwaitingIndex.count + waitingReads.count + appliedWaiters.count
            + acknowledgedAwaitingApply.count
    }

    /// Takes in a caller whose event the runtime is handling.
    mutating func admit() {
        admitted += 1
    }

    // MARK: - The answering rule

    /// Answers a caller: queued, delivered after the status is published (`deliver`).
    mutating func answer<Value: Sendable>(_ completion: Completion<Value>, _ result: Result<Value, ReplicaError>) {
        answered += 1
        precondition(answered <= admitted, "a caller was answered twice")
        queued.append { completion(result) }
    }

    /// Answers a write's caller, counting a failure: a caller here, or the peer that forwarded it.
    mutating func answer(_ origin: ReplicaRuntime.Origin, _ result: Result<WriteResult, ReplicaError>) {
        switch origin {
        case .local(let completion):
            if case .failure = result { failedWrites += 1 }
            answer(completion, result)
        case .remote(let peer, let requestID):
            outgoing.append((peer, .response(id: requestID, body: ForwardCodec.encode(result))))
        }
    }

    /// Answers a write's caller here, counting a failure.
    mutating func answerWrite(_ completion: Completion<WriteResult>, _ result: Result<WriteResult, ReplicaError>) {
        answer(.local(completion), result)
    }

    /// Hands every queued answer over: the peers' to `send`, then the callers'. Call it after
    /// publishing the status.
    mutating func deliver(send: (PeerPacket, ReplicaID) -> Void) {
        if !outgoing.isEmpty {
            let packets = outgoing
            outgoing = []
            for (peer, packet) in packets { send(packet, peer) }
        }
        guard !queued.isEmpty else { return }
        let answers = queued
        queued = []
        for answer in answers { answer() }
    }

    /// Whether answers are queued.
    var hasQueuedAnswers: Bool { !queued.isEmpty || !outgoing.isEmpty }

    /// Checks that every caller taken in is either answered or in exactly one table, and that
    /// `acceptedForwards` counts the accepted forwards.
    func checkInvariant() {
        precondition(admitted == answered + waiting, "callers: \(admitted) admitted, \(answered) answered, \(waiting) waiting")
        precondition(acceptedForwards == forwarded.values.count(where: { $0.position != nil }), "acceptedForwards is off")
    }

    // MARK: - Writes

    /// Keeps a write until a leader is known; `.overloaded` when too many wait already.
    mutating func waitForLeader(_ write: ReplicaRuntime.PendingWrite) {
        guard waitingWrites.count < maxWaitingWrites else { return answerWrite(write.completion, .failure(.overloaded)) }
        waitingWrites.append(write)
    }

    /// Takes the writes waiting for a leader, to be submitted again.
    mutating func takeWaitingWrites() -> [ReplicaRuntime.PendingWrite] {
        defer { waitingWrites = [] }
        return waitingWrites
    }

    /// Keeps a write forwarded to the leader under `id`.
    mutating func forward(_ write: ReplicaRuntime.PendingWrite, id: UInt64) {
        precondition(write.position == nil && forwarded[id] == nil, "a forward is kept twice")
        forwarded[id] = write
    }

    /// The leader appended forwarded write `id` at `position`.
    mutating func accept(_ id: UInt64, at position: LogPosition) {
        guard var write = forwarded[id] else { return }
        precondition(write.position == nil, "a forward is accepted twice")
        write.position = position
        forwarded[id] = write
        acceptedForwards += 1
    }

    /// Removes forwarded write `id`, which the caller then answers or keeps elsewhere.
    mutating func resolveForward(_ id: UInt64) -> ReplicaRuntime.PendingWrite? {
        guard let write = forwarded.removeValue(forKey: id) else { return nil }
        if write.position != nil { acceptedForwards -= 1 }
        return write
    }

    /// Holds a write the leader acknowledged until this replica applies it (bounded; past the
    /// bound it is answered at once).
    mutating func holdUntilApplied(_ write: ReplicaRuntime.AcknowledgedWrite) {
        guard acknowledgedAwaitingApply.count < maxWaitingReads else { return answerWrite(write.completion, .success(write.result)) }
        acknowledgedAwaitingApply.append(write)
    }

    // MARK: - Reads

    /// Keeps a read until a leader is known; `.overloaded` when too many wait already.
    mutating func waitForLeader(_ read: ReplicaRuntime.PendingRead) {
        guard waitingReads.count < maxWaitingReads else { return answer(read.completion, .failure(.overloaded)) }
        waitingReads.append(read)
    }

    /// Takes the reads waiting for a leader, to be asked again.
    mutating func takeWaitingReads() -> [ReplicaRuntime.PendingRead] {
        defer { waitingReads = [] }
        return waitingReads
    }

    /// Keeps a caller until the state machine reaches `index`; `.overloaded` when too many wait.
    mutating func waitForApplied(_ waiter: ReplicaRuntime.AppliedWaiter) {
        guard appliedWaiters.count < maxWaitingReads else { return answer(waiter.completion, .failure(.overloaded)) }
        appliedWaiters.append(waiter)
    }

    /// Answers the callers waiting for an index at or below `applied`.
    mutating func release(applied: UInt64) {
        if !appliedWaiters.isEmpty {
            var remaining: [ReplicaRuntime.AppliedWaiter] = []
            for waiter in appliedWaiters {
                if waiter.index <= applied { answer(waiter.completion, .success(applied)) } else { remaining.append(waiter) }
            }
            appliedWaiters = remaining
        }
        if !acknowledgedAwaitingApply.isEmpty {
            var remaining: [ReplicaRuntime.AcknowledgedWrite] = []
            for write in acknowledgedAwaitingApply {
                if write.result.revision <= applied { answer(write.completion, .success(write.result)) } else { remaining.append(write) }
            }
            acknowledgedAwaitingApply = remaining
        }
    }

    // MARK: - Leadership

    /// The leader changed: reads asked of the previous one may never be answered; ask again.
    mutating func leaderChanged() {
        for (_, read) in readsAwaitingIndex { waitForLeader(read) }
        readsAwaitingIndex = [:]
    }

    /// This replica stopped leading: its transfers are done (whoever leads now).
    mutating func leadershipEnded(commitIndex: UInt64) {
        for transfer in transfers { answer(transfer.origin, .success(WriteResult(revision: commitIndex, outcome: nil))) }
        transfers = []
    }

    // MARK: - Deadlines and the end

    /// Answers every caller whose deadline has passed: `.noLeader` for those that never found
    /// a leader, `.timedOut` (outcome unknown) for the rest. A committed write not yet applied
    /// here gets its answer all the same; a proposal for a peer is dropped silently (the peer
    /// resolves it from what it applies).
    mutating func expire(now: ContinuousClock.Instant, leaderHint hint: ReplicaID?) {
        var writes: [ReplicaRuntime.PendingWrite] = []
        for write in waitingWrites {
            if write.deadline <= now { answerWrite(write.completion, .failure(.noLeader(leaderHint: hint))) } else { writes.append(write) }
        }
        waitingWrites = writes
        for (id, write) in forwarded where write.deadline <= now {
            _ = resolveForward(id)
            answerWrite(write.completion, .failure(.timedOut))
        }
        var acknowledged: [ReplicaRuntime.AcknowledgedWrite] = []
        for write in acknowledgedAwaitingApply {
            if write.deadline <= now { answer(write.completion, .success(write.result)) } else { acknowledged.append(write) }
        }
        acknowledgedAwaitingApply = acknowledged
        for (index, proposal) in proposals where proposal.deadline <= now {
            proposals[index] = nil
            if proposal.origin.isLocal { answer(proposal.origin, .failure(.timedOut)) }
        }
        var remainingTransfers: [ReplicaRuntime.PendingProposal] = []
        for transfer in transfers {
            if transfer.deadline <= now { answer(transfer.origin, .failure(.timedOut)) } else { remainingTransfers.append(transfer) }
        }
        transfers = remainingTransfers
        var reads: [ReplicaRuntime.PendingRead] = []
        for read in waitingReads {
            if read.deadline <= now { answer(read.completion, .failure(.noLeader(leaderHint: hint))) } else { reads.append(read) }
        }
        waitingReads = reads
        for (context, read) in readsAwaitingIndex where read.deadline <= now {
            readsAwaitingIndex[context] = nil
            answer(read.completion, .failure(.timedOut))
        }
        var appliedWaiting: [ReplicaRuntime.AppliedWaiter] = []
        for waiter in appliedWaiters {
            if waiter.deadline <= now { answer(waiter.completion, .failure(.timedOut)) } else { appliedWaiting.append(waiter) }
        }
        appliedWaiters = appliedWaiting
    }

    /// Answers every caller as the runtime ends for `reason`, and checks that none is left.
    /// Writes already proposed (here, or by the leader a follower forwarded them to) may yet be
    /// committed by the next leader: their outcome is unknown (`.timedOut`), never "not
    /// applied", or a caller would retry and apply them twice. A write the leader acknowledged
    /// is committed: only this replica's copy is behind, so it is answered with its result.
    mutating func finishAll(reason: ReplicaError) {
        for (_, proposal) in proposals { answer(proposal.origin, .failure(.timedOut)) }
        for transfer in transfers { answer(transfer.origin, .failure(reason)) }
        for (_, write) in forwarded { answerWrite(write.completion, .failure(.timedOut)) }
        for write in acknowledgedAwaitingApply { answer(write.completion, .success(write.result)) }
        for write in waitingWrites { answerWrite(write.completion, .failure(reason)) }
        for (_, read) in readsAwaitingIndex { answer(read.completion, .failure(reason)) }
        for read in waitingReads { answer(read.completion, .failure(reason)) }
        for waiter in appliedWaiters { answer(waiter.completion, .failure(reason)) }
        proposals = [:]
        transfers = []
        forwarded = [:]
        acceptedForwards = 0
        acknowledgedAwaitingApply = []
        waitingWrites = []
        readsAwaitingIndex = [:]
        waitingReads = []
        appliedWaiters = []
        precondition(admitted == answered, "callers: \(admitted) admitted, \(answered) answered at the end")
    }
}

extension ReplicaRuntime {
    struct PendingProposal {
        var term: UInt64
        var origin: Origin
        var deadline: ContinuousClock.Instant
        /// When it was proposed (for `ReplicaMetrics.proposalCommit`).
        var proposed = ContinuousClock.now
    }

    struct PendingWrite {
        var request: WriteRequest
        var completion: Completion<WriteResult>
        var deadline: ContinuousClock.Instant
        /// When forwarded: the term of the leader it was forwarded to.
        var leaderTerm: UInt64 = 0
        /// When the leader accepted it: where it was appended.
        var position: LogPosition?
    }

    struct PendingRead {
        var context: UInt64
        var completion: Completion<UInt64>
        var deadline: ContinuousClock.Instant
    }

    struct AcknowledgedWrite {
        var result: WriteResult
        var completion: Completion<WriteResult>
        var deadline: ContinuousClock.Instant
    }

    struct AppliedWaiter {
        var index: UInt64
        var completion: Completion<UInt64>
        var deadline: ContinuousClock.Instant
    }

    /// Who is waiting for a write the leader proposed.
    enum Origin {
        case local(Completion<WriteResult>)
        case remote(peer: ReplicaID, requestID: UInt64)

        /// Whether the caller is this replica's.
        var isLocal: Bool {
            if case .local = self { return true }
            return false
        }
    }
}
