import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PeerTransport
import RaftCore
import Testing

/// Collects what a network receives, so tests can poll for it with a deadline.
final class Received: Sendable {
    private let deliveries = NIOLockedValueBox<[PeerDelivery]>([])

    init(_ network: PeerNetwork) {
        let box = deliveries
        network.onDelivery { delivery in
            box.withLockedValue { $0.append(delivery) }
            return true
        }
    }

    /// The Raft messages received so far.
    var all: [Message] {
        deliveries.withLockedValue { $0 }.compactMap { delivery in
            if case .raft(let message) = delivery.packet { return message }
            return nil
        }
    }

    /// Every packet received so far, with its sender.
    var packets: [PeerDelivery] { deliveries.withLockedValue { $0 } }
}

/// Polls `condition` every few milliseconds until it holds or `seconds` pass.
func eventually(within seconds: Double = 10, _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return condition()
}

/// Real TCP connections on the loopback interface.
@Suite(.serialized) struct PeerNetworkTests {
    static let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)

    func network(_ id: ReplicaID, secret: [UInt8] = secret, configure: (inout PeerNetworkOptions) -> Void = { _ in }) -> PeerNetwork {
        var options = PeerNetworkOptions(localID: id, clusterSecret: secret)
        configure(&options)
        return PeerNetwork(options: options, group: Self.group)
    }

    func ping(_ from: ReplicaID, _ to: ReplicaID, _ round: UInt64) -> Message {
        Message(from: from, to: to, term: 1, kind: .heartbeat(Heartbeat(commit: 0, readRound: round)))
    }

    @Test func authenticatedPeersExchangeMessagesOverTCP() async throws {
        let one = network(1)
        let two = network(2)
        let received1 = Received(one)
        let received2 = Received(two)
        let address1 = try await one.listen(host: "127.0.0.1", port: 0)
        let address2 = try await two.listen(host: "127.0.0.1", port: 0)
        one.setPeer(2, address: address2)
        two.setPeer(1, address: address1)
        for round: UInt64 in 1...20 { one.send(ping(1, 2, round)) }
        #expect(await eventually { received2.all.count == 20 })
        #expect(received2.all == (1...20).map { ping(1, 2, $0) }, "in order, once each")
        two.send(ping(2, 1, 7))
        #expect(await eventually { received1.all == [ping(2, 1, 7)] })
        #expect(one.statistics.connections == 1)
        await one.shutdown()
        await two.shutdown()
    }

    @Test func wrongSecretDeliversNothing() async throws {
        let one = network(1)
        let intruder = network(3, secret: [UInt8](repeating: 0x01, count: 32))
        let received = Received(intruder)
        let address = try await intruder.listen(host: "127.0.0.1", port: 0)
        one.setPeer(3, address: address)
        one.send(ping(1, 3, 1))
        #expect(await eventually { one.statistics.handshakeFailures + intruder.statistics.handshakeFailures >= 1 })
        #expect(received.all.isEmpty)
        await one.shutdown()
        await intruder.shutdown()
    }

    /// An address in a replica's book that nothing listens on: the sender is known, and the
    /// replica never dials it in these tests (it only answers).
    static let nowhere = try! SocketAddress(ipAddress: "127.0.0.1", port: 1)

    /// A peer that holds the cluster secret but names a replica id the receiver has no address
    /// for is refused after the handshake, counted, and nothing it sends is delivered.
    @Test func aPeerWithAnIdOutsideTheAddressBookDeliversNothing() async throws {
        let receiver = network(1)
        let stranger = network(77)
        let received = Received(receiver)
        let address = try await receiver.listen(host: "127.0.0.1", port: 0)
        stranger.setPeer(1, address: address)
        for round: UInt64 in 1...5 { stranger.send(ping(77, 1, round)) }
        #expect(await eventually { receiver.statistics.unknownPeers >= 1 })
        #expect(received.all.isEmpty)
        #expect(receiver.statistics.received == 0)
        await receiver.shutdown()
        await stranger.shutdown()
    }

    /// A joining replica admits peers with no address while its policy says so: the leader's
    /// packets are delivered and the joiner's answers go back over the leader's connection;
    /// once the policy says no (the joiner has a membership), a new connection from a peer with
    /// no address is refused again. A wrong secret is refused whatever the policy.
    @Test func aReplicaThatAdmitsUnknownPeersAnswersOverTheirConnection() async throws {
        let joiner = network(4)
        let leader = network(1)
        let intruder = network(9, secret: [UInt8](repeating: 0x01, count: 32))
        let admitting = NIOLockedValueBox(true)
        joiner.admitUnknownPeers { admitting.withLockedValue { $0 } }
        let toJoiner = Received(joiner)
        let toLeader = Received(leader)
        let address = try await joiner.listen(host: "127.0.0.1", port: 0)
        leader.setPeer(4, address: address)
        #expect(!joiner.knowsPeer(1), "the joiner has no address for the leader")
        leader.send(ping(1, 4, 1))
        #expect(await eventually { toJoiner.all == [ping(1, 4, 1)] })
        joiner.send(ping(4, 1, 2))
        #expect(await eventually { toLeader.all == [ping(4, 1, 2)] }, "the answer went back over the leader's connection")
        #expect(joiner.statistics.admittedUnknownPeers == 1 && joiner.statistics.unknownPeers == 0)

        intruder.setPeer(4, address: address)
        intruder.send(ping(9, 4, 3))
        #expect(await eventually { joiner.statistics.handshakeFailures + intruder.statistics.handshakeFailures >= 1 })

        // The joiner now belongs to a membership: a peer with no address is refused, and once
        // the leader's connection is gone there is no way back to it.
        admitting.withLockedValue { $0 = false }
        let stranger = network(77)
        stranger.setPeer(4, address: address)
        stranger.send(ping(77, 4, 4))
        #expect(await eventually { joiner.statistics.unknownPeers >= 1 })
        await leader.shutdown()
        let noWayBack = await eventually {
            let before = joiner.statistics.dropped
            joiner.send(ping(4, 1, 5))
            return joiner.statistics.dropped == before + 1
        }
        #expect(noWayBack, "no way back once the leader's connection closed")
        #expect(toJoiner.all == [ping(1, 4, 1)], "nothing from the intruder or the stranger")
        await joiner.shutdown()
        await intruder.shutdown()
        await stranger.shutdown()
    }

    /// Outside review, finding 3: connections to the peer port were not capped, so a flood
    /// could take every descriptor. Beyond `maxInboundConnections` open at once, a connection
    /// is closed at once and counted; a member still connects once one closes.
    @Test func inboundConnectionsBeyondTheLimitAreClosedAndCounted() async throws {
        let receiver = network(1) { $0.maxInboundConnections = 3 }
        let received = Received(receiver)
        let address = try await receiver.listen(host: "127.0.0.1", port: 0)
        receiver.setPeer(2, address: Self.nowhere)
        var floods: [any Channel] = []
        for _ in 0..<5 { floods.append(try await ClientBootstrap(group: Self.group).connect(to: address).get()) }
        #expect(await eventually { receiver.statistics.inboundRefused == 2 })
        #expect(await eventually { floods.filter(\.isActive).count == 3 }, "the first three stay until their handshake times out")
        for channel in floods { try? await channel.close() }
        let member = network(2)
        member.setPeer(1, address: address)
        member.send(ping(2, 1, 1))
        #expect(await eventually { received.all == [ping(2, 1, 1)] }, "room again once the flood closed")
        await member.shutdown()
        await receiver.shutdown()
    }

    @Test func reconnectsWhenThePeerComesBack() async throws {
        let one = network(1) { $0.maximumReconnectDelay = .milliseconds(100) }
        let two = network(2)
        let address = try await two.listen(host: "127.0.0.1", port: 0)
        one.setPeer(2, address: address)
        two.setPeer(1, address: Self.nowhere)
        let first = Received(two)
        one.send(ping(1, 2, 1))
        #expect(await eventually { first.all.count == 1 })
        await two.shutdown()
        let again = network(2)
        again.setPeer(1, address: Self.nowhere)
        let second = Received(again)
        _ = try await again.listen(host: "127.0.0.1", port: address.port!)
        // Raft retransmits; so does this test, until the link is back.
        var round: UInt64 = 2
        let back = await eventually {
            one.send(ping(1, 2, round))
            round += 1
            return !second.all.isEmpty
        }
        #expect(back)
        #expect(one.statistics.connections >= 2)
        await one.shutdown()
        await again.shutdown()
    }

    // However fast Raft sends, a down peer is dialled at the backoff's pace.
    @Test func sendsDoNotBypassTheBackoff() async throws {
        let one = network(1) {
            $0.minimumReconnectDelay = .milliseconds(100)
            $0.maximumReconnectDelay = .milliseconds(200)
        }
        one.setPeer(9, address: try SocketAddress(ipAddress: "127.0.0.1", port: 1))
        let clock = ContinuousClock()
        let start = clock.now
        var round: UInt64 = 0
        // At least 200 sends over at least 0.5 s, however slowly a busy machine runs this task.
        while round < 200 || clock.now - start < .milliseconds(500) {
            round += 1
            one.send(ping(1, 9, round))
            try await Task.sleep(for: .milliseconds(1))
        }
        let elapsed = clock.now - start
        let attempts = one.statistics.connectionAttempts
        // One dial, then at most one per minimum delay: never one per send.
        let bound = Int(elapsed / .milliseconds(100)) + 2
        #expect(attempts <= bound, "\(attempts) attempts for \(round) sends in \(elapsed)")
        #expect(attempts >= 2)
        await one.shutdown()
    }

    @Test func sendQueueIsBoundedAndDropsAreCounted() async throws {
        let one = network(1) {
            $0.maxQueuedMessagesPerPeer = 10
            $0.minimumReconnectDelay = .seconds(1)
        }
        // Nothing listens on this port: the link never connects.
        one.setPeer(9, address: try SocketAddress(ipAddress: "127.0.0.1", port: 1))
        for round: UInt64 in 1...100 { one.send(ping(1, 9, round)) }
        one.send(ping(1, 42, 1))
        #expect(await eventually { one.statistics.dropped >= 91 })
        // A removed peer's queue is dropped, and later sends to it are too.
        one.removePeer(9)
        one.send(ping(1, 9, 101))
        #expect(await eventually { one.statistics.dropped >= 102 })
        #expect(one.statistics.sent == 0)
        await one.shutdown()
    }
}

/// The runtime's own packets over real TCP.
@Suite(.serialized) struct PeerNetworkPacketTests {
    @Test func sendAndWaitCompletesOnceWrittenAndFailsForUnknownPeers() async throws {
        let group = PeerNetworkTests.group
        let one = PeerNetwork(options: PeerNetworkOptions(localID: 1, clusterSecret: secret), group: group)
        let two = PeerNetwork(options: PeerNetworkOptions(localID: 2, clusterSecret: secret), group: group)
        let received = Received(two)
        let address = try await two.listen(host: "127.0.0.1", port: 0)
        one.setPeer(2, address: address)
        two.setPeer(1, address: PeerNetworkTests.nowhere)
        let chunk = SnapshotChunk(
            transferID: 1, message: PeerPacketTests.install, totalBytes: 3, checksum: [UInt8](repeating: 1, count: 32), offset: 0,
            data: [1, 2, 3])
        try await one.sendAndWait(.snapshotChunk(chunk), to: 2)
        try await one.sendAndWait(.request(id: 9, body: [4]), to: 2)
        #expect(await eventually { received.packets.count == 2 })
        #expect(received.packets == [PeerDelivery(from: 1, packet: .snapshotChunk(chunk)), PeerDelivery(from: 1, packet: .request(id: 9, body: [4]))])
        await #expect(throws: PeerNetworkError.dropped(3)) { try await one.sendAndWait(.response(id: 1, body: []), to: 3) }
        await one.shutdown()
        await two.shutdown()
    }
}
