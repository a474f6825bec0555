import RaftCore
import RaftSimulation
import Testing

/// Builds an instance for direct, message-level tests.
func makeInstance(
    _ id: ReplicaID, voters: [ReplicaID] = [1, 2, 3], configure: (inout RaftOptions) -> Void = { _ in }
) throws -> RaftInstance {
    var options = RaftOptions(id: id)
    configure(&options)
    return try RaftInstance(options: options, persisted: .bootstrap(voters: voters), seed: 7)
}

extension RaftInstance {
    /// Takes the pending `Ready` and advances as if the runtime carried it all out.
    mutating func drain() -> Ready {
        let batch = ready()
        advance(batch)
        return batch
    }

    /// Every message of the pending `Ready`, in sending order, after advancing.
    mutating func drainMessages() -> [Message] {
        let batch = drain()
        return batch.messages + batch.messagesAfterPersist
    }

    /// Makes this instance the leader of a new term by campaigning with PreVote off and
    /// granting itself every vote from `voters`.
    mutating func electSelf(grantedBy voters: [ReplicaID]) {
        campaign()
        _ = drain()
        if role == .preCandidate {
            for voter in voters { step(Message(from: voter, to: id, term: term + 1, kind: .preVoteResponse(granted: true))) }
            _ = drain()
        }
        for voter in voters { step(Message(from: voter, to: id, term: term, kind: .voteResponse(granted: true))) }
    }
}

/// A three-replica cluster with replica 1 elected and everything stable.
func stableCluster(voters: [ReplicaID] = [1, 2, 3]) -> InteractionCluster {
    var cluster = InteractionCluster()
    for id in voters { cluster.addReplica(id, persisted: .bootstrap(voters: voters)) }
    cluster.with(voters[0]) { $0.campaign() }
    cluster.stabilize()
    _ = cluster.takeOutput()
    return cluster
}

/// Proposes one command on `replica`, expecting it to be accepted.
@discardableResult
func propose(_ cluster: inout InteractionCluster, on replica: ReplicaID, _ byte: UInt8 = 0) throws -> LogPosition {
    try #require(try cluster.with(replica) { (instance) throws(ProposalError) in try instance.propose([byte]) })
}
