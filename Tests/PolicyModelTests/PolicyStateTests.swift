@testable import PolicyModel
import Testing

@Suite struct PolicyStateTests {
    // MARK: - Rules and limits: every rejection has a stable code and changes nothing

    @Test(arguments: [
        (Command.createOrganization(name: name("acme")), "already_exists"),
        (.createProject(organization: name("nope"), name: name("web")), "not_found"),
        (.createProject(organization: name("acme"), name: name("web")), "already_exists"),
        (.createPrincipal(principal("nope", "x"), kind: .user), "not_found"),
        (.createRole(organization: name("acme"), name: name("empty"), permissions: []), "invalid_argument"),
        (.createRole(organization: name("acme"), name: name("deployer"), permissions: [permission("a.b.c")]), "already_exists"),
        (.updateRole(organization: name("acme"), name: name("nope"), permissions: [permission("a.b.c")]), "not_found"),
        (.deleteOrganization(name: name("acme"), force: false), "has_dependents"),
        (.deleteOrganization(name: name("system"), force: true), "invalid_state"),
        (.setOrganizationSuspended(name: name("system"), suspended: true), "invalid_state"),
        (.deleteProject(organization: name("acme"), name: name("nope"), force: false), "not_found"),
        (.deletePrincipal(principal("acme", "nope"), force: false), "not_found"),
        (.deleteBinding(id: id(404)), "not_found"),
        (.createAPIKey(id: id(50), principal: principal("acme", "alice"), secretHash: [1, 2, 3]), "invalid_argument"),
        (.createAPIKey(id: id(50), principal: principal("acme", "nope"), secretHash: Array(repeating: 0, count: 32)), "not_found"),
        (.revokeAPIKey(id: id(404)), "not_found"),
        (.addRootKey(id: id(60), publicKey: [1], sealedPrivateKey: [1]), "invalid_argument"),
        (.addRootKey(id: id(60), publicKey: Array(repeating: 1, count: 32), sealedPrivateKey: []), "invalid_argument"),
        (.activateRootKey(id: id(404)), "not_found"),
        (.retireRootKey(id: id(404)), "not_found"),
    ])
    func invalidCommandIsRejectedAndChangesNothing(command: Command, code: String) {
        var applier = Applier.tenants()
        let before = applier.state.entities
        let outcome = applier.apply(command)
        #expect(outcome.rejection?.code == code, "\(command) gave \(String(describing: outcome.rejection))")
        #expect(applier.state.entities == before)
    }

    @Test func limitsAreEnforcedWithTheirNames() {
        var limits = PolicyLimits()
        limits.maxBindingsPerPrincipal = 1
        limits.maxPermissionsPerRole = 2
        limits.maxRolesPerOrganization = 1
        limits.maxAPIKeysPerPrincipal = 1
        var applier = Applier()
        applier.state = PolicyState(limits: limits)
        applier.succeed(.createOrganization(name: name("acme")))
        applier.succeed(.createProject(organization: name("acme"), name: name("web")))
        applier.succeed(.createPrincipal(principal("acme", "alice"), kind: .user))
        let three = [permission("a.b.c"), permission("a.b.d"), permission("a.b.e")]
        #expect(applier.apply(.createRole(organization: name("acme"), name: name("r1"), permissions: three)).rejection?.code == "limit_exceeded")
        applier.succeed(.createRole(organization: name("acme"), name: name("r1"), permissions: [permission("a.b.c")]))
        #expect(applier.apply(.createRole(organization: name("acme"), name: name("r2"), permissions: [permission("a.b.c")])).rejection?.code == "limit_exceeded")
        applier.succeed(.createBinding(id: id(1), principal: principal("acme", "alice"), role: .builtIn(.organizationViewer), scope: .organization(name("acme"))))
        #expect(applier.apply(.createBinding(id: id(2), principal: principal("acme", "alice"), role: .builtIn(.organizationAdmin), scope: .organization(name("acme")))).rejection?.code == "limit_exceeded")
        applier.succeed(.createAPIKey(id: id(3), principal: principal("acme", "alice"), secretHash: Array(repeating: 1, count: 32)))
        #expect(applier.apply(.createAPIKey(id: id(4), principal: principal("acme", "alice"), secretHash: Array(repeating: 1, count: 32))).rejection?.code == "limit_exceeded")
    }

    // MARK: - Tenancy

    @Test(arguments: [
        // Principal of acme bound in globex.
        Command.createBinding(id: id(9), principal: principal("acme", "alice"), role: .builtIn(.organizationAdmin), scope: .organization(name("globex"))),
        // Principal of acme bound on a globex project.
        .createBinding(id: id(9), principal: principal("acme", "alice"), role: .builtIn(.projectAdmin), scope: .project(organization: name("globex"), project: name("app"))),
        // A globex principal given acme's custom role, in globex.
        .createBinding(id: id(9), principal: principal("globex", "eve"), role: .custom(organization: name("acme"), name: name("deployer")), scope: .organization(name("globex"))),
        // A tenant principal given a cluster-wide role.
        .createBinding(id: id(9), principal: principal("acme", "alice"), role: .builtIn(.systemAdmin), scope: .cluster),
    ])
    func noBindingCrossesOrganizations(_ command: Command) {
        var applier = Applier.tenants()
        let before = applier.state.entities
        #expect(applier.apply(command).rejection?.code == "cross_organization")
        #expect(applier.state.entities == before)
    }

    @Test func builtInRolesBindOnlyAtTheirScope() {
        var applier = Applier.tenants()
        let wrong = Command.createBinding(
            id: id(9), principal: principal("acme", "alice"), role: .builtIn(.projectAdmin), scope: .organization(name("acme")))
        #expect(applier.apply(wrong).rejection?.code == "invalid_argument")
        let duplicate = Command.createBinding(
            id: id(10), principal: principal("acme", "alice"), role: .builtIn(.organizationViewer), scope: .organization(name("acme")))
        applier.succeed(duplicate)
        let again = Command.createBinding(
            id: id(11), principal: principal("acme", "alice"), role: .builtIn(.organizationViewer), scope: .organization(name("acme")))
        #expect(applier.apply(again).rejection?.code == "already_exists")
    }

    // MARK: - Idempotency and revisions

    @Test func sameIdempotencyKeyAppliesOnceAndReturnsTheFirstOutcome() {
        var applier = Applier.tenants()
        let alice = principal("acme", "alice")
        for (member, low) in [("alice", UInt64(40)), ("bob", 41)] {
            applier.succeed(
                .createBinding(id: id(low), principal: principal("acme", member), role: .builtIn(.organizationAdmin), scope: .organization(name("acme"))))
        }
        let first = applier.apply(.createProject(organization: name("acme"), name: name("api")), actor: alice, key: "k1")
        #expect(first.succeeded && !first.replayed)
        let before = applier.state.entities
        let retry = applier.apply(.createProject(organization: name("acme"), name: name("api")), actor: alice, key: "k1")
        #expect(retry.replayed)
        #expect(retry.revision == first.revision)
        #expect(retry.rejection == nil, "the retry answers like the first, not already_exists")
        #expect(applier.state.entities == before)
        // The same key from another principal is another request.
        let other = applier.apply(.createProject(organization: name("acme"), name: name("api")), actor: principal("acme", "bob"), key: "k1")
        #expect(!other.replayed)
        #expect(other.rejection?.code == "already_exists")
    }

    @Test func idempotencyWindowIsBounded() {
        var limits = PolicyLimits()
        limits.idempotencyWindowKeys = 2
        var applier = Applier()
        applier.state = PolicyState(limits: limits)
        applier.apply(.createOrganization(name: name("a")), key: "k1")
        applier.apply(.createOrganization(name: name("b")), key: "k2")
        applier.apply(.createOrganization(name: name("c")), key: "k3")
        #expect(!applier.apply(.createOrganization(name: name("a")), key: "k1").replayed, "k1 fell out of the window")
        #expect(applier.apply(.createOrganization(name: name("c")), key: "k3").replayed)
    }

    @Test func expectedRevisionMakesUpdatesConditional() {
        var applier = Applier.tenants()
        let role = applier.state.role(.custom(organization: name("acme"), name: name("deployer")))!
        let stale = applier.apply(
            .updateRole(organization: name("acme"), name: name("deployer"), permissions: [permission("a.b.c")]), expected: role.revision + 1)
        #expect(stale.rejection == .revisionMismatch(expected: role.revision + 1, actual: role.revision))
        let current = applier.apply(
            .updateRole(organization: name("acme"), name: name("deployer"), permissions: [permission("a.b.c")]), expected: role.revision)
        #expect(current.succeeded)
        #expect(applier.state.role(.custom(organization: name("acme"), name: name("deployer")))?.revision == current.revision)
        #expect(applier.apply(.createOrganization(name: name("new")), expected: 3).rejection?.code == "invalid_argument")
    }

    // MARK: - Cascades

    @Test func forcedDeletesRemoveDependentsExplicitly() {
        var applier = Applier.tenants()
        applier.succeed(.createBinding(id: id(1), principal: principal("acme", "alice"), role: .custom(organization: name("acme"), name: name("deployer")), scope: .project(organization: name("acme"), project: name("web"))))
        applier.succeed(.createAPIKey(id: id(2), principal: principal("acme", "alice"), secretHash: Array(repeating: 3, count: 32)))
        #expect(applier.apply(.deleteProject(organization: name("acme"), name: name("web"), force: false)).rejection?.code == "has_dependents")
        #expect(applier.apply(.deleteRole(organization: name("acme"), name: name("deployer"), force: false)).rejection?.code == "has_dependents")
        #expect(applier.apply(.deletePrincipal(principal("acme", "alice"), force: false)).rejection?.code == "has_dependents")
        applier.succeed(.deleteOrganization(name: name("acme"), force: true))
        #expect(applier.state.organization(name("acme")) == nil)
        #expect(applier.state.binding(id(1)) == nil)
        #expect(applier.state.apiKey(id(2)) == nil)
        #expect(applier.state.principal(principal("acme", "alice")) == nil)
        #expect(applier.state.projects(of: name("acme")).isEmpty)
        #expect(applier.state.principal(principal("globex", "eve")) != nil, "other tenants are untouched")
    }

    // MARK: - Root keys

    @Test func rootKeyLifecycleKeepsExactlyOneActiveKey() {
        var applier = Applier()
        let material = (Array(repeating: UInt8(1), count: 32), Array(repeating: UInt8(2), count: 60))
        applier.succeed(.addRootKey(id: id(1), publicKey: material.0, sealedPrivateKey: material.1))
        #expect(applier.state.activeRootKey == nil)
        applier.succeed(.activateRootKey(id: id(1)))
        applier.succeed(.addRootKey(id: id(2), publicKey: material.0, sealedPrivateKey: material.1))
        #expect(applier.state.publishedRootKeys.map(\.state) == [.active, .pending])
        applier.succeed(.activateRootKey(id: id(2)))
        #expect(applier.state.activeRootKey?.id == id(2))
        #expect(applier.state.allRootKeys.filter { $0.state == .active }.count == 1)
        #expect(applier.apply(.retireRootKey(id: id(2))).rejection?.code == "invalid_state")
        applier.succeed(.retireRootKey(id: id(1)))
        #expect(applier.state.publishedRootKeys.map(\.id) == [id(2)])
        #expect(applier.apply(.activateRootKey(id: id(1))).rejection?.code == "invalid_state")
    }

    // MARK: - Determinism

    @Test func sameCommandsGiveTheSameStateOnTwoReplicas() {
        var first = Applier.tenants()
        var second = Applier.tenants()
        for round in 0..<50 {
            let organization = name(round % 2 == 0 ? "acme" : "globex")
            let member = round % 2 == 0 ? principal("acme", "p\(round)") : principal("globex", "p\(round)")
            let commands: [Command] = [
                .createPrincipal(member, kind: .user),
                .createBinding(id: id(UInt64(1000 + round)), principal: member, role: .builtIn(.organizationViewer), scope: .organization(organization)),
                .createProject(organization: organization, name: name("p\(round)")),
            ]
            for command in commands {
                #expect(first.apply(command) == second.apply(command))
            }
        }
        #expect(first.state.entities == second.state.entities)
        #expect(first.state.revision == second.state.revision)
    }
}

@Suite struct AuthorizationTests {
    static func state() -> PolicyState {
        var applier = Applier.tenants()
        applier.succeed(.createBinding(id: id(1), principal: principal("acme", "alice"), role: .builtIn(.organizationViewer), scope: .organization(name("acme"))))
        applier.succeed(.createBinding(id: id(2), principal: principal("acme", "bob"), role: .custom(organization: name("acme"), name: name("deployer")), scope: .project(organization: name("acme"), project: name("web"))))
        applier.succeed(.createBinding(id: id(3), principal: principal("system", "root"), role: .builtIn(.systemAdmin), scope: .cluster))
        applier.succeed(.createBinding(id: id(4), principal: principal("globex", "eve"), role: .builtIn(.organizationAuditor), scope: .organization(name("globex"))))
        return applier.state
    }

    static let web = Scope.project(organization: name("acme"), project: name("web"))

    @Test(arguments: [
        // Organization bindings cover the organization and its projects.
        ("acme", "alice", "compute.instances.get", Scope.organization(name("acme")), true, UInt64(1)),
        ("acme", "alice", "compute.instances.list", web, true, 1),
        ("acme", "alice", "compute.instances.create", web, false, 0),
        // Project bindings cover only their project.
        ("acme", "bob", "compute.instances.create", web, true, 2),
        ("acme", "bob", "compute.instances.create", Scope.organization(name("acme")), false, 0),
        ("acme", "bob", "storage.buckets.create", web, false, 0),
        // Nothing crosses organizations.
        ("acme", "alice", "compute.instances.get", Scope.organization(name("globex")), false, 0),
        ("globex", "eve", "iam.audit.read", Scope.organization(name("acme")), false, 0),
        ("globex", "eve", "iam.audit.read", Scope.organization(name("globex")), true, 4),
        ("globex", "eve", "compute.instances.get", Scope.organization(name("globex")), false, 0),
        // The cluster scope covers everything.
        ("system", "root", "compute.instances.delete", web, true, 3),
        ("system", "root", "iam.organizations.create", Scope.cluster, true, 3),
        // Deny by default.
        ("acme", "alice", "iam.organizations.create", Scope.cluster, false, 0),
    ])
    func decisionTable(org: String, who: String, what: String, on: Scope, allowed: Bool, binding: UInt64) throws {
        let decision = Self.state().authorize(principal(org, who), try Permission(what, allowWildcards: false), on: on)
        #expect(decision.allowed == allowed)
        #expect(decision.binding?.id == (allowed ? id(binding) : nil))
    }

    @Test func suspendedOrganizationsAreDenied() throws {
        var applier = Applier()
        applier.state = Self.state()
        applier.nextRevision = applier.state.revision + 1
        applier.succeed(.setOrganizationSuspended(name: name("acme"), suspended: true))
        let get = try Permission("compute.instances.get", allowWildcards: false)
        #expect(applier.state.authorize(principal("acme", "alice"), get, on: .organization(name("acme"))).denial == .principalSuspended)
        #expect(applier.state.authorize(principal("system", "root"), get, on: Self.web).denial == .resourceSuspended)
        applier.succeed(.setOrganizationSuspended(name: name("acme"), suspended: false))
        #expect(applier.state.authorize(principal("acme", "alice"), get, on: .organization(name("acme"))).allowed)
    }

    @Test func unknownPrincipalsAndResourcesAreDenied() throws {
        let state = Self.state()
        let get = try Permission("compute.instances.get", allowWildcards: false)
        #expect(state.authorize(principal("acme", "ghost"), get, on: .organization(name("acme"))).denial == .unknownPrincipal)
        #expect(state.authorize(principal("system", "root"), get, on: .organization(name("nope"))).denial == .unknownResource)
        #expect(state.authorize(principal("system", "root"), get, on: .project(organization: name("acme"), project: name("nope"))).denial == .unknownResource)
    }

    @Test func decisionsFollowBindingChanges() throws {
        var applier = Applier()
        applier.state = Self.state()
        applier.nextRevision = applier.state.revision + 1
        let create = try Permission("compute.instances.create", allowWildcards: false)
        #expect(applier.state.authorize(principal("acme", "bob"), create, on: Self.web).allowed)
        applier.succeed(.updateRole(organization: name("acme"), name: name("deployer"), permissions: [permission("compute.instances.get")]))
        #expect(!applier.state.authorize(principal("acme", "bob"), create, on: Self.web).allowed)
        applier.succeed(.deleteBinding(id: id(1)))
        let get = try Permission("compute.instances.get", allowWildcards: false)
        #expect(!applier.state.authorize(principal("acme", "alice"), get, on: .organization(name("acme"))).allowed)
    }

    // MARK: - Bootstrap and break-glass (outside review, finding 4)

    static func administrator(_ number: UInt64) -> AdministratorKey {
        AdministratorKey(keyID: id(100 + number), secretHash: Array(repeating: UInt8(number), count: 32), bindingID: id(200 + number))
    }

    /// Makes `system/ops` a second cluster administrator, so `system/admin` may be removed.
    static func grantAnotherAdministrator(_ applier: inout Applier) {
        applier.succeed(.createPrincipal(principal("system", "ops"), kind: .user))
        applier.succeed(.createBinding(id: id(400), principal: principal("system", "ops"), role: .builtIn(.systemAdmin), scope: .cluster))
    }

    @Test func theLastSystemAdministratorCannotBeRemoved() {
        var applier = Applier()
        applier.succeed(.bootstrap(admin: Self.administrator(1), rootKey: Self.firstRootKey))
        let binding = applier.state.bindings(of: AdministratorKey.principal)[0].id
        #expect(applier.apply(.deleteBinding(id: binding)).rejection?.code == "invalid_state")
        #expect(applier.apply(.deletePrincipal(AdministratorKey.principal, force: true)).rejection?.code == "invalid_state")
        Self.grantAnotherAdministrator(&applier)
        // An auditor is granted cluster-wide too, and is no administrator.
        applier.succeed(.createPrincipal(principal("system", "auditor"), kind: .user))
        applier.succeed(.createBinding(id: id(401), principal: principal("system", "auditor"), role: .builtIn(.systemAuditor), scope: .cluster))
        #expect(applier.state.authorize(principal("system", "auditor"), permission("iam.audit.read"), on: .organization(name("system"))).allowed)
        #expect(!applier.state.authorize(principal("system", "auditor"), permission("iam.organizations.create"), on: .cluster).allowed)
        applier.succeed(.deleteBinding(id: binding))
        #expect(applier.apply(.deleteBinding(id: id(400))).rejection?.code == "invalid_state", "system/ops is the last one now")
        // Removing a cluster-wide binding needs the right cluster-wide: an org.admin of system cannot.
        applier.succeed(.createPrincipal(principal("system", "local"), kind: .user))
        applier.succeed(.createBinding(id: id(402), principal: principal("system", "local"), role: .builtIn(.organizationAdmin), scope: .organization(name("system"))))
        #expect(applier.apply(.deleteBinding(id: id(401)), actor: principal("system", "local")).rejection?.code == "forbidden")
        #expect(applier.apply(.deleteBinding(id: id(401)), actor: principal("system", "ops")).rejection == nil)
    }

    static let firstRootKey = RootKeyMaterial(id: id(300), publicKey: Array(repeating: 9, count: 32), sealedPrivateKey: Array(repeating: 8, count: 60))

    @Test func bootstrapHappensOncePerClusterAndMakesTheFirstAdministrator() {
        var applier = Applier()
        #expect(!applier.state.isBootstrapped)
        #expect(applier.apply(.breakGlass(admin: Self.administrator(1))).rejection?.code == "invalid_state", "nothing to break into yet")
        let first = applier.succeed(.bootstrap(admin: Self.administrator(1), rootKey: Self.firstRootKey))
        #expect(applier.state.isBootstrapped && applier.state.bootstrapRevision == first.revision)
        #expect(applier.state.apiKeys(of: AdministratorKey.principal).map(\.id) == [id(101)])
        #expect(applier.state.authorize(AdministratorKey.principal, permission("iam.organizations.create"), on: .cluster).allowed)
        #expect(applier.state.activeRootKey?.id == id(300), "the first root key is active at once")
        // A second bootstrap is refused, even once system/admin is gone.
        #expect(applier.apply(.bootstrap(admin: Self.administrator(2), rootKey: Self.firstRootKey)).rejection?.code == "invalid_state")
        Self.grantAnotherAdministrator(&applier)
        applier.succeed(.deletePrincipal(AdministratorKey.principal, force: true))
        #expect(applier.apply(.bootstrap(admin: Self.administrator(3), rootKey: Self.firstRootKey)).rejection?.code == "invalid_state")
        #expect(applier.state.principal(AdministratorKey.principal) == nil, "a refusal changes nothing")
    }

    @Test func breakGlassRestoresTheAdministratorWithANewKey() {
        var applier = Applier()
        applier.succeed(.bootstrap(admin: Self.administrator(1), rootKey: Self.firstRootKey))
        Self.grantAnotherAdministrator(&applier)
        applier.succeed(.deletePrincipal(AdministratorKey.principal, force: true))
        applier.succeed(.breakGlass(admin: Self.administrator(2)))
        #expect(applier.state.apiKeys(of: AdministratorKey.principal).map(\.id) == [id(102)])
        #expect(applier.state.authorize(AdministratorKey.principal, permission("rampart.keys.rotate"), on: .cluster).allowed)
        // With the principal and its binding in place, only a key is added.
        applier.succeed(.breakGlass(admin: Self.administrator(3)))
        #expect(applier.state.apiKeys(of: AdministratorKey.principal).count == 2)
        #expect(applier.state.bindings(of: AdministratorKey.principal).count == 1)
        // A key id in use is refused, and changes nothing.
        #expect(applier.apply(.breakGlass(admin: Self.administrator(3))).rejection?.code == "already_exists")
        #expect(applier.state.apiKeys(of: AdministratorKey.principal).count == 2)
    }

    @Test func onlyTheClusterItselfMayBootstrapOrBreakGlass() {
        var applier = Applier.tenants()
        applier.succeed(.createBinding(id: id(90), principal: principal("system", "root"), role: .builtIn(.systemAdmin), scope: .cluster))
        let actor = principal("system", "root")
        #expect(applier.apply(.bootstrap(admin: Self.administrator(1), rootKey: Self.firstRootKey), actor: actor).rejection?.code == "forbidden")
        #expect(!applier.state.isBootstrapped)
        applier.succeed(.bootstrap(admin: Self.administrator(1), rootKey: Self.firstRootKey))
        #expect(applier.apply(.breakGlass(admin: Self.administrator(2)), actor: actor).rejection?.code == "forbidden")
        #expect(applier.state.apiKeys(of: AdministratorKey.principal).count == 1)
    }

    // MARK: - Refusals in the audit log (outside review, finding 11)

    @Test func aRecordedDenialChangesNothingAndOnlyTheClusterRecordsIt() {
        var applier = Applier.tenants()
        let denied = DeniedAccess(
            principal: principal("acme", "bob"), permission: permission("iam.projects.create"), scope: .organization(name("acme")),
            reason: .lacksPermission, count: 3)
        let before = applier.state.allOrganizations
        applier.succeed(.recordDenial(denied))
        #expect(applier.state.allOrganizations == before)
        #expect(applier.apply(.recordDenial(denied), actor: principal("acme", "alice")).rejection?.code == "forbidden")
        var none = denied
        none.count = 0
        #expect(applier.apply(.recordDenial(none)).rejection?.code == "invalid_argument")
        let envelope = CommandEnvelope(command: .recordDenial(denied), actor: nil, requestID: "r-9", time: Timestamp(millisecondsSinceEpoch: 5))
        let record = AuditRecord.describing(
            envelope, organization: envelope.command.organization, revision: 9, outcome: CommandOutcome(revision: 9, rejection: nil),
            sequence: 1, previousHash: AuditRecord.genesisHash)
        #expect(record.actor == "acme/bob" && record.outcome == "lacks_permission" && record.organization == "acme")
        #expect(record.action == "access.denied" && record.target == "iam.projects.create on orgs/acme (3 requests)")
    }

    // Found by schemathesis: a reused idempotency key answered another request with the first
    // one's outcome, having done nothing. A retry is the same command and expected revision
    // (whatever its request id, time, or the ids the proposing replica generated).
    @Test func anIdempotencyKeyReplaysOnlyTheRequestItWasFirstUsedFor() {
        var applier = Applier.tenants()
        let first = applier.apply(.createAPIKey(id: id(700), principal: principal("acme", "bob"), secretHash: Array(repeating: 1, count: 32)), key: "k")
        #expect(first.rejection == nil)
        let retry = applier.apply(.createAPIKey(id: id(701), principal: principal("acme", "bob"), secretHash: Array(repeating: 2, count: 32)), key: "k")
        #expect(retry.replayed && retry.revision == first.revision, "generated values differ: still a retry")
        let other = applier.apply(.createAPIKey(id: id(702), principal: principal("acme", "alice"), secretHash: Array(repeating: 3, count: 32)), key: "k")
        #expect(other.rejection?.code == "invalid_argument" && !other.replayed)
        #expect(applier.state.apiKeys(of: principal("acme", "alice")).isEmpty)
        let deleted = applier.apply(.deleteOrganization(name: name("globex"), force: true), key: "k")
        #expect(deleted.rejection?.code == "invalid_argument")
        #expect(applier.state.organization(name("globex")) != nil)
    }
}
