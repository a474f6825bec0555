import NIOCore
import PeerTransport
import RaftCore
import Testing

@Suite struct PeerPacketTests {
    static let install = Message(
        from: 1, to: 2, term: 4, kind: .installSnapshot(SnapshotMetadata(index: 9, term: 3, membership: Membership(voters: [1, 2, 3]))))
    static let chunk = SnapshotChunk(
        transferID: 7, message: install, totalBytes: 10, checksum: [UInt8](repeating: 0xAB, count: 32), offset: 4, data: [1, 2, 3])

    @Test(arguments: [
        PeerPacket.raft(Message(from: 1, to: 2, term: 3, kind: .timeoutNow)),
        .request(id: 42, body: [9, 8, 7]),
        .response(id: 42, body: []),
        .snapshotChunk(chunk),
    ])
    func packetsRoundTrip(packet: PeerPacket) throws {
        #expect(try PeerPacket.decode(packet.encoded()) == packet)
    }

    // The wire layout is a contract between versions: type byte, then little-endian fields.
    @Test func requestGoldenBytes() {
        #expect(PeerPacket.request(id: 0x0102, body: [0xEE]).encoded() == [2, 0x02, 0x01, 0, 0, 0, 0, 0, 0, 0xEE])
        #expect(PeerPacket.response(id: 1, body: []).encoded() == [3, 1, 0, 0, 0, 0, 0, 0, 0])
    }

    @Test func chunkKnowsWhetherItEndsTheFile() {
        var chunk = Self.chunk
        #expect(!chunk.isLast)
        chunk.offset = 7
        #expect(chunk.isLast)
    }

    @Test func malformedPacketsAreRejected() {
        #expect(throws: RaftDecodingError.invalid("packet type 9")) { try PeerPacket.decode([9]) }
        #expect(throws: RaftDecodingError.truncated("packet type")) { try PeerPacket.decode([]) }
        #expect(throws: RaftDecodingError.truncated("request id")) { try PeerPacket.decode([2, 1, 2]) }
        // A chunk whose data runs past the file's announced end.
        var beyond = Self.chunk
        beyond.offset = 9
        #expect(throws: RaftDecodingError.invalid("chunk beyond the file's end")) {
            try PeerPacket.decode(PeerPacket.snapshotChunk(beyond).encoded())
        }
        // A chunk must carry an installSnapshot message, not any message.
        var other = Self.chunk
        other.message = Message(from: 1, to: 2, term: 4, kind: .timeoutNow)
        #expect(throws: RaftDecodingError.invalid("snapshot message")) {
            try PeerPacket.decode(PeerPacket.snapshotChunk(other).encoded())
        }
        // Every truncation of a valid chunk is refused.
        let bytes = PeerPacket.snapshotChunk(Self.chunk).encoded()
        for length in 0..<bytes.count {
            #expect(throws: RaftDecodingError.self) { try PeerPacket.decode(Array(bytes[0..<length])) }
        }
    }

    // Random and mutated bytes end in a packet or a clean error, never a crash.
    @Test func randomPacketsNeverCrashTheDecoder() {
        var random = DeterministicRandom(seed: 5)
        let valid = PeerPacket.snapshotChunk(Self.chunk).encoded()
        for _ in 0..<5000 {
            var bytes = valid
            for _ in 0...random.below(4) { bytes[random.below(bytes.count)] = UInt8(truncatingIfNeeded: random.next()) }
            _ = try? PeerPacket.decode(bytes)
            let noise = (0..<random.below(80)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            _ = try? PeerPacket.decode(noise)
        }
    }

    // A chunk that claims another sender than the authenticated peer closes the connection.
    @Test func snapshotFromAnotherSenderClosesTheConnection() throws {
        let a = try peerChannel(3, nonceSeed: 1)
        let b = try peerChannel(2, nonceSeed: 100)
        pump(a, b)
        try a.writeOutbound(PeerPacket.snapshotChunk(Self.chunk))  // claims to come from 1
        pump(a, b)
        #expect(!b.isActive)
        #expect(try b.readInbound(as: PeerDelivery.self) == nil)
    }

    @Test func requestsArriveWithTheirAuthenticatedSender() throws {
        let a = try peerChannel(1, nonceSeed: 1)
        let b = try peerChannel(2, nonceSeed: 100)
        pump(a, b)
        try a.writeOutbound(PeerPacket.request(id: 5, body: [1]))
        pump(a, b)
        #expect(try b.readInbound(as: PeerDelivery.self) == PeerDelivery(from: 1, packet: .request(id: 5, body: [1])))
    }
}
