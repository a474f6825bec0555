import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOPosix
import PeerTransport
import PolicyModel
import PolicyStore
import RaftCore
@testable import Replica

/// A cluster of replicas in one process over an `InMemoryNetwork`, with time driven by hand:
/// every `step` ticks each running replica once, then waits until the cluster has settled
/// (every runtime has handled all that was sent to it, `settle`). Nothing sleeps: a test's
/// logical time is its steps, as in the simulator, whatever the machine's speed.
final class TestCluster {
    let network = InMemoryNetwork()
    let root: String
    let snapshotInterval: Int
    private(set) var replicas: [ReplicaID: Replica] = [:]
    private var requestCounter = 0

    init(size: Int, snapshotInterval: Int = 10_000) throws {
        root = NSTemporaryDirectory() + "rampart-replica-\(UUID().uuidString)"
        self.snapshotInterval = snapshotInterval
        let voters = (1...UInt64(size)).map { ReplicaID(rawValue: $0) }
        for id in voters { try start(id, initialVoters: voters) }
    }

    /// A cluster of the replicas whose data directories are already in `root` (seeded by a
    /// restore, say), started as they are.
    init(existingRoot root: String, voters: [ReplicaID], snapshotInterval: Int = 10_000) throws {
        self.root = root
        self.snapshotInterval = snapshotInterval
        for id in voters { try start(id, initialVoters: []) }
    }

    deinit {
        try? FileManager.default.removeItem(atPath: root)
    }

    /// The loops the replicas' runtimes take turns on: shared by every test cluster, one
    /// thread each (a replica's disk work blocks its loop, as it would in production).
    static let loops = MultiThreadedEventLoopGroup(numberOfThreads: 4)

    func configuration(_ id: ReplicaID, initialVoters: [ReplicaID]) -> ReplicaConfiguration {
        var configuration = ReplicaConfiguration(
            id: id, dataDirectory: root + "/replica-\(id)", initialVoters: initialVoters, seed: 1000 + id.rawValue)
        configuration.snapshotIntervalEntries = snapshotInterval
        configuration.raft.electionTimeoutTicks = 10
        return configuration
    }

    /// Opens (or reopens) replica `id` and starts its runtime.
    func start(_ id: ReplicaID, initialVoters: [ReplicaID]) throws {
        var logger = Logger(label: "replica-\(id)")
        logger.logLevel = .warning
        let replica = try Replica(
            configuration: configuration(id, initialVoters: initialVoters), transport: network.endpoint(id), eventLoop: Self.loops.next(),
            logger: logger)
        replicas[id] = replica
        network.attach(replica)
        replica.start()
    }

    /// Stops replica `id` (as a crash would, without a leadership transfer).
    func stop(_ id: ReplicaID) async {
        guard let replica = replicas.removeValue(forKey: id) else { return }
        network.detach(id)
        await replica.stop(transferLeadership: false)
    }

    /// Forgets a replica that stopped by itself (removed, or stopped by the test).
    func forget(_ id: ReplicaID) {
        replicas[id] = nil
        network.detach(id)
    }

    func stopAll() async {
        for id in Array(replicas.keys) { await stop(id) }
    }

    /// Ticks every replica once and waits until the cluster has settled.
    func step() async {
        for replica in replicas.values { replica.tick() }
        await settle()
    }

    /// Waits until every running replica has handled everything sent to it. A barrier on a
    /// replica (`turnCompleted`) returns at the end of the turn that takes it, after the turn's
    /// `Ready` was carried out and its messages sent; rounds of barriers repeat until a round
    /// in which no packet was delivered. (Work outside the turns, such as a
    /// snapshot's chunks on their way, may still be under way: `stepUntil` steps again.)
    func settle(maxRounds: Int = 1000) async {
        for _ in 0..<maxRounds {
            let before = network.delivered
            for replica in replicas.values { await replica.turnCompleted() }
            if network.delivered == before { return }
        }
    }

    /// Steps until `condition` holds; false after `maxSteps`.
    func stepUntil(maxSteps: Int = 500, _ condition: () async -> Bool) async -> Bool {
        for _ in 0..<maxSteps {
            if await condition() { return true }
            await step()
        }
        return await condition()
    }

    /// The replica every running replica agrees leads, once there is one.
    func leader() async -> Replica? {
        var found: Replica?
        _ = await stepUntil {
            let statuses = replicas.values.map(\.status)
            guard let leader = statuses.first(where: { $0.role == .leader }),
                statuses.allSatisfy({ $0.leader == leader.id })
            else { return false }
            found = replicas[leader.id]
            return true
        }
        return found
    }

    func followers() async -> [Replica] {
        let leaderID = await leader()?.configuration.id
        return replicas.values.filter { $0.configuration.id != leaderID }.sorted { $0.configuration.id < $1.configuration.id }
    }

    /// An encoded command creating organization `name`.
    func createOrganization(_ name: String, key: String? = nil) throws -> WriteRequest {
        requestCounter += 1
        let envelope = CommandEnvelope(
            command: .createOrganization(name: try Name(name)), actor: nil, requestID: "test-\(requestCounter)", idempotencyKey: key,
            time: Timestamp(millisecondsSinceEpoch: 1_700_000_000_000))
        return .command(CommandCodec.encode(envelope))
    }

    /// Writes through `replica` while time runs (`whileTicking`), so that forwarding and
    /// elections progress while the write waits.
    func write(_ request: WriteRequest, via replica: Replica, timeout: Duration = .seconds(10)) async throws -> WriteResult {
        try await whileTicking { try await replica.write(request, timeout: timeout) }
    }

    /// Runs `body` while the cluster steps (a tick, then `settle`) until it finishes. A body
    /// that waits for a deadline (a write's timeout, measured by the runtime's clock) finishes
    /// once that much time has passed, however many steps that takes; after `limit` of it the
    /// steps stop and the body runs on alone.
    func whileTicking<Value: Sendable>(limit: Duration = .seconds(60), _ body: @escaping @Sendable () async throws -> Value) async throws -> Value {
        let finished = NIOLockedValueBox(false)
        let task = Task {
            defer { finished.withLockedValue { $0 = true } }
            return try await body()
        }
        let end = ContinuousClock.now.advanced(by: limit)
        // Let the body post what it does before the first tick.
        await settle()
        while !finished.withLockedValue({ $0 }), ContinuousClock.now < end {
            await step()
        }
        return try await task.value
    }

    /// State hashes of every running replica, once all have applied `index`.
    func stateHashes(at index: UInt64) async throws -> [ReplicaID: [UInt8]] {
        _ = await stepUntil { replicas.values.allSatisfy { $0.status.appliedIndex >= index } }
        var hashes: [ReplicaID: [UInt8]] = [:]
        for (id, replica) in replicas { hashes[id] = try await replica.query { try $0.stateHash() } }
        return hashes
    }
}
