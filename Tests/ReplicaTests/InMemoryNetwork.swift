import Foundation
import NIOConcurrencyHelpers
import PeerTransport
import RaftCore
@testable import Replica

/// Replicas in one process, connected by direct calls. Links can be cut to isolate a replica;
/// a packet on a cut link is dropped, as a lost TCP segment would be after retries.
final class InMemoryNetwork: Sendable {
    private let state = NIOLockedValueBox(State())

    private struct State {
        var replicas: [ReplicaID: Replica] = [:]
        var isolated: Set<ReplicaID> = []
        var delivered = 0
    }

    /// The transport replica `id` sends through.
    func endpoint(_ id: ReplicaID) -> Endpoint {
        Endpoint(id: id, network: self)
    }

    func attach(_ replica: Replica) {
        state.withLockedValue { $0.replicas[replica.configuration.id] = replica }
    }

    func detach(_ id: ReplicaID) {
        _ = state.withLockedValue { $0.replicas.removeValue(forKey: id) }
    }

    func isolate(_ id: ReplicaID) {
        _ = state.withLockedValue { $0.isolated.insert(id) }
    }

    func heal() {
        state.withLockedValue { $0.isolated = [] }
    }

    /// Packets delivered so far.
    var delivered: Int { state.withLockedValue { $0.delivered } }

    fileprivate func deliver(_ packet: PeerPacket, from: ReplicaID, to: ReplicaID) -> Bool {
        let target = state.withLockedValue { state -> Replica? in
            guard !state.isolated.contains(from), !state.isolated.contains(to), let target = state.replicas[to] else { return nil }
            state.delivered += 1
            return target
        }
        target?.receive(PeerDelivery(from: from, packet: packet))
        return target != nil
    }

    struct Endpoint: ReplicaTransport {
        let id: ReplicaID
        let network: InMemoryNetwork

        func send(_ packet: PeerPacket, to peer: ReplicaID) {
            _ = network.deliver(packet, from: id, to: peer)
        }

        func send(_ packet: PeerPacket, to peer: ReplicaID, onDropped: @escaping @Sendable () -> Void) {
            if !network.deliver(packet, from: id, to: peer) { onDropped() }
        }

        func sendAndWait(_ packet: PeerPacket, to peer: ReplicaID) async throws {
            guard network.deliver(packet, from: id, to: peer) else { throw PeerNetworkError.dropped(peer) }
        }
    }
}
