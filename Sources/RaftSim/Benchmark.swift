import RaftCore
import RaftSimulation

/// Proposals per second through a three-replica cluster in memory: every `Ready` is carried
/// out (entries and hard state persisted to in-memory storage, messages delivered, committed
/// entries applied to a digesting state machine) and the leader waits for each batch to be
/// applied on every replica before proposing the next.
func benchmark(_ flags: Flags) throws(UsageError) -> Int32 {
    let proposals = Int(try flags.integer("proposals", default: 200_000))
    let payloadBytes = Int(try flags.integer("payload", default: 100))
    print("raft core benchmark: 3 replicas in one process, \(payloadBytes)-byte commands, \(proposals) proposals per case")
    print("batch   proposals/s   µs/proposal   ready cycles   messages")
    for batch in [1, 16, 256] {
        let result = runBenchmark(proposals: proposals / (batch == 1 ? 4 : 1), batch: batch, payloadBytes: payloadBytes)
        let seconds = Double(result.elapsed.components.seconds) + Double(result.elapsed.components.attoseconds) / 1e18
        let rate = Double(result.proposals) / seconds
        print(
            pad(String(batch), 5) + pad(String(Int(rate)), 14) + pad(formatted(1e6 / rate), 14)
                + pad(String(result.readyCycles), 15) + pad(String(result.messages), 11))
    }
    return 0
}

private struct BenchmarkResult {
    var proposals: Int
    var elapsed: Duration
    var readyCycles = 0
    var messages = 0
}

private func runBenchmark(proposals: Int, batch: Int, payloadBytes: Int) -> BenchmarkResult {
    var cluster = LosslessCluster(size: 3) { $0.maxInflightMessages = 256 }
    let (cyclesBefore, messagesBefore) = (cluster.readyCycles, cluster.messages)
    var payload = [UInt8](repeating: 0, count: payloadBytes)
    let clock = ContinuousClock()
    let start = clock.now
    var proposed = 0
    while proposed < proposals {
        var payloads: [[UInt8]] = []
        for _ in 0..<min(batch, proposals - proposed) {
            payload[0] = UInt8(truncatingIfNeeded: proposed)
            payloads.append(payload)
            proposed += 1
        }
        cluster.proposeAndSettle(payloads)
    }
    var result = BenchmarkResult(proposals: proposed, elapsed: clock.now - start)
    result.readyCycles = cluster.readyCycles - cyclesBefore
    result.messages = cluster.messages - messagesBefore
    let applied = cluster.replicas.map(\.stateMachine)
    precondition(applied.allSatisfy { $0 == applied[0] }, "replicas diverged: \(applied)")
    precondition(applied[0].index >= UInt64(proposals), "not every proposal was applied")
    return result
}

private func pad(_ text: String, _ width: Int) -> String {
    String(repeating: " ", count: max(0, width - text.count)) + text
}

private func formatted(_ value: Double) -> String {
    let hundredths = Int((value * 100).rounded())
    let fraction = hundredths % 100
    return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
}
