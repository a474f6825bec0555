public import NIOSSL
public import RaftCore
import Synchronization

/// Mutual TLS for the peer links: every connection is encrypted, both sides present a
/// certificate from the cluster's CA, and the certificate must name the replica its holder
/// claims to be.
///
/// TLS runs under the peer protocol, which is unchanged: the HMAC handshake on the cluster
/// secret still runs inside the encrypted channel, and frames are still sealed. The handshake
/// stays as a second factor: to speak for replica 2 a connection must hold both a CA-signed
/// certificate naming replica 2 and the cluster secret, so a leaked replica key alone, or the
/// secret alone, is not enough. Its cost is one MAC per frame, small next to the encryption.
public struct PeerTLS: Sendable {
    /// The contexts connections are made with; replaceable while the network runs.
    public let contexts: PeerTLSContexts
    /// Checks the certificate a peer presented (its leaf, DER) against the replica id it proved
    /// with the handshake. Returns why it is refused, or nil when it names that replica.
    public let checkIdentity: @Sendable (_ certificateDER: [UInt8], _ claimed: ReplicaID) -> String?

    /// Mutual TLS with `contexts`, each peer's certificate checked by `checkIdentity`.
    public init(contexts: PeerTLSContexts, checkIdentity: @escaping @Sendable ([UInt8], ReplicaID) -> String?) {
        self.contexts = contexts
        self.checkIdentity = checkIdentity
    }
}

/// The TLS contexts of the peer links: one to accept connections, one to dial them. Both must
/// present this replica's certificate and require the peer's, verified against the cluster CA
/// (`PeerTLSContexts.configurations`). Replacing them (a renewed certificate) takes effect for
/// the next connection; open ones keep theirs.
public final class PeerTLSContexts: Sendable {
    private let contexts: Mutex<(server: NIOSSLContext, client: NIOSSLContext)>

    /// Contexts for accepting and dialling.
    public init(server: NIOSSLContext, client: NIOSSLContext) {
        contexts = Mutex((server, client))
    }

    /// The context for an accepted connection.
    public var server: NIOSSLContext { contexts.withLock { $0.server } }
    /// The context for a dialled connection.
    public var client: NIOSSLContext { contexts.withLock { $0.client } }

    /// Uses these contexts for new connections from now on.
    public func replace(server: NIOSSLContext, client: NIOSSLContext) {
        contexts.withLock { $0 = (server, client) }
    }

    /// The two configurations peer links use: TLS 1.3 only (every replica runs this code), this
    /// replica's certificate presented both ways, and the peer's certificate required and
    /// verified against `authority`. Host names are not checked: peers are dialled by address,
    /// and what identifies a replica is the id its certificate names (`PeerTLS.checkIdentity`).
    public static func configurations(
        certificateChain: [NIOSSLCertificate], privateKey: NIOSSLPrivateKey, authority: [NIOSSLCertificate]
    ) -> (server: TLSConfiguration, client: TLSConfiguration) {
        let chain = certificateChain.map { NIOSSLCertificateSource.certificate($0) }
        var server = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(privateKey))
        var client = TLSConfiguration.makeClientConfiguration()
        client.certificateChain = chain
        client.privateKey = .privateKey(privateKey)
        server.minimumTLSVersion = .tlsv13
        client.minimumTLSVersion = .tlsv13
        server.trustRoots = .certificates(authority)
        client.trustRoots = .certificates(authority)
        server.certificateVerification = .noHostnameVerification
        client.certificateVerification = .noHostnameVerification
        return (server, client)
    }
}
