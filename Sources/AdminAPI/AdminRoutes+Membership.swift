import APIModels
import Hummingbird
import PolicyModel

/// `POST /v1/cluster/members`: membership changes, and the replicated peer address book they
/// rest on (`PeerAddress`).
///
/// Adding by address is two replicated steps, each committed before the next: the address
/// (an audited command, so auditors see who added which replica where; the addresses of the
/// members known so far only from the configuration go first), then the learner. The address
/// first, so that when the learner joins, every replica can already reach it; an address left
/// behind by a failure between the two is harmless (nothing is sent to a replica
/// that is not a member), and the retry overwrites it. Removal is the reverse: the member, then
/// its address.
extension AdminRoutes {
    /// The longest wait for a replica to answer the proof of reachability.
    static let peerProbeTimeout: Duration = .seconds(3)

    func membershipRoute(_ input: RouteInput) async throws -> Response {
        let body = try await decode(MembershipRequest.self, from: input.request)
        guard body.replica > 0 else { throw APIError.badRequest("replica ids start at 1") }
        if body.force != nil, body.action != "promote" { throw APIError.badRequest("force applies to promote only") }
        if body.peerAddress != nil, body.action != "add_learner", body.action != "set_address" {
            throw APIError.badRequest("peer_address applies to add_learner and set_address only")
        }
        if body.autoPromote != nil, body.action != "add_learner" || body.peerAddress == nil {
            throw APIError.badRequest("auto_promote applies to add_learner with a peer_address only")
        }
        let deadline = deadline(input.request)
        switch body.action {
        case "add_learner":
            if let address = body.peerAddress {
                let status = cluster.status()
                guard !status.voters.contains(body.replica), !status.learners.contains(body.replica) else {
                    throw APIError.cluster(.refused("replica \(body.replica) is already a member"))
                }
                // Proved before anything is written: a refused add changes nothing.
                try await provePeer(body.replica, at: address)
                try await recordConfiguredAddresses(of: status, input)
                try await recordPeerAddress(body.replica, address, autoPromote: body.autoPromote ?? true, input)
            }
            return try await membershipChange(.addLearner(body.replica), deadline: deadline)
        case "set_address":
            guard let address = body.peerAddress else { throw APIError.badRequest("set_address needs peer_address") }
            let entry = try await wrap { () throws(ClusterError) in try cluster.readNow { $0.peerAddressBook[body.replica] } }.value
            let status = cluster.status()
            guard entry != nil || status.voters.contains(body.replica) || status.learners.contains(body.replica) else {
                throw APIError.rejected(.notFound("replica \(body.replica) (neither a member nor in the address book)"))
            }
            try await provePeer(body.replica, at: address)
            let outcome = try await recordPeerAddress(body.replica, address, autoPromote: entry?.autoPromote ?? false, input)
            return try json(RevisionResponse(revision: outcome.revision))
        case "promote":
            return try await membershipChange(.promote(body.replica, force: body.force ?? false), deadline: deadline)
        case "remove":
            let hasEntry = { () async throws -> Bool in
                try await self.wrap { () throws(ClusterError) in try self.cluster.readNow { $0.peerAddressBook[body.replica] != nil } }.value
            }
            let response: Response
            do {
                response = try await membershipChange(.remove(body.replica), deadline: deadline)
            } catch APIError.cluster(.refused(let reason)) where reason.hasSuffix("is not a member") {
                // An address left behind (a failure between the two steps of an add or a
                // remove): the leader says the replica is no member, so only the address goes.
                guard try await hasEntry() else { throw APIError.cluster(.refused(reason)) }
                let outcome = try await submit(.removePeerAddress(replica: body.replica), actor: input.actor, request: input.request)
                return try json(RevisionResponse(revision: outcome.revision))
            }
            guard try await hasEntry() else { return response }
            let outcome = try await submit(.removePeerAddress(replica: body.replica), actor: input.actor, request: input.request)
            return try json(RevisionResponse(revision: outcome.revision))
        default:
            throw APIError.badRequest("action must be add_learner, promote, remove or set_address")
        }
    }

    /// Checks `address` and proves the replica runs there.
    private func provePeer(_ replica: UInt64, at address: String) async throws {
        if case .failure(let error) = PeerAddress.parse(address) { throw APIError.rejected(error) }
        try await wrap { () async throws(ClusterError) in try await cluster.probePeer(replica, at: address, timeout: Self.peerProbeTimeout) }
    }

    /// Commits `address`, proved first (`provePeer`), to the address book.
    @discardableResult
    private func recordPeerAddress(_ replica: UInt64, _ address: String, autoPromote: Bool, _ input: RouteInput) async throws -> CommandOutcome {
        try await submit(.setPeerAddress(replica: replica, address: address, autoPromote: autoPromote), actor: input.actor, request: input.request)
    }

    /// Writes to the address book the address of each member known only from the serving
    /// replica's configuration (a founder's `peers` entry), as it dials it: a replica that joins
    /// by address then learns every member's address from the book, and needs none configured.
    /// Each is written once; a member with an entry keeps it.
    private func recordConfiguredAddresses(of status: ClusterStatus, _ input: RouteInput) async throws {
        for member in status.members ?? [] where member.addressSource == "configured" {
            guard let address = member.peerAddress, case .success = PeerAddress.parse(address) else { continue }
            try await submit(
                .setPeerAddress(replica: member.id, address: address, autoPromote: false), actor: input.actor, request: input.request, accompanying: true)
        }
    }

    private func membershipChange(_ operation: MembershipOperation, deadline: Duration) async throws -> Response {
        let revision = try await wrap { () async throws(ClusterError) in try await cluster.changeMembership(operation, timeout: deadline) }
        return try json(RevisionResponse(revision: revision))
    }
}
