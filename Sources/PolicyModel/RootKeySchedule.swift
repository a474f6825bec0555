/// When root keys move along their life, as a pure function of the keys and a time given to it.
///
/// `POST /v1/keys/rotate` publishes a pending key. The leader then activates a pending key once
/// it has been published for `activationMilliseconds` (so verifiers fetched it before it signs),
/// and retires a retiring key once its successor has been active for `overlapMilliseconds` (so
/// the tokens it signed can still be verified meanwhile). The successor's activation time is not
/// recorded; it was activated at least `activationMilliseconds` after it was published, so a
/// retiring key is retired once the active key was published `activationMilliseconds +
/// overlapMilliseconds` ago — never earlier than the overlap promises.
///
/// Each step carries an idempotency key naming the step and the key, so a new leader that
/// repeats a step its predecessor took changes nothing.
public struct RootKeySchedule: Hashable, Sendable {
    /// How long a key stays pending before it is activated.
    public var activationMilliseconds: Int64
    /// How long a replaced key keeps verifying before it is retired.
    public var overlapMilliseconds: Int64

    /// The schedule with these delays, in seconds (each at least 0).
    public init(activationSeconds: Int, overlapSeconds: Int) {
        precondition(activationSeconds >= 0 && overlapSeconds >= 0, "a root key delay is negative")
        activationMilliseconds = Int64(activationSeconds) * 1000
        overlapMilliseconds = Int64(overlapSeconds) * 1000
    }

    /// The request id the steps are proposed under (the audit log's `request_id`).
    public static let requestID = "key-maintenance"

    /// The steps due at `now` for `keys`: activations of pending keys first (in the order given),
    /// then retirements of retiring keys, each as the command envelope to propose.
    public func due(_ keys: [RootKey], at now: Timestamp) -> [CommandEnvelope] {
        var commands: [Command] = []
        for key in keys where key.state == .pending && now.millisecondsSinceEpoch - key.createdAt.millisecondsSinceEpoch >= activationMilliseconds {
            commands.append(.activateRootKey(id: key.id))
        }
        if let active = keys.first(where: { $0.state == .active }),
            now.millisecondsSinceEpoch - active.createdAt.millisecondsSinceEpoch >= activationMilliseconds + overlapMilliseconds
        {
            for key in keys where key.state == .retiring { commands.append(.retireRootKey(id: key.id)) }
        }
        return commands.map { command in
            CommandEnvelope(
                command: command, actor: nil, requestID: Self.requestID, idempotencyKey: Self.idempotencyKey(command), time: now)
        }
    }

    /// The idempotency key of a step: `rootkey-activate-<id>` or `rootkey-retire-<id>`.
    static func idempotencyKey(_ command: Command) -> String? {
        switch command {
        case .activateRootKey(let id): return "rootkey-activate-\(id)"
        case .retireRootKey(let id): return "rootkey-retire-\(id)"
        default: return nil
        }
    }
}
