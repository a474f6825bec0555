public import RaftCore
internal import Crypto

/// Mutual authentication of two replicas on a new connection, as a state machine with no I/O.
///
/// Each side sends `hello` (its replica id and a fresh 32-byte nonce). On the other's hello it
/// sends `proof = HMAC-SHA256(secret, label ‖ peer nonce ‖ own nonce ‖ own id ‖ peer id)`, and it
/// accepts the other's proof only if it equals the same MAC with the roles swapped, compared in
/// constant time. Both nonces are fresh, so a proof cannot be replayed; the order of the fields
/// differs by role, so a side's own proof reflected back is refused.
public struct PeerHandshake: Sendable {
    /// Where the handshake is.
    public enum Outcome: Hashable, Sendable {
        /// Waiting for the other side.
        case pending
        /// Both sides proved they hold the cluster secret; frames may now carry Raft messages.
        case established(peer: ReplicaID)
        /// The handshake failed; the connection must close.
        case failed(String)
    }

    private static let label = Array("rampart-peer-v1".utf8)
    private static let frameLabel = Array("rampart-frames-v1".utf8)
    static let nonceBytes = 32

    /// This replica.
    public let localID: ReplicaID
    private let secret: [UInt8]
    private let localNonce: [UInt8]
    private let expectedPeer: ReplicaID?
    private var peerID: ReplicaID?
    private var peerNonce: [UInt8]?
    private var peerProved = false
    /// The current outcome.
    public private(set) var outcome: Outcome = .pending

    /// Creates a handshake.
    /// - Parameters:
    ///   - localID: this replica.
    ///   - secret: the cluster secret (at least 32 bytes), read from a file.
    ///   - nonce: 32 fresh random bytes.
    ///   - expectedPeer: on an outbound connection, the replica dialled; the peer must be it.
    public init(localID: ReplicaID, secret: [UInt8], nonce: [UInt8], expectedPeer: ReplicaID?) {
        precondition(secret.count >= 32, "the cluster secret must be at least 32 bytes")
        precondition(nonce.count == Self.nonceBytes, "a handshake nonce is \(Self.nonceBytes) bytes")
        self.localID = localID
        self.secret = secret
        localNonce = nonce
        self.expectedPeer = expectedPeer
    }

    /// The first frame to send.
    public func hello() -> PeerFrame {
        var payload: [UInt8] = []
        RaftEncoding.appendInteger(localID.rawValue, to: &payload)
        payload.append(contentsOf: localNonce)
        return PeerFrame(kind: .hello, payload: payload)
    }

    /// Handles a handshake frame.
    /// - Returns: the frames to send in answer.
    public mutating func receive(_ frame: PeerFrame) -> [PeerFrame] {
        guard case .pending = outcome else { return [] }
        switch frame.kind {
        case .hello:
            return receiveHello(frame.payload)
        case .proof:
            receiveProof(frame.payload)
            return []
        case .sealed:
            outcome = .failed("a sealed frame before the handshake finished")
            return []
        }
    }

    private mutating func receiveHello(_ payload: [UInt8]) -> [PeerFrame] {
        var decoder = RaftDecoder(payload)
        guard peerID == nil, let id = try? decoder.replicaID("peer"), decoder.remaining == Self.nonceBytes,
            let nonce = try? decoder.bytes(count: Self.nonceBytes, "nonce")
        else {
            outcome = .failed("malformed or repeated hello")
            return []
        }
        guard id != localID, nonce != localNonce else {
            outcome = .failed("the peer claims this replica's identity")
            return []
        }
        if let expectedPeer, expectedPeer != id {
            outcome = .failed("dialled replica \(expectedPeer) but replica \(id) answered")
            return []
        }
        peerID = id
        peerNonce = nonce
        let proof = mac(verifierNonce: nonce, proverNonce: localNonce, prover: localID, verifier: id)
        return [PeerFrame(kind: .proof, payload: proof)]
    }

    private mutating func receiveProof(_ payload: [UInt8]) {
        guard let peerID, let peerNonce, !peerProved else {
            outcome = .failed("proof before hello")
            return
        }
        let key = SymmetricKey(data: secret)
        let message = Self.label + localNonce + peerNonce + bytes(peerID) + bytes(localID)
        guard HMAC<SHA256>.isValidAuthenticationCode(payload, authenticating: message, using: key) else {
            outcome = .failed("the peer does not hold the cluster secret")
            return
        }
        peerProved = true
        outcome = .established(peer: peerID)
    }

    /// The keys that authenticate every frame after the handshake, one per direction, bound to
    /// both nonces and both ids of this connection: a relay between two replicas can only
    /// forward frames, never inject, replay or reorder them. Nil before the handshake succeeds.
    public func sessionKeys() -> (send: [UInt8], receive: [UInt8])? {
        guard case .established(let peer) = outcome, let peerNonce else { return nil }
        let send = Self.frameLabel + localNonce + peerNonce + bytes(localID) + bytes(peer)
        let receive = Self.frameLabel + peerNonce + localNonce + bytes(peer) + bytes(localID)
        let key = SymmetricKey(data: secret)
        return (
            Array(HMAC<SHA256>.authenticationCode(for: send, using: key)),
            Array(HMAC<SHA256>.authenticationCode(for: receive, using: key))
        )
    }

    private func mac(verifierNonce: [UInt8], proverNonce: [UInt8], prover: ReplicaID, verifier: ReplicaID) -> [UInt8] {
        let message = Self.label + verifierNonce + proverNonce + bytes(prover) + bytes(verifier)
        return Array(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: secret)))
    }

    private func bytes(_ id: ReplicaID) -> [UInt8] {
        var result: [UInt8] = []
        RaftEncoding.appendInteger(id.rawValue, to: &result)
        return result
    }
}

/// Authenticates the frames of one direction of a connection: `[sequence u64][body][MAC]` with
/// `MAC = HMAC-SHA256(key, sequence ‖ body)` and sequences counting from zero.
public struct FrameSealer: Sendable {
    private let key: [UInt8]
    private var sequence: UInt64 = 0
    static let macBytes = 32
    static let overheadBytes = 8 + macBytes

    /// Creates a sealer for one direction.
    public init(key: [UInt8]) {
        self.key = key
    }

    /// Seals the next outgoing body.
    public mutating func seal(_ body: [UInt8]) -> [UInt8] {
        var sealed: [UInt8] = []
        sealed.reserveCapacity(body.count + Self.overheadBytes)
        RaftEncoding.appendInteger(sequence, to: &sealed)
        sealed.append(contentsOf: body)
        sealed.append(contentsOf: HMAC<SHA256>.authenticationCode(for: sealed, using: SymmetricKey(data: key)))
        sequence += 1
        return sealed
    }

    /// Opens the next incoming frame: checks its sequence and MAC (in constant time).
    /// - Returns: the body, or nil when the frame is not the next authentic one.
    public mutating func open(_ sealed: [UInt8]) -> [UInt8]? {
        guard sealed.count >= Self.overheadBytes else { return nil }
        let signed = Array(sealed[0..<(sealed.count - Self.macBytes)])
        let mac = Array(sealed[(sealed.count - Self.macBytes)...])
        var decoder = RaftDecoder(signed)
        guard let received = try? decoder.integer(UInt64.self, "sequence"), received == sequence,
            HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: signed, using: SymmetricKey(data: key))
        else { return nil }
        sequence += 1
        return Array(signed[8...])
    }
}
