import Foundation
import RaftCore
import RaftSimulation
import Testing

/// The seeded cluster simulator: fresh seeds every run, pinned regression seeds, bit-for-bit
/// replay, and proof that it catches deliberately planted protocol bugs.
@Suite struct SimulatorTests {
    /// How many fresh seeds a run checks (`RAFT_SIM_SEEDS`, default 1,000).
    static let freshSeedCount: UInt64 = {
        ProcessInfo.processInfo.environment["RAFT_SIM_SEEDS"].flatMap(UInt64.init) ?? 1000
    }()

    /// The first fresh seed (`RAFT_SIM_BASE_SEED`, default random), printed so a run can be repeated.
    static let baseSeed: UInt64 = {
        if let fixed = ProcessInfo.processInfo.environment["RAFT_SIM_BASE_SEED"].flatMap(UInt64.init) { return fixed }
        var generator = SystemRandomNumberGenerator()
        return generator.next() >> 16
    }()

    /// The fresh seeds are checked in this many slices, which run in parallel.
    static let slices = 8

    @Test(arguments: 0..<slices)
    func freshSeedsKeepEverySafetyAndLivenessProperty(slice: Int) async {
        let perSlice = Self.freshSeedCount / UInt64(Self.slices) + 1
        let start = Self.baseSeed + UInt64(slice) * perSlice
        let end = min(start + perSlice, Self.baseSeed + Self.freshSeedCount)
        let (ran, failure) = await onAThread { () -> (UInt64, String?) in
            var ran: UInt64 = 0
            for seed in start..<max(start, end) {
                ran += 1
                if case .failure(let failure) = SimulationRunner.run(seed: seed) { return (ran, "\(failure)") }
            }
            return (ran, nil)
        }
        if let failure {
            Issue.record("\(failure)")
            return
        }
        print("simulator: slice \(slice) ran \(ran) seeds from \(start) (base seed \(Self.baseSeed))")
    }

    @Test(arguments: SimulationRunner.pinnedSeeds.map { [$0.seed, UInt64($0.clusterSize)] })
    func pinnedRegressionSeedPasses(_ pinned: [UInt64]) async {
        let failure = await onAThread { () -> String? in
            if case .failure(let failure) = SimulationRunner.run(seed: pinned[0], clusterSize: Int(pinned[1])) { return "\(failure)" }
            return nil
        }
        if let failure { Issue.record("\(failure)") }
    }

    @Test func sameSeedReplaysBitForBit() throws {
        let first = SimulationRunner.run(seed: 4242, clusterSize: 5, recordTrace: true)
        let second = SimulationRunner.run(seed: 4242, clusterSize: 5, recordTrace: true)
        let a = try first.get()
        let b = try second.get()
        #expect(a.delivered == b.delivered && a.acknowledged == b.acknowledged && a.elections == b.elections)
        #expect(a.delivered > 1000, "the run should exchange many messages")
        var firstSimulation = ClusterSimulation(parameters: Self.traced(seed: 4242))
        var secondSimulation = ClusterSimulation(parameters: Self.traced(seed: 4242))
        _ = try firstSimulation.run()
        _ = try secondSimulation.run()
        #expect(firstSimulation.trace == secondSimulation.trace)
        #expect(!firstSimulation.trace.isEmpty)
    }

    @Test func differentSeedsTakeDifferentPaths() throws {
        let a = try SimulationRunner.run(seed: 1, clusterSize: 3).get()
        let b = try SimulationRunner.run(seed: 2, clusterSize: 3).get()
        #expect(a.delivered != b.delivered || a.acknowledged != b.acknowledged)
    }

    static func traced(seed: UInt64) -> SimulationParameters {
        var parameters = SimulationParameters(seed: seed, clusterSize: 5)
        parameters.recordTrace = true
        return parameters
    }
}

/// The simulator is able to fail: each deliberately planted bug is caught within 1,000 seeds.
@Suite struct PlantedBugTests {
    static let seedLimit: UInt64 = 1000

    @Test(arguments: PlantedBugs.named.map(\.0))
    func simulatorCatchesPlantedBug(_ name: String) async throws {
        let bug = try #require(PlantedBugs.named.first { $0.0 == name }?.1)
        let seedLimit = Self.seedLimit
        let caught = await onAThread { () -> (seed: UInt64, property: String, replay: String)? in
            for seed in 1...seedLimit {
                if case .failure(let failure) = SimulationRunner.run(seed: seed, clusterSize: nil, plantedBugs: bug) {
                    return (seed, failure.violation.property.rawValue, failure.replayCommand)
                }
            }
            return nil
        }
        guard let caught else {
            Issue.record("planted bug \(name) was not caught within \(Self.seedLimit) seeds")
            return
        }
        print("planted bug \(name): caught at seed \(caught.seed) as \(caught.property)")
        #expect(caught.replay.contains("--seed \(caught.seed)"))
        #expect(caught.replay.contains("--bugs \(name)"))
    }
}

/// Runs `body` on a thread of its own and returns its result. Simulations are long and
/// CPU-bound: on Swift's cooperative pool (two threads on a two-core machine) they would hold
/// every thread the other suites' async tests need, for minutes, and those tests would time out
/// or wait. At most as many run at once as the machine has cores (`simulationSlots`), so the
/// other suites' threads still get their share of the CPU.
func onAThread<Value: Sendable>(_ body: @escaping @Sendable () -> Value) async -> Value {
    await withCheckedContinuation { continuation in
        Thread.detachNewThread {
            simulationSlots.wait()
            let value = body()
            simulationSlots.signal()
            continuation.resume(returning: value)
        }
    }
}

/// How many simulations may run at once: one per core.
let simulationSlots = DispatchSemaphore(value: max(1, ProcessInfo.processInfo.activeProcessorCount))
