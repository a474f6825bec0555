public import NIOCore
public import RaftCore

/// Authenticates a peer connection, then turns frames into Raft messages and back.
///
/// Until the handshake succeeds nothing but handshake frames is accepted, and writes of Raft
/// messages are refused (Raft retransmits, so a dropped message costs only time). After it,
/// a message is passed on only if its sender is the authenticated peer. Any protocol violation
/// closes the connection: a malformed or hostile peer cannot crash the replica or speak for
/// another one.
public final class PeerConnectionHandler: ChannelDuplexHandler {
    public typealias InboundIn = PeerFrame
    public typealias InboundOut = Message
    public typealias OutboundIn = Message
    public typealias OutboundOut = PeerFrame

    private var handshake: PeerHandshake
    /// Raft messages refused because the connection was not yet authenticated.
    public private(set) var refusedBeforeHandshake = 0

    /// Creates a handler that runs `handshake` when the connection becomes active.
    public init(handshake: PeerHandshake) {
        self.handshake = handshake
    }

    public func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(handshake.hello()), promise: nil)
        context.fireChannelActive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch handshake.outcome {
        case .pending:
            let replies = handshake.receive(frame)
            for reply in replies { context.write(wrapOutboundOut(reply), promise: nil) }
            if !replies.isEmpty { context.flush() }
            switch handshake.outcome {
            case .pending:
                break
            case .established(let peer):
                context.fireUserInboundEventTriggered(PeerAuthenticated(peer: peer))
            case .failed(let reason):
                fail(context, .handshakeFailed(reason))
            }
        case .established(let peer):
            guard frame.kind == .raftMessage else {
                fail(context, .unexpectedFrame(frame.kind))
                return
            }
            let message: Message
            do {
                message = try RaftEncoding.decodeMessage(frame.payload)
            } catch {
                fail(context, .invalidMessage("\(error)"))
                return
            }
            guard message.from == peer else {
                fail(context, .invalidMessage("sender \(message.from) is not the authenticated peer \(peer)"))
                return
            }
            context.fireChannelRead(wrapInboundOut(message))
        case .failed:
            break
        }
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .established = handshake.outcome else {
            refusedBeforeHandshake += 1
            promise?.fail(PeerProtocolError.handshakeFailed("the connection is not authenticated yet"))
            return
        }
        let message = unwrapOutboundIn(data)
        context.write(wrapOutboundOut(PeerFrame(kind: .raftMessage, payload: RaftEncoding.encode(message))), promise: promise)
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }

    private func fail(_ context: ChannelHandlerContext, _ error: PeerProtocolError) {
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }
}

/// Fired down the pipeline when the peer has proved it holds the cluster secret.
public struct PeerAuthenticated: Hashable, Sendable {
    /// The authenticated replica.
    public var peer: ReplicaID
}

/// The handlers of a peer connection, in pipeline order.
public enum PeerPipeline {
    /// The frame decoder and encoder, then the connection handler.
    /// - Parameters:
    ///   - handshake: the handshake this side runs.
    ///   - limits: the frame limits.
    public static func handlers(handshake: PeerHandshake, limits: PeerTransportLimits = PeerTransportLimits())
        -> [any ChannelHandler]
    {
        [
            ByteToMessageHandler(PeerFrameDecoder(limits: limits)), MessageToByteHandler(PeerFrameEncoder()),
            PeerConnectionHandler(handshake: handshake),
        ]
    }
}
