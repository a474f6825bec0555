// Micro-benchmarks of Rampart's hot paths, with allocation counts (ordo-one/benchmark).
// Run them with `scripts/bench-micro` (release build, its own build folder). Each benchmark
// prepares its inputs before `startMeasurement()` and ends the measurement before its inputs
// are freed, so only the path itself is measured; every figure is per operation.

import Benchmark
import Foundation
import NIOCore
import PeerTransport
import PolicyModel
import PolicyStore
import RaftCore
import RaftSimulation

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .throughput, .mallocCountTotal], maxDuration: .seconds(2), maxIterations: 1_000_000)

    // MARK: Raft core

    // One write's whole trip through three in-memory replicas: propose on the leader, carry out
    // every Ready (in-memory persistence), deliver every message, apply on all three.
    Benchmark("raft: propose, replicate, commit and apply one entry (3 replicas)") { benchmark in
        var cluster = LosslessCluster(size: 3) { $0.maxInflightMessages = 256 }
        let payload = [UInt8](repeating: 7, count: 100)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            cluster.proposeAndSettle([payload])
        }
        benchmark.stopMeasurement()
        blackHole(cluster)
    }

    Benchmark("raft: the same for a batch of 16 entries (per batch)") { benchmark in
        var cluster = LosslessCluster(size: 3) { $0.maxInflightMessages = 256 }
        let batch = [[UInt8]](repeating: [UInt8](repeating: 7, count: 100), count: 16)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            cluster.proposeAndSettle(batch)
        }
        benchmark.stopMeasurement()
        blackHole(cluster)
    }

    // MARK: Commands

    Benchmark("command: encode (create principal)") { benchmark in
        let envelope = PolicyBench.createPrincipal(organization: "acme", name: "svc-1")
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(CommandCodec.encode(envelope))
        }
    }

    Benchmark("command: decode (create principal)") { benchmark in
        let bytes = CommandCodec.encode(PolicyBench.createPrincipal(organization: "acme", name: "svc-1"))
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(try CommandCodec.decode(bytes))
        }
    }

    // MARK: State machine

    Benchmark("state: apply one create-principal command (in memory)") { benchmark in
        var state = PolicyBench.stateWithOrganization("acme")
        let envelopes = benchmark.scaledIterations.map { PolicyBench.createPrincipal(organization: "acme", name: "p\($0)") }
        benchmark.startMeasurement()
        for (offset, envelope) in envelopes.enumerated() {
            blackHole(state.apply(envelope, at: UInt64(offset) + 10))
        }
        benchmark.stopMeasurement()
        blackHole(state)
    }

    // As an API write arrives: with an actor (an organization admin), whose permissions the
    // state machine checks before it applies the command.
    Benchmark("state: apply one create-principal command from an organization admin") { benchmark in
        var state = PolicyBench.stateWithOrganization("acme")
        let admin = PrincipalReference(organization: PolicyBench.name("acme"), name: PolicyBench.name("admin"))
        _ = state.apply(PolicyBench.envelope(.createPrincipal(admin, kind: .user)), at: 2)
        _ = state.apply(
            PolicyBench.envelope(
                .createBinding(id: EntityID(high: 1, low: 1), principal: admin, role: .builtIn(.organizationAdmin), scope: .organization(admin.organization))),
            at: 3)
        let envelopes = benchmark.scaledIterations.map { index in
            var envelope = PolicyBench.createPrincipal(organization: "acme", name: "p\(index)")
            envelope.actor = admin
            return envelope
        }
        benchmark.startMeasurement()
        for (offset, envelope) in envelopes.enumerated() {
            let outcome = state.apply(envelope, at: UInt64(offset) + 10)
            if outcome.rejection != nil { fatalError("rejected: \(String(describing: outcome.rejection))") }
        }
        benchmark.stopMeasurement()
        blackHole(state)
    }

    // The durable apply: in-memory state, SQLite rows, the audit record and its hash, in one
    // transaction per batch of 16 (the database commits without syncing, as on a replica).
    Benchmark("store: apply 16 create-principal commands in one transaction (per batch)", configuration: .init(maxIterations: 2_000)) {
        benchmark in
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rampart-bench-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try PolicyStore(path: directory + "/state.db", durability: .replayable)
        var index: UInt64 = 1
        _ = try store.apply([PolicyBench.entry(index, .createOrganization(name: try Name("acme")))])
        let batches = benchmark.scaledIterations.map { batch in
            (0..<16).map { item -> AppliedEntry in
                index += 1
                return PolicyBench.entry(index, PolicyBench.createPrincipal(organization: "acme", name: "p\(batch)-\(item)").command)
            }
        }
        benchmark.startMeasurement()
        for batch in batches {
            blackHole(try store.apply(batch))
        }
        benchmark.stopMeasurement()
        store.close()
    }

    // An authorization decision against 1,000 organizations × 100 principals × 3 bindings
    // (the state is built once, on first use, outside any measurement).
    Benchmark("authorize: one decision (100,000 principals)") { benchmark in
        let state = PolicyBench.large
        let principal = PrincipalReference(organization: try Name("org500"), name: try Name("u50"))
        let permission = try Permission("compute.instances.create", allowWildcards: false)
        let scope = Scope.project(organization: try Name("org500"), project: try Name("web"))
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(state.authorize(principal, permission, on: scope))
        }
        benchmark.stopMeasurement()
    }

    Benchmark("authorize: parse the permission text") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try Permission("compute.instances.create", allowWildcards: false))
        }
    }

    // MARK: Peer transport

    // An append of 16 × 100-byte entries: the packet encoded, sealed (HMAC-SHA256) and framed;
    // then the reverse on the receiving side.
    Benchmark("peer: encode, seal and frame an append of 16 entries") { benchmark in
        let packet = PeerBench.append(entries: 16, bytes: 100)
        var sealer = FrameSealer(key: PeerBench.key)
        let encoder = PeerFrameEncoder()
        var buffer = ByteBuffer()
        buffer.reserveCapacity(4096)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            buffer.clear()
            try encoder.encode(data: PeerFrame(kind: .sealed, payload: sealer.seal(packet.encoded())), out: &buffer)
            blackHole(buffer.readableBytes)
        }
    }

    Benchmark("peer: open and decode an append of 16 entries") { benchmark in
        let packet = PeerBench.append(entries: 16, bytes: 100)
        var sealer = FrameSealer(key: PeerBench.key)
        let sealed = benchmark.scaledIterations.map { _ in sealer.seal(packet.encoded()) }
        var opener = FrameSealer(key: PeerBench.key)
        benchmark.startMeasurement()
        for frame in sealed {
            guard let body = opener.open(frame) else { fatalError("a sealed frame did not open") }
            blackHole(try PeerPacket.decode(body))
        }
        benchmark.stopMeasurement()
    }
}

/// Commands and states for the policy benchmarks.
enum PolicyBench {
    /// 1,000 organizations × 100 principals, built once.
    static let large = largeState(organizations: 1_000, principals: 100)

    static func name(_ text: String) -> Name {
        do { return try Name(text) } catch { fatalError("invalid benchmark name \(text)") }
    }

    static func envelope(_ command: Command) -> CommandEnvelope {
        CommandEnvelope(command: command, actor: nil, requestID: "bench", time: Timestamp(millisecondsSinceEpoch: 1_700_000_000_000))
    }

    static func createPrincipal(organization: String, name principal: String) -> CommandEnvelope {
        envelope(.createPrincipal(PrincipalReference(organization: name(organization), name: name(principal)), kind: .serviceAccount))
    }

    static func entry(_ index: UInt64, _ command: Command) -> AppliedEntry {
        AppliedEntry(index: index, command: CommandCodec.encode(envelope(command)))
    }

    static func entry(_ index: UInt64, _ command: [UInt8]) -> AppliedEntry {
        AppliedEntry(index: index, command: command)
    }

    static func stateWithOrganization(_ organization: String) -> PolicyState {
        var state = PolicyState()
        _ = state.apply(envelope(.createOrganization(name: name(organization))), at: 1)
        return state
    }

    /// `organizations` × `principals`, each principal bound three times: viewer of its
    /// organization, admin of project `web`, viewer of project `data`.
    static func largeState(organizations: Int, principals: Int) -> PolicyState {
        var state = PolicyState()
        var revision: UInt64 = 0
        var nextID: UInt64 = 1
        func apply(_ command: Command) {
            revision += 1
            if let rejection = state.apply(envelope(command), at: revision).rejection { fatalError("setup rejected: \(rejection)") }
        }
        for organizationIndex in 0..<organizations {
            let organization = name("org\(organizationIndex)")
            apply(.createOrganization(name: organization))
            for project in ["web", "data"] { apply(.createProject(organization: organization, name: name(project))) }
            for principalIndex in 0..<principals {
                let member = PrincipalReference(organization: organization, name: name("u\(principalIndex)"))
                apply(.createPrincipal(member, kind: .user))
                let bindings: [(RoleReference, Scope)] = [
                    (.builtIn(.organizationViewer), .organization(organization)),
                    (.builtIn(.projectAdmin), .project(organization: organization, project: name("web"))),
                    (.builtIn(.projectViewer), .project(organization: organization, project: name("data"))),
                ]
                for (role, scope) in bindings {
                    apply(.createBinding(id: EntityID(high: 1, low: nextID), principal: member, role: role, scope: scope))
                    nextID += 1
                }
            }
        }
        return state
    }
}

/// Packets for the peer transport benchmarks.
enum PeerBench {
    static let key = [UInt8](repeating: 0x5A, count: 32)

    static func append(entries count: Int, bytes: Int) -> PeerPacket {
        let entries = (0..<count).map { Entry(term: 3, index: 100 + UInt64($0), payload: .command([UInt8](repeating: 1, count: bytes))) }
        let append = AppendEntries(previous: LogPosition(index: 99, term: 3), entries: entries, commit: 98)
        return .raft(Message(from: ReplicaID(rawValue: 1), to: ReplicaID(rawValue: 2), term: 3, kind: .appendEntries(append)))
    }
}
