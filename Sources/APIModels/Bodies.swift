/// Request and response bodies of the HTTP API, shared by the server and the CLI so that they
/// cannot disagree on a field. JSON keys are snake_case.

/// `POST /v1/orgs`.
public struct CreateOrganizationRequest: Codable, Sendable {
    /// The organization's name.
    public var name: String

    /// Creates the request.
    public init(name: String) {
        self.name = name
    }
}

/// An organization in a response.
public struct OrganizationResponse: Codable, Sendable, Hashable {
    /// Its name.
    public var name: String
    /// Whether it is suspended.
    public var suspended: Bool
    /// The revision of its last change.
    public var revision: UInt64

    /// Creates the value.
    public init(name: String, suspended: Bool, revision: UInt64) {
        self.name = name
        self.suspended = suspended
        self.revision = revision
    }
}

/// `POST /v1/cluster/bootstrap/challenge`: a one-time challenge for a proof of the cluster
/// secret (`ClusterProof`).
public struct ChallengeResponse: Codable, Sendable {
    /// 32 random bytes, hex.
    public var challenge: String
    /// How long it may be used.
    public var expiresInSeconds: Int

    enum CodingKeys: String, CodingKey {
        case challenge
        case expiresInSeconds = "expires_in_seconds"
    }

    /// Creates the value.
    public init(challenge: String, expiresInSeconds: Int) {
        self.challenge = challenge
        self.expiresInSeconds = expiresInSeconds
    }
}

/// `POST /v1/cluster/bootstrap` and `POST /v1/cluster/break-glass`: a `system.admin`
/// credential, shown once.
public struct BootstrapResponse: Codable, Sendable {
    /// The principal the key authenticates as.
    public var principal: String
    /// The key id.
    public var keyID: String
    /// The bearer token: `<key id>.<secret>`.
    public var token: String
    /// The revision of the key's creation.
    public var revision: UInt64

    enum CodingKeys: String, CodingKey {
        case principal
        case keyID = "key_id"
        case token
        case revision
    }

    /// Creates the value.
    public init(principal: String, keyID: String, token: String, revision: UInt64) {
        self.principal = principal
        self.keyID = keyID
        self.token = token
        self.revision = revision
    }
}

/// `POST /v1/cluster/members`.
public struct MembershipRequest: Codable, Sendable {
    /// `add_learner`, `promote`, `remove` or `set_address`.
    public var action: String
    /// The replica id.
    public var replica: UInt64
    /// For `promote`: promote even a learner that has not caught up. Without it, a learner
    /// that has acknowledged nothing, or lags more than the leader allows, is refused (409).
    public var force: Bool?
    /// For `add_learner` and `set_address`: the replica's peer address (`host:port`), written
    /// to the replicated address book so that every replica reaches it with no restart. The
    /// replica must already run there: the serving replica proves it holds the cluster secret
    /// first. Without it, `add_learner` needs the address in every replica's configuration.
    public var peerAddress: String?
    /// For `add_learner` with `peer_address`: whether the leader promotes the learner once it
    /// has stayed caught up (the `auto_promote_seconds` setting); default true.
    public var autoPromote: Bool?

    enum CodingKeys: String, CodingKey {
        case action, replica, force
        case peerAddress = "peer_address"
        case autoPromote = "auto_promote"
    }

    /// Creates the request.
    public init(action: String, replica: UInt64, force: Bool? = nil, peerAddress: String? = nil, autoPromote: Bool? = nil) {
        self.force = force
        self.action = action
        self.replica = replica
        self.peerAddress = peerAddress
        self.autoPromote = autoPromote
    }
}

/// `POST /v1/cluster/leader`.
public struct TransferRequest: Codable, Sendable {
    /// The voter to hand leadership to.
    public var replica: UInt64

    /// Creates the request.
    public init(replica: UInt64) {
        self.replica = replica
    }
}

/// A write's acknowledgement.
public struct RevisionResponse: Codable, Sendable {
    /// The revision the write was applied at.
    public var revision: UInt64

    /// Creates the value.
    public init(revision: UInt64) {
        self.revision = revision
    }
}

/// `GET /v1/cluster/hash`.
public struct StateHashResponse: Codable, Sendable {
    /// SHA-256 over every table (hex).
    public var stateHash: String
    /// The revision it reflects.
    public var revision: UInt64
    /// The audit head at that revision.
    public var auditHead: String
    /// The audit sequence at that revision.
    public var auditSequence: UInt64

    enum CodingKeys: String, CodingKey {
        case stateHash = "state_hash"
        case revision
        case auditHead = "audit_head"
        case auditSequence = "audit_sequence"
    }

    /// Creates the value.
    public init(stateHash: String, revision: UInt64, auditHead: String, auditSequence: UInt64) {
        self.stateHash = stateHash
        self.revision = revision
        self.auditHead = auditHead
        self.auditSequence = auditSequence
    }
}

/// An error body (`application/problem+json`, RFC 9457).
public struct Problem: Codable, Sendable, Hashable {
    /// A stable, machine-readable code.
    public var code: String
    /// A short summary of the kind of problem.
    public var title: String
    /// The HTTP status.
    public var status: Int
    /// What went wrong in this request.
    public var detail: String

    /// Creates the value.
    public init(code: String, title: String, status: Int, detail: String) {
        self.code = code
        self.title = title
        self.status = status
        self.detail = detail
    }
}

/// The cluster as one replica sees it.
public struct ClusterStatus: Codable, Sendable, Hashable {
    /// This replica's id.
    public var id: UInt64
    /// Its Raft role.
    public var role: String
    /// Its term.
    public var term: UInt64
    /// The leader it knows of.
    public var leader: UInt64?
    /// The commit index it knows of.
    public var commitIndex: UInt64
    /// The revision it has applied.
    public var appliedIndex: UInt64
    /// Its last log index.
    public var lastIndex: UInt64
    /// The index of its latest snapshot.
    public var snapshotIndex: UInt64
    /// The voters.
    public var voters: [UInt64]
    /// The learners.
    public var learners: [UInt64]
    /// The audit log's newest sequence number.
    public var auditSequence: UInt64
    /// The audit log's head hash (hex).
    public var auditHead: String
    /// How many voters may fail with the cluster still committing: (voters − 1) / 2.
    public var failureTolerance: Int?
    /// The build of the replica answering (`RampartVersion.current`).
    public var version: String?
    /// The cluster's id (`ClusterIdentity`): a snapshot's header names the cluster it came from.
    public var clusterID: String?
    /// Each other member's progress, as the leader sees it (on the leader only).
    public var progress: [MemberProgress]?
    /// How long ago, in milliseconds, this replica last heard from each peer, by id.
    public var lastContactMilliseconds: [String: Int]?
    /// Every member with its peer address, as this replica knows them.
    public var members: [Member]?

    enum CodingKeys: String, CodingKey {
        case id, role, term, leader, voters, learners, version, progress, members
        case clusterID = "cluster_id"
        case commitIndex = "commit_index"
        case appliedIndex = "applied_index"
        case lastIndex = "last_index"
        case snapshotIndex = "snapshot_index"
        case auditSequence = "audit_sequence"
        case auditHead = "audit_head"
        case failureTolerance = "failure_tolerance"
        case lastContactMilliseconds = "last_contact_ms"
    }

    /// A member and where its peers reach it.
    public struct Member: Codable, Sendable, Hashable {
        /// The member.
        public var id: UInt64
        /// Whether it votes (else it is a learner).
        public var voter: Bool
        /// Its peer address (`host:port`); nil when this replica knows none.
        public var peerAddress: String?
        /// `replicated` (the address book, `cluster add --peer-address`) or `configured` (the
        /// `peers` setting).
        public var addressSource: String
        /// Whether the leader promotes it on its own once it has caught up (learners added by
        /// address).
        public var autoPromote: Bool

        enum CodingKeys: String, CodingKey {
            case id, voter
            case peerAddress = "peer_address"
            case addressSource = "address_source"
            case autoPromote = "auto_promote"
        }

        /// A member.
        public init(id: UInt64, voter: Bool, peerAddress: String?, addressSource: String, autoPromote: Bool) {
            self.id = id
            self.voter = voter
            self.peerAddress = peerAddress
            self.addressSource = addressSource
            self.autoPromote = autoPromote
        }
    }

    /// A member's replication progress on the leader.
    public struct MemberProgress: Codable, Sendable, Hashable {
        /// The member.
        public var id: UInt64
        /// Whether it votes (else it is a learner).
        public var voter: Bool
        /// The highest log index it is known to hold.
        public var matchIndex: UInt64
        /// Entries it lacks: the leader's last index minus its match index.
        public var lag: UInt64
        /// How long ago, in milliseconds, the leader last heard from it; nil if never.
        public var lastContactMilliseconds: Int?

        enum CodingKeys: String, CodingKey {
            case id, voter, lag
            case matchIndex = "match_index"
            case lastContactMilliseconds = "last_contact_ms"
        }

        /// A member's progress.
        public init(id: UInt64, voter: Bool, matchIndex: UInt64, lag: UInt64, lastContactMilliseconds: Int?) {
            self.id = id
            self.voter = voter
            self.matchIndex = matchIndex
            self.lag = lag
            self.lastContactMilliseconds = lastContactMilliseconds
        }
    }

    /// Creates a status.
    public init(
        id: UInt64, role: String, term: UInt64, leader: UInt64?, commitIndex: UInt64, appliedIndex: UInt64, lastIndex: UInt64,
        snapshotIndex: UInt64, voters: [UInt64], learners: [UInt64], auditSequence: UInt64, auditHead: String
    ) {
        self.id = id
        self.role = role
        self.term = term
        self.leader = leader
        self.commitIndex = commitIndex
        self.appliedIndex = appliedIndex
        self.lastIndex = lastIndex
        self.snapshotIndex = snapshotIndex
        self.voters = voters
        self.learners = learners
        self.auditSequence = auditSequence
        self.auditHead = auditHead
    }
}
