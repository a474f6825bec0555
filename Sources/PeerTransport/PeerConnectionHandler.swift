public import NIOCore
public import RaftCore

/// Authenticates a peer connection, then turns frames into packets and back.
///
/// Until the handshake succeeds nothing but handshake frames is accepted, and writes of packets
/// are refused (Raft retransmits, so a dropped message costs only time); a connection
/// that has not authenticated within `handshakeTimeout` is closed. After it, every frame is
/// sealed with the connection's session keys and a sequence number, and a packet is passed on
/// only if it opens and decodes; a Raft message must also come from the authenticated peer and
/// be addressed to this replica. Any
/// violation closes the connection: a malformed or hostile peer cannot crash the replica, speak
/// for another one, or inject into a connection it relays.
public final class PeerConnectionHandler: ChannelDuplexHandler {
    public typealias InboundIn = PeerFrame
    public typealias InboundOut = PeerDelivery
    public typealias OutboundIn = PeerPacket
    public typealias OutboundOut = PeerFrame

    private var handshake: PeerHandshake
    private let limits: PeerTransportLimits
    private var sender: FrameSealer?
    private var receiver: FrameSealer?
    private var closed = false
    /// Packets refused: before authentication, or too large for a frame.
    public private(set) var refusedWrites = 0

    /// Creates a handler that runs `handshake` when the connection becomes active.
    public init(handshake: PeerHandshake, limits: PeerTransportLimits = PeerTransportLimits()) {
        self.handshake = handshake
        self.limits = limits
    }

    public func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(handshake.hello()), promise: nil)
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        let channel = context.channel
        context.eventLoop.scheduleTask(in: limits.handshakeTimeout) {
            guard case .pending = handler.value.handshake.outcome else { return }
            channel.pipeline.fireErrorCaught(PeerProtocolError.handshakeFailed("no handshake within the timeout"))
            channel.close(promise: nil)
        }
        context.fireChannelActive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closed else { return }
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
                guard let keys = handshake.sessionKeys() else { return }
                sender = FrameSealer(key: keys.send)
                receiver = FrameSealer(key: keys.receive)
                context.fireUserInboundEventTriggered(PeerAuthenticated(peer: peer))
            case .failed(let reason):
                fail(context, .handshakeFailed(reason))
            }
        case .established(let peer):
            guard frame.kind == .sealed else {
                fail(context, .unexpectedFrame(frame.kind))
                return
            }
            guard let body = receiver?.open(frame.payload) else {
                fail(context, .invalidMessage("a frame that is not the next one sealed by the peer"))
                return
            }
            let packet: PeerPacket
            do {
                packet = try PeerPacket.decode(body)
            } catch {
                fail(context, .invalidMessage("\(error)"))
                return
            }
            if case .raft(let message) = packet, message.from != peer || message.to != handshake.localID {
                fail(context, .invalidMessage("message from \(message.from) to \(message.to) on the connection of \(peer)"))
                return
            }
            if case .snapshotChunk(let chunk) = packet, chunk.message.from != peer || chunk.message.to != handshake.localID {
                fail(context, .invalidMessage("snapshot from \(chunk.message.from) to \(chunk.message.to) on the connection of \(peer)"))
                return
            }
            context.fireChannelRead(wrapInboundOut(PeerDelivery(from: peer, packet: packet)))
        case .failed:
            break
        }
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .established = handshake.outcome, sender != nil else {
            refusedWrites += 1
            promise?.fail(PeerProtocolError.handshakeFailed("the connection is not authenticated yet"))
            return
        }
        let body = unwrapOutboundIn(data).encoded()
        guard body.count + FrameSealer.overheadBytes + 2 <= limits.maxFrameBytes else {
            refusedWrites += 1
            promise?.fail(PeerProtocolError.frameTooLarge(body.count + FrameSealer.overheadBytes + 2))
            return
        }
        let sealed = sender!.seal(body)
        context.write(wrapOutboundOut(PeerFrame(kind: .sealed, payload: sealed)), promise: promise)
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        closed = true
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }

    private func fail(_ context: ChannelHandlerContext, _ error: PeerProtocolError) {
        closed = true
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
            PeerConnectionHandler(handshake: handshake, limits: limits),
        ]
    }
}
