package import RaftCore

/// Everything that decides one simulation run. The same parameters always give the same run,
/// bit for bit.
public struct SimulationParameters: Sendable, CustomStringConvertible {
    /// The seed of every random choice.
    public var seed: UInt64
    /// The number of founding voters (1, 3 or 5).
    public var clusterSize: Int
    /// How long faults are injected, in ticks.
    public var faultTicks: Int = 600
    /// Simulated time units per tick; message delays are drawn in units.
    public var unitsPerTick: UInt64 = 10
    /// The election timeout of every replica, in ticks.
    public var electionTimeoutTicks: Int = 10
    /// Deliberate bugs planted in every replica's core.
    package var plantedBugs: PlantedBugs = []
    /// Whether to keep a trace of events for the failure report.
    public var recordTrace = false
    /// Chance per simulated time unit, in percent, that `HostilePeer` sends a running member a
    /// message no correct member could send (0 turns it off).
    public var hostilePeerPercent = 2

    /// The fault mix, drawn from the seed.
    public var faults: FaultProfile

    /// Creates parameters whose fault mix is drawn from `seed`.
    public init(seed: UInt64, clusterSize: Int) {
        precondition([1, 3, 5].contains(clusterSize), "cluster size must be 1, 3 or 5, got \(clusterSize)")
        self.seed = seed
        self.clusterSize = clusterSize
        var random = DeterministicRandom(seed: seed ^ 0x5EED_F00D)
        faults = FaultProfile(random: &random)
    }

    /// The cluster size the seed picks when none is given: sizes 1, 3 and 5 in turn.
    public static func clusterSize(forSeed seed: UInt64) -> Int {
        [3, 5, 1][Int(seed % 3)]
    }

    public var description: String {
        "seed=\(seed) size=\(clusterSize) \(faults)"
    }
}

/// Rates of each fault, per mille per simulated time unit unless noted.
public struct FaultProfile: Sendable, CustomStringConvertible {
    /// Percent of messages dropped.
    public var dropPercent: Int
    /// Percent of messages delivered twice.
    public var duplicatePercent: Int
    /// Percent of messages delayed long enough to be reordered past later ones.
    public var reorderPercent: Int
    /// Chance per unit of crashing a replica (per 10,000).
    public var crashPerTenThousand: Int
    /// Chance per `Ready` of crashing between the early sends and persisting (per 1,000).
    public var crashInReadyPerMille: Int
    /// Chance per unit of pausing a replica (per 10,000).
    public var pausePerTenThousand: Int
    /// Chance per unit of a new partition (per 10,000).
    public var partitionPerTenThousand: Int
    /// Chance per unit of a membership change (per 10,000).
    public var membershipPerTenThousand: Int
    /// Applied entries between snapshots.
    public var snapshotInterval: Int
    /// The most bytes in one append (small values split appends into one entry each).
    public var maxAppendBytes: Int
    /// Chance per unit of a proposal (percent).
    public var proposePercent: Int
    /// Chance per unit of a read (percent).
    public var readPercent: Int

    init(random: inout DeterministicRandom) {
        dropPercent = random.below(12)
        duplicatePercent = random.below(6)
        reorderPercent = random.below(10)
        crashPerTenThousand = random.below(40)
        crashInReadyPerMille = random.below(30)
        pausePerTenThousand = random.below(30)
        partitionPerTenThousand = random.below(40)
        membershipPerTenThousand = random.below(25)
        snapshotInterval = 3 + random.below(30)
        maxAppendBytes = random.chance(percent: 50) ? 1 : 1 << 16
        proposePercent = 5 + random.below(40)
        readPercent = random.below(20)
    }

    public var description: String {
        "drop=\(dropPercent)% dup=\(duplicatePercent)% reorder=\(reorderPercent)% crash=\(crashPerTenThousand)‱ "
            + "crashInReady=\(crashInReadyPerMille)‰ pause=\(pausePerTenThousand)‱ partition=\(partitionPerTenThousand)‱ "
            + "membership=\(membershipPerTenThousand)‱ snapshotEvery=\(snapshotInterval) maxAppendBytes=\(maxAppendBytes)"
    }
}

/// What a completed run did, for reports.
public struct SimulationStatistics: Sendable {
    /// Simulated time units run.
    public var units: UInt64 = 0
    /// Leaders elected (distinct terms).
    public var elections = 0
    /// Proposals acknowledged to their client.
    public var acknowledged = 0
    /// Reads completed and checked.
    public var reads = 0
    /// Messages delivered.
    public var delivered = 0
    /// Crashes injected.
    public var crashes = 0
    /// Snapshots installed from a leader.
    public var snapshotsInstalled = 0
    /// Membership changes committed.
    public var membershipChanges = 0

    /// Creates empty statistics.
    public init() {}
}
