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
/// With a rotation interval, the leader also publishes a new pending key once the active key
/// has been active for the interval (`rotationDue`), so keys rotate without an operator. The
/// overlap must be at least the longest token life, so that no token outlives the key that
/// verifies it (the server refuses a configuration where it is shorter).
///
/// Each step carries an idempotency key naming the step and the key, so a new leader that
/// repeats a step its predecessor took changes nothing.
public struct RootKeySchedule: Hashable, Sendable {
    /// How long a key stays pending before it is activated.
    public var activationMilliseconds: Int64
    /// How long a replaced key keeps verifying before it is retired.
    public var overlapMilliseconds: Int64
    /// How long a key signs before the leader publishes its successor; 0: only on request.
    public var rotationIntervalMilliseconds: Int64

    /// The schedule with these delays, in seconds (each at least 0; a rotation interval of 0
    /// rotates only on request).
    public init(activationSeconds: Int, overlapSeconds: Int, rotationIntervalSeconds: Int = 0) {
        precondition(activationSeconds >= 0 && overlapSeconds >= 0 && rotationIntervalSeconds >= 0, "a root key delay is negative")
        activationMilliseconds = Int64(activationSeconds) * 1000
        overlapMilliseconds = Int64(overlapSeconds) * 1000
        rotationIntervalMilliseconds = Int64(rotationIntervalSeconds) * 1000
    }

    /// Whether the leader should publish a new key at `now`: rotation is scheduled, no key is
    /// pending, and the active key has signed for the interval (it was published the
    /// activation delay before it signed).
    public func rotationDue(_ keys: [RootKey], at now: Timestamp) -> Bool {
        guard rotationIntervalMilliseconds > 0, !keys.contains(where: { $0.state == .pending }),
            let active = keys.first(where: { $0.state == .active })
        else { return false }
        return now.millisecondsSinceEpoch - active.createdAt.millisecondsSinceEpoch >= activationMilliseconds + rotationIntervalMilliseconds
    }

    /// The scheduled rotation's step: publishing `material` as the pending successor of the
    /// active key `after`, with an idempotency key naming it (a new leader repeating it changes
    /// nothing).
    public func rotation(_ material: RootKeyMaterial, after active: EntityID, at now: Timestamp) -> CommandEnvelope {
        CommandEnvelope(
            command: .addRootKey(id: material.id, publicKey: material.publicKey, sealedPrivateKey: material.sealedPrivateKey), actor: nil,
            requestID: Self.requestID, idempotencyKey: "rootkey-rotate-after-\(active)", time: now)
    }

    /// When `key` is planned to leave the key set: a retiring key once the active key was
    /// published the activation delay plus the overlap ago; with scheduled rotation, an active
    /// or pending key once its successor (published the interval after it signs) has been
    /// active for the overlap. Nil when nothing plans it (no scheduled rotation), or it is gone.
    public func plannedRetirement(of key: RootKey, among keys: [RootKey]) -> Timestamp? {
        let created = key.createdAt.millisecondsSinceEpoch
        switch key.state {
        case .retired:
            return nil
        case .retiring:
            guard let active = keys.first(where: { $0.state == .active }) else { return nil }
            return Timestamp(millisecondsSinceEpoch: active.createdAt.millisecondsSinceEpoch + activationMilliseconds + overlapMilliseconds)
        case .active, .pending:
            guard rotationIntervalMilliseconds > 0 else { return nil }
            return Timestamp(
                millisecondsSinceEpoch: created + activationMilliseconds + rotationIntervalMilliseconds + activationMilliseconds + overlapMilliseconds)
        }
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
