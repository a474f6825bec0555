public import RaftCore

/// Replicas in one process on a perfect network, for measuring the Raft core: every `Ready` is
/// carried out (entries and hard state kept in memory, committed entries applied to a
/// digesting state machine) and every message delivered, until nothing is left to do. No
/// faults, no transcript, no checker: what remains is the instance's own work.
public struct LosslessCluster: Sendable {
    /// The replicas, replica `n` at position `n - 1`.
    public private(set) var replicas: [SimulatedReplica]
    /// `Ready`s carried out so far.
    public private(set) var readyCycles = 0
    /// Messages delivered so far.
    public private(set) var messages = 0
    private var queue: [Message] = []

    /// Founds a cluster of `size` voters (ids 1...size) and elects replica 1.
    public init(size: Int, configure: (inout RaftOptions) -> Void = { _ in }) {
        let voters = (1...UInt64(size)).map { ReplicaID(rawValue: $0) }
        replicas = voters.map { id in
            var options = RaftOptions(id: id)
            configure(&options)
            return SimulatedReplica(options: options, persisted: .bootstrap(voters: voters), seed: id.rawValue)
        }
        replicas[0].withInstance { $0.campaign() }
        settle()
        precondition(replicas[0].instance?.role == .leader, "replica 1 did not become leader")
    }

    /// Proposes each payload on the leader (replica 1), then settles.
    public mutating func proposeAndSettle(_ payloads: [[UInt8]]) {
        for payload in payloads {
            do {
                try replicas[0].withInstance { (instance) throws(ProposalError) in _ = try instance.propose(payload) }
            } catch {
                preconditionFailure("proposal refused: \(error)")
            }
        }
        settle()
    }

    /// Carries out every `Ready` and delivers every message until no replica has work.
    public mutating func settle() {
        var progress = true
        while progress {
            progress = false
            for index in replicas.indices {
                while let outcome = replicas[index].processReady() {
                    readyCycles += 1
                    queue.append(contentsOf: outcome.sentBeforePersist)
                    queue.append(contentsOf: outcome.sentAfterPersist)
                    progress = true
                }
            }
            let due = queue
            queue.removeAll(keepingCapacity: true)
            messages += due.count
            for message in due {
                replicas[Int(message.to.rawValue - 1)].deliver(message, snapshotImage: nil)
                progress = true
            }
        }
    }
}
