/// Why a proposal, a read or an administrative request was refused by the instance. These are
/// operating conditions the caller handles (retry elsewhere, back off), not bugs.
public enum ProposalError: Error, Hashable, Sendable, CustomStringConvertible {
    /// This replica is not the leader. `leaderHint` is the leader it knows of, if any.
    case notLeader(leaderHint: ReplicaID?)
    /// The leader holds `maxUncommittedBytes` of uncommitted proposals, or `maxPendingReads`
    /// reads; the caller should back off.
    case overloaded
    /// A leadership transfer is in progress; proposals resume when it ends.
    case transferInProgress
    /// Another membership change is not yet committed, or the leader has not yet committed an
    /// entry of its own term.
    case membershipChangePending
    /// The membership change does not apply to the current membership.
    case membershipChangeRejected(MembershipChange.Rejection)
    /// The target of a leadership transfer is not a voter, or is this replica.
    case invalidTransferTarget(ReplicaID)
    /// The learner to promote is more than `maxPromotionLagEntries` behind the leader.
    case learnerNotCaughtUp(ReplicaID)
    /// The command is larger than `maxProposalBytes`.
    case proposalTooLarge(limit: Int)

    public var description: String {
        switch self {
        case .notLeader(let hint): return "not the leader (leader: \(hint.map(\.description) ?? "unknown"))"
        case .overloaded: return "overloaded"
        case .transferInProgress: return "leadership transfer in progress"
        case .membershipChangePending: return "a membership change is already pending"
        case .membershipChangeRejected(let reason): return "membership change rejected: \(reason)"
        case .invalidTransferTarget(let id): return "replica \(id) cannot become leader"
        case .learnerNotCaughtUp(let id): return "learner \(id) has not caught up with the leader"
        case .proposalTooLarge(let limit): return "the command exceeds \(limit) bytes"
        }
    }
}
