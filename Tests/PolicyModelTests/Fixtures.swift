@testable import PolicyModel
import Testing

func name(_ text: String) -> Name {
    do { return try Name(text) } catch { preconditionFailure("bad fixture name \(text)") }
}

func permission(_ text: String) -> Permission {
    do { return try Permission(text) } catch { preconditionFailure("bad fixture permission \(text)") }
}

func principal(_ organization: String, _ principalName: String) -> PrincipalReference {
    PrincipalReference(organization: name(organization), name: name(principalName))
}

func id(_ low: UInt64) -> EntityID { EntityID(high: 0xABCD, low: low) }

/// Applies commands one after another, numbering revisions from the state's next one.
struct Applier {
    var state = PolicyState()
    var nextRevision: UInt64 = 1
    var time: Int64 = 1_700_000_000_000

    @discardableResult
    mutating func apply(
        _ command: Command, actor: PrincipalReference? = nil, key: String? = nil, expected: UInt64? = nil
    ) -> CommandOutcome {
        let envelope = CommandEnvelope(
            command: command, actor: actor, requestID: "req-\(nextRevision)", idempotencyKey: key,
            expectedRevision: expected, time: Timestamp(millisecondsSinceEpoch: time))
        defer {
            nextRevision += 1
            time += 1
        }
        return state.apply(envelope, at: nextRevision)
    }

    /// Applies and requires success.
    @discardableResult
    mutating func succeed(_ command: Command, sourceLocation: SourceLocation = #_sourceLocation) -> CommandOutcome {
        let outcome = apply(command)
        #expect(outcome.rejection == nil, "\(command) was rejected: \(String(describing: outcome.rejection))", sourceLocation: sourceLocation)
        return outcome
    }

    /// A small tenant: organization `acme` with project `web`, principals `alice` and `bob`, and
    /// a custom role `deployer`; organization `globex` with principal `eve` and project `app`.
    static func tenants() -> Applier {
        var applier = Applier()
        applier.succeed(.createOrganization(name: name("acme")))
        applier.succeed(.createProject(organization: name("acme"), name: name("web")))
        applier.succeed(.createPrincipal(principal("acme", "alice"), kind: .user))
        applier.succeed(.createPrincipal(principal("acme", "bob"), kind: .serviceAccount))
        applier.succeed(.createRole(organization: name("acme"), name: name("deployer"), permissions: [permission("compute.instances.*")]))
        applier.succeed(.createOrganization(name: name("globex")))
        applier.succeed(.createProject(organization: name("globex"), name: name("app")))
        applier.succeed(.createPrincipal(principal("globex", "eve"), kind: .user))
        applier.succeed(.createPrincipal(principal("system", "root"), kind: .user))
        return applier
    }
}

extension PolicyState {
    /// Everything but the revision and the idempotency window, for "changed nothing" checks.
    var entities: String {
        "\(organizations.sorted { $0.key < $1.key })|\(projects.mapValues { $0.sorted { $0.key < $1.key } }.sorted { $0.key < $1.key })"
            + "|\(principals.sorted { $0.key < $1.key })|\(roles.sorted { $0.key < $1.key })|\(bindings.sorted { $0.key < $1.key })"
            + "|\(bindingsByPrincipal.sorted { $0.key < $1.key })|\(apiKeys.sorted { $0.key < $1.key })|\(rootKeys.sorted { $0.key < $1.key })"
    }
}
