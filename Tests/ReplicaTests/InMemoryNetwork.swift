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
        /// Replicas whose incoming Raft messages are held back (delayed, not lost).
        var held: Set<ReplicaID> = []
        var heldPackets: [(packet: PeerPacket, from: ReplicaID, to: ReplicaID)] = []
        /// Packets a replica sends that are lost once sent (the sender sees them leave).
        var losing: [ReplicaID: @Sendable (PeerPacket) -> Bool] = [:]
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

    /// Holds back the Raft messages to `id` (other packets, such as answers to forwarded
    /// writes, still go through) until `release`: a replica that lags behind its leader.
    func hold(_ id: ReplicaID) {
        _ = state.withLockedValue { $0.held.insert(id) }
    }

    /// Loses the packets `id` sends for which `lost` is true, after they left (as when a
    /// connection breaks after the write), until `stopLosing`.
    func lose(from id: ReplicaID, where lost: @escaping @Sendable (PeerPacket) -> Bool) {
        state.withLockedValue { $0.losing[id] = lost }
    }

    func stopLosing(from id: ReplicaID) {
        _ = state.withLockedValue { $0.losing.removeValue(forKey: id) }
    }

    /// Delivers what was held back for `id`, in order, and stops holding.
    func release(_ id: ReplicaID) {
        let packets = state.withLockedValue { state -> [(packet: PeerPacket, from: ReplicaID, to: ReplicaID)] in
            state.held.remove(id)
            let packets = state.heldPackets.filter { $0.to == id }
            state.heldPackets.removeAll { $0.to == id }
            return packets
        }
        for held in packets { _ = deliver(held.packet, from: held.from, to: held.to) }
    }

    /// Packets delivered so far.
    var delivered: Int { state.withLockedValue { $0.delivered } }

    fileprivate func deliver(_ packet: PeerPacket, from: ReplicaID, to: ReplicaID) -> Bool {
        let (target, held) = state.withLockedValue { state -> (Replica?, Bool) in
            guard !state.isolated.contains(from), !state.isolated.contains(to), let target = state.replicas[to] else { return (nil, false) }
            if let lost = state.losing[from], lost(packet) { return (target, true) }
            if state.held.contains(to), case .raft = packet {
                state.heldPackets.append((packet, from, to))
                return (target, true)
            }
            state.delivered += 1
            return (target, false)
        }
        if !held { target?.receive(PeerDelivery(from: from, packet: packet)) }  // held or lost: not delivered now
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
