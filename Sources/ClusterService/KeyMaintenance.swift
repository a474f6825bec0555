import Foundation
import Logging
import PolicyModel
import AdminAPI
import Replica

/// The leader's part of root key rotation and of the revocation list: once a second, on the
/// leader, proposes the steps `RootKeySchedule` says are due at the wall clock's time, and the
/// expiry of revocations no token can need any more (`PolicyState.revocationExpiry`). The
/// decisions are pure functions, tested on their own; this loop only reads the clock and the
/// state, and writes.
struct KeyMaintenance {
    let replica: Replica
    /// Where new root keys come from (generated and sealed on this replica).
    let cluster: ReplicaCluster
    let schedule: RootKeySchedule
    let logger: Logger
    /// How often the leader looks.
    static let interval: Duration = .seconds(1)
    /// How long one step may take to commit before the next look tries again.
    static let stepTimeout: Duration = .seconds(5)

    func run() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: Self.interval)
            guard replica.status.role == .leader else { continue }
            do {
                let now = Timestamp(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000))
                let schedule = self.schedule
                let (steps, keys) = try await replica.query { store in
                    (schedule.due(store.state.allRootKeys, at: now) + [store.state.revocationExpiry(at: now)].compactMap { $0 }, store.state.allRootKeys)
                }
                for step in steps { try await propose(step) }
                if schedule.rotationDue(keys, at: now), let active = keys.first(where: { $0.state == .active }) {
                    try await propose(schedule.rotation(try newKey(besides: keys), after: active.id, at: now))
                }
            } catch {
                logger.warning("key maintenance deferred", metadata: ["error": "\(error)"])
            }
        }
    }

    /// A new root key whose Biscuit key id no published key has (the state machine would
    /// refuse it): drawn again, a few times, on the rare collision of 32 bits.
    private func newKey(besides keys: [RootKey]) throws -> RootKeyMaterial {
        let taken = Set(keys.filter { $0.state != .retired }.map(\.biscuitKeyID))
        for _ in 0..<8 {
            let drawn = try cluster.newRootKey()
            if !taken.contains(RootKey.biscuitKeyID(of: drawn.id)) {
                return RootKeyMaterial(id: drawn.id, publicKey: drawn.publicKey, sealedPrivateKey: drawn.sealedPrivateKey)
            }
        }
        throw ClusterError.internalFailure("no free Biscuit key id in 8 draws")
    }

    private func propose(_ step: CommandEnvelope) async throws {
        let result = try await replica.write(.command(CommandCodec.encode(step)), timeout: Self.stepTimeout)
        logger.info(
            "maintenance step committed",
            metadata: ["step": "\(step.command.action)", "revision": "\(result.revision)"])
    }
}
