public import PeerTransport
public import RaftCore

/// The network a replica sends through. `PeerNetwork` is the real one; tests use an in-memory
/// network. Received packets are handed to `Replica.receive(_:)` by whoever owns the network.
public protocol ReplicaTransport: Sendable {
    /// Queues a packet for `peer`; it may be dropped (Raft and the runtime retry).
    func send(_ packet: PeerPacket, to peer: ReplicaID)
    /// Queues a packet for `peer` and calls `onDropped` if it is dropped before reaching the
    /// peer's connection (so the caller knows for certain that the peer never saw it).
    func send(_ packet: PeerPacket, to peer: ReplicaID, onDropped: @escaping @Sendable () -> Void)
    /// Sends a packet and returns once it is handed to the peer's connection, so that a large
    /// transfer paces itself.
    /// - Throws: when the packet was dropped or the connection failed.
    func sendAndWait(_ packet: PeerPacket, to peer: ReplicaID) async throws
}

extension PeerNetwork: ReplicaTransport {
    public func send(_ packet: PeerPacket, to peer: ReplicaID) {
        send(packet, to: peer, promise: nil)
    }
}
