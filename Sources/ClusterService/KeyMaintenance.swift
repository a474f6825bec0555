import Foundation
import Logging
import PolicyModel
import Replica

/// The leader's part of root key rotation and of the revocation list: once a second, on the
/// leader, proposes the steps `RootKeySchedule` says are due at the wall clock's time, and the
/// expiry of revocations no token can need any more (`PolicyState.revocationExpiry`). The
/// decisions are pure functions, tested on their own; this loop only reads the clock and the
/// state, and writes.
struct KeyMaintenance {
    let replica: Replica
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
                let steps = try await replica.query { store in
                    schedule.due(store.state.allRootKeys, at: now) + [store.state.revocationExpiry(at: now)].compactMap { $0 }
                }
                for step in steps { try await propose(step) }
            } catch {
                logger.warning("key maintenance deferred", metadata: ["error": "\(error)"])
            }
        }
    }

    private func propose(_ step: CommandEnvelope) async throws {
        let result = try await replica.write(.command(CommandCodec.encode(step)), timeout: Self.stepTimeout)
        logger.info(
            "maintenance step committed",
            metadata: ["step": "\(step.command.action)", "revision": "\(result.revision)"])
    }
}
