internal import Crypto
internal import PolicyModel

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

    /// The length of a challenge.
    public static let challengeBytes = 32

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
    public static func parse(_ header: String?) -> (challenge: [UInt8], proof: [UInt8])? {
        guard let header, header.hasPrefix("Bootstrap ") else { return nil }
        let parts = header.dropFirst("Bootstrap ".count).split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let challenge = Hex.decode(String(parts[0])), let proof = Hex.decode(String(parts[1])),
            challenge.count == challengeBytes, proof.count == SHA256.byteCount
        else { return nil }
        return (challenge, proof)
    }
}
