/// Why a token is not accepted, with the stable code an API answers with.
///
/// The first group is decided by the token and the key set alone (any verifier can tell);
/// `revoked` needs the revocation list, and `checksFailed` the request the token is used for.
public enum TokenRefusal: Error, Hashable, Sendable, CustomStringConvertible {
    /// Not a token: bad base64, a malformed envelope or block, or larger than the limit.
    case malformed(String)
    /// The token names no root key the key set publishes (another cluster's token, or one
    /// signed by a key that has been retired or revoked).
    case unknownRootKey(UInt32?)
    /// A signature does not verify: the token was altered, or signed by another key.
    case invalidSignature(String)
    /// Signed by a root key but without the facts a Rampart token's authority block states.
    case notIssuedByRampart(String)
    /// Its expiry has passed.
    case expired(expiresAt: UInt64)
    /// One of its revocation ids, its principal's tokens or its organization's were revoked.
    case revoked(String)
    /// Its principal or the API key it was issued for no longer exists.
    case holderGone(String)
    /// One of its checks (its own or its attenuation's) does not hold for the request.
    case checksFailed(String)

    /// The stable, machine-readable code.
    public var code: String {
        switch self {
        case .malformed: return "token_malformed"
        case .unknownRootKey: return "token_unknown_key"
        case .invalidSignature: return "token_invalid_signature"
        case .notIssuedByRampart: return "token_not_rampart"
        case .expired: return "token_expired"
        case .revoked: return "token_revoked"
        case .holderGone: return "token_holder_gone"
        case .checksFailed: return "token_checks_failed"
        }
    }

    public var description: String {
        switch self {
        case .malformed(let reason): return "the token is malformed: \(reason)"
        case .unknownRootKey(let id?): return "the token's root key \(id) is not in the key set (unknown, retired or revoked)"
        case .unknownRootKey(nil): return "the token names no root key id"
        case .invalidSignature(let reason): return "the token's signature does not verify: \(reason)"
        case .notIssuedByRampart(let reason): return "the token was not issued by Rampart: \(reason)"
        case .expired(let expiresAt): return "the token expired at \(TokenHolder.rfc3339(expiresAt))"
        case .revoked(let reason): return "the token was revoked: \(reason)"
        case .holderGone(let reason): return "the token's holder is gone: \(reason)"
        case .checksFailed(let reason): return "the token's checks refuse this request: \(reason)"
        }
    }
}
