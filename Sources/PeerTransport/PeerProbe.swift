public import NIOCore
public import RaftCore
import NIOPosix
import NIOSSL

extension PeerNetwork {
    /// Proves that replica `peer` runs at `address` before anything depends on it: opens a
    /// connection as this replica would to send it messages, runs the peer handshake expecting
    /// `peer` (it proves it holds the cluster secret; with peer TLS, its certificate must name
    /// it), and closes the connection. Nothing is delivered either way.
    /// - Throws: `PeerProbeError` saying what failed: the connection, the handshake, the
    ///   identity, or the time.
    public func probe(_ peer: ReplicaID, at address: SocketAddress, timeout: TimeAmount) async throws(PeerProbeError) {
        let eventLoop = group.next()
        let outcome = eventLoop.makePromise(of: Void.self)
        let deadline = eventLoop.scheduleTask(in: timeout) { outcome.fail(PeerProbeError.timedOut(timeout)) }
        let bootstrap = clientBootstrap(on: eventLoop)
        var generator = SystemRandomNumberGenerator()
        let nonce = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let handshake = PeerHandshake(localID: options.localID, secret: options.clusterSecret, nonce: nonce, expectedPeer: peer)
        let options = self.options
        let connecting = bootstrap
            .connectTimeout(min(timeout, options.connectTimeout))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls = options.tls {
                        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tls.contexts.client, serverHostname: nil))
                    }
                    try channel.pipeline.syncOperations.addHandlers(PeerPipeline.handlers(handshake: handshake, limits: options.limits))
                    try channel.pipeline.syncOperations.addHandler(PeerProbeHandler(outcome: outcome, tls: options.tls))
                }
            }
            .connect(to: address)
        connecting.whenFailure { error in outcome.fail(PeerProbeError.unreachable("\(error)")) }
        defer {
            deadline.cancel()
            connecting.whenSuccess { channel in channel.close(promise: nil) }
        }
        do {
            try await outcome.futureResult.get()
        } catch let error as PeerProbeError {
            throw error
        } catch {
            throw .unreachable("\(error)")
        }
    }
}

/// Why a peer could not be proved to run at an address (`PeerNetwork.probe`).
public enum PeerProbeError: Error, Hashable, Sendable, CustomStringConvertible {
    /// No connection: nothing listens there, or the network refused it.
    case unreachable(String)
    /// Something answered but did not prove it is the replica, in the cluster.
    case refused(String)
    /// No answer in time.
    case timedOut(TimeAmount)

    public var description: String {
        switch self {
        case .unreachable(let reason): return "no connection: \(reason)"
        case .refused(let reason): return "it did not prove to be the replica: \(reason)"
        case .timedOut(let timeout): return "no handshake within \(timeout.nanoseconds / 1_000_000) ms"
        }
    }
}

/// The end of a probe's pipeline: succeeds once the handshake authenticates the expected peer
/// (and its certificate names it), fails on any error or a close before that.
private final class PeerProbeHandler: ChannelInboundHandler {
    typealias InboundIn = PeerDelivery

    private let outcome: EventLoopPromise<Void>
    private let tls: PeerTLS?

    init(outcome: EventLoopPromise<Void>, tls: PeerTLS?) {
        self.outcome = outcome
        self.tls = tls
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? PeerAuthenticated {
            if let tls {
                do {
                    guard let certificate = try context.pipeline.syncOperations.nioSSL_peerCertificate() else {
                        outcome.fail(PeerProbeError.refused("no certificate was presented"))
                        return
                    }
                    if let problem = tls.checkIdentity(try certificate.toDERBytes(), event.peer) {
                        outcome.fail(PeerProbeError.refused(problem))
                        return
                    }
                } catch {
                    outcome.fail(PeerProbeError.refused("its certificate cannot be read: \(error)"))
                    return
                }
            }
            outcome.succeed()
            context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        outcome.fail(PeerProbeError.refused("\(error)"))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        outcome.fail(PeerProbeError.refused("the connection closed before the handshake finished"))
        context.fireChannelInactive()
    }
}
