/// The set of replicas that take part in the cluster: voters decide elections and commits,
/// learners receive the log but do not vote.
///
/// Both lists are kept sorted so that every iteration over members is deterministic (Swift's
/// `Set` order changes from process to process).
public struct Membership: Hashable, Sendable, CustomStringConvertible {
    // Invariant: voters and learners are sorted, duplicate-free and disjoint.
    /// Replicas that vote and count toward quorums, sorted.
    public private(set) var voters: [ReplicaID]
    /// Replicas that receive the log but neither vote nor count toward quorums, sorted.
    public private(set) var learners: [ReplicaID]

    /// Creates a membership.
    /// - Parameters:
    ///   - voters: the voting replicas.
    ///   - learners: the non-voting replicas; must not overlap `voters`.
    public init(voters: [ReplicaID], learners: [ReplicaID] = []) {
        let sortedVoters = Array(Set(voters)).sorted()
        let sortedLearners = Array(Set(learners)).sorted()
        precondition(
            Set(sortedVoters).isDisjoint(with: sortedLearners),
            "a replica cannot be both voter and learner: voters=\(voters) learners=\(learners)")
        self.voters = sortedVoters
        self.learners = sortedLearners
    }

    /// The empty membership of a replica that has not yet learned its cluster.
    public static let empty = Membership(voters: [])

    /// Every member, voters first then learners, each group sorted.
    public var allMembers: [ReplicaID] { voters + learners }

    /// The number of voters that makes a majority.
    public var quorum: Int { voters.count / 2 + 1 }

    /// Whether `id` is a voter.
    public func isVoter(_ id: ReplicaID) -> Bool { voters.contains(id) }

    /// Whether `id` is a learner.
    public func isLearner(_ id: ReplicaID) -> Bool { learners.contains(id) }

    /// Whether `id` is a voter or a learner.
    public func contains(_ id: ReplicaID) -> Bool { isVoter(id) || isLearner(id) }

    /// Checks that `change` can be applied to this membership.
    /// - Returns: nil when it can, otherwise the reason it cannot.
    public func rejection(of change: MembershipChange) -> MembershipChange.Rejection? {
        switch change {
        case .bootstrap(let initialVoters):
            if !voters.isEmpty || !learners.isEmpty { return .alreadyBootstrapped }
            if initialVoters.isEmpty { return .wouldLeaveNoVoters }
            return nil
        case .addLearner(let id):
            return contains(id) ? .alreadyMember(id) : nil
        case .promote(let id):
            return isLearner(id) ? nil : .notLearner(id)
        case .remove(let id):
            if !contains(id) { return .notMember(id) }
            if isVoter(id) && voters.count == 1 { return .wouldLeaveNoVoters }
            return nil
        }
    }

    /// Returns the membership after `change`, or nil when the change does not apply.
    public func applying(_ change: MembershipChange) -> Membership? {
        guard rejection(of: change) == nil else { return nil }
        switch change {
        case .bootstrap(let initialVoters):
            return Membership(voters: initialVoters)
        case .addLearner(let id):
            return Membership(voters: voters, learners: learners + [id])
        case .promote(let id):
            return Membership(voters: voters + [id], learners: learners.filter { $0 != id })
        case .remove(let id):
            return Membership(voters: voters.filter { $0 != id }, learners: learners.filter { $0 != id })
        }
    }

    public var description: String {
        let v = voters.map(\.description).joined(separator: ",")
        let l = learners.map(\.description).joined(separator: ",")
        return l.isEmpty ? "voters=(\(v))" : "voters=(\(v)) learners=(\(l))"
    }
}

/// One change to the membership. Changes are made one at a time: each adds or removes a single
/// replica, so any majority of the old voters overlaps any majority of the new ones (Raft thesis
/// §4.1). A change takes effect on a replica as soon as the entry that carries it is in its log.
public enum MembershipChange: Hashable, Sendable, CustomStringConvertible {
    /// The first entry of a new cluster: the initial voters. Only valid on an empty membership.
    case bootstrap(voters: [ReplicaID])
    /// Adds a replica as a learner: it receives the log but does not vote.
    case addLearner(ReplicaID)
    /// Turns a learner into a voter.
    case promote(ReplicaID)
    /// Removes a voter or learner; the leader itself may be removed.
    case remove(ReplicaID)

    /// Why a change cannot be applied to a membership.
    public enum Rejection: Hashable, Sendable, CustomStringConvertible {
        /// A bootstrap change on a cluster that already has members.
        case alreadyBootstrapped
        /// The replica to add is already a member.
        case alreadyMember(ReplicaID)
        /// The replica to promote is not a learner.
        case notLearner(ReplicaID)
        /// The replica to remove is not a member.
        case notMember(ReplicaID)
        /// The change would leave the cluster without voters.
        case wouldLeaveNoVoters

        public var description: String {
            switch self {
            case .alreadyBootstrapped: return "the cluster is already bootstrapped"
            case .alreadyMember(let id): return "replica \(id) is already a member"
            case .notLearner(let id): return "replica \(id) is not a learner"
            case .notMember(let id): return "replica \(id) is not a member"
            case .wouldLeaveNoVoters: return "the change would leave no voters"
            }
        }
    }

    public var description: String {
        switch self {
        case .bootstrap(let voters): return "bootstrap(\(voters.map(\.description).joined(separator: ",")))"
        case .addLearner(let id): return "add-learner(\(id))"
        case .promote(let id): return "promote(\(id))"
        case .remove(let id): return "remove(\(id))"
        }
    }
}
