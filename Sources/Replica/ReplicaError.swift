public import RaftCore

/// Why a replica could not carry out a request. These are operating conditions the caller
/// handles (retry, back off, try another replica); domain rejections are `CommandOutcome`s.
public enum ReplicaError: Error, Hashable, Sendable, CustomStringConvertible {
    /// No leader was known before the deadline; the hint is the last one seen.
    case noLeader(leaderHint: ReplicaID?)
    /// The deadline passed before an answer: the write may or may not have been applied (an
    /// idempotency key makes the retry safe).
    case timedOut
    /// The proposal was lost to a leader change and was not applied.
    case proposalDropped
    /// The leader refused the request (overloaded, transfer in progress, membership rules...).
    case refused(ProposalError)
    /// The leader refused a forwarded request; the text is its reason.
    case leaderRefused(String)
    /// The runtime's queues are full.
    case overloaded
    /// The replica is stopping or stopped.
    case stopped
    /// The replica failed (its disk, or a bug) and stopped; the text says why.
    case failed(String)
    /// The configuration is invalid; the text names the problem.
    case invalidConfiguration(String)
    /// The data directory cannot be used; the text says why.
    case storage(String)

    public var description: String {
        switch self {
        case .noLeader(let hint): return "no leader is known (last seen: \(hint.map(\.description) ?? "none"))"
        case .timedOut: return "timed out; the outcome is unknown"
        case .proposalDropped: return "the proposal was lost to a leader change and not applied"
        case .refused(let reason): return "refused: \(reason)"
        case .leaderRefused(let reason): return "the leader refused: \(reason)"
        case .overloaded: return "the replica is overloaded"
        case .stopped: return "the replica is stopped"
        case .failed(let reason): return "the replica failed: \(reason)"
        case .invalidConfiguration(let reason): return "invalid configuration: \(reason)"
        case .storage(let reason): return "storage: \(reason)"
        }
    }
}
