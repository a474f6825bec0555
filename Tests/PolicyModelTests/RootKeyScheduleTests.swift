@testable import PolicyModel
import Testing

/// The root key schedule decides from the keys and the time it is given, nothing else; these
/// tests drive a rotation through the state machine with a clock they move by hand.
@Suite struct RootKeyScheduleTests {
    let material = (Array(repeating: UInt8(1), count: 32), Array(repeating: UInt8(2), count: 60))
    let schedule = RootKeySchedule(activationSeconds: 60, overlapSeconds: 3600)
    let start: Int64 = 1_700_000_000_000

    /// A state and the next revision, applying envelopes as a replica would.
    struct Ledger {
        var state = PolicyState()
        var revision: UInt64 = 1

        mutating func apply(_ envelope: CommandEnvelope) -> CommandOutcome {
            defer { revision += 1 }
            return state.apply(envelope, at: revision)
        }

        mutating func add(_ key: EntityID, publicKey: [UInt8], sealed: [UInt8], at time: Int64) {
            let envelope = CommandEnvelope(
                command: .addRootKey(id: key, publicKey: publicKey, sealedPrivateKey: sealed), actor: nil, requestID: "rotate",
                time: Timestamp(millisecondsSinceEpoch: time))
            #expect(apply(envelope).rejection == nil)
        }
    }

    func due(_ ledger: Ledger, at time: Int64) -> [CommandEnvelope] {
        schedule.due(ledger.state.allRootKeys, at: Timestamp(millisecondsSinceEpoch: time))
    }

    @Test func aRotationMovesOnlyOnceItsDelaysHavePassed() {
        var ledger = Ledger()
        ledger.add(id(1), publicKey: material.0, sealed: material.1, at: start)
        #expect(due(ledger, at: start + 59_999).isEmpty, "a pending key is activated no sooner than the activation delay")
        let activation = due(ledger, at: start + 60_000)
        #expect(activation.map(\.command) == [.activateRootKey(id: id(1))])
        #expect(activation.map(\.idempotencyKey) == ["rootkey-activate-\(id(1))"])
        #expect(activation.allSatisfy { $0.requestID == RootKeySchedule.requestID && $0.actor == nil })
        #expect(activation.allSatisfy { $0.time == Timestamp(millisecondsSinceEpoch: start + 60_000) })
        for step in activation { #expect(ledger.apply(step).rejection == nil) }
        #expect(ledger.state.activeRootKey?.id == id(1))
        #expect(due(ledger, at: start + 10_000_000).isEmpty, "one active key and nothing else: nothing to do")

        // The successor is published, activated after the delay, and the old key retires once
        // the successor has been active for the overlap.
        let published = start + 100_000
        ledger.add(id(2), publicKey: material.0, sealed: material.1, at: published)
        #expect(due(ledger, at: published + 59_999).isEmpty)
        for step in due(ledger, at: published + 60_000) { #expect(ledger.apply(step).rejection == nil) }
        #expect(ledger.state.allRootKeys.map(\.state) == [.retiring, .active])
        #expect(due(ledger, at: published + 60_000 + 3_599_999).isEmpty, "a retiring key verifies for the whole overlap")
        let retirement = due(ledger, at: published + 60_000 + 3_600_000)
        #expect(retirement.map(\.command) == [.retireRootKey(id: id(1))])
        #expect(retirement.map(\.idempotencyKey) == ["rootkey-retire-\(id(1))"])
        for step in retirement { #expect(ledger.apply(step).rejection == nil) }
        #expect(ledger.state.publishedRootKeys.map(\.id) == [id(2)])
        #expect(due(ledger, at: published + 100_000_000).isEmpty)
    }

    @Test func aStepRepeatedByANewLeaderChangesNothing() {
        var ledger = Ledger()
        ledger.add(id(1), publicKey: material.0, sealed: material.1, at: start)
        let steps = due(ledger, at: start + 60_000)
        for step in steps { #expect(ledger.apply(step).rejection == nil) }
        let before = ledger.state.allRootKeys
        // The same step, decided again at a later time by another leader that had not yet
        // applied the first: its idempotency key makes it a replay.
        var repeated = steps[0]
        repeated.time = Timestamp(millisecondsSinceEpoch: start + 61_000)
        let outcome = ledger.apply(repeated)
        #expect(outcome.replayed)
        #expect(ledger.state.allRootKeys == before)
    }

    @Test func everyPendingKeyIsActivatedInOrderAndRetiredKeysAreLeftAlone() {
        var ledger = Ledger()
        ledger.add(id(1), publicKey: material.0, sealed: material.1, at: start)
        ledger.add(id(2), publicKey: material.0, sealed: material.1, at: start + 5)
        ledger.add(id(3), publicKey: material.0, sealed: material.1, at: start + 30_000)
        #expect(due(ledger, at: start + 60_005).map(\.command) == [.activateRootKey(id: id(1)), .activateRootKey(id: id(2))])
        #expect(RootKeySchedule(activationSeconds: 0, overlapSeconds: 0).due(ledger.state.allRootKeys, at: Timestamp(millisecondsSinceEpoch: start)).count == 1,
            "with no delay a key published now is due now")
        #expect(schedule.due([], at: Timestamp(millisecondsSinceEpoch: start)).isEmpty)
        let retired = RootKey(id: id(9), state: .retired, publicKey: material.0, sealedPrivateKey: material.1,
            createdAt: Timestamp(millisecondsSinceEpoch: 0), revision: 1)
        #expect(schedule.due([retired], at: Timestamp(millisecondsSinceEpoch: start)).isEmpty)
    }

    @Test func twoPublishedKeysNeverShareABiscuitKeyID() {
        var ledger = Ledger()
        ledger.add(id(1), publicKey: material.0, sealed: material.1, at: start)
        let twin = EntityID(high: 0x1234, low: id(1).low)
        #expect(RootKey.biscuitKeyID(of: twin) == RootKey.biscuitKeyID(of: id(1)))
        let refused = ledger.apply(
            CommandEnvelope(
                command: .addRootKey(id: twin, publicKey: material.0, sealedPrivateKey: material.1), actor: nil, requestID: "rotate",
                time: Timestamp(millisecondsSinceEpoch: start + 1)))
        #expect(refused.rejection?.code == "already_exists")
        #expect(ledger.state.allRootKeys.map(\.id) == [id(1)], "nothing changed")
        // Once the first key is retired its id is free again.
        ledger.add(id(2), publicKey: material.0, sealed: material.1, at: start + 2)
        for step in due(ledger, at: start + 70_000) { #expect(ledger.apply(step).rejection == nil) }
        for step in due(ledger, at: start + 70_000 + 3_700_000) { #expect(ledger.apply(step).rejection == nil) }
        #expect(ledger.state.rootKeys[id(1)]?.state == .retired)
        ledger.add(twin, publicKey: material.0, sealed: material.1, at: start + 4_000_000)
        #expect(ledger.state.rootKeys[twin]?.state == .pending)
    }

    @Test func scheduledRotationPublishesASuccessorOnceTheActiveKeyHasSignedForTheInterval() {
        let rotating = RootKeySchedule(activationSeconds: 60, overlapSeconds: 3600, rotationIntervalSeconds: 86_400)
        var ledger = Ledger()
        ledger.add(id(1), publicKey: material.0, sealed: material.1, at: start)
        #expect(ledger.apply(rotating.due(ledger.state.allRootKeys, at: Timestamp(millisecondsSinceEpoch: start + 60_000))[0]).rejection == nil)
        let keys = ledger.state.allRootKeys
        #expect(!rotating.rotationDue(keys, at: Timestamp(millisecondsSinceEpoch: start + 60_000 + 86_399_999)))
        let at = Timestamp(millisecondsSinceEpoch: start + 60_000 + 86_400_000)
        #expect(rotating.rotationDue(keys, at: at))
        #expect(!schedule.rotationDue(keys, at: Timestamp(millisecondsSinceEpoch: start + 365 * 86_400_000)), "no interval: only on request")
        let step = rotating.rotation(RootKeyMaterial(id: id(2), publicKey: material.0, sealedPrivateKey: material.1), after: id(1), at: at)
        #expect(step.idempotencyKey == "rootkey-rotate-after-\(id(1))" && step.actor == nil)
        #expect(ledger.apply(step).rejection == nil)
        #expect(!rotating.rotationDue(ledger.state.allRootKeys, at: at), "a pending key waits for its activation first")
        // The planned retirements: the active key once its successor has been active for the overlap.
        let active = ledger.state.allRootKeys.first { $0.state == .active }!
        #expect(
            rotating.plannedRetirement(of: active, among: ledger.state.allRootKeys)?.millisecondsSinceEpoch
                == start + 60_000 + 86_400_000 + 60_000 + 3_600_000)
        #expect(schedule.plannedRetirement(of: active, among: ledger.state.allRootKeys) == nil, "nothing plans it without an interval")
        #expect(ledger.apply(rotating.due(ledger.state.allRootKeys, at: Timestamp(millisecondsSinceEpoch: at.millisecondsSinceEpoch + 60_000))[0]).rejection == nil)
        let retiring = ledger.state.allRootKeys.first { $0.state == .retiring }!
        #expect(
            rotating.plannedRetirement(of: retiring, among: ledger.state.allRootKeys)?.millisecondsSinceEpoch
                == at.millisecondsSinceEpoch + 60_000 + 3_600_000)
    }

    @Test func revokingARootKeyTakesItOutAtOnceAndPromotesThePendingKey() {
        var ledger = Ledger()
        ledger.add(id(1), publicKey: material.0, sealed: material.1, at: start)
        #expect(ledger.apply(due(ledger, at: start + 60_000)[0]).rejection == nil)
        ledger.add(id(2), publicKey: material.0, sealed: material.1, at: start + 70_000)
        func revoke(_ key: EntityID) -> CommandOutcome {
            ledger.apply(CommandEnvelope(command: .revokeRootKey(id: key), actor: nil, requestID: "revoke", time: Timestamp(millisecondsSinceEpoch: start + 80_000)))
        }
        #expect(revoke(id(1)).rejection == nil)
        #expect(ledger.state.allRootKeys.map(\.state) == [.retired, .active], "the pending key signs at once")
        #expect(revoke(id(1)).rejection?.code == "invalid_state", "already out")
        #expect(revoke(id(9)).rejection?.code == "not_found")
        #expect(revoke(id(2)).rejection == nil)
        #expect(ledger.state.activeRootKey == nil && ledger.state.publishedRootKeys.isEmpty, "no key signs until a rotation")
    }
}
