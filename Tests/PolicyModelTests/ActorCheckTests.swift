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

    /// The outside review's escalation: a principal holding only `iam.roles.update`, bound to a
    /// role, widened that role to `*.*.*`. Replacing a role's permissions needs every permission
    /// it adds, at every scope the role is bound at.
    @Test func wideningABoundRoleNeedsEveryPermissionItAdds() {
        var applier = Self.withAdmins()
        let acme = name("acme")
        let editor = RoleReference.custom(organization: acme, name: name("editor"))
        applier.succeed(.createRole(organization: acme, name: name("editor"), permissions: [permission("iam.roles.update")]))
        applier.succeed(.createBinding(id: id(80), principal: principal("acme", "bob"), role: editor, scope: .organization(acme)))
        let bob = principal("acme", "bob")
        let before = applier.state.entities
        for widened in ["*.*.*", "iam.apikeys.create", "iam.roles.*"] {
            let outcome = applier.apply(
                .updateRole(organization: acme, name: name("editor"), permissions: [permission("iam.roles.update"), permission(widened)]), actor: bob)
            #expect(outcome.rejection?.code == "forbidden", "\(widened)")
        }
        #expect(applier.state.entities == before)
        // Narrowing, or keeping what the role already covers, needs nothing more.
        #expect(applier.apply(.updateRole(organization: acme, name: name("editor"), permissions: [permission("iam.roles.update")]), actor: bob).succeeded)
        // An organization admin holds *.*.* in its organization: it may widen the role there.
        let alice = principal("acme", "alice")
        #expect(
            applier.apply(
                .updateRole(organization: acme, name: name("editor"), permissions: [permission("iam.roles.update"), permission("iam.projects.create")]),
                actor: alice
            ).succeeded)
    }

    @Test func aRoleBoundAtAProjectIsWidenedOnlyByWhoHoldsThePermissionThere() {
        var applier = Self.withAdmins()
        let acme = name("acme")
        let web = Scope.project(organization: acme, project: name("web"))
        let runner = RoleReference.custom(organization: acme, name: name("runner"))
        applier.succeed(.createRole(organization: acme, name: name("runner"), permissions: [permission("compute.instances.get")]))
        applier.succeed(.createBinding(id: id(81), principal: principal("acme", "bob"), role: runner, scope: web))
        // carol may update roles and holds compute.*.* on project web only.
        applier.succeed(.createPrincipal(principal("acme", "carol"), kind: .user))
        applier.succeed(.createRole(organization: acme, name: name("updater"), permissions: [permission("iam.roles.update")]))
        applier.succeed(.createRole(organization: acme, name: name("computer"), permissions: [permission("compute.*.*")]))
        let carol = principal("acme", "carol")
        applier.succeed(.createBinding(id: id(82), principal: carol, role: .custom(organization: acme, name: name("updater")), scope: .organization(acme)))
        applier.succeed(.createBinding(id: id(83), principal: carol, role: .custom(organization: acme, name: name("computer")), scope: web))
        let widened: [Permission] = [permission("compute.instances.get"), permission("compute.disks.delete")]
        #expect(applier.apply(.updateRole(organization: acme, name: name("runner"), permissions: widened), actor: carol).succeeded)
        // Bound at the organization too, the same change needs compute.disks.delete there.
        applier.succeed(.createBinding(id: id(84), principal: principal("acme", "alice"), role: runner, scope: .organization(acme)))
        let outcome = applier.apply(
            .updateRole(organization: acme, name: name("runner"), permissions: widened + [permission("compute.disks.create")]), actor: carol)
        #expect(outcome.rejection == .forbidden("acme/carol may not use compute.disks.create on orgs/acme"))
    }

    /// A new API key for a principal hands over everything that principal may do: minting one
    /// needs every permission the principal holds, where it holds it.
    @Test func mintingAKeyForAMorePowerfulPrincipalIsRefused() {
        var applier = Self.withAdmins()
        let acme = name("acme")
        applier.succeed(.createRole(organization: acme, name: name("keymaker"), permissions: [permission("iam.apikeys.create")]))
        let bob = principal("acme", "bob")
        applier.succeed(.createBinding(id: id(90), principal: bob, role: .custom(organization: acme, name: name("keymaker")), scope: .organization(acme)))
        let before = applier.state.entities
        let forAdmin = applier.apply(.createAPIKey(id: id(91), principal: principal("acme", "alice"), secretHash: [UInt8](repeating: 2, count: 32)), actor: bob)
        #expect(forAdmin.rejection?.code == "forbidden")
        #expect(applier.state.entities == before)
        // Its own key, or one for a principal that holds nothing bob lacks, is fine.
        #expect(applier.apply(.createAPIKey(id: id(92), principal: bob, secretHash: [UInt8](repeating: 3, count: 32)), actor: bob).succeeded)
        applier.succeed(.createPrincipal(principal("acme", "idle"), kind: .serviceAccount))
        #expect(
            applier.apply(.createAPIKey(id: id(93), principal: principal("acme", "idle"), secretHash: [UInt8](repeating: 4, count: 32)), actor: bob)
                .succeeded)
        // The organization's admin may mint keys for anyone of it.
        #expect(
            applier.apply(.createAPIKey(id: id(94), principal: bob, secretHash: [UInt8](repeating: 5, count: 32)), actor: principal("acme", "alice"))
                .succeeded)
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
