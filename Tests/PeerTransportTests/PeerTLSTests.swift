import ClusterCertificates
import NIOCore
import NIOSSL
import PeerTransport
import RaftCore
import Testing

/// Mutual TLS under the peer protocol, over real loopback connections: certificates from the
/// cluster's CA that name each replica, checked against the id each peer proves.
@Suite(.serialized) struct PeerTLSTests {
    static let authority = try! ClusterCertificates.makeAuthority(cluster: "prod", days: 30)

    /// A certificate for replica `id`, from `authority`.
    static func replica(_ id: UInt64, cluster: String = "prod", by authority: ClusterCertificates.Issued = authority) throws
        -> ClusterCertificates.Issued
    {
        try ClusterCertificates.issue(.replica(id: id, cluster: cluster, hosts: ["127.0.0.1"]), by: authority, days: 5)
    }

    /// Peer TLS presenting `certificate`, trusting `authority`, checking peers as the server does.
    static func tls(_ certificate: ClusterCertificates.Issued, trusting authority: ClusterCertificates.Issued = authority) throws -> PeerTLS {
        let configurations = PeerTLSContexts.configurations(
            certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(certificate.certificatePEM.utf8)),
            privateKey: try NIOSSLPrivateKey(bytes: Array(certificate.privateKeyPEM.utf8), format: .pem),
            authority: try NIOSSLCertificate.fromPEMBytes(Array(authority.certificatePEM.utf8)))
        let contexts = PeerTLSContexts(
            server: try NIOSSLContext(configuration: configurations.server), client: try NIOSSLContext(configuration: configurations.client))
        return PeerTLS(contexts: contexts) { der, claimed in
            ClusterCertificates.replicaIdentityProblem(certificateDER: der, cluster: "prod", id: claimed.rawValue)
        }
    }

    func network(_ id: ReplicaID, tls: PeerTLS?) -> PeerNetwork {
        var options = PeerNetworkOptions(localID: id, clusterSecret: secret)
        options.tls = tls
        options.minimumReconnectDelay = .milliseconds(5)
        options.maximumReconnectDelay = .milliseconds(50)
        return PeerNetwork(options: options, group: PeerNetworkTests.group)
    }

    func ping(_ from: ReplicaID, _ to: ReplicaID, _ round: UInt64) -> Message {
        Message(from: from, to: to, term: 1, kind: .heartbeat(Heartbeat(commit: 0, readRound: round)))
    }

    /// Two networks that know each other, listening on loopback.
    func pair(_ one: PeerNetwork, _ two: PeerNetwork) async throws {
        let address1 = try await one.listen(host: "127.0.0.1", port: 0)
        let address2 = try await two.listen(host: "127.0.0.1", port: 0)
        one.setPeer(two.options.localID, address: address2)
        two.setPeer(one.options.localID, address: address1)
    }

    /// Pairs replica 1 and replica 2 and sends five pings each way; returns what each receives.
    func pingBothWays(_ one: PeerNetwork, _ two: PeerNetwork) async throws -> (Received, Received) {
        let received = (Received(one), Received(two))
        try await pair(one, two)
        for round: UInt64 in 1...5 {
            one.send(ping(1, 2, round))
            two.send(ping(2, 1, round))
        }
        return received
    }

    @Test func replicasWithTheirOwnCertificatesExchangeMessagesBothWays() async throws {
        let one = network(1, tls: try Self.tls(try Self.replica(1)))
        let two = network(2, tls: try Self.tls(try Self.replica(2)))
        let received1 = Received(one)
        let received2 = Received(two)
        try await pair(one, two)
        for round: UInt64 in 1...20 { one.send(ping(1, 2, round)) }
        two.send(ping(2, 1, 7))
        #expect(await eventually { received2.all.count == 20 && received1.all.count == 1 })
        #expect(received2.all == (1...20).map { ping(1, 2, $0) }, "in order, once each")
        #expect(one.statistics.identityRefused == 0 && two.statistics.identityRefused == 0)
        #expect(one.statistics.handshakeFailures == 0 && two.statistics.handshakeFailures == 0)
        await one.shutdown()
        await two.shutdown()
    }

    @Test func aReplicaPresentingAnotherReplicasCertificateIsRefusedBothWays() async throws {
        // Replica 2 holds the cluster secret and a valid certificate from the CA, but it is
        // replica 3's: replica 1 refuses it on a connection it dials, and on one it accepts.
        for oneDials in [true, false] {
            let one = network(1, tls: try Self.tls(try Self.replica(1)))
            let impostor = network(2, tls: try Self.tls(try Self.replica(3)))
            let received1 = Received(one)
            let receivedImpostor = Received(impostor)
            try await pair(one, impostor)
            for round: UInt64 in 1...5 {
                if oneDials { one.send(ping(1, 2, round)) } else { impostor.send(ping(2, 1, round)) }
            }
            #expect(await eventually { one.statistics.identityRefused >= 1 }, "one dials: \(oneDials): \(one.statistics)")
            #expect(received1.all.isEmpty && receivedImpostor.all.isEmpty, "nothing delivered either way")
            #expect(impostor.statistics.identityRefused == 0, "replica 1's certificate is its own")
            await one.shutdown()
            await impostor.shutdown()
        }
    }

    @Test func aCertificateFromAnotherCAOrAnotherClusterIsRefused() async throws {
        let otherAuthority = try ClusterCertificates.makeAuthority(cluster: "prod", days: 30)
        for (name, foreign) in [
            ("another CA", try Self.tls(try Self.replica(2, by: otherAuthority), trusting: otherAuthority)),
            ("another cluster's name", try Self.tls(try Self.replica(2, cluster: "staging"))),
        ] {
            let one = network(1, tls: try Self.tls(try Self.replica(1)))
            let stranger = network(2, tls: foreign)
            let (received1, receivedStranger) = try await pingBothWays(one, stranger)
            #expect(
                await eventually { one.statistics.handshakeFailures + one.statistics.identityRefused >= 2 },
                "\(name): \(one.statistics)")
            #expect(received1.all.isEmpty && receivedStranger.all.isEmpty, "\(name): nothing delivered")
            await one.shutdown()
            await stranger.shutdown()
        }
    }

    @Test func aPlainPeerCannotTalkToATLSPeer() async throws {
        let one = network(1, tls: try Self.tls(try Self.replica(1)))
        let plain = network(2, tls: nil)
        let (received1, receivedPlain) = try await pingBothWays(one, plain)
        #expect(await eventually { one.statistics.handshakeFailures >= 2 && plain.statistics.handshakeFailures >= 1 })
        #expect(received1.all.isEmpty && receivedPlain.all.isEmpty)
        await one.shutdown()
        await plain.shutdown()
    }

    @Test func replacedContextsServeNewConnections() async throws {
        // Replica 1 starts with a certificate the CA did not sign (so replica 2 refuses it), then
        // its contexts are replaced with a good one: the next connection authenticates.
        let rogue = try ClusterCertificates.makeAuthority(cluster: "prod", days: 30)
        let tls1 = try Self.tls(try Self.replica(1, by: rogue))
        let one = network(1, tls: tls1)
        let two = network(2, tls: try Self.tls(try Self.replica(2)))
        let received2 = Received(two)
        try await pair(one, two)
        one.send(ping(1, 2, 1))
        #expect(await eventually { two.statistics.handshakeFailures >= 1 })
        let good = try Self.tls(try Self.replica(1))
        tls1.contexts.replace(server: good.contexts.server, client: good.contexts.client)
        #expect(await eventually {
            one.send(ping(1, 2, 2))
            return !received2.all.isEmpty
        })
        await one.shutdown()
        await two.shutdown()
    }
}
