public import RaftCore

/// A hand-driven cluster for transcript tests: nothing happens unless a command says so, and
/// every event is written to a log in a stable, readable form.
///
/// Messages wait in one first-in-first-out queue until `deliver` or `stabilize`; cut links drop
/// them when they are sent. Each replica is a `SimulatedReplica`, so `Ready` is carried out exactly
/// as in the randomized simulator.
public struct InteractionCluster {
    private var replicas: [ReplicaID: SimulatedReplica] = [:]
    private var queue: [Envelope] = []
    private var blocked: Set<SimulatedNetwork.Link> = []
    private var sequence: UInt64 = 0
    /// The lines written since the last `takeOutput()`.
    private var output: [String] = []

    /// Creates an empty cluster.
    public init() {}

    /// The sorted identifiers of every replica.
    public var ids: [ReplicaID] { replicas.keys.sorted() }

    /// The replica's instance, when it is running.
    public func instance(_ id: ReplicaID) -> RaftInstance? { replicas[id]?.instance }

    /// The replica's state machine image.
    public func stateMachine(_ id: ReplicaID) -> StateMachineImage? { replicas[id]?.stateMachine }

    /// Returns and clears the output written so far.
    public mutating func takeOutput() -> [String] {
        defer { output = [] }
        return output
    }

    /// Writes a line to the output.
    public mutating func write(_ line: String) {
        output.append(line)
    }

    // MARK: - Replicas

    /// Adds a replica with the standard transcript options (election timeout 10 ticks,
    /// heartbeat every tick, PreVote and CheckQuorum on).
    public mutating func addReplica(_ id: ReplicaID, persisted: PersistedState, configure: (inout RaftOptions) -> Void = { _ in }) {
        precondition(replicas[id] == nil, "replica \(id) exists")
        var options = RaftOptions(id: id)
        configure(&options)
        replicas[id] = SimulatedReplica(options: options, persisted: persisted, seed: id.rawValue)
    }

    /// Mutates a running replica's instance.
    @discardableResult
    public mutating func with<Result, Failure: Error>(
        _ id: ReplicaID, _ body: (inout RaftInstance) throws(Failure) -> Result
    ) throws(Failure) -> Result? {
        precondition(replicas[id] != nil, "no replica \(id)")
        return try replicas[id]!.withInstance(body)
    }

    /// Crashes a replica: everything not persisted is lost, and messages to it are dropped.
    public mutating func crash(_ id: ReplicaID) {
        replicas[id]!.crash()
        write("\(id): crashed")
    }

    /// Restarts a crashed replica from its durable state.
    public mutating func restart(_ id: ReplicaID) {
        replicas[id]!.restart()
        let instance = replicas[id]!.instance!
        write("\(id): restarted \(instance.hardState) last=\(instance.lastPosition) applied=\(instance.appliedIndex)")
    }

    /// Takes a snapshot of the replica's state machine and compacts its log through it.
    public mutating func compact(_ id: ReplicaID) {
        replicas[id]!.compactIfNeeded(interval: 0)
        write("\(id): compacted through \(replicas[id]!.durable.snapshot.index)")
    }

    // MARK: - Network

    /// Cuts both directions between every replica of `sideA` and every replica of `sideB`.
    public mutating func partition(_ sideA: [ReplicaID], _ sideB: [ReplicaID]) {
        for a in sideA {
            for b in sideB {
                blocked.insert(SimulatedNetwork.Link(from: a, to: b))
                blocked.insert(SimulatedNetwork.Link(from: b, to: a))
            }
        }
    }

    /// Cuts one direction of one link.
    public mutating func cut(from: ReplicaID, to: ReplicaID) {
        blocked.insert(SimulatedNetwork.Link(from: from, to: to))
    }

    /// Restores every link.
    public mutating func heal() {
        blocked = []
    }

    /// Drops every queued message (to `id` only, when given).
    public mutating func dropQueued(to id: ReplicaID? = nil) {
        let dropped = queue.filter { id == nil || $0.message.to == id }
        queue.removeAll { id == nil || $0.message.to == id }
        for envelope in dropped { write("dropped \(envelope.message)") }
    }

    // MARK: - Driving

    /// Carries out every pending `Ready` of one replica.
    /// - Returns: whether there was any.
    @discardableResult
    public mutating func processReady(_ id: ReplicaID) -> Bool {
        var any = false
        while let outcome = replicas[id]?.processReady() {
            any = true
            describe(outcome, of: id)
            send(outcome.sentBeforePersist + outcome.sentAfterPersist)
        }
        return any
    }

    /// Delivers queued messages in order (only those to `id`, when given).
    /// - Returns: how many were delivered or dropped.
    @discardableResult
    public mutating func deliver(to id: ReplicaID? = nil) -> Int {
        let due = queue.filter { id == nil || $0.message.to == id }
        queue.removeAll { id == nil || $0.message.to == id }
        for envelope in due {
            let message = envelope.message
            guard let target = replicas[message.to], target.isRunning else {
                write("dropped \(message) (recipient down)")
                reportSnapshot(envelope, succeeded: false)
                continue
            }
            write(message.description)
            replicas[message.to]!.deliver(message, snapshotImage: envelope.snapshotImage)
            reportSnapshot(envelope, succeeded: true)
        }
        return due.count
    }

    /// Processes every replica's `Ready` and delivers every message until nothing is left.
    public mutating func stabilize() {
        var rounds = 0
        while true {
            rounds += 1
            precondition(rounds < 10_000, "the cluster does not stabilize")
            var any = false
            for id in ids where processReady(id) { any = true }
            if deliver() > 0 { any = true }
            if !any { return }
        }
    }

    // MARK: - Private

    private mutating func send(_ messages: [Message]) {
        for message in messages {
            if blocked.contains(SimulatedNetwork.Link(from: message.from, to: message.to)) {
                write("dropped \(message) (link cut)")
                if case .installSnapshot = message.kind {
                    replicas[message.from]!.withInstance { $0.reportSnapshot(to: message.to, succeeded: false) }
                }
                continue
            }
            var image: StateMachineImage?
            if case .installSnapshot = message.kind { image = replicas[message.from]!.durable.snapshotImage }
            sequence += 1
            queue.append(Envelope(message: message, snapshotImage: image, deliverAt: 0, sequence: sequence))
        }
    }

    private mutating func reportSnapshot(_ envelope: Envelope, succeeded: Bool) {
        guard envelope.snapshotImage != nil else { return }
        replicas[envelope.message.from]?.withInstance {
            $0.reportSnapshot(to: envelope.message.to, succeeded: succeeded)
        }
    }

    private mutating func describe(_ outcome: SimulatedReplica.ReadyOutcome, of id: ReplicaID) {
        if let soft = outcome.softState { write("\(id): becomes \(soft)") }
        if let snapshot = outcome.installedSnapshot { write("\(id): installs \(snapshot)") }
        if !outcome.persistedEntries.isEmpty {
            write("\(id): persists [\(outcome.persistedEntries.map(\.entry.description).joined(separator: ", "))]")
        }
        if !outcome.applied.isEmpty {
            write("\(id): applies [\(outcome.applied.map(\.entry.description).joined(separator: ", "))]")
        }
        for read in outcome.readStates { write("\(id): \(read)") }
    }
}
