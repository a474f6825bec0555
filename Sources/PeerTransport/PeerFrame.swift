public import NIOCore

/// One unit on a peer connection: `[length: u32 big-endian][version: u8][type: u8][payload]`,
/// where `length` counts the version, type and payload bytes. Frames larger than
/// `PeerTransportLimits.maxFrameBytes`, of another version or of an unknown type end the
/// connection.
public struct PeerFrame: Hashable, Sendable {
    /// The frame format version this build speaks.
    public static let version: UInt8 = 1
    /// Bytes before the payload that `length` does not count.
    static let lengthBytes = 4

    /// What a frame carries.
    public enum Kind: UInt8, Hashable, Sendable {
        /// Handshake, first step: the sender's replica id and a fresh nonce.
        case hello = 1
        /// Handshake, second step: the sender's proof that it knows the cluster secret.
        case proof = 2
        /// One `PeerPacket`, sealed with the connection's session key and sequence number.
        case sealed = 3
    }

    /// The frame's kind.
    public var kind: Kind
    /// The frame's payload.
    public var payload: [UInt8]

    /// Creates a frame.
    public init(kind: Kind, payload: [UInt8]) {
        self.kind = kind
        self.payload = payload
    }
}

/// The limits of the peer protocol, validated before use.
public struct PeerTransportLimits: Sendable, Hashable {
    /// The largest frame, counting version, type and payload.
    public var maxFrameBytes: Int = 32 << 20
    /// The largest frame before the handshake is over (its hello and proof are tens of bytes),
    /// so an unauthenticated client cannot make a replica buffer much.
    public var maxHandshakeFrameBytes: Int = 256
    /// How long a connection may take to authenticate before it is closed.
    public var handshakeTimeout: TimeAmount = .seconds(5)

    /// The default limits.
    public init() {}
}

/// A violation of the peer protocol by the other side. The connection is closed.
public enum PeerProtocolError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A frame announced more bytes than the limit allows.
    case frameTooLarge(Int)
    /// A frame is shorter than its version and type.
    case frameTooShort(Int)
    /// A frame of a version this build does not speak.
    case unsupportedVersion(UInt8)
    /// A frame of an unknown type.
    case unknownFrameType(UInt8)
    /// The handshake failed; the reason says how.
    case handshakeFailed(String)
    /// A sealed frame did not open or decode, or its sender is not the authenticated peer.
    case invalidMessage(String)
    /// A frame arrived that the connection's state does not allow.
    case unexpectedFrame(PeerFrame.Kind)

    public var description: String {
        switch self {
        case .frameTooLarge(let length): return "frame of \(length) bytes exceeds the limit"
        case .frameTooShort(let length): return "frame of \(length) bytes is too short"
        case .unsupportedVersion(let version): return "unsupported frame version \(version)"
        case .unknownFrameType(let type): return "unknown frame type \(type)"
        case .handshakeFailed(let reason): return "handshake failed: \(reason)"
        case .invalidMessage(let reason): return "invalid message: \(reason)"
        case .unexpectedFrame(let kind): return "unexpected \(kind) frame"
        }
    }
}

/// Splits a byte stream into frames, checking each header before reading its payload.
public struct PeerFrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = PeerFrame

    private let limits: PeerTransportLimits
    /// Frames decoded so far; the first two are the peer's hello and proof.
    private var decodedFrames = 0

    /// Creates a decoder.
    public init(limits: PeerTransportLimits = PeerTransportLimits()) {
        self.limits = limits
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return .needMoreData }
        let maximum = decodedFrames < 2 ? limits.maxHandshakeFrameBytes : limits.maxFrameBytes
        guard length <= UInt32(clamping: maximum) else { throw PeerProtocolError.frameTooLarge(Int(length)) }
        guard length >= 2 else { throw PeerProtocolError.frameTooShort(Int(length)) }
        guard buffer.readableBytes >= PeerFrame.lengthBytes + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: PeerFrame.lengthBytes)
        let version = buffer.readInteger(as: UInt8.self)!
        let type = buffer.readInteger(as: UInt8.self)!
        let payload = buffer.readBytes(length: Int(length) - 2)!
        guard version == PeerFrame.version else { throw PeerProtocolError.unsupportedVersion(version) }
        guard let kind = PeerFrame.Kind(rawValue: type) else { throw PeerProtocolError.unknownFrameType(type) }
        decodedFrames += 1
        context.fireChannelRead(wrapInboundOut(PeerFrame(kind: kind, payload: payload)))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws
        -> DecodingState
    {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}

/// Writes frames.
public struct PeerFrameEncoder: MessageToByteEncoder {
    public typealias OutboundIn = PeerFrame

    /// Creates an encoder.
    public init() {}

    public func encode(data frame: PeerFrame, out: inout ByteBuffer) throws {
        out.writeInteger(UInt32(frame.payload.count + 2))
        out.writeInteger(PeerFrame.version)
        out.writeInteger(frame.kind.rawValue)
        out.writeBytes(frame.payload)
    }
}
