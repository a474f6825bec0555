// raft-sim: the release-built runner for the Raft simulator soak, seed replay and the core
// benchmark. Usage:
//   raft-sim soak [--seeds N] [--start S] [--size K]
//   raft-sim replay --seed S [--size K] [--bugs name,name]
//   raft-sim bugs [--seeds N]
//   raft-sim bench [--proposals N] [--batch B]

import RaftCore
import RaftSimulation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Parsed command-line flags: `--name value` pairs after the subcommand.
struct Flags {
    var values: [String: String] = [:]

    init(_ arguments: ArraySlice<String>) throws(UsageError) {
        var iterator = arguments.makeIterator()
        while let flag = iterator.next() {
            guard flag.hasPrefix("--"), let value = iterator.next() else {
                throw UsageError(message: "expected --flag value, got \(flag)")
            }
            values[String(flag.dropFirst(2))] = value
        }
    }

    func integer(_ name: String, default fallback: UInt64) throws(UsageError) -> UInt64 {
        guard let text = values[name] else { return fallback }
        guard let value = UInt64(text) else { throw UsageError(message: "--\(name) needs a number, got \(text)") }
        return value
    }
}

/// A command line that cannot be run.
struct UsageError: Error {
    var message: String
}

func soak(_ flags: Flags) throws(UsageError) -> Int32 {
    let count = try flags.integer("seeds", default: 1000)
    let start = try flags.integer("start", default: 1)
    let size = flags.values["size"].flatMap(Int.init)
    var failures = 0
    var totals = SimulationStatistics()
    let clock = ContinuousClock()
    let began = clock.now
    for seed in start..<(start + count) {
        switch SimulationRunner.run(seed: seed, clusterSize: size) {
        case .success(let statistics):
            totals.elections += statistics.elections
            totals.acknowledged += statistics.acknowledged
            totals.reads += statistics.reads
            totals.crashes += statistics.crashes
            totals.snapshotsInstalled += statistics.snapshotsInstalled
            totals.membershipChanges += statistics.membershipChanges
            totals.delivered += statistics.delivered
        case .failure(let failure):
            failures += 1
            print(failure)
        }
        if (seed - start + 1) % 1000 == 0 {
            print("... \(seed - start + 1) seeds, \(failures) failed, \(clock.now - began)")
        }
    }
    print(
        "simulated \(count) seeds (\(start)..<\(start + count)): \(failures) failed; "
            + "\(totals.elections) elections, \(totals.acknowledged) acknowledged writes, \(totals.reads) reads, "
            + "\(totals.crashes) crashes, \(totals.snapshotsInstalled) snapshots installed, "
            + "\(totals.membershipChanges) membership changes, \(totals.delivered) messages; \(clock.now - began)")
    return failures == 0 ? 0 : 1
}

func replay(_ flags: Flags) throws(UsageError) -> Int32 {
    guard flags.values["seed"] != nil else { throw UsageError(message: "replay needs --seed") }
    let seed = try flags.integer("seed", default: 0)
    let size = flags.values["size"].flatMap(Int.init)
    var bugs = PlantedBugs()
    for name in (flags.values["bugs"] ?? "").split(separator: ",") {
        guard let bug = PlantedBugs.named.first(where: { $0.0 == name }) else {
            throw UsageError(message: "unknown planted bug \(name)")
        }
        bugs.insert(bug.1)
    }
    switch SimulationRunner.run(seed: seed, clusterSize: size, plantedBugs: bugs, recordTrace: true) {
    case .success(let statistics):
        print("seed \(seed): no violation (\(statistics.elections) elections, \(statistics.acknowledged) acknowledged writes)")
        return 0
    case .failure(let failure):
        for line in failure.trace { print(line) }
        print(failure)
        return 1
    }
}

func findPlantedBugs(_ flags: Flags) throws(UsageError) -> Int32 {
    let limit = try flags.integer("seeds", default: 1000)
    var missed = 0
    for (name, bug) in PlantedBugs.named {
        var caughtAt: UInt64?
        var violation = ""
        for seed in 1...limit {
            if case .failure(let failure) = SimulationRunner.run(seed: seed, clusterSize: nil, plantedBugs: bug) {
                caughtAt = seed
                violation = failure.violation.property.rawValue
                break
            }
        }
        if let caughtAt {
            print("planted bug \(name): caught at seed \(caughtAt) (\(violation))")
        } else {
            print("planted bug \(name): NOT caught within \(limit) seeds")
            missed += 1
        }
    }
    return missed == 0 ? 0 : 1
}

let arguments = CommandLine.arguments
let usage = "usage: raft-sim soak|replay|bugs|bench [--flag value ...]"
guard arguments.count >= 2 else {
    print(usage)
    exit(2)
}
do {
    let flags = try Flags(arguments.dropFirst(2))
    let status: Int32
    switch arguments[1] {
    case "soak": status = try soak(flags)
    case "replay": status = try replay(flags)
    case "bugs": status = try findPlantedBugs(flags)
    case "bench": status = try benchmark(flags)
    default:
        print(usage)
        status = 2
    }
    exit(status)
} catch {
    print("raft-sim: \(error.message)")
    exit(2)
}
