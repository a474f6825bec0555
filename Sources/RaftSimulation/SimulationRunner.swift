package import RaftCore

/// A failed simulation: the violated property, the parameters that reproduce it, and the events
/// that led to it (when traced).
public struct SimulationFailure: Error, Sendable, CustomStringConvertible {
    /// The run's parameters.
    public var parameters: SimulationParameters
    /// The violated property.
    public var violation: SimulationViolation
    /// The most recent events (empty unless the run was traced).
    public var trace: [String]

    /// The one-line command that replays this run bit for bit, with a trace.
    public var replayCommand: String {
        var command = "swift run -c release raft-sim replay --seed \(parameters.seed) --size \(parameters.clusterSize)"
        let bugs = PlantedBugs.named.filter { parameters.plantedBugs.contains($0.1) }.map(\.0)
        if !bugs.isEmpty { command += " --bugs \(bugs.joined(separator: ","))" }
        return command
    }

    public var description: String {
        "simulation failed: \(violation)\n  parameters: \(parameters)\n  replay: \(replayCommand)"
    }
}

/// Runs simulations by seed; shared by the tests and the `raft-sim` runner.
public enum SimulationRunner {
    /// Runs one seeded simulation.
    /// - Parameters:
    ///   - seed: the seed.
    ///   - clusterSize: 1, 3 or 5; nil picks one from the seed.
    ///   - recordTrace: whether to keep the recent events for the failure report.
    /// - Returns: the run's statistics, or the failure with its replay command.
    public static func run(seed: UInt64, clusterSize: Int? = nil, recordTrace: Bool = false)
        -> Result<SimulationStatistics, SimulationFailure>
    {
        run(seed: seed, clusterSize: clusterSize, plantedBugs: [], recordTrace: recordTrace)
    }

    /// Runs one seeded simulation with deliberate bugs planted in every replica.
    package static func run(
        seed: UInt64, clusterSize: Int?, plantedBugs: PlantedBugs, recordTrace: Bool = false
    ) -> Result<SimulationStatistics, SimulationFailure> {
        var parameters = SimulationParameters(
            seed: seed, clusterSize: clusterSize ?? SimulationParameters.clusterSize(forSeed: seed))
        parameters.plantedBugs = plantedBugs
        parameters.recordTrace = recordTrace
        var simulation = ClusterSimulation(parameters: parameters)
        do {
            return .success(try simulation.run())
        } catch {
            return .failure(SimulationFailure(parameters: parameters, violation: error, trace: simulation.trace))
        }
    }

    /// Seeds that once failed, kept as regression tests forever. Each comment says what it found.
    /// (They were found with earlier versions of the core and simulator, so they no longer
    /// replay the exact same history; each bug also has a deterministic test of its own.)
    public static let pinnedSeeds: [(seed: UInt64, clusterSize: Int)] = [
        // A stale-term append was answered with the follower's last index; the leader, elected
        // again in a newer term, took it as an acknowledgement (stateMachineSafety).
        (2053, 5),
        // A full in-flight window whose appends were all lost never reopened (liveness).
        (161, 1),
        // A leader removed itself in a two-voter cluster and stepped down before the other
        // voter learned the removal was committed; that voter still needed its vote (liveness).
        (1172, 1),
        (1580, 1),
        // A leader appended its own removal and crashed before replicating it; on restart it
        // was no longer a voter in its newest membership and never campaigned (liveness).
        (1745, 1),
        (1751, 1),
        (1835, 1),
        // A late vote elected a leader of an older term; the checker wrongly required it to hold
        // entries committed in a newer term (checker bug).
        (5155, 5),
        (1069, 5),
        // The stable-leader check required a learner that was only in the leader's uncommitted
        // membership, so not yet started (checker bug; found in the 100,000-seed soak).
        (1092198, 3),
    ]
}
