import NIOCore
import NIOPosix
import PeerTransport
import RaftCore
import Testing

/// `PeerNetwork.probe`: proving a replica runs at an address before the cluster depends on it.
@Suite(.serialized) struct PeerProbeTests {
    @Test func theReplicaAtTheAddressIsProved() async throws {
        let prober = PeerNetworkTests().network(1)
        let joiner = PeerNetworkTests().network(4)
        let received = Received(joiner)
        let address = try await joiner.listen(host: "127.0.0.1", port: 0)
        try await prober.probe(4, at: address, timeout: .seconds(3))
        #expect(received.packets.isEmpty, "a probe delivers nothing")
        await prober.shutdown()
        await joiner.shutdown()
    }

    @Test func anythingElseAtTheAddressIsRefusedWithTheReason() async throws {
        let prober = PeerNetworkTests().network(1)
        let other = PeerNetworkTests().network(5)
        let stranger = PeerNetworkTests().network(4, secret: [UInt8](repeating: 0x01, count: 32))
        let otherAddress = try await other.listen(host: "127.0.0.1", port: 0)
        let strangerAddress = try await stranger.listen(host: "127.0.0.1", port: 0)
        // Replica 5 answers where replica 4 was expected.
        await #expect {
            try await prober.probe(4, at: otherAddress, timeout: .seconds(3))
        } throws: { error in
            guard case PeerProbeError.refused = error else { return false }
            return true
        }
        // Replica 4, but without the cluster secret.
        await #expect {
            try await prober.probe(4, at: strangerAddress, timeout: .seconds(3))
        } throws: { error in
            guard case PeerProbeError.refused = error else { return false }
            return true
        }
        // Nothing listens: a port just freed.
        let closed = PeerNetworkTests().network(6)
        let closedAddress = try await closed.listen(host: "127.0.0.1", port: 0)
        await closed.shutdown()
        await #expect {
            try await prober.probe(6, at: closedAddress, timeout: .seconds(3))
        } throws: { error in
            guard case PeerProbeError.unreachable = error else { return false }
            return true
        }
        await prober.shutdown()
        await other.shutdown()
        await stranger.shutdown()
    }

    @Test func aListenerThatNeverAnswersTimesOut() async throws {
        // A bare TCP listener: it accepts and says nothing.
        let silent = try await ServerBootstrap(group: PeerNetworkTests.group)
            .childChannelInitializer { _ in PeerNetworkTests.group.next().makeSucceededVoidFuture() }
            .bind(host: "127.0.0.1", port: 0).get()
        let address = try #require(silent.localAddress)
        let prober = PeerNetworkTests().network(1)
        let started = ContinuousClock.now
        await #expect {
            try await prober.probe(4, at: address, timeout: .milliseconds(300))
        } throws: { error in
            guard case PeerProbeError.timedOut = error else { return false }
            return true
        }
        #expect(started.duration(to: .now) < .seconds(10))
        await prober.shutdown()
        try await silent.close()
    }

    @Test func withPeerTLSTheCertificateMustNameTheReplica() async throws {
        let tls = PeerTLSTests()
        let prober = tls.network(1, tls: try PeerTLSTests.tls(try PeerTLSTests.replica(1)))
        let joiner = tls.network(4, tls: try PeerTLSTests.tls(try PeerTLSTests.replica(4)))
        let impostor = tls.network(4, tls: try PeerTLSTests.tls(try PeerTLSTests.replica(5)))
        let joinerAddress = try await joiner.listen(host: "127.0.0.1", port: 0)
        let impostorAddress = try await impostor.listen(host: "127.0.0.1", port: 0)
        try await prober.probe(4, at: joinerAddress, timeout: .seconds(3))
        await #expect {
            try await prober.probe(4, at: impostorAddress, timeout: .seconds(3))
        } throws: { error in
            guard case PeerProbeError.refused(let reason) = error else { return false }
            return !reason.isEmpty
        }
        await prober.shutdown()
        await joiner.shutdown()
        await impostor.shutdown()
    }
}
