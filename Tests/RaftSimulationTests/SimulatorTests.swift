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
    func freshSeedsKeepEverySafetyAndLivenessProperty(slice: Int) {
        let perSlice = Self.freshSeedCount / UInt64(Self.slices) + 1
        let start = Self.baseSeed + UInt64(slice) * perSlice
        let end = min(start + perSlice, Self.baseSeed + Self.freshSeedCount)
        var ran: UInt64 = 0
        for seed in start..<max(start, end) {
            ran += 1
            if case .failure(let failure) = SimulationRunner.run(seed: seed) {
                Issue.record("\(failure)")
                return
            }
        }
        print("simulator: slice \(slice) ran \(ran) seeds from \(start) (base seed \(Self.baseSeed))")
    }

    @Test(arguments: SimulationRunner.pinnedSeeds.map { [$0.seed, UInt64($0.clusterSize)] })
    func pinnedRegressionSeedPasses(_ pinned: [UInt64]) {
        if case .failure(let failure) = SimulationRunner.run(seed: pinned[0], clusterSize: Int(pinned[1])) {
            Issue.record("\(failure)")
        }
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
    func simulatorCatchesPlantedBug(_ name: String) throws {
        let bug = try #require(PlantedBugs.named.first { $0.0 == name }?.1)
        for seed in 1...Self.seedLimit {
            if case .failure(let failure) = SimulationRunner.run(seed: seed, clusterSize: nil, plantedBugs: bug) {
                print("planted bug \(name): caught at seed \(seed) as \(failure.violation.property.rawValue)")
                #expect(failure.replayCommand.contains("--seed \(seed)"))
                #expect(failure.replayCommand.contains("--bugs \(name)"))
                return
            }
        }
        Issue.record("planted bug \(name) was not caught within \(Self.seedLimit) seeds")
    }
}
