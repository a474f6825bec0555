import Foundation
import Logging
import PolicyModel
import PolicyStore
import RaftCore
import Replica

/// The leader's part of root key rotation. `POST /v1/keys/rotate` publishes a pending key; on
/// the leader, this loop activates a pending key once it has been published for
/// `activationSeconds` (so verifiers fetched it before it signs), and retires a retiring key
/// once its successor has been active for `overlapSeconds` (so tokens it signed can still be
/// verified meanwhile). Its commands carry idempotency keys, so a new leader repeating a step
/// changes nothing.
struct KeyMaintenance {
    let replica: Replica
    let activationSeconds: Int
    let overlapSeconds: Int
    let logger: Logger
    /// How often the leader looks.
    static let interval: Duration = .seconds(1)

    func run() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: Self.interval)
            guard replica.status.role == .leader else { continue }
            do {
                for command in try await due() { try await propose(command) }
            } catch {
                logger.warning("key maintenance deferred", metadata: ["error": "\(error)"])
            }
        }
    }

    /// The steps due now, from this leader's state.
    private func due() async throws -> [Command] {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let activation = Int64(activationSeconds) * 1000
        let overlap = Int64(overlapSeconds) * 1000
        return try await replica.query { store in
            let keys = store.state.allRootKeys
            var commands: [Command] = []
            for key in keys where key.state == .pending && now - key.createdAt.millisecondsSinceEpoch >= activation {
                commands.append(.activateRootKey(id: key.id))
            }
            // A key turned retiring when its successor (the active key) was activated, which
            // is at least the activation delay after the successor was published.
            if let active = keys.first(where: { $0.state == .active }),
                now - active.createdAt.millisecondsSinceEpoch >= activation + overlap
            {
                for key in keys where key.state == .retiring { commands.append(.retireRootKey(id: key.id)) }
            }
            return commands
        }
    }

    private func propose(_ command: Command) async throws {
        let (name, id): (String, EntityID)
        switch command {
        case .activateRootKey(let key): (name, id) = ("activate", key)
        case .retireRootKey(let key): (name, id) = ("retire", key)
        default: return
        }
        let envelope = CommandEnvelope(
            command: command, actor: nil, requestID: "key-maintenance", idempotencyKey: "rootkey-\(name)-\(id)",
            time: Timestamp(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000)))
        let result = try await replica.write(.command(CommandCodec.encode(envelope)), timeout: .seconds(5))
        logger.info("root key \(name)d", metadata: ["key": "\(id)", "revision": "\(result.revision)"])
    }
}
