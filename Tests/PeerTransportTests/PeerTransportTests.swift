import NIOCore
import NIOEmbedded
import PeerTransport
import RaftCore
import Testing

let secret = [UInt8](repeating: 0x5C, count: 32)

func nonce(_ seed: UInt8) -> [UInt8] { (0..<32).map { seed &+ UInt8($0) } }

/// A connected embedded channel running the peer pipeline.
func peerChannel(_ id: ReplicaID, secret: [UInt8] = secret, nonceSeed: UInt8, expecting peer: ReplicaID? = nil,
    limits: PeerTransportLimits = PeerTransportLimits()) throws -> EmbeddedChannel
{
    let channel = EmbeddedChannel()
    let handshake = PeerHandshake(localID: id, secret: secret, nonce: nonce(nonceSeed), expectedPeer: peer)
    try channel.pipeline.syncOperations.addHandlers(PeerPipeline.handlers(handshake: handshake, limits: limits))
    try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 7000)).wait()
    return channel
}

/// Moves bytes between two channels, both ways, until neither has anything to send. Bytes a
/// side wrote before it closed are still delivered, as TCP would.
func pump(_ a: EmbeddedChannel, _ b: EmbeddedChannel) {
    var moved = true
    while moved {
        moved = false
        for (from, to) in [(a, b), (b, a)] {
            while let bytes = try? from.readOutbound(as: ByteBuffer.self) {
                moved = true
                if to.isActive { _ = try? to.writeInbound(bytes) }
            }
        }
    }
}

@Suite struct PeerTransportTests {
    static let heartbeat = Message(from: 1, to: 2, term: 3, kind: .heartbeat(Heartbeat(commit: 4, readRound: 5)))

    @Test func authenticatedPeersExchangeMessages() throws {
        let a = try peerChannel(1, nonceSeed: 1, expecting: 2)
        let b = try peerChannel(2, nonceSeed: 100)
        pump(a, b)
        try a.writeOutbound(PeerPacket.raft(Self.heartbeat))
        pump(a, b)
        #expect(try b.readInbound(as: PeerDelivery.self)?.packet == .raft(Self.heartbeat))
        let reply = Message(from: 2, to: 1, term: 3, kind: .heartbeatResponse(readRound: 5))
        try b.writeOutbound(PeerPacket.raft(reply))
        pump(a, b)
        #expect(try a.readInbound(as: PeerDelivery.self)?.packet == .raft(reply))
        #expect(a.isActive && b.isActive)
    }

    @Test func wrongSecretClosesBothSides() throws {
        let a = try peerChannel(1, nonceSeed: 1)
        let b = try peerChannel(2, secret: [UInt8](repeating: 0x11, count: 32), nonceSeed: 100)
        pump(a, b)
        #expect(!a.isActive)
        #expect(!b.isActive)
        #expect(try b.readInbound(as: PeerDelivery.self) == nil)
    }

    @Test func dialledReplicaMustAnswer() throws {
        let a = try peerChannel(1, nonceSeed: 1, expecting: 3)
        let b = try peerChannel(2, nonceSeed: 100)
        pump(a, b)
        #expect(!a.isActive)
    }

    // A peer cannot speak for another replica, nor send messages before authenticating.
    @Test func messagesFromAnotherSenderOrBeforeTheHandshakeCloseTheConnection() throws {
        let a = try peerChannel(1, nonceSeed: 1)
        let b = try peerChannel(2, nonceSeed: 100)
        pump(a, b)
        let forged = Message(from: 3, to: 2, term: 3, kind: .timeoutNow)
        try a.writeOutbound(PeerPacket.raft(forged))
        pump(a, b)
        #expect(!b.isActive)
        #expect(try b.readInbound(as: PeerDelivery.self) == nil)

        let early = try peerChannel(2, nonceSeed: 50)
        _ = try early.readOutbound(as: ByteBuffer.self)
        var frame = ByteBuffer()
        try PeerFrameEncoder().encode(data: PeerFrame(kind: .sealed, payload: PeerPacket.raft(Self.heartbeat).encoded()), out: &frame)
        _ = try? early.writeInbound(frame)
        #expect(!early.isActive)
    }

    @Test func writesBeforeTheHandshakeAreRefused() throws {
        let a = try peerChannel(1, nonceSeed: 1)
        #expect(throws: (any Error).self) { try a.writeOutbound(PeerPacket.raft(Self.heartbeat)) }
    }

    // A reflected hello (our own identity coming back) is refused.
    @Test func reflectedHelloIsRefused() throws {
        let a = try peerChannel(1, nonceSeed: 1)
        let hello = try #require(try a.readOutbound(as: ByteBuffer.self))
        _ = try? a.writeInbound(hello)
        #expect(!a.isActive)
    }
}

@Suite struct PeerFrameTests {
    @Test func frameMatchesGoldenBytes() throws {
        var buffer = ByteBuffer()
        try PeerFrameEncoder().encode(data: PeerFrame(kind: .sealed, payload: [0xAA, 0xBB]), out: &buffer)
        #expect(buffer.readBytes(length: buffer.readableBytes) == [0, 0, 0, 4, 1, 3, 0xAA, 0xBB])
    }

    /// A channel that only decodes frames.
    func decoder(limits: PeerTransportLimits = PeerTransportLimits()) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(PeerFrameDecoder(limits: limits)))
        return channel
    }

    @Test func partialFramesWaitAndBackToBackFramesSplit() throws {
        let channel = try decoder()
        var buffer = ByteBuffer()
        try PeerFrameEncoder().encode(data: PeerFrame(kind: .hello, payload: [1, 2, 3]), out: &buffer)
        try PeerFrameEncoder().encode(data: PeerFrame(kind: .proof, payload: []), out: &buffer)
        let first = buffer.getSlice(at: 0, length: 5)!
        let rest = buffer.getSlice(at: 5, length: buffer.readableBytes - 5)!
        try channel.writeInbound(first)
        #expect(try channel.readInbound(as: PeerFrame.self) == nil)
        try channel.writeInbound(rest)
        #expect(try channel.readInbound(as: PeerFrame.self) == PeerFrame(kind: .hello, payload: [1, 2, 3]))
        #expect(try channel.readInbound(as: PeerFrame.self) == PeerFrame(kind: .proof, payload: []))
    }

    @Test(arguments: [
        ([UInt8]([0, 0, 4, 1, 1, 3]), PeerProtocolError.frameTooLarge(1025)),
        ([0, 0, 0, 1, 1], PeerProtocolError.frameTooShort(1)),
        ([0, 0, 0, 2, 9, 3], PeerProtocolError.unsupportedVersion(9)),
        ([0, 0, 0, 2, 1, 77], PeerProtocolError.unknownFrameType(77)),
    ])
    func malformedFramesAreRejectedWithTheirReason(bytes: [UInt8], error: PeerProtocolError) throws {
        var limits = PeerTransportLimits()
        limits.maxFrameBytes = 1024
        let channel = try decoder(limits: limits)
        #expect(throws: error) { try channel.writeInbound(ByteBuffer(bytes: bytes)) }
    }

    // Random bytes never crash the decoder: each stream ends in frames or in a clean error.
    @Test func randomStreamsNeverCrashTheDecoder() throws {
        var random = DeterministicRandom(seed: 77)
        var limits = PeerTransportLimits()
        limits.maxFrameBytes = 4096
        for _ in 0..<2000 {
            let channel = try decoder(limits: limits)
            let bytes = (0..<random.below(64)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            _ = try? channel.writeInbound(ByteBuffer(bytes: bytes))
            _ = try? channel.finish()
        }
    }
}

/// Regressions for the transport review: relays, timeouts, pre-handshake limits.
@Suite struct PeerTransportReviewTests {
    static let heartbeat = Message(from: 1, to: 2, term: 3, kind: .heartbeat(Heartbeat(commit: 4, readRound: 5)))

    // A stranger who relays the handshake between two replicas can forward their frames but
    // cannot inject one: every frame is sealed with keys bound to this connection.
    @Test func relayCanForwardButNotInject() throws {
        let a = try peerChannel(1, nonceSeed: 1)
        let b = try peerChannel(2, nonceSeed: 100)
        let helloA = try #require(try a.readOutbound(as: ByteBuffer.self))
        let helloB = try #require(try b.readOutbound(as: ByteBuffer.self))
        try b.writeInbound(helloA)
        try a.writeInbound(helloB)
        let proofB = try #require(try b.readOutbound(as: ByteBuffer.self))
        let proofA = try #require(try a.readOutbound(as: ByteBuffer.self))
        try a.writeInbound(proofB)
        try b.writeInbound(proofA)
        #expect(a.isActive && b.isActive)
        try a.writeOutbound(PeerPacket.raft(Self.heartbeat))
        let forwarded = try #require(try a.readOutbound(as: ByteBuffer.self))
        try b.writeInbound(forwarded)
        #expect(try b.readInbound(as: PeerDelivery.self)?.packet == .raft(Self.heartbeat))
        var injected = ByteBuffer()
        try PeerFrameEncoder().encode(
            data: PeerFrame(kind: .sealed, payload: PeerPacket.raft(Message(from: 1, to: 2, term: 99, kind: .timeoutNow)).encoded()),
            out: &injected)
        _ = try? b.writeInbound(injected)
        #expect(!b.isActive)
        #expect(try b.readInbound(as: PeerDelivery.self) == nil)
    }

    // Replaying a sealed frame is refused: sequences must increase.
    @Test func replayedFrameIsRefused() throws {
        let a = try peerChannel(1, nonceSeed: 1)
        let b = try peerChannel(2, nonceSeed: 100)
        pump(a, b)
        try a.writeOutbound(PeerPacket.raft(Self.heartbeat))
        let frame = try #require(try a.readOutbound(as: ByteBuffer.self))
        try b.writeInbound(frame)
        #expect(try b.readInbound(as: PeerDelivery.self)?.packet == .raft(Self.heartbeat))
        _ = try? b.writeInbound(frame)
        #expect(!b.isActive)
    }

    @Test func messageForAnotherReplicaClosesTheConnection() throws {
        let a = try peerChannel(1, nonceSeed: 1)
        let b = try peerChannel(2, nonceSeed: 100)
        pump(a, b)
        try a.writeOutbound(PeerPacket.raft(Message(from: 1, to: 5, term: 3, kind: .timeoutNow)))
        pump(a, b)
        #expect(!b.isActive)
    }

    @Test func unauthenticatedConnectionIsClosedAfterTheTimeout() throws {
        let a = try peerChannel(1, nonceSeed: 1)
        a.embeddedEventLoop.advanceTime(by: .seconds(4))
        #expect(a.isActive)
        a.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!a.isActive)
    }

    @Test func largeFrameBeforeTheHandshakeIsRefused() throws {
        let a = try peerChannel(1, nonceSeed: 1)
        var frame = ByteBuffer()
        try PeerFrameEncoder().encode(data: PeerFrame(kind: .hello, payload: [UInt8](repeating: 1, count: 300)), out: &frame)
        #expect(throws: PeerProtocolError.frameTooLarge(302)) { try a.writeInbound(frame) }
        #expect(!a.isActive)
    }
}
