public import RaftCore

/// What travels between two authenticated replicas: Raft messages, and the runtime's own
/// traffic (forwarded requests, their responses, snapshot chunks).
///
/// On the wire a packet is `[type: u8][body]`, sealed as a whole (so the type is authenticated
/// with the body) inside one `.sealed` frame. The transport understands Raft messages and
/// snapshot chunk headers; request and response bodies are opaque to it.
public enum PeerPacket: Hashable, Sendable {
    /// A Raft message; its `from` must be the connection's authenticated peer.
    case raft(Message)
    /// A request the receiver should answer with a `.response` of the same id (a follower
    /// forwarding a proposal to its leader, for example).
    case request(id: UInt64, body: [UInt8])
    /// The answer to the sender's earlier `.request` with this id.
    case response(id: UInt64, body: [UInt8])
    /// One piece of a snapshot streamed to a follower.
    case snapshotChunk(SnapshotChunk)

    /// The packet's type on the wire. Never renumber.
    var wireTag: UInt8 {
        switch self {
        case .raft: return 1
        case .request: return 2
        case .response: return 3
        case .snapshotChunk: return 4
        }
    }

    /// The packet's encoding: type, then body.
    public func encoded() -> [UInt8] {
        var buffer: [UInt8] = [wireTag]
        switch self {
        case .raft(let message):
            RaftEncoding.append(message, to: &buffer)
        case .request(let id, let body), .response(let id, let body):
            RaftEncoding.appendInteger(id, to: &buffer)
            buffer.append(contentsOf: body)
        case .snapshotChunk(let chunk):
            chunk.append(to: &buffer)
        }
        return buffer
    }

    /// Decodes one whole packet.
    /// - Throws: `RaftDecodingError` for an unknown type or a malformed body.
    public static func decode(_ bytes: [UInt8]) throws(RaftDecodingError) -> PeerPacket {
        var decoder = RaftDecoder(bytes)
        let tag = try decoder.byte("packet type")
        switch tag {
        case 1:
            let message = try decoder.message()
            guard decoder.remaining == 0 else { throw .invalid("\(decoder.remaining) bytes after the message") }
            return .raft(message)
        case 2, 3:
            let id = try decoder.integer(UInt64.self, "request id")
            let body = try decoder.bytes(count: decoder.remaining, "request body")
            return tag == 2 ? .request(id: id, body: body) : .response(id: id, body: body)
        case 4:
            return .snapshotChunk(try SnapshotChunk(decoding: &decoder))
        default:
            throw .invalid("packet type \(tag)")
        }
    }
}

/// A packet received from an authenticated peer.
public struct PeerDelivery: Hashable, Sendable {
    /// The authenticated replica that sent it.
    public var from: ReplicaID
    /// What it sent.
    public var packet: PeerPacket

    /// Creates a delivery.
    public init(from: ReplicaID, packet: PeerPacket) {
        self.from = from
        self.packet = packet
    }
}

/// One piece of a snapshot file on its way to a follower. Every chunk repeats the transfer's
/// header (its size, checksum and the `installSnapshot` message to step once it is complete),
/// so the receiver needs no other state than the bytes so far, and a chunk out of order ends
/// the transfer instead of corrupting it.
public struct SnapshotChunk: Hashable, Sendable {
    /// The most bytes of a snapshot file in one chunk.
    public static let maxDataBytes = 4 << 20

    /// Identifies one transfer; the sender picks a new one for every attempt.
    public var transferID: UInt64
    /// The `installSnapshot` message the follower steps once every byte has arrived.
    public var message: Message
    /// The file's total size in bytes.
    public var totalBytes: UInt64
    /// SHA-256 of the whole file.
    public var checksum: [UInt8]
    /// Where `data` starts in the file.
    public var offset: UInt64
    /// The bytes at `offset`.
    public var data: [UInt8]

    /// Creates a chunk.
    public init(transferID: UInt64, message: Message, totalBytes: UInt64, checksum: [UInt8], offset: UInt64, data: [UInt8]) {
        precondition(checksum.count == 32, "a snapshot checksum is a SHA-256 digest")
        precondition(data.count <= Self.maxDataBytes, "a chunk holds at most \(Self.maxDataBytes) bytes")
        self.transferID = transferID
        self.message = message
        self.totalBytes = totalBytes
        self.checksum = checksum
        self.offset = offset
        self.data = data
    }

    /// Whether this chunk ends the file.
    public var isLast: Bool { offset + UInt64(data.count) == totalBytes }

    func append(to buffer: inout [UInt8]) {
        RaftEncoding.appendInteger(transferID, to: &buffer)
        let message = RaftEncoding.encode(self.message)
        RaftEncoding.appendInteger(UInt32(message.count), to: &buffer)
        buffer.append(contentsOf: message)
        RaftEncoding.appendInteger(totalBytes, to: &buffer)
        buffer.append(contentsOf: checksum)
        RaftEncoding.appendInteger(offset, to: &buffer)
        RaftEncoding.appendInteger(UInt32(data.count), to: &buffer)
        buffer.append(contentsOf: data)
    }

    init(decoding decoder: inout RaftDecoder) throws(RaftDecodingError) {
        transferID = try decoder.integer(UInt64.self, "transfer id")
        let messageBytes = Int(try decoder.integer(UInt32.self, "message length"))
        let messageEnd = decoder.offset + messageBytes
        guard messageBytes <= decoder.remaining else { throw .truncated("snapshot message") }
        message = try RaftEncoding.decodeMessage(try decoder.bytes(count: messageBytes, "snapshot message"))
        guard decoder.offset == messageEnd, case .installSnapshot = message.kind else { throw .invalid("snapshot message") }
        totalBytes = try decoder.integer(UInt64.self, "total bytes")
        checksum = try decoder.bytes(count: 32, "checksum")
        offset = try decoder.integer(UInt64.self, "offset")
        let count = Int(try decoder.integer(UInt32.self, "data length"))
        guard count <= Self.maxDataBytes else { throw .invalid("chunk of \(count) bytes") }
        data = try decoder.bytes(count: count, "data")
        guard decoder.remaining == 0 else { throw .invalid("\(decoder.remaining) bytes after the chunk") }
        guard offset <= totalBytes, UInt64(count) <= totalBytes - offset else { throw .invalid("chunk beyond the file's end") }
    }
}
