import Crypto
import AdminAPI
import APIModels
import Foundation
import NIOConcurrencyHelpers
import PolicyModel

/// A `PolicyCluster` in memory: commands apply at once to one `PolicyState`, with audit records,
/// so the routes can be tested without Raft. Failures can be injected per call.
final class FakeCluster: PolicyCluster {
    private struct State {
        var policy = PolicyState()
        var revision: UInt64 = 1
        var audit: [AuditRecord] = []
        /// Every audit query asked, in order.
        var auditQueries: [AuditQuery] = []
        var nextID: UInt64 = 1
        var unavailable = false
        /// What stale reads see while the replica lags (`lag()`); nil when caught up.
        var staleView: (policy: PolicyState, revision: UInt64)?
        /// Whether callback submissions wait in `held` (`holdSubmissions`).
        var holding = false
        var held: [(CommandEnvelope, @Sendable (Result<CommandOutcome, ClusterError>) -> Void)] = []
        /// How far the clock was moved on (`advanceClock`).
        var clockOffset: Int64 = 0
        /// The learners (the fake replica 1 is the one voter).
        var learners: [UInt64] = []
        /// Where `probePeer` finds a replica running, as (replica, address).
        var reachablePeers: Set<String> = []
        /// Every probe asked, as "replica@address".
        var probes: [String] = []
    }

    private let state = NIOLockedValueBox(State())
    static let secret = [UInt8](repeating: 0x42, count: 32)

    /// Makes every cluster call fail with "no leader".
    func setUnavailable(_ unavailable: Bool) {
        state.withLockedValue { $0.unavailable = unavailable }
    }

    /// Makes stale reads see the state as it is now until a caller waits for a later revision
    /// (`waitForRevision`), as on a follower that has not applied the newest writes yet.
    func lag() {
        state.withLockedValue { $0.staleView = ($0.policy, $0.revision) }
    }

    var revision: UInt64 { state.withLockedValue { $0.revision } }
    var auditCount: Int { state.withLockedValue { $0.audit.count } }
    /// Every audit record so far.
    var auditLog: [AuditRecord] { state.withLockedValue { $0.audit } }
    /// Every audit query the routes asked, in order.
    var auditQueries: [AuditQuery] { state.withLockedValue { $0.auditQueries } }

    /// Every entity of the state, to prove that refused requests change nothing (the revision
    /// is left out: a domain rejection advances it without changing an entity).
    var fingerprint: String {
        state.withLockedValue { state in
            let policy = state.policy
            var parts: [String] = []
            for organization in policy.allOrganizations {
                parts.append("\(organization)")
                parts += policy.projects(of: organization.name).map { "\($0)" }
                parts += policy.principals(of: organization.name).map { "\($0)" }
                parts += policy.roles(of: organization.name).map { "\($0)" }
                parts += policy.bindings(in: organization.name).map { "\($0)" }
            }
            return parts.joined(separator: "|")
        }
    }

    /// The configured peer address of the one voter, replica 1 (as a founder's `peers` has it).
    static let configuredAddress = "127.0.0.1:7001"

    func status() -> ClusterStatus {
        let revision = self.revision
        var status = ClusterStatus(
            id: 1, role: "leader", term: 1, leader: 1, commitIndex: revision, appliedIndex: revision, lastIndex: revision, snapshotIndex: 0,
            voters: [1], learners: state.withLockedValue { $0.learners }, auditSequence: UInt64(auditCount), auditHead: "")
        let book = (try? readNow { $0.peerAddressBook }.value) ?? [:]
        status.members = ([1] + status.learners).map { id in
            ClusterStatus.Member(
                id: id, voter: id == 1, peerAddress: book[id]?.address ?? (id == 1 ? Self.configuredAddress : nil),
                addressSource: book[id] != nil ? "replicated" : "configured", autoPromote: book[id]?.autoPromote ?? false)
        }
        return status
    }

    /// Makes `probePeer` find `replica` running at `address`.
    func run(replica: UInt64, at address: String) {
        state.withLockedValue { _ = $0.reachablePeers.insert("\(replica)@\(address)") }
    }

    /// Every probe asked so far, as "replica@address".
    var probes: [String] { state.withLockedValue { $0.probes } }

    func probePeer(_ replica: UInt64, at address: String, timeout: Duration) async throws(ClusterError) {
        let reachable = state.withLockedValue { state in
            state.probes.append("\(replica)@\(address)")
            return state.reachablePeers.contains("\(replica)@\(address)")
        }
        guard reachable else { throw .invalidArgument("cannot reach replica \(replica) at \(address) (no connection: refused)") }
    }

    func isHealthy() -> Bool { true }
    func isReady() -> Bool { !state.withLockedValue { $0.unavailable } }
    func metricsText() -> String { "rampart_raft_term 1\n" }

    func submit(_ envelope: CommandEnvelope, timeout: Duration) async throws(ClusterError) -> CommandOutcome {
        try apply(envelope).get()
    }

    /// Applies at once and calls `completion` on the caller's thread, unless submissions are
    /// held (`holdSubmissions`): then the write waits until `releaseSubmissions`.
    func submit(_ envelope: CommandEnvelope, timeout: Duration, completion: @escaping @Sendable (Result<CommandOutcome, ClusterError>) -> Void) {
        let held = state.withLockedValue { state -> Bool in
            guard state.holding else { return false }
            state.held.append((envelope, completion))
            return true
        }
        if !held { completion(apply(envelope)) }
    }

    /// Makes callback submissions wait (as writes wait for a quorum) until `releaseSubmissions`.
    func holdSubmissions() {
        state.withLockedValue { $0.holding = true }
    }

    /// Applies the held submissions in order and answers them; later ones apply at once again.
    /// - Returns: how many were held.
    @discardableResult
    func releaseSubmissions() -> Int {
        let held = state.withLockedValue { state in
            defer { state.held = [] }
            state.holding = false
            return state.held
        }
        for (envelope, completion) in held { completion(apply(envelope)) }
        return held.count
    }

    private func apply(_ envelope: CommandEnvelope) -> Result<CommandOutcome, ClusterError> {
        state.withLockedValue { state -> Result<CommandOutcome, ClusterError> in
            guard !state.unavailable else { return .failure(.unavailable("no leader")) }
            state.revision += 1
            let organization = state.policy.organization(of: envelope.command)
            let outcome = state.policy.apply(envelope, at: state.revision)
            _ = state.policy.takeChanges()
            let record = AuditRecord.describing(
                envelope, organization: organization, revision: state.revision, outcome: outcome, sequence: UInt64(state.audit.count + 1),
                previousHash: state.audit.last?.hash ?? [])
            state.audit.append(record)
            return .success(outcome)
        }
    }

    /// Learners come and go; the one voter stays (promotion and its removal are refused).
    func changeMembership(_ change: MembershipOperation, timeout: Duration) async throws(ClusterError) -> UInt64 {
        try state.withLockedValue { state -> Result<UInt64, ClusterError> in
            switch change {
            case .addLearner(let id):
                guard id != 1, !state.learners.contains(id) else { return .failure(.refused("replica \(id) is already a member")) }
                // As a real replica: a learner nobody can reach is refused.
                guard state.policy.peerAddressBook[id] != nil else { return .failure(.invalidArgument("replica \(id) has no peer address")) }
                state.learners.append(id)
            case .remove(let id):
                guard let index = state.learners.firstIndex(of: id) else { return .failure(.refused("membership change rejected: replica \(id) is not a member")) }
                state.learners.remove(at: index)
            case .promote:
                return .failure(.refused("a fake cluster has one voter"))
            }
            state.revision += 1
            return .success(state.revision)
        }.get()
    }

    func transferLeadership(to replica: UInt64, timeout: Duration) async throws(ClusterError) {
        throw .refused("a fake cluster has one member")
    }

    func read<Value: Sendable>(_ consistency: ReadConsistency, timeout: Duration, _ body: @escaping @Sendable (PolicyState) -> Value)
        async throws(ClusterError) -> (value: Value, revision: UInt64)
    {
        try state.withLockedValue { state -> Result<(value: Value, revision: UInt64), ClusterError> in
            guard !state.unavailable || consistency == .stale else { return .failure(.unavailable("no leader")) }
            if consistency == .stale, let view = state.staleView { return .success((body(view.policy), view.revision)) }
            return .success((body(state.policy), state.revision))
        }.get()
    }

    func readNow<Value>(_ body: (PolicyState) -> Value) throws(ClusterError) -> (value: Value, revision: UInt64) {
        let (policy, revision) = state.withLockedValue { $0.staleView ?? ($0.policy, $0.revision) }
        return (body(policy), revision)
    }

    func auditRecords(after cursor: String?, limit: Int, filter: AuditQuery, consistency: ReadConsistency, timeout: Duration)
        async throws(ClusterError) -> (records: [AuditRecord], nextCursor: String?, revision: UInt64)
    {
        var after: UInt64 = 0
        if let cursor {
            guard let value = UInt64(cursor) else { throw .invalidArgument("audit cursor \"\(cursor)\" is not a sequence number") }
            after = value
        }
        return state.withLockedValue { state in
            state.auditQueries.append(filter)
            let matching = state.audit.filter { record in
                record.sequence > after && (filter.organization.map { $0 == record.organization } ?? true)
                    && (filter.action.map { $0 == record.action } ?? true) && (filter.actor.map { $0 == record.actor } ?? true)
                    && (filter.fromRevision.map { record.revision >= $0 } ?? true)
            }
            let page = Array(matching.prefix(limit))
            return (page, matching.count > limit ? page.last.map { "\($0.sequence)" } : nil, state.revision)
        }
    }

    func waitForRevision(_ revision: UInt64, timeout: Duration) async throws(ClusterError) {
        let reached = state.withLockedValue { state -> Bool in
            guard revision <= state.revision else { return false }
            if let view = state.staleView, view.revision < revision { state.staleView = nil }
            return true
        }
        guard reached else { throw .timedOut }
    }

    /// The database bytes `exportSnapshot` serves: 2.5 chunks, so a copy spans several.
    static let snapshotBytes: [UInt8] = (0..<(SnapshotArchive.chunkBytes * 5 / 2)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
    /// The snapshot copies handed out and not removed yet.
    let liveSnapshotCopies = NIOLockedValueBox<Set<String>>([])

    func exportSnapshot(consistency: ReadConsistency, timeout: Duration) async throws(ClusterError) -> SnapshotExport {
        let unavailable = state.withLockedValue { $0.unavailable }
        if unavailable { throw .unavailable("no leader") }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fake-snapshot-\(UUID().uuidString)").path
        guard FileManager.default.createFile(atPath: path, contents: Data(Self.snapshotBytes)) else { throw .internalFailure("cannot write \(path)") }
        let digest: (sha256: String, chunks: [String], bytes: UInt64)
        do {
            digest = try SnapshotArchive.digest(ofFileAt: path)
        } catch {
            throw .internalFailure("\(error)")
        }
        let header = SnapshotHeader(
            clusterID: ClusterIdentity.id(secret: Self.secret), replicaID: 1, revision: revision, stateHash: "00", auditSequence: 0,
            auditHead: "00", createdAt: "2026-12-07T00:00:00Z", version: RampartVersion.current, databaseBytes: digest.bytes,
            sha256: digest.sha256, chunkSHA256: digest.chunks)
        let copies = liveSnapshotCopies
        copies.withLockedValue { _ = $0.insert(path) }
        let headerBytes: [UInt8]
        do {
            headerBytes = try SnapshotArchive.encode(header)
        } catch {
            throw .internalFailure("\(error)")
        }
        return SnapshotExport(header: header, headerBytes: headerBytes, databasePath: path) {
            try? FileManager.default.removeItem(atPath: path)
            copies.withLockedValue { _ = $0.remove(path) }
        }
    }

    func stateHash() async throws(ClusterError) -> (hash: String, revision: UInt64) {
        (String(fingerprint.hashValue), revision)
    }

    func verifyClusterProof(_ proof: [UInt8], of message: [UInt8]) -> Bool {
        // The real check, with the fake's secret: which message a route asks about matters.
        proof == Self.authenticationCode(of: message)
    }

    /// HMAC-SHA256 of `message` under the fake's cluster secret.
    static func authenticationCode(of message: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: secret)))
    }

    func newEntityID() -> EntityID {
        state.withLockedValue { state in
            state.nextID += 1
            return EntityID(high: 0xABCD, low: state.nextID)
        }
    }

    /// A real Ed25519 key pair; "sealed" here is the private key itself (this fake has no
    /// key-encryption key), which `openRootKey` gives back.
    func newRootKey() throws(ClusterError) -> (id: EntityID, publicKey: [UInt8], sealedPrivateKey: [UInt8]) {
        let id = newEntityID()
        let key = Curve25519.Signing.PrivateKey()
        return (id, Array(key.publicKey.rawRepresentation), Array(key.rawRepresentation))
    }

    func openRootKey(_ key: RootKey) throws(ClusterError) -> [UInt8] {
        key.sealedPrivateKey
    }

    /// Runs what the leader's key maintenance would: activate pending keys, retire retiring ones.
    func advanceKeyLifecycle() async throws {
        let keys = try await read(.stale, timeout: .seconds(1)) { $0.allRootKeys }.value
        for key in keys where key.state == .retiring {
            _ = try await submit(CommandEnvelope(command: .retireRootKey(id: key.id), actor: nil, requestID: "retire", time: now()), timeout: .seconds(1))
        }
        for key in keys where key.state == .pending {
            _ = try await submit(CommandEnvelope(command: .activateRootKey(id: key.id), actor: nil, requestID: "activate", time: now()), timeout: .seconds(1))
        }
    }

    func newSecret() -> [UInt8] {
        let id = state.withLockedValue { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        return (0..<32).map { UInt8(truncatingIfNeeded: id &+ UInt64($0)) }
    }

    func now() -> Timestamp { Timestamp(millisecondsSinceEpoch: 1_700_000_000_000 + state.withLockedValue { $0.clockOffset }) }

    /// Moves the clock on by `seconds`.
    func advanceClock(seconds: Int64) {
        state.withLockedValue { $0.clockOffset += seconds * 1000 }
    }
}
