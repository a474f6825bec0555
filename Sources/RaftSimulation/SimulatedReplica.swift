public import RaftCore

/// One simulated replica: a `RaftInstance` and the durable storage and state machine a real
/// runtime would give it, with crashes that lose everything not yet persisted.
///
/// It carries out each `Ready` in the order the type documents, like the real runtime, and
/// reports what happened so a checker can verify it.
public struct SimulatedReplica: Sendable {
    /// What survives a crash: the persisted Raft state and the snapshot image.
    public struct DurableState: Sendable {
        /// The last persisted hard state.
        public var hardState: HardState
        /// The metadata of the persisted snapshot.
        public var snapshot: SnapshotMetadata
        /// The state machine image the snapshot holds.
        public var snapshotImage: StateMachineImage
        /// The persisted entries after the snapshot.
        public var entries: [Entry]
    }

    /// What one `Ready` did.
    public struct ReadyOutcome: Sendable {
        /// The new soft state, if it changed.
        public var softState: SoftState?
        /// Messages sent before persisting.
        public var sentBeforePersist: [Message] = []
        /// Messages sent after persisting (empty when the replica crashed in between).
        public var sentAfterPersist: [Message] = []
        /// Entries made durable, each with the term of the entry before it.
        public var persistedEntries: [(entry: Entry, previousTerm: Term)] = []
        /// A snapshot installed from the leader.
        public var installedSnapshot: SnapshotMetadata?
        /// The state machine image that snapshot carried.
        public var installedImage: StateMachineImage?
        /// Entries applied, with the image after each.
        public var applied: [(entry: Entry, image: StateMachineImage)] = []
        /// Reads completed.
        public var readStates: [ReadState] = []
        /// Whether the replica crashed before persisting.
        public var crashed = false
        /// The replica's term after the batch.
        public var term: Term = 0
    }

    /// The replica's identifier.
    public let id: ReplicaID
    /// The options every incarnation is built with.
    public let options: RaftOptions
    /// The running instance; nil while crashed or stopped.
    public private(set) var instance: RaftInstance?
    /// What has been persisted.
    public private(set) var durable: DurableState
    /// The state machine, which is durable: applying and recording the applied index are atomic.
    public private(set) var stateMachine: StateMachineImage
    /// How many times the replica restarted.
    public private(set) var restarts = 0
    private let seed: UInt64
    private var receivedSnapshots: [LogIndex: StateMachineImage] = [:]

    /// Creates and starts a replica.
    /// - Parameters:
    ///   - options: the instance's options.
    ///   - persisted: its initial durable state.
    ///   - seed: the seed of its first incarnation; restarts derive new ones.
    public init(options: RaftOptions, persisted: PersistedState, seed: UInt64) {
        id = options.id
        self.options = options
        self.seed = seed
        durable = DurableState(
            hardState: persisted.hardState, snapshot: persisted.snapshot, snapshotImage: StateMachineImage(),
            entries: persisted.entries)
        stateMachine = StateMachineImage()
        start()
    }

    /// Whether the replica is running.
    public var isRunning: Bool { instance != nil }

    /// Stops the replica, losing everything not persisted.
    public mutating func crash() {
        instance = nil
        receivedSnapshots = [:]
    }

    /// Starts a new incarnation from the durable state.
    public mutating func restart() {
        precondition(instance == nil, "restart of a running replica \(id)")
        restarts += 1
        start()
    }

    private mutating func start() {
        let persisted = PersistedState(
            hardState: durable.hardState, snapshot: durable.snapshot, entries: durable.entries,
            applied: stateMachine.index)
        do {
            instance = try RaftInstance(options: options, persisted: persisted, seed: seed &+ UInt64(restarts) &* 7919)
        } catch {
            preconditionFailure("simulation options are invalid: \(error)")
        }
    }

    /// Gives the running instance a mutation to perform (tick, step, propose…).
    /// - Returns: the closure's result, or nil when the replica is not running.
    @discardableResult
    public mutating func withInstance<Result, Failure: Error>(
        _ body: (inout RaftInstance) throws(Failure) -> Result
    ) throws(Failure) -> Result? {
        guard instance != nil else { return nil }
        return try body(&instance!)
    }

    /// Delivers a message; an `installSnapshot` message must come with the sender's image.
    public mutating func deliver(_ message: Message, snapshotImage: StateMachineImage?) {
        guard instance != nil else { return }
        if case .installSnapshot(let metadata) = message.kind {
            precondition(snapshotImage?.index == metadata.index, "snapshot message without its image")
            receivedSnapshots[metadata.index] = snapshotImage
        }
        instance!.step(message)
    }

    /// Carries out one `Ready` if there is one.
    /// - Parameter crashBeforePersist: crash after sending the pre-persist messages and before
    ///   anything of this batch is durable.
    /// - Returns: what was done, or nil when there was nothing to do.
    public mutating func processReady(crashBeforePersist: Bool = false) -> ReadyOutcome? {
        guard var running = instance, running.hasReady else { return nil }
        let ready = running.ready()
        var outcome = ReadyOutcome(softState: ready.softState)
        outcome.sentBeforePersist = ready.messages
        if crashBeforePersist {
            outcome.crashed = true
            crash()
            return outcome
        }
        if let snapshot = ready.snapshot {
            guard let image = receivedSnapshots[snapshot.index] else {
                preconditionFailure("replica \(id) must install snapshot \(snapshot.index) it never received")
            }
            receivedSnapshots = [:]
            stateMachine = image
            durable.snapshot = snapshot
            durable.snapshotImage = image
            durable.entries = []
            outcome.installedSnapshot = snapshot
            outcome.installedImage = image
        }
        if let hardState = ready.hardState { durable.hardState = hardState }
        persist(ready.entries, outcome: &outcome, instance: running)
        outcome.sentAfterPersist = ready.messagesAfterPersist
        for entry in ready.committedEntries {
            stateMachine = stateMachine.applying(entry)
            outcome.applied.append((entry, stateMachine))
        }
        outcome.readStates = ready.readStates
        running.advance(ready)
        outcome.term = running.term
        instance = running
        return outcome
    }

    private mutating func persist(_ entries: [Entry], outcome: inout ReadyOutcome, instance running: RaftInstance) {
        guard let first = entries.first else { return }
        // Entries are contiguous after the snapshot, so the suffix to replace starts at a known offset.
        let keep = Int(first.index - durable.snapshot.index - 1)
        if keep < durable.entries.count { durable.entries.removeSubrange(keep...) }
        let expected = (durable.entries.last?.index ?? durable.snapshot.index) + 1
        precondition(first.index == expected, "replica \(id) persists \(first.index) after \(expected - 1)")
        for entry in entries {
            let previousTerm = durable.entries.last?.term ?? durable.snapshot.term
            outcome.persistedEntries.append((entry, previousTerm))
            durable.entries.append(entry)
        }
    }

    /// Takes a snapshot of the state machine and compacts the log when at least `interval`
    /// entries were applied since the last snapshot.
    /// - Returns: whether it compacted.
    @discardableResult
    public mutating func compactIfNeeded(interval: Int) -> Bool {
        guard var running = instance, stateMachine.index >= durable.snapshot.index + UInt64(interval) else {
            return false
        }
        precondition(running.appliedIndex == stateMachine.index, "applied index and state machine disagree")
        let metadata = running.compact(through: stateMachine.index)
        instance = running
        durable.snapshot = metadata
        durable.snapshotImage = stateMachine
        durable.entries.removeAll { $0.index <= metadata.index }
        return true
    }
}
