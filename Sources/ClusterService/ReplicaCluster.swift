public import AdminAPI
public import APIModels
import Crypto
import Foundation
public import PeerTransport
import NIOCore
public import PolicyModel
public import PolicyStore
import RaftCore
public import Replica

/// The real `PolicyCluster`: the HTTP API's view of this process's replica.
public struct ReplicaCluster: PolicyCluster {
    let replica: Replica
    let network: PeerNetwork
    let clusterSecret: [UInt8]
    let sealer: RootKeySealer
    /// The TLS certificates' reloader, whose expiries the metrics show; nil without TLS.
    var certificates: TLSReloader?
    /// The configured (founding) peer addresses, this replica's own included, by id.
    var configuredPeers: [UInt64: String] = [:]

    /// The API's view of `replica`, whose peers talk over `network`; `clusterSecret` checks
    /// bootstrap proofs, `sealer` seals new root keys.
    public init(replica: Replica, network: PeerNetwork, clusterSecret: [UInt8], sealer: RootKeySealer) {
        self.replica = replica
        self.network = network
        self.clusterSecret = clusterSecret
        self.sealer = sealer
    }

    public func status() -> ClusterStatus {
        let status = replica.status
        var answer = ClusterStatus(
            id: status.id.rawValue, role: status.role.rawValue, term: status.term, leader: status.leader?.rawValue,
            commitIndex: status.commitIndex, appliedIndex: status.appliedIndex, lastIndex: status.lastIndex,
            snapshotIndex: status.snapshotIndex, voters: status.membership.voters.map(\.rawValue),
            learners: status.membership.learners.map(\.rawValue), auditSequence: status.auditSequence, auditHead: status.auditHead)
        let voters = status.membership.voters.count
        answer.failureTolerance = voters == 0 ? 0 : (voters - 1) / 2
        answer.version = RampartVersion.current
        answer.clusterID = clusterID
        let now = ContinuousClock.now
        func ago(_ instant: ContinuousClock.Instant?) -> Int? {
            instant.map { instant in
                let elapsed = instant.duration(to: now).components
                return Int(elapsed.seconds) * 1000 + Int(elapsed.attoseconds / 1_000_000_000_000_000)
            }
        }
        let book = (try? readNow { $0.peerAddressBook }.value) ?? [:]
        answer.members = status.membership.allMembers.map { member in
            let entry = book[member.rawValue]
            return ClusterStatus.Member(
                id: member.rawValue, voter: status.membership.isVoter(member),
                peerAddress: entry?.address ?? configuredPeers[member.rawValue], addressSource: entry != nil ? "replicated" : "configured",
                autoPromote: entry?.autoPromote ?? false)
        }
        answer.lastContactMilliseconds = Dictionary(
            uniqueKeysWithValues: status.lastContact.compactMap { peer, instant in ago(instant).map { ("\(peer.rawValue)", $0) } })
        if status.role == .leader {
            answer.progress = status.membership.allMembers.filter { $0 != status.id }.sorted().map { member in
                let match = status.matchIndexes[member] ?? 0
                return ClusterStatus.MemberProgress(
                    id: member.rawValue, voter: status.membership.voters.contains(member), matchIndex: match,
                    lag: status.lastIndex > match ? status.lastIndex - match : 0, lastContactMilliseconds: ago(status.lastContact[member]))
            }
        }
        return answer
    }

    public func isHealthy() -> Bool {
        let status = replica.status
        return !status.stopped && status.failure == nil
    }

    public func isReady() -> Bool {
        let status = replica.status
        return isHealthy() && status.leader != nil && status.appliedIndex >= status.commitIndex
    }

    public func metricsText() -> String {
        MetricsText.render(status: replica.status, metrics: replica.metrics, network: network.statistics) + (certificates?.metricsText() ?? "")
    }

    public func submit(_ envelope: CommandEnvelope, timeout: Duration) async throws(ClusterError) -> CommandOutcome {
        try Self.outcome(of: try await write(.command(CommandCodec.encode(envelope)), timeout: timeout)).get()
    }

    public func submit(_ envelope: CommandEnvelope, timeout: Duration, completion: @escaping @Sendable (Result<CommandOutcome, ClusterError>) -> Void) {
        replica.write(.command(CommandCodec.encode(envelope)), timeout: timeout) { result in
            completion(result.mapError(ClusterError.init).flatMap(Self.outcome))
        }
    }

    /// A command's outcome from the write's result (a command is always answered with one).
    private static func outcome(of result: WriteResult) -> Result<CommandOutcome, ClusterError> {
        guard let outcome = result.outcome else { return .failure(.internalFailure("a command was answered without an outcome")) }
        return .success(outcome)
    }

    public func changeMembership(_ change: MembershipOperation, timeout: Duration) async throws(ClusterError) -> UInt64 {
        let request: WriteRequest
        switch change {
        case .addLearner(let id):
            // A learner nobody can reach never catches up: its address must be in the
            // replicated address book (`add_learner` with `peer_address` writes it first) or in
            // the configuration of every replica (the one serving the request can tell).
            let inBook = try readNow { $0.peerAddressBook[id] != nil }.value
            guard inBook || network.knowsPeer(ReplicaID(rawValue: id)) else {
                throw .invalidArgument(
                    "replica \(id) has no peer address: give its peer_address (rampart cluster add --id \(id) --peer-address HOST:PORT)")
            }
            request = .membership(.addLearner(ReplicaID(rawValue: id)))
        case .promote(let id, force: false): request = .membership(.promote(ReplicaID(rawValue: id)))
        case .promote(let id, force: true): request = .forcedPromotion(ReplicaID(rawValue: id))
        case .remove(let id): request = .membership(.remove(ReplicaID(rawValue: id)))
        }
        return try await write(request, timeout: timeout).revision
    }

    public func probePeer(_ replica: UInt64, at address: String, timeout: Duration) async throws(ClusterError) {
        guard replica != self.replica.status.id.rawValue else { throw .invalidArgument("replica \(replica) is this replica") }
        let resolved: SocketAddress
        do {
            resolved = try await PeerMaintenance.resolve(address)
        } catch {
            throw .invalidArgument("cannot resolve peer address \(address): \(error)")
        }
        do {
            try await network.probe(ReplicaID(rawValue: replica), at: resolved, timeout: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000))
        } catch {
            throw .invalidArgument("cannot reach replica \(replica) at \(address) (\(error)): start it there first, with the cluster secret")
        }
    }

    public func transferLeadership(to replicaID: UInt64, timeout: Duration) async throws(ClusterError) {
        guard replicaID > 0 else { throw .refused("replica ids start at 1") }
        _ = try await write(.transferLeadership(to: ReplicaID(rawValue: replicaID)), timeout: timeout)
    }

    public func read<Value: Sendable>(_ consistency: ReadConsistency, timeout: Duration, _ body: @escaping @Sendable (PolicyState) -> Value)
        async throws(ClusterError) -> (value: Value, revision: UInt64)
    {
        do throws(ReplicaError) {
            switch consistency {
            case .linearizable:
                _ = try await replica.linearizableRead(timeout: timeout)
            case .leader:
                // The leader's own state, without a quorum round: current unless a newer leader
                // was elected within the last election timeout (CheckQuorum bounds that). A
                // follower cannot answer for the leader, so it reads linearizably instead.
                if replica.status.role != .leader { _ = try await replica.linearizableRead(timeout: timeout) }
            case .stale:
                break
            }
        } catch {
            throw ClusterError(error)
        }
        return try readNow(body)
    }

    public func readNow<Value>(_ body: (PolicyState) -> Value) throws(ClusterError) -> (value: Value, revision: UInt64) {
        do {
            // On this thread, from the state published after the last applied batch.
            return try replica.readState { state, applied in (body(state), applied) }
        } catch {
            throw ClusterError(error)
        }
    }

    public func auditRecords(after cursor: String?, limit: Int, filter: AuditQuery, consistency: ReadConsistency, timeout: Duration)
        async throws(ClusterError) -> (records: [AuditRecord], nextCursor: String?, revision: UInt64)
    {
        var filtered = AuditFilter(
            organization: filter.organization, actor: filter.actor, action: filter.action,
            since: filter.sinceMilliseconds.map { Timestamp(millisecondsSinceEpoch: $0) },
            until: filter.untilMilliseconds.map { Timestamp(millisecondsSinceEpoch: $0) }, requestID: filter.requestID)
        filtered.currentOrganizationOnly = filter.currentOrganizationOnly
        filtered.fromRevision = filter.fromRevision
        let storeFilter = filtered
        do {
            if consistency != .stale { _ = try await replica.linearizableRead(timeout: timeout) }
            return try await replica.query { store in
                let page = try store.auditRecords(after: cursor, limit: limit, filter: storeFilter)
                return (page.items, page.nextCursor, store.appliedIndex)
            }
        } catch let error as ReplicaError {
            throw ClusterError(error)
        } catch PolicyStoreError.misuse(let reason) {
            // The route checks the cursor and the page size; a misuse left is the client's too.
            throw .invalidArgument(reason)
        } catch {
            throw .internalFailure("\(error)")
        }
    }

    public func waitForRevision(_ revision: UInt64, timeout: Duration) async throws(ClusterError) {
        do {
            _ = try await replica.waitUntilApplied(revision, timeout: timeout)
        } catch {
            throw ClusterError(error)
        }
    }

    public func stateHash() async throws(ClusterError) -> (hash: String, revision: UInt64) {
        do throws(ReplicaError) {
            let (hash, applied) = try await replica.stateHash()
            return (Hex.encode(hash), applied)
        } catch {
            throw ClusterError(error)
        }
    }

    public func verifyClusterProof(_ proof: [UInt8], of message: [UInt8]) -> Bool {
        HMAC<SHA256>.isValidAuthenticationCode(proof, authenticating: message, using: SymmetricKey(data: clusterSecret))
    }

    public func newEntityID() -> EntityID {
        var generator = SystemRandomNumberGenerator()
        return EntityID(high: generator.next(), low: generator.next())
    }

    public func openRootKey(_ key: RootKey) throws(ClusterError) -> [UInt8] {
        do {
            return try sealer.open(key.sealedPrivateKey, id: key.id)
        } catch {
            throw .internalFailure("root key \(key.id) does not open with this replica's key-encryption key")
        }
    }

    public func newRootKey() throws(ClusterError) -> (id: EntityID, publicKey: [UInt8], sealedPrivateKey: [UInt8]) {
        let id = newEntityID()
        do {
            let pair = try sealer.generate(id: id)
            return (id, pair.publicKey, pair.sealedPrivateKey)
        } catch {
            throw .internalFailure("cannot generate a root key: \(error)")
        }
    }

    public func newSecret() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    public func now() -> Timestamp {
        Timestamp(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000))
    }

    private func write(_ request: WriteRequest, timeout: Duration) async throws(ClusterError) -> WriteResult {
        do {
            return try await replica.write(request, timeout: timeout)
        } catch {
            throw ClusterError(error)
        }
    }
}

extension ReplicaCluster: CustomStringConvertible, CustomReflectable {
    /// Never the cluster secret (a service's description is logged at debug level).
    public var description: String { "ReplicaCluster(replica \(replica.status.id), secrets redacted)" }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

extension ClusterError {
    /// The one mapping of the runtime's conditions to the API's, the same whether the write
    /// was refused here or by the leader it was forwarded to (refusals travel by case).
    public init(_ error: ReplicaError) {
        switch error {
        case .noLeader(let hint): self = .unavailable("no leader is known (last seen: \(hint.map(\.description) ?? "none")); retry")
        case .timedOut: self = .timedOut
        case .proposalDropped: self = .unavailable("the write was lost to a leader change and not applied; retry")
        case .refused(.overloaded), .overloaded: self = .overloaded
        case .refused(.notLeader): self = .unavailable("leadership is changing; retry")
        case .refused(.transferInProgress): self = .unavailable("a leadership transfer is in progress; retry")
        case .refused(let reason): self = .refused(reason.description)
        case .leaderRefused(let reason): self = .refused(reason)
        case .stopped: self = .unavailable("this replica is stopping")
        case .failed(let reason), .invalidConfiguration(let reason), .storage(let reason): self = .internalFailure(reason)
        }
    }
}
