@testable import PolicyModel
import Testing

/// The state machine checks each command's actor again when it applies it: the admin API's
/// check happened earlier, on possibly older state.
@Suite struct ActorCheckTests {
    static func withAdmins() -> Applier {
        var applier = Applier.tenants()
        applier.succeed(
            .createBinding(id: id(50), principal: principal("acme", "alice"), role: .builtIn(.organizationAdmin), scope: .organization(name("acme"))))
        applier.succeed(.createBinding(id: id(51), principal: principal("system", "root"), role: .builtIn(.systemAdmin), scope: .cluster))
        return applier
    }

    @Test func actorWithoutAGrantIsRefusedAndChangesNothing() {
        var applier = Self.withAdmins()
        let before = applier.state.entities
        let outcome = applier.apply(.createProject(organization: name("acme"), name: name("api")), actor: principal("acme", "bob"))
        #expect(outcome.rejection?.code == "forbidden")
        #expect(applier.state.entities == before)
    }

    @Test func permissionRevokedBeforeTheApplyStopsTheChange() {
        var applier = Self.withAdmins()
        let alice = principal("acme", "alice")
        #expect(applier.apply(.createProject(organization: name("acme"), name: name("api")), actor: alice).succeeded)
        // The request was accepted while alice was an admin; her binding goes first in the log.
        applier.succeed(.deleteBinding(id: id(50)))
        let late = applier.apply(.createProject(organization: name("acme"), name: name("late")), actor: alice)
        #expect(late.rejection == .forbidden("acme/alice may not use iam.projects.create on orgs/acme"))
        #expect(applier.state.project(name("acme"), name("late")) == nil)
    }

    @Test func anOrganizationAdminCannotActInAnotherOrganization() {
        var applier = Self.withAdmins()
        let alice = principal("acme", "alice")
        let commands: [Command] = [
            .createProject(organization: name("globex"), name: name("x")), .deletePrincipal(principal("globex", "eve"), force: true),
            .createRole(organization: name("globex"), name: name("r"), permissions: [permission("a.b.c")]),
            .createOrganization(name: name("initech")), .setOrganizationSuspended(name: name("globex"), suspended: true),
            .createAPIKey(id: id(60), principal: principal("globex", "eve"), secretHash: [UInt8](repeating: 1, count: 32)),
        ]
        for command in commands {
            #expect(applier.apply(command, actor: alice).rejection?.code == "forbidden", "\(command)")
        }
    }

    @Test func grantingARoleNeedsEveryPermissionItHolds() {
        var applier = Self.withAdmins()
        applier.succeed(.createRole(organization: name("acme"), name: name("binder"), permissions: [permission("iam.bindings.create")]))
        applier.succeed(
            .createBinding(
                id: id(70), principal: principal("acme", "bob"), role: .custom(organization: name("acme"), name: name("binder")),
                scope: .organization(name("acme"))))
        let bob = principal("acme", "bob")
        let escalation = applier.apply(
            .createBinding(id: id(71), principal: bob, role: .builtIn(.organizationAdmin), scope: .organization(name("acme"))), actor: bob)
        #expect(escalation.rejection?.code == "forbidden")
        let sameRole = applier.apply(
            .createBinding(id: id(72), principal: principal("acme", "alice"), role: .custom(organization: name("acme"), name: name("binder")),
                scope: .organization(name("acme"))), actor: bob)
        #expect(sameRole.succeeded)
    }

    @Test func clusterAdminsReachSuspendedOrganizationsAndTheClusterNeedsNoActor() {
        var applier = Self.withAdmins()
        let root = principal("system", "root")
        applier.succeed(.setOrganizationSuspended(name: name("acme"), suspended: true))
        #expect(applier.apply(.setOrganizationSuspended(name: name("acme"), suspended: false), actor: root).succeeded)
        // A missing target is "not found" for whoever may act there, after the actor check.
        #expect(applier.apply(.deleteProject(organization: name("acme"), name: name("ghost"), force: false), actor: root).rejection?.code == "not_found")
        #expect(applier.apply(.createOrganization(name: name("initech"))).succeeded, "no actor: the cluster itself")
    }
}
