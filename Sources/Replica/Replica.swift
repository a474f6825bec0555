import Foundation
public import Logging
import NIOConcurrencyHelpers
public import NIOCore
public import PeerTransport
public import PolicyModel
public import PolicyStore
import RaftCore

/// A running replica: one Raft instance with its durable log, its policy database and its
/// peers, driven by one runtime that takes turns on one event loop (the peer network's).
///
/// Everything reaches the runtime as an event through a bounded mailbox: ticks, peer packets,
/// writes, reads and queries. Callers `await` their answer; nothing blocks the cooperative
/// thread pool, because the runtime's disk work (fsync, SQLite) runs on its event loop.
///
/// Life cycle: `init` opens and recovers the data directory; `start()` starts the runtime;
/// `tick()` advances logical time (the server calls it from a timer, tests by hand);
/// `stop()` hands leadership over when leading, then closes everything.
public final class Replica: Sendable {
    /// The configuration in force.
    public let configuration: ReplicaConfiguration
    let mailbox: Mailbox<ReplicaEvent>
    private let shared: NIOLockedValueBox<Shared>
    /// The runtime, handed to its event loop by `start()`.
    private let runtimeBox: NIOLockedValueBox<RuntimeHandOff?>
    private let policy: SharedPolicyState
    private let logger: Logger

    /// What the runtime publishes for other threads.
    struct Shared {
        var status: ReplicaStatus
        var metrics = ReplicaMetrics()
        var stopWaiters: [CheckedContinuation<Void, Never>] = []
        var ticker: Task<Void, Never>?
        var nextReadContext: UInt64 = 1
    }

    /// Opens the data directory (creating it for a new replica), recovers the log and the
    /// database, and prepares the runtime. Nothing runs until `start()`.
    /// - Throws: `ReplicaError.invalidConfiguration` or `.storage` with the reason.
    /// - Parameters:
    ///   - configuration: the replica's identity, data directory and limits.
    ///   - transport: the peer network it sends through.
    ///   - eventLoop: the loop the runtime takes its turns on. Give it the loop that carries
    ///     the peer network's connections (a group of one thread for both): then packets go
    ///     between the runtime and the sockets without changing threads. Its disk work (fsync,
    ///     SQLite) runs there, so nothing else should share the loop.
    ///   - logger: where it logs.
    public init(
        configuration: ReplicaConfiguration, transport: any ReplicaTransport, eventLoop: any EventLoop, logger: Logger
    ) throws(ReplicaError) {
        try configuration.validate()
        self.configuration = configuration
        self.logger = logger
        mailbox = Mailbox(
            capacity: configuration.limits.maxPendingEvents, batchLimit: configuration.limits.maxEventsPerTurn, eventLoop: eventLoop)
        shared = NIOLockedValueBox(Shared(status: ReplicaStatus(id: configuration.id)))
        let runtime = try ReplicaRuntime(configuration: configuration, transport: transport, logger: logger)
        runtimeBox = NIOLockedValueBox(RuntimeHandOff(runtime: runtime))
        policy = runtime.shared
        runtime.publish = { [shared] status, metrics in
            shared.withLockedValue {
                $0.status = status
                $0.metrics = metrics
            }
        }
        runtime.publishNow()
    }

    /// Starts the runtime's turns on its event loop. Call once.
    public func start() {
        guard let handOff = runtimeBox.withLockedValue({ box -> RuntimeHandOff? in
            defer { box = nil }
            return box
        }) else {
            preconditionFailure("Replica.start() called twice")
        }
        let mailbox = self.mailbox
        let runtime = handOff.runtime
        runtime.begin(mailbox: mailbox)
        mailbox.start { [self] events in
            guard !runtime.turn(events) else { return }
            runtime.finish(cancelling: mailbox.close())
            let waiters = shared.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
                state.status.stopped = true
                state.ticker?.cancel()
                defer { state.stopWaiters = [] }
                return state.stopWaiters
            }
            for waiter in waiters { waiter.resume() }
        }
    }

    /// Ticks every `interval` from a monotonic clock until the replica stops.
    public func startTicking(every interval: Duration) {
        let ticker = Task { [self] in
            let clock = ContinuousClock()
            var next = clock.now
            while !Task.isCancelled {
                next = next.advanced(by: interval)
                // Sleeping until an absolute instant keeps the tick rate steady under load.
                try? await Task.sleep(until: next, clock: clock)
                if clock.now > next.advanced(by: interval * 10) { next = clock.now }  // resync after a long pause
                guard !status.stopped else { return }
                tick()
            }
        }
        shared.withLockedValue { $0.ticker = ticker }
    }

    // MARK: - Inputs

    /// Advances the replica's logical time by one tick.
    public func tick() {
        _ = mailbox.post(.tick)
    }

    /// Hands the runtime a packet received from a peer; dropped (and counted) when the runtime
    /// is saturated, which Raft tolerates. Never blocks: it is called on network threads.
    /// - Returns: whether the packet was queued.
    @discardableResult
    public func receive(_ delivery: PeerDelivery) -> Bool {
        guard mailbox.post(.delivery(delivery)) else {
            shared.withLockedValue { $0.metrics.droppedEvents += 1 }
            return false
        }
        return true
    }

    /// Carries out a write on the leader (forwarded when this replica does not lead) and waits
    /// for it to be applied here or on the leader.
    /// - Parameters:
    ///   - request: the write.
    ///   - timeout: how long to wait, including waiting for a leader to be elected.
    /// - Returns: the revision and, for a command, the state machine's outcome.
    /// - Throws: `ReplicaError`: `.timedOut` leaves the outcome unknown; the others mean nothing
    ///   was applied.
    public func write(_ request: WriteRequest, timeout: Duration) async throws(ReplicaError) -> WriteResult {
        let result = await withCheckedContinuation { continuation in
            post(request, timeout: timeout, Completion(continuation))
        }
        return try result.get()
    }

    /// `write` for a caller that cannot suspend (a channel handler on an event loop): the same
    /// write, answered through `completion` instead of a continuation.
    /// - Parameter completion: called exactly once with what `write` would return or throw: on
    ///   the runtime's thread (hop to your own before touching its state), or on the caller's
    ///   when the replica refuses the write at once (`.overloaded`). It must not block.
    public func write(
        _ request: WriteRequest, timeout: Duration, completion: @escaping @Sendable (Result<WriteResult, ReplicaError>) -> Void
    ) {
        post(request, timeout: timeout, Completion(completion))
    }

    private func post(_ request: WriteRequest, timeout: Duration, _ completion: Completion<WriteResult>) {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        if !mailbox.post(.write(request, deadline: deadline, completion)) { completion(.failure(.overloaded)) }
    }

    /// Waits until this replica's state reflects every write acknowledged before the call
    /// (Raft §6.4 ReadIndex: the leader confirms its leadership with a quorum; this replica
    /// then applies up to the leader's commit index).
    /// - Returns: the applied index the caller's read may use.
    public func linearizableRead(timeout: Duration) async throws(ReplicaError) -> UInt64 {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        let context = shared.withLockedValue { state -> UInt64 in
            defer { state.nextReadContext += 1 }
            return state.nextReadContext
        }
        let result = await withCheckedContinuation { continuation in
            let completion = Completion<UInt64>(continuation)
            if !mailbox.post(.read(context: context, deadline: deadline, completion)) { completion(.failure(.overloaded)) }
        }
        return try result.get()
    }

    /// Waits until this replica has applied `index` (read-your-writes on any replica). An index
    /// already applied is answered from the published status, without a turn of the runtime.
    /// - Returns: the applied index, at least `index`.
    public func waitUntilApplied(_ index: UInt64, timeout: Duration) async throws(ReplicaError) -> UInt64 {
        let applied = shared.withLockedValue { $0.status.appliedIndex }
        if applied >= index { return applied }
        let deadline = ContinuousClock.now.advanced(by: timeout)
        let result = await withCheckedContinuation { continuation in
            let completion = Completion<UInt64>(continuation)
            if !mailbox.post(.waitApplied(index, deadline: deadline, completion)) { completion(.failure(.overloaded)) }
        }
        return try result.get()
    }

    /// Returns once the runtime has taken a turn after everything posted before the call and
    /// carried it out: its `Ready` done (messages sent, entries persisted and applied) and its
    /// answers delivered. Tests that drive time by hand use it to let the replicas settle
    /// between ticks instead of sleeping. At once when the runtime has stopped.
    func turnCompleted() async {
        let deadline = ContinuousClock.now.advanced(by: .seconds(60))
        // A wait for index 0 is answered by the runtime's waiters, which answer at the end of a
        // turn (`Waiters.deliver`), unlike `waitUntilApplied`, which answers from the status.
        _ = await withCheckedContinuation { continuation in
            let completion = Completion<UInt64>(continuation)
            if !mailbox.post(.waitApplied(0, deadline: deadline, completion)) { completion(.failure(.stopped)) }
        }
    }

    /// Runs `body` in a turn of the runtime, between two batches, with the policy database as of
    /// the applied index. Keep it short: the runtime waits for it.
    public func query<Value: Sendable>(_ body: @escaping @Sendable (PolicyStore) throws -> Value) async throws -> Value {
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<Value, any Error>, Never>) in
            let event = ReplicaEvent.query(
                run: { store in continuation.resume(returning: Result { try body(store) }) },
                cancel: { continuation.resume(returning: .failure(ReplicaError.stopped)) })
            if !mailbox.post(event) { continuation.resume(returning: .failure(ReplicaError.overloaded)) }
        }
        return try result.get()
    }

    /// Copies the policy database aside, consistent at one applied index, for a backup: on a
    /// thread of its own, through its own connection, so the runtime goes on writing meanwhile
    /// (as a snapshot is taken). The copy is at least as new as the applied index when this was
    /// called; for every write acknowledged before, call `linearizableRead` first. One copy at
    /// a time (`.overloaded` otherwise); installing a received snapshot or stopping interrupts
    /// it (`.stopped`). The caller removes the file when done (`DatabaseExport.remove()`).
    public func exportDatabase() async throws(ReplicaError) -> DatabaseExport {
        try await readInBackground(.export) { ticket throws(ReplicaError) in
            do throws(PolicyStoreError) {
                let path = ticket.exportPath
                let index = try PolicyStore.exportCopy(of: ticket.databasePath, to: path, control: ticket.control, pacing: .backup)
                return DatabaseExport(path: path, appliedIndex: index)
            } catch .cancelled {
                throw .stopped
            } catch {
                throw .storage("copying the database for a backup: \(error)")
            }
        }
    }

    /// The state hash of the database and the applied index it is at, read in one transaction
    /// on a thread of its own, through its own connection: hashing a large state takes long
    /// enough to stall every write and heartbeat if the runtime did it (`query` would). Up to
    /// `BackgroundRead.stateHash.limit` at once (`.overloaded` beyond).
    public func stateHash() async throws(ReplicaError) -> (hash: [UInt8], appliedIndex: UInt64) {
        try await readInBackground(.stateHash) { ticket throws(ReplicaError) in
            do throws(PolicyStoreError) {
                return try PolicyStore.stateHash(ofDatabaseAt: ticket.databasePath, control: ticket.control)
            } catch .cancelled {
                throw .stopped
            } catch {
                throw .storage("hashing the state: \(error)")
            }
        }
    }

    /// Runs `body` on a thread the runtime starts for a background read of `kind`, and returns
    /// what it returns.
    private func readInBackground<Value: Sendable>(
        _ kind: BackgroundRead, _ body: @escaping @Sendable (BackgroundReadTicket) throws(ReplicaError) -> Value
    ) async throws(ReplicaError) -> Value {
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<Value, ReplicaError>, Never>) in
            let event = ReplicaEvent.backgroundRead(kind) { ticket in
                continuation.resume(returning: ticket.flatMap { ticket in Result { () throws(ReplicaError) -> Value in try body(ticket) } })
            }
            if !mailbox.post(event) { continuation.resume(returning: .failure(.overloaded)) }
        }
        return try result.get()
    }

    /// Reads the policy state as of the last applied batch, on the caller's thread: no turn of
    /// the runtime, no suspension. `body` gets the state and its applied index; keep it short,
    /// and do not keep the state (see `SharedPolicyState`). For a linearizable read, call
    /// `linearizableRead` first: once it returns, this sees at least its index.
    /// - Throws: `.stopped` once the replica stopped.
    public func readState<Value>(_ body: (PolicyState, UInt64) -> Value) throws(ReplicaError) -> Value {
        try policy.read(body)
    }

    /// Stops the replica: a leader first hands leadership to its most up-to-date voter (bounded
    /// by `shutdownTransferMilliseconds`); then waiting callers are answered `.stopped` and the
    /// log and database are closed. Returns once the runtime has ended.
    public func stop(transferLeadership: Bool = true) async {
        let accepted = await withCheckedContinuation { continuation in
            let completion = Completion<Void>(continuation)
            if !mailbox.postAlways(.stop(transferLeadership: transferLeadership, completion)) { completion(.failure(.stopped)) }
        }
        _ = accepted
        await waitUntilStopped()
    }

    /// Returns once the runtime has ended (stopped, removed from the cluster, or failed).
    public func waitUntilStopped() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let stopped = shared.withLockedValue { state -> Bool in
                if !state.status.stopped { state.stopWaiters.append(continuation) }
                return state.status.stopped
            }
            if stopped { continuation.resume() }
        }
    }

    // MARK: - Observers

    /// The status published after the runtime's last turn.
    public var status: ReplicaStatus { shared.withLockedValue { $0.status } }

    /// The metrics published after the runtime's last turn.
    public var metrics: ReplicaMetrics { shared.withLockedValue { $0.metrics } }
}

/// Moves the runtime to its event loop. `@unchecked Sendable`: the runtime is handed over
/// exactly once (`start()` takes it out of the box) and then touched only in its turns, on
/// that loop.
struct RuntimeHandOff: @unchecked Sendable {
    let runtime: ReplicaRuntime
}

/// What the runtime's mailbox carries.
enum ReplicaEvent: Sendable {
    case tick
    case delivery(PeerDelivery)
    case write(WriteRequest, deadline: ContinuousClock.Instant, Completion<WriteResult>)
    case read(context: UInt64, deadline: ContinuousClock.Instant, Completion<UInt64>)
    case waitApplied(UInt64, deadline: ContinuousClock.Instant, Completion<UInt64>)
    case query(run: @Sendable (PolicyStore) -> Void, cancel: @Sendable () -> Void)
    case snapshotSent(to: ReplicaID, succeeded: Bool)
    /// A snapshot copy ended (the control tells which copy).
    case snapshotWritten(SnapshotCopyControl, SnapshotCopyOutcome)
    case forwardDropped(requestID: UInt64)
    /// Read the database on a thread of its own (`BackgroundRead`): the body gets the
    /// database's path and the read's control, or why the read cannot start.
    case backgroundRead(BackgroundRead, @Sendable (Result<BackgroundReadTicket, ReplicaError>) -> Void)
    /// A background read ended (the runtime forgets its control).
    case backgroundReadEnded(SnapshotCopyControl)
    case stop(transferLeadership: Bool, Completion<Void>)

    /// Answers the event's caller, if any, with `.stopped` (the mailbox closed under it).
    func cancel() {
        switch self {
        case .tick, .delivery, .snapshotSent, .snapshotWritten, .forwardDropped, .backgroundReadEnded: break
        case .backgroundRead(_, let body): body(.failure(.stopped))
        case .write(_, _, let completion): completion(.failure(.stopped))
        case .read(_, _, let completion): completion(.failure(.stopped))
        case .waitApplied(_, _, let completion): completion(.failure(.stopped))
        case .query(_, let cancel): cancel()
        case .stop(_, let completion): completion(.success(()))
        }
    }
}
