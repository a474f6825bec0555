import Crypto
import Synchronization

/// The one-time proofs of the cluster secret that the bootstrap and the break-glass path need.
///
/// A client first asks a replica for a challenge (`POST /v1/cluster/bootstrap/challenge`),
/// then sends, to the same replica, `Authorization: Bootstrap <challenge hex>.<proof hex>`
/// where the proof is `HMAC-SHA256(cluster secret, message(purpose, challenge))`. The replica
/// consumes the challenge on its first use, valid or not, so a captured proof cannot be
/// replayed, and a proof for one purpose is worth nothing for the other.
public enum ClusterProof {
    /// What a proof is for.
    public enum Purpose: String, Sendable {
        /// The cluster's first administrator (`Command.bootstrap`), once per cluster.
        case bootstrap
        /// A new key for `system/admin` in a bootstrapped cluster (`Command.breakGlass`).
        case breakGlass = "break-glass"
    }

    /// The message a proof for `purpose` and `challenge` authenticates.
    public static func message(_ purpose: Purpose, challenge: [UInt8]) -> [UInt8] {
        Array("rampart-cluster-proof-v2".utf8) + [0] + Array(purpose.rawValue.utf8) + [0] + challenge
    }

    /// The proof a holder of `secret` sends for `purpose` and `challenge`.
    public static func prove(_ purpose: Purpose, challenge: [UInt8], secret: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: message(purpose, challenge: challenge), using: SymmetricKey(data: secret)))
    }

    /// The `Authorization` header value carrying a proof.
    public static func header(challenge: [UInt8], proof: [UInt8]) -> String {
        "Bootstrap \(Hex.encode(challenge)).\(Hex.encode(proof))"
    }

    /// The challenge and proof of an `Authorization: Bootstrap <challenge>.<proof>` header.
    static func parse(_ header: String?) -> (challenge: [UInt8], proof: [UInt8])? {
        guard let header, header.hasPrefix("Bootstrap ") else { return nil }
        let parts = header.dropFirst("Bootstrap ".count).split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let challenge = Hex.decode(String(parts[0])), let proof = Hex.decode(String(parts[1])),
            challenge.count == BootstrapChallenges.challengeBytes, proof.count == SHA256.byteCount
        else { return nil }
        return (challenge, proof)
    }
}

/// The challenges a replica has handed out and not yet seen used: at most
/// `maxOutstanding`, each for `lifetime`, each usable once. When full, the oldest is forgotten
/// (a flood of challenges can make an operator ask again; it cannot make a proof replayable).
final class BootstrapChallenges: Sendable {
    /// The length of a challenge.
    static let challengeBytes = 32
    /// The most challenges outstanding at once.
    static let maxOutstanding = 64
    /// How long a challenge may be used.
    static let lifetime = Duration.seconds(60)

    private let outstanding = Mutex<[(challenge: [UInt8], expires: ContinuousClock.Instant)]>([])

    /// A new challenge.
    func issue(now: ContinuousClock.Instant = .now) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        let challenge = (0..<Self.challengeBytes).map { _ in UInt8.random(in: 0...255, using: &generator) }
        outstanding.withLock { list in
            list.removeAll { $0.expires <= now }
            if list.count >= Self.maxOutstanding { list.removeFirst(list.count - Self.maxOutstanding + 1) }
            list.append((challenge, now.advanced(by: Self.lifetime)))
        }
        return challenge
    }

    /// Whether `challenge` was handed out here and has not expired; it cannot be used again.
    func consume(_ challenge: [UInt8], now: ContinuousClock.Instant = .now) -> Bool {
        outstanding.withLock { list in
            guard let index = list.firstIndex(where: { constantTimeEqual($0.challenge, challenge) }) else { return false }
            let entry = list.remove(at: index)
            return entry.expires > now
        }
    }
}
