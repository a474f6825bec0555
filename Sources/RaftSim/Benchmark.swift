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
    let voters: [ReplicaID] = [1, 2, 3]
    var replicas: [SimulatedReplica] = voters.map { id in
        var options = RaftOptions(id: id)
        options.maxInflightMessages = 256
        return SimulatedReplica(options: options, persisted: .bootstrap(voters: voters), seed: id.rawValue)
    }
    var result = BenchmarkResult(proposals: 0, elapsed: .zero)
    var queue: [Message] = []
    func settle() {
        var progress = true
        while progress {
            progress = false
            for index in replicas.indices {
                while let outcome = replicas[index].processReady() {
                    result.readyCycles += 1
                    queue.append(contentsOf: outcome.sentBeforePersist)
                    queue.append(contentsOf: outcome.sentAfterPersist)
                    progress = true
                }
            }
            let due = queue
            queue.removeAll(keepingCapacity: true)
            result.messages += due.count
            for message in due {
                replicas[Int(message.to.rawValue - 1)].deliver(message, snapshotImage: nil)
                progress = true
            }
        }
    }
    replicas[0].withInstance { $0.campaign() }
    settle()
    precondition(replicas[0].instance?.role == .leader, "replica 1 did not become leader")
    var payload = [UInt8](repeating: 0, count: payloadBytes)
    let clock = ContinuousClock()
    let start = clock.now
    var proposed = 0
    while proposed < proposals {
        for _ in 0..<min(batch, proposals - proposed) {
            payload[0] = UInt8(truncatingIfNeeded: proposed)
            do {
                try replicas[0].withInstance { (instance) throws(ProposalError) in _ = try instance.propose(payload) }
            } catch {
                preconditionFailure("proposal refused: \(error)")
            }
            proposed += 1
        }
        settle()
    }
    result.elapsed = clock.now - start
    result.proposals = proposed
    let applied = replicas.map(\.stateMachine)
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
