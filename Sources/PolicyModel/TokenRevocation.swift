/// A revocation of Biscuit tokens, replicated like every change: once a replica has applied
/// it, it refuses the tokens it names (`PolicyState.tokenRevocation`).
///
/// It names tokens in one of three ways: a block's revocation id (that token and every token
/// made from it by appending), or every token of a principal, or of an organization, issued
/// before the revocation (a per-principal or per-organization epoch). It leaves the list at
/// `expiresAt`, when no token it names can still be valid: the revocation's time plus the
/// longest token life (`Command.expireRevocations`, proposed by the leader).
public struct TokenRevocation: Hashable, Sendable {
    /// What it revokes.
    public enum Target: Hashable, Sendable, Comparable {
        /// The token whose block has this revocation id (its signature), and its descendants.
        case id([UInt8])
        /// Every token of the principal issued before `TokenRevocation.revokedAt`.
        case principal(PrincipalReference)
        /// Every token of the organization's principals issued before `revokedAt`.
        case organization(Name)

        /// The audit log's and the feed's name for it.
        public var description: String {
            switch self {
            case .id(let bytes): return "tokens/" + bytes.map { String($0, radix: 16).leftPadded(2) }.joined()
            case .principal(let principal): return "orgs/\(principal.organization)/principals/\(principal.name)/tokens"
            case .organization(let name): return "orgs/\(name)/tokens"
            }
        }

        private var order: (Int, String) {
            switch self {
            case .id: return (0, description)
            case .principal: return (1, description)
            case .organization: return (2, description)
            }
        }

        public static func < (lhs: Target, rhs: Target) -> Bool { lhs.order < rhs.order }
    }

    /// What it revokes.
    public var target: Target
    /// Why (given by whoever revoked, at most `maxReasonBytes`).
    public var reason: String
    /// When it was revoked (the command's time); for a principal or an organization, tokens
    /// issued at or before this second are revoked.
    public var revokedAt: Timestamp
    /// When it may leave the list.
    public var expiresAt: Timestamp
    /// The revision of its last change.
    public var revision: UInt64

    /// Creates the record.
    public init(target: Target, reason: String, revokedAt: Timestamp, expiresAt: Timestamp, revision: UInt64) {
        self.target = target
        self.reason = reason
        self.revokedAt = revokedAt
        self.expiresAt = expiresAt
        self.revision = revision
    }

    /// The most revocation ids one command revokes.
    public static let maxIDs = 64
    /// The longest revocation id (an Ed25519 signature has 64 bytes, a P-256 one at most 72).
    public static let maxIDBytes = 128
    /// The longest reason, in UTF-8 bytes.
    public static let maxReasonBytes = 512
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

extension PolicyState {
    /// Why the revocation id `id` is revoked (a client certificate's fingerprint, say); nil when
    /// it is not. Revocations by principal or organization do not cover it.
    public func revocation(ofID id: [UInt8]) -> String? {
        guard !revocations.isEmpty, let revoked = revocations[.id(id)] else { return nil }
        return "revoked at revision \(revoked.revision): \(revoked.reason)"
    }

    /// Why a token with these revocation ids, of `principal`, issued at `issuedAt`, is revoked;
    /// nil when it is not. A revocation by principal or organization covers tokens issued up to
    /// the second it was made (a token carries its issue time in whole seconds).
    public func tokenRevocation(ids: [[UInt8]], principal: PrincipalReference, issuedAt: Timestamp) -> String? {
        if !revocations.isEmpty {
            for id in ids {
                if let revoked = revocations[.id(id)] { return "revocation id revoked at revision \(revoked.revision): \(revoked.reason)" }
            }
        }
        if let epoch = revocations[.principal(principal)], Self.issued(issuedAt, atOrBefore: epoch.revokedAt) {
            return "the tokens of \(principal) were revoked at revision \(epoch.revision): \(epoch.reason)"
        }
        if let epoch = revocations[.organization(principal.organization)], Self.issued(issuedAt, atOrBefore: epoch.revokedAt) {
            return "the tokens of organization \(principal.organization) were revoked at revision \(epoch.revision): \(epoch.reason)"
        }
        return nil
    }

    private static func issued(_ issuedAt: Timestamp, atOrBefore revokedAt: Timestamp) -> Bool {
        issuedAt.millisecondsSinceEpoch / 1000 <= revokedAt.millisecondsSinceEpoch / 1000
    }

    /// Every revocation in the list, oldest revision first (then by target).
    public var allRevocations: [TokenRevocation] {
        revocations.values.sorted { ($0.revision, $0.target) < ($1.revision, $1.target) }
    }

    /// The revocations changed after `revision`, oldest first.
    public func revocations(after revision: UInt64) -> [TokenRevocation] {
        allRevocations.filter { $0.revision > revision }
    }

    /// The published root key with this Biscuit key id, if any.
    public func publishedRootKey(biscuitKeyID: UInt32) -> RootKey? {
        rootKeys.values.first { $0.state != .retired && $0.biscuitKeyID == biscuitKeyID }
    }

    // MARK: - Applying

    mutating func revoke(_ target: TokenRevocation.Target, reason: String, time: Timestamp, expiresAt: Timestamp) throws(PolicyError) {
        guard reason.utf8.count <= TokenRevocation.maxReasonBytes else {
            throw .invalidArgument("a revocation's reason has at most \(TokenRevocation.maxReasonBytes) bytes")
        }
        guard expiresAt >= time else { throw .invalidArgument("a revocation cannot expire before it is made") }
        var record = TokenRevocation(target: target, reason: reason, revokedAt: time, expiresAt: expiresAt, revision: revision)
        if let existing = revocations[target] {
            // Revoked again: kept until the later expiry; an epoch moves to the later time.
            record.expiresAt = max(existing.expiresAt, expiresAt)
            if case .id = target { record.revokedAt = existing.revokedAt }
        }
        setRevocation(target, record)
    }

    /// Drops the revocations that expired at `time`; the revision floor of the feed rises to
    /// the newest one dropped.
    mutating func expireRevocations(at time: Timestamp) {
        for revocation in allRevocations where revocation.expiresAt <= time {
            setRevocation(revocation.target, nil)
            if revocation.revision > revocationFloor {
                revocationFloor = revocation.revision
                journal.append(.revocationFloor(revocationFloor))
            }
        }
    }
}

extension PolicyState {
    /// Restores the revocations of a durable copy (without journaling them again).
    public mutating func restoreRevocations(_ list: [TokenRevocation], floor: UInt64) {
        for revocation in list { revocations[revocation.target] = revocation }
        revocationFloor = floor
    }
}

extension PolicyState {
    /// The request id the leader's expiry of revocations is proposed under.
    public static let revocationMaintenanceRequestID = "revocation-maintenance"

    /// The command that drops the revocations expired at `now`, when some are (the leader's
    /// maintenance proposes it); nil when none is.
    public func revocationExpiry(at now: Timestamp) -> CommandEnvelope? {
        guard revocations.values.contains(where: { $0.expiresAt <= now }) else { return nil }
        return CommandEnvelope(command: .expireRevocations, actor: nil, requestID: Self.revocationMaintenanceRequestID, time: now)
    }
}
