import AdminAPI
import APIModels
import Foundation
import Hummingbird
import PolicyModel
import Testing

/// A fake cluster bootstrapped with a system administrator, plus helpers to create tenants.
struct Fixture {
    let cluster = FakeCluster()
    let client: RouteClient
    let admin: String

    /// A bootstrapped fake cluster whose routes have `limits`.
    init(limits: AdminRoutes.Limits = AdminRoutes.Limits()) async throws {
        client = RouteClient(cluster: cluster, routes: AdminRoutes(cluster: cluster, limits: limits))
        let answer = try await client.send(
            .post, "/v1/cluster/bootstrap", headers: ["Authorization": try await client.clusterProof(.bootstrap)])
        #expect(answer.status == 201)
        admin = try #require(answer.object["token"] as? String)
    }

    /// Creates `name`'s principal in `organization`, binds `role` to it, and returns its key.
    func member(_ organization: String, _ name: String, role: String, project: String? = nil) async throws -> String {
        let created = try await client.send(
            .post, "/v1/orgs/\(organization)/principals", body: #"{"name":"\#(name)","kind":"user"}"#, token: admin)
        #expect(created.status == 201, "\(created.body)")
        let projectField = project.map { #","project":"\#($0)""# } ?? ""
        let bound = try await client.send(
            .post, "/v1/orgs/\(organization)/bindings", body: #"{"principal":"\#(name)","role":"\#(role)"\#(projectField)}"#, token: admin)
        #expect(bound.status == 201, "\(bound.body)")
        let key = try await client.send(.post, "/v1/orgs/\(organization)/principals/\(name)/keys", token: admin)
        #expect(key.status == 201, "\(key.body)")
        return try #require(key.object["token"] as? String)
    }

    /// Creates the custom role `role` with `permissions` in `organization`.
    func role(_ organization: String, _ role: String, permissions: [String]) async throws {
        let list = permissions.map { "\"\($0)\"" }.joined(separator: ",")
        let created = try await client.send(
            .post, "/v1/orgs/\(organization)/roles", body: #"{"name":"\#(role)","permissions":[\#(list)]}"#, token: admin)
        #expect(created.status == 201, "\(created.body)")
    }

    func organization(_ name: String) async throws {
        let answer = try await client.send(.post, "/v1/orgs", body: #"{"name":"\#(name)"}"#, token: admin)
        #expect(answer.status == 201, "\(answer.body)")
    }
}

@Suite struct AdminRoutesTests {
    @Test func bootstrapOnceWithTheClusterSecretOnly() async throws {
        let fixture = try await Fixture()
        let client = fixture.client
        let again = try await client.send(.post, "/v1/cluster/bootstrap", headers: ["Authorization": try await client.clusterProof(.bootstrap)])
        #expect(again.status == 409)
        #expect(again.code == "already_bootstrapped")
        let forged = try await client.send(.post, "/v1/cluster/bootstrap", headers: ["Authorization": "Bootstrap 00ff"])
        #expect(forged.status == 401)
        // The first administrator, its binding and the first root key came in one command.
        let records = try #require(try await client.send(.get, "/v1/audit", token: fixture.admin).object["items"] as? [[String: Any]])
        #expect(records.map { $0["action"] as? String } == ["cluster.bootstrap"])
    }

    // Outside review, finding 4: the proof was a constant, replayable HMAC, and bootstrapping
    // was allowed whenever system/admin had no key. A proof is now bound to a one-time
    // challenge and to its purpose; the state machine allows one bootstrap per cluster.
    @Test func aClusterProofCannotBeReplayedOrUsedForAnotherPurpose() async throws {
        let client = RouteClient(cluster: FakeCluster())
        let proof = try await client.clusterProof(.bootstrap)
        let breakGlassProof = try await client.clusterProof(.breakGlass)
        #expect(try await client.send(.post, "/v1/cluster/bootstrap", headers: ["Authorization": breakGlassProof]).status == 401)
        #expect(try await client.send(.post, "/v1/cluster/bootstrap", headers: ["Authorization": proof]).status == 201)
        let replayed = try await client.send(.post, "/v1/cluster/break-glass", headers: ["Authorization": proof])
        #expect(replayed.status == 401, "a challenge is used once")
        // A challenge this replica never handed out, and a wrong secret, are refused.
        let unknown = ClusterProof.header(
            challenge: [UInt8](repeating: 7, count: 32),
            proof: ClusterProof.prove(.breakGlass, challenge: [UInt8](repeating: 7, count: 32), secret: FakeCluster.secret))
        #expect(try await client.send(.post, "/v1/cluster/break-glass", headers: ["Authorization": unknown]).status == 401)
        let wrongSecret = try await client.clusterProof(.breakGlass, secret: [UInt8](repeating: 1, count: 32))
        #expect(try await client.send(.post, "/v1/cluster/break-glass", headers: ["Authorization": wrongSecret]).status == 401)
    }

    // Six bootstraps at once (each with its own valid proof) make one administrator key.
    @Test func concurrentBootstrapsMakeOneAdministrator() async throws {
        let cluster = FakeCluster()
        let client = RouteClient(cluster: cluster)
        var proofs: [String] = []
        for _ in 0..<6 { proofs.append(try await client.clusterProof(.bootstrap)) }
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for proof in proofs { group.addTask { try await client.send(.post, "/v1/cluster/bootstrap", headers: ["Authorization": proof]).status } }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(statuses.sorted() == [201, 409, 409, 409, 409, 409])
        #expect(try cluster.readNow { $0.apiKeys(of: AdministratorKey.principal).count }.value == 1)
    }

    // The break-glass path: an operator who lost every administrator key gets a new one with
    // the cluster secret, in a bootstrapped cluster only; it is audited.
    @Test func breakGlassGivesTheAdministratorANewKeyAndIsAudited() async throws {
        let unbootstrapped = RouteClient(cluster: FakeCluster())
        let early = try await unbootstrapped.send(.post, "/v1/cluster/break-glass", headers: ["Authorization": try await unbootstrapped.clusterProof(.breakGlass)])
        #expect(early.status == 409 && early.code == "invalid_state")
        let fixture = try await Fixture()
        let client = fixture.client
        let keyID = try #require(fixture.admin.split(separator: ".").first)
        let removed = try await client.send(.delete, "/v1/orgs/system/principals/admin?force=true", token: fixture.admin)
        #expect(removed.status == 409 && removed.code == "invalid_state", "the last system.admin stays: \(removed.body)")
        #expect(try await client.send(.delete, "/v1/orgs/system/principals/admin/keys/\(keyID)", token: fixture.admin).status == 200)
        #expect(try await client.send(.get, "/v1/orgs", token: fixture.admin).status == 401, "the only key is gone")
        let opened = try await client.send(.post, "/v1/cluster/break-glass", headers: ["Authorization": try await client.clusterProof(.breakGlass)])
        #expect(opened.status == 201, "\(opened.body)")
        let token = try #require(opened.object["token"] as? String)
        #expect(!token.hasPrefix(String(keyID)))
        #expect(try await client.send(.post, "/v1/orgs", body: #"{"name":"after"}"#, token: token).status == 201, "a full administrator again")
        let records = try #require(try await client.send(.get, "/v1/audit?action=cluster.break-glass", token: token).object["items"] as? [[String: Any]])
        #expect(records.count == 1)
    }

    // Cluster-scope roles (issue 19, item 7): system.admin and system.auditor are granted
    // cluster-wide to principals of the system organization, without escalation, and the last
    // system.admin binding stays.
    @Test func systemRolesAreGrantedClusterWideAndTheLastAdministratorStays() async throws {
        let fixture = try await Fixture()
        let client = fixture.client
        let auditor = try await fixture.member("system", "auditor", role: "system.auditor")
        let bindings = try #require(try await client.send(.get, "/v1/orgs/system/bindings", token: fixture.admin).object["items"] as? [[String: Any]])
        #expect(bindings.first { $0["principal"] as? String == "system/auditor" }?["scope"] as? String == "cluster")
        try await fixture.organization("acme")
        #expect(try await client.send(.get, "/v1/audit?organization=acme", token: auditor).status == 200, "audits every organization")
        #expect(try await client.send(.post, "/v1/orgs", body: #"{"name":"x"}"#, token: auditor).status == 403, "and does nothing else")
        // An administrator of the system organization alone cannot grant a cluster-wide role.
        let local = try await fixture.member("system", "local", role: "org.admin")
        #expect(try await client.send(.post, "/v1/orgs/system/principals", body: #"{"name":"ops","kind":"user"}"#, token: local).status == 201)
        let escalation = try await client.send(.post, "/v1/orgs/system/bindings", body: #"{"principal":"ops","role":"system.admin"}"#, token: local)
        #expect(escalation.status == 403, "\(escalation.body)")
        let foreign = try await client.send(.post, "/v1/orgs/acme/principals", body: #"{"name":"eve","kind":"user"}"#, token: fixture.admin)
        #expect(foreign.status == 201)
        let crossing = try await client.send(.post, "/v1/orgs/acme/bindings", body: #"{"principal":"eve","role":"system.admin"}"#, token: fixture.admin)
        #expect(crossing.status == 400, "only system principals hold cluster-wide roles: \(crossing.body)")
        let granted = try await client.send(.post, "/v1/orgs/system/bindings", body: #"{"principal":"ops","role":"system.admin"}"#, token: fixture.admin)
        #expect(granted.status == 201 && granted.object["scope"] as? String == "cluster", "\(granted.body)")
        let opsKey = try #require(try await client.send(.post, "/v1/orgs/system/principals/ops/keys", token: fixture.admin).object["token"] as? String)
        let adminBinding = try #require(bindings.first { $0["principal"] as? String == "system/admin" }?["id"] as? String)
        #expect(try await client.send(.delete, "/v1/orgs/system/bindings/\(adminBinding)", token: local).status == 403, "cluster-wide needs cluster-wide")
        #expect(try await client.send(.delete, "/v1/orgs/system/bindings/\(adminBinding)", token: fixture.admin).status == 200)
        let last = try #require(granted.object["id"] as? String)
        let kept = try await client.send(.delete, "/v1/orgs/system/bindings/\(last)", token: opsKey)
        #expect(kept.status == 409 && kept.code == "invalid_state", "\(kept.body)")
        #expect(try await client.send(.post, "/v1/orgs", body: #"{"name":"ops-made"}"#, token: opsKey).status == 201, "ops administers")
    }

    @Test func credentialsAreRequiredAndChecked() async throws {
        let fixture = try await Fixture()
        let client = fixture.client
        #expect(try await client.send(.get, "/v1/orgs").status == 401)
        #expect(try await client.send(.get, "/v1/orgs", token: "nonsense").status == 401)
        let parts = fixture.admin.split(separator: ".")
        let wrongSecret = "\(parts[0]).\(String(repeating: "0", count: 64))"
        let refused = try await client.send(.get, "/v1/orgs", token: wrongSecret)
        #expect(refused.status == 401)
        #expect(refused.code == "unauthenticated")
        #expect(try await client.send(.get, "/v1/orgs", token: fixture.admin).status == 200)
        // Health, readiness, metrics and the public key set need no credentials.
        #expect(try await client.send(.get, "/healthz").status == 200)
        #expect(try await client.send(.get, "/metrics").body.contains("rampart_raft_term"))
        #expect(try await client.send(.get, "/v1/keys").status == 200)
    }

    @Test func organizationsAreCreatedReadSuspendedAndDeleted() async throws {
        let fixture = try await Fixture()
        let client = fixture.client
        let created = try await client.send(.post, "/v1/orgs", body: #"{"name":"acme"}"#, token: fixture.admin)
        #expect(created.status == 201)
        #expect(created.object["revision"] as? Int == Int(fixture.cluster.revision))
        let duplicate = try await client.send(.post, "/v1/orgs", body: #"{"name":"acme"}"#, token: fixture.admin)
        #expect(duplicate.status == 409)
        #expect(duplicate.code == "already_exists")
        let read = try await client.send(.get, "/v1/orgs/acme", token: fixture.admin)
        #expect(read.object["name"] as? String == "acme")
        #expect(read.headers[.init("X-Rampart-Revision")!] == String(fixture.cluster.revision))
        let suspended = try await client.send(.patch, "/v1/orgs/acme", body: #"{"suspended":true}"#, token: fixture.admin)
        #expect(suspended.object["suspended"] as? Bool == true)
        #expect(try await client.send(.delete, "/v1/orgs/acme", token: fixture.admin).status == 200)
        let gone = try await client.send(.get, "/v1/orgs/acme", token: fixture.admin)
        #expect(gone.status == 404)
        #expect(gone.code == "not_found")
    }

    @Test func anOrganizationAdminCannotSeeOrTouchAnotherOrganization() async throws {
        let fixture = try await Fixture()
        try await fixture.organization("alpha")
        try await fixture.organization("beta")
        let alphaAdmin = try await fixture.member("alpha", "admin", role: "org.admin")
        _ = try await fixture.member("beta", "owner", role: "org.admin")
        let client = fixture.client
        let listed = try await client.send(.get, "/v1/orgs", token: alphaAdmin)
        #expect((listed.object["items"] as? [[String: Any]])?.compactMap { $0["name"] as? String } == ["alpha"])
        let before = fixture.cluster.fingerprint
        let attempts: [(HTTPRequest.Method, String, String?)] = [
            (.get, "/v1/orgs/beta", nil), (.patch, "/v1/orgs/beta", #"{"suspended":true}"#), (.delete, "/v1/orgs/beta", nil),
            (.post, "/v1/orgs/beta/projects", #"{"name":"p"}"#), (.get, "/v1/orgs/beta/projects", nil),
            (.post, "/v1/orgs/beta/principals", #"{"name":"x","kind":"user"}"#), (.get, "/v1/orgs/beta/principals", nil),
            (.get, "/v1/orgs/beta/principals/owner", nil), (.delete, "/v1/orgs/beta/principals/owner", nil),
            (.post, "/v1/orgs/beta/principals/owner/keys", nil), (.get, "/v1/orgs/beta/principals/owner/keys", nil),
            (.post, "/v1/orgs/beta/roles", #"{"name":"r","permissions":["a.b.c"]}"#), (.get, "/v1/orgs/beta/roles", nil),
            (.post, "/v1/orgs/beta/bindings", #"{"principal":"owner","role":"org.viewer"}"#), (.get, "/v1/orgs/beta/bindings", nil),
            (.get, "/v1/audit?organization=beta", nil), (.post, "/v1/orgs", #"{"name":"gamma"}"#),
            (.post, "/v1/authorize", #"{"principal":"beta/owner","permission":"a.b.c","organization":"beta"}"#),
        ]
        for (method, path, body) in attempts {
            let answer = try await client.send(method, path, body: body, token: alphaAdmin)
            #expect(answer.status == 403, "\(method) \(path) answered \(answer.status)")
        }
        #expect(fixture.cluster.fingerprint == before)
        // Inside its own organization it can do everything.
        #expect(try await client.send(.post, "/v1/orgs/alpha/projects", body: #"{"name":"web"}"#, token: alphaAdmin).status == 201)
    }

    @Test func auditorsReadTheirOrganizationsAuditAndNothingElse() async throws {
        let fixture = try await Fixture()
        try await fixture.organization("alpha")
        try await fixture.organization("beta")
        let auditor = try await fixture.member("alpha", "auditor", role: "org.auditor")
        let client = fixture.client
        let records = try await client.send(.get, "/v1/audit?organization=alpha", token: auditor)
        #expect(records.status == 200)
        let items = try #require(records.object["items"] as? [[String: Any]])
        #expect(!items.isEmpty && items.allSatisfy { $0["organization"] as? String == "alpha" })
        // A tenant's auditor reads its own organization's records only, not those of an earlier
        // organization of the same name; a cluster-wide auditor may read that history.
        #expect(fixture.cluster.auditQueries.last?.currentOrganizationOnly == true)
        #expect(try await client.send(.get, "/v1/audit?organization=alpha", token: fixture.admin).status == 200)
        #expect(fixture.cluster.auditQueries.last?.currentOrganizationOnly == false)
        #expect(try await client.send(.get, "/v1/audit", token: auditor).status == 403)
        #expect(try await client.send(.get, "/v1/audit?organization=beta", token: auditor).status == 403)
        #expect(try await client.send(.post, "/v1/orgs/alpha/projects", body: #"{"name":"p"}"#, token: auditor).status == 403)
        #expect(try await client.send(.get, "/v1/orgs/alpha/principals", token: auditor).status == 403)
    }

    /// Authentication comes first: a made-up key is refused at once, before the request's
    /// `min_revision` is waited for (it waited 10 s and answered 504) and before its path or
    /// parameters are validated (a bad name answered 400 to anyone).
    @Test func credentialsAreCheckedBeforeAnyWaitOrValidation() async throws {
        let fixture = try await Fixture()
        let client = fixture.client
        let madeUp = "\(String(repeating: "ab", count: 16)).\(String(repeating: "cd", count: 32))"
        let ahead = fixture.cluster.revision + 1_000
        for path in ["/v1/orgs?min_revision=\(ahead)", "/v1/orgs/alpha/principals?min_revision=\(ahead)", "/v1/audit?min_revision=\(ahead)"] {
            let answer = try await client.send(.get, path, token: madeUp)
            #expect(answer.status == 401, "\(path): \(answer.body)")
        }
        for path in ["/v1/orgs/NOT_A_NAME", "/v1/orgs/alpha/principals/-bad-/keys", "/v1/orgs?limit=0", "/v1/orgs/alpha/roles/BAD"] {
            #expect(try await client.send(.get, path).status == 401, "\(path) without a key")
            #expect(try await client.send(.get, path, token: madeUp).status == 401, "\(path) with a made-up key")
            #expect(try await client.send(.get, path, token: fixture.admin).status == 400, "\(path) with the admin's key")
        }
        // The public routes stay public.
        #expect(try await client.send(.get, "/v1/keys").status == 200)
        #expect(try await client.send(.get, "/healthz").status == 200)
    }

    @Test func aPrincipalCannotGrantPermissionsItDoesNotHold() async throws {
        let fixture = try await Fixture()
        try await fixture.organization("alpha")
        let client = fixture.client
        try await fixture.role("alpha", "binder", permissions: ["iam.bindings.create", "iam.principals.get"])
        let binder = try await fixture.member("alpha", "binder", role: "binder")
        _ = try await fixture.member("alpha", "target", role: "org.viewer")
        let escalation = try await client.send(
            .post, "/v1/orgs/alpha/bindings", body: #"{"principal":"target","role":"org.admin"}"#, token: binder)
        #expect(escalation.status == 403)
        #expect(escalation.body.contains("cannot grant"))
        let allowed = try await client.send(.post, "/v1/orgs/alpha/bindings", body: #"{"principal":"target","role":"binder"}"#, token: binder)
        #expect(allowed.status == 201)
    }

    /// A retried key creation cannot answer with a token that does not work: the first request's
    /// key exists, its secret is gone, and the retry says so and names the key.
    @Test func aRetriedKeyCreationSaysItsSecretCannotBeShownAgain() async throws {
        let fixture = try await Fixture()
        try await fixture.organization("alpha")
        _ = try await fixture.member("alpha", "robot", role: "org.viewer")
        let client = fixture.client
        let retry = ["Idempotency-Key": "key-for-robot"]
        let first = try await client.send(.post, "/v1/orgs/alpha/principals/robot/keys", token: fixture.admin, headers: retry)
        #expect(first.status == 201)
        let id = try #require(first.object["id"] as? String)
        let token = try #require(first.object["token"] as? String)
        let again = try await client.send(.post, "/v1/orgs/alpha/principals/robot/keys", token: fixture.admin, headers: retry)
        #expect(again.status == 409, "\(again.body)")
        #expect(again.code == "secret_not_repeatable")
        #expect(again.body.contains(id), "\(again.body)")
        #expect(!again.body.contains("token"))
        let keys = try await client.send(.get, "/v1/orgs/alpha/principals/robot/keys", token: fixture.admin)
        #expect((keys.object["items"] as? [[String: Any]])?.compactMap { $0["id"] as? String }.filter { $0 == id }.count == 1)
        #expect(try await client.send(.get, "/v1/orgs/alpha", token: token).status == 200, "the first answer's token works")
        // Once that key is revoked, the retry still refuses, without an id to show.
        #expect(try await client.send(.delete, "/v1/orgs/alpha/principals/robot/keys/\(id)", token: fixture.admin).status == 200)
        let late = try await client.send(.post, "/v1/orgs/alpha/principals/robot/keys", token: fixture.admin, headers: retry)
        #expect(late.status == 409)
        #expect(late.body.contains("revoked"))
    }

    /// The outside review's escalation, step by step: a principal that may only update roles
    /// widens the role it is bound to, then mints a key for its organization's admin. Both are
    /// refused before anything is proposed (the audit log does not grow).
    @Test func aRoleUpdateOrAKeyCannotReachWhatTheCallerDoesNotHold() async throws {
        let fixture = try await Fixture()
        try await fixture.organization("alpha")
        let client = fixture.client
        try await fixture.role("alpha", "editor", permissions: ["iam.roles.update", "iam.apikeys.create"])
        let editor = try await fixture.member("alpha", "editor", role: "editor")
        _ = try await fixture.member("alpha", "boss", role: "org.admin")
        let head = fixture.cluster.status().auditSequence
        let widened = try await client.send(
            .put, "/v1/orgs/alpha/roles/editor", body: #"{"permissions":["iam.roles.update","iam.apikeys.create","*.*.*"]}"#, token: editor)
        #expect(widened.status == 403)
        #expect(widened.body.contains(#"cannot grant *.*.* on orgs\/alpha"#), "\(widened.body)")
        let minted = try await client.send(.post, "/v1/orgs/alpha/principals/boss/keys", token: editor)
        #expect(minted.status == 403, "\(minted.body)")
        #expect(fixture.cluster.status().auditSequence == head)
        let unchanged = try await client.send(.get, "/v1/orgs/alpha/roles/editor", token: fixture.admin)
        #expect(Set(unchanged.object["permissions"] as? [String] ?? []) == ["iam.roles.update", "iam.apikeys.create"])
        // Narrowing needs nothing more, and its own key is the caller's to make.
        let narrowed = try await client.send(.put, "/v1/orgs/alpha/roles/editor", body: #"{"permissions":["iam.apikeys.create"]}"#, token: editor)
        #expect(narrowed.status == 200, "\(narrowed.body)")
    }

    @Test func conditionalUpdatesAndIdempotentRetries() async throws {
        let fixture = try await Fixture()
        try await fixture.organization("alpha")
        let client = fixture.client
        let created = try await client.send(.post, "/v1/orgs/alpha/roles", body: #"{"name":"r","permissions":["a.b.c"]}"#, token: fixture.admin)
        let revision = try #require(created.object["revision"] as? Int)
        let stale = try await client.send(
            .put, "/v1/orgs/alpha/roles/r", body: #"{"permissions":["a.b.d"]}"#, token: fixture.admin, headers: ["If-Match": "\(revision - 1)"])
        #expect(stale.status == 412)
        #expect(stale.code == "revision_mismatch")
        let fresh = try await client.send(
            .put, "/v1/orgs/alpha/roles/r", body: #"{"permissions":["a.b.d"]}"#, token: fixture.admin, headers: ["If-Match": "\"\(revision)\""])
        #expect(fresh.status == 200)
        let first = try await client.send(
            .post, "/v1/orgs/alpha/projects", body: #"{"name":"p"}"#, token: fixture.admin, headers: ["Idempotency-Key": "k-1"])
        let retry = try await client.send(
            .post, "/v1/orgs/alpha/projects", body: #"{"name":"p"}"#, token: fixture.admin, headers: ["Idempotency-Key": "k-1"])
        #expect(first.status == 201 && retry.status == 201)
        #expect(first.object["revision"] as? Int == retry.object["revision"] as? Int)
    }

    @Test func apiKeysAreShownOnceListedWithoutSecretsAndRevocable() async throws {
        let fixture = try await Fixture()
        try await fixture.organization("alpha")
        let token = try await fixture.member("alpha", "svc", role: "org.viewer")
        let client = fixture.client
        let listed = try await client.send(.get, "/v1/orgs/alpha/principals/svc/keys", token: fixture.admin)
        #expect(!listed.body.contains(String(token.split(separator: ".")[1])), "the secret is never listed")
        let id = String(token.split(separator: ".")[0])
        #expect(try await client.send(.get, "/v1/orgs/alpha/projects", token: token).status == 200)
        #expect(try await client.send(.delete, "/v1/orgs/alpha/principals/svc/keys/\(id)", token: fixture.admin).status == 200)
        #expect(try await client.send(.get, "/v1/orgs/alpha/projects", token: token).status == 401)
    }

    @Test func authorizeAnswersWithTheDecidingBinding() async throws {
        let fixture = try await Fixture()
        try await fixture.organization("alpha")
        let client = fixture.client
        #expect(try await client.send(.post, "/v1/orgs/alpha/projects", body: #"{"name":"web"}"#, token: fixture.admin).status == 201)
        _ = try await fixture.member("alpha", "dev", role: "project.admin", project: "web")
        let allowed = try await client.send(
            .post, "/v1/authorize", body: #"{"principal":"alpha/dev","permission":"compute.instances.create","organization":"alpha","project":"web"}"#,
            token: fixture.admin)
        #expect(allowed.object["allowed"] as? Bool == true)
        #expect(allowed.object["binding"] is String)
        let denied = try await client.send(
            .post, "/v1/authorize", body: #"{"principal":"alpha/dev","permission":"compute.instances.create","organization":"alpha"}"#,
            token: fixture.admin)
        #expect(denied.object["allowed"] as? Bool == false)
        // The one-read path services use (this replica's state) checks the caller just the same.
        let body = #"{"principal":"alpha/dev","permission":"compute.instances.create","organization":"alpha","project":"web"}"#
        let stale = try await client.send(.post, "/v1/authorize?consistency=stale", body: body, token: fixture.admin)
        #expect(stale.object["allowed"] as? Bool == true)
        let viewer = try await fixture.member("alpha", "viewer", role: "org.viewer")
        #expect(try await client.send(.post, "/v1/authorize?consistency=stale", body: body, token: viewer).status == 403)
        #expect(try await client.send(.post, "/v1/authorize?consistency=stale", body: body, token: "bad.key").status == 401)
    }

    /// Read-your-writes on a lagging replica: with `min_revision` every check of the request,
    /// the permission check on the resource included, sees at least that revision.
    @Test func minRevisionAppliesToTheChecksToo() async throws {
        let fixture = try await Fixture()
        let client = fixture.client
        fixture.cluster.lag()
        let created = try await client.send(.post, "/v1/orgs", body: #"{"name":"ryw"}"#, token: fixture.admin)
        #expect(created.status == 201)
        let revision = try #require(created.object["revision"] as? Int)
        #expect(try await client.send(.get, "/v1/orgs/ryw?consistency=stale", token: fixture.admin).status == 404, "the replica lags")
        let found = try await client.send(.get, "/v1/orgs/ryw?consistency=stale&min_revision=\(revision)", token: fixture.admin)
        #expect(found.status == 200, "\(found.body)")
        #expect(found.object["name"] as? String == "ryw")
    }

    @Test func listingsArePaginatedWithACursor() async throws {
        let fixture = try await Fixture()
        try await fixture.organization("alpha")
        for name in ["e", "a", "d", "c", "b"] {
            _ = try await fixture.client.send(.post, "/v1/orgs/alpha/projects", body: #"{"name":"\#(name)"}"#, token: fixture.admin)
        }
        var names: [String] = []
        var cursor: String?
        repeat {
            let query = cursor.map { "&cursor=\($0)" } ?? ""
            let page = try await fixture.client.send(.get, "/v1/orgs/alpha/projects?limit=2\(query)", token: fixture.admin)
            let items = try #require(page.object["items"] as? [[String: Any]])
            #expect(items.count <= 2)
            names += items.compactMap { $0["name"] as? String }
            cursor = page.object["next_cursor"] as? String
        } while cursor != nil
        #expect(names == ["a", "b", "c", "d", "e"])
    }

    @Test func requestIDsAreEchoedAuditedAndChecked() async throws {
        let fixture = try await Fixture()
        let client = fixture.client
        let created = try await client.send(.post, "/v1/orgs", body: #"{"name":"acme"}"#, token: fixture.admin, headers: ["X-Request-ID": "req-42"])
        #expect(created.headers[.init("X-Request-ID")!] == "req-42")
        let audit = try await client.send(.get, "/v1/audit?action=organization.create", token: fixture.admin)
        let records = try #require(audit.object["items"] as? [[String: Any]])
        #expect(records.contains { $0["request_id"] as? String == "req-42" && $0["target"] as? String == "orgs/acme" })
        let generated = try await client.send(.get, "/v1/orgs", token: fixture.admin)
        #expect(generated.headers[.init("X-Request-ID")!]?.isEmpty == false)
        let invalid = try await client.send(
            .post, "/v1/orgs", body: #"{"name":"other"}"#, token: fixture.admin, headers: ["X-Request-ID": String(repeating: "x", count: 200)])
        #expect(invalid.status == 400)
    }

    @Test func keyRotationPublishesAPendingKeyThenItsLifecycleRuns() async throws {
        let fixture = try await Fixture()
        let client = fixture.client
        func keys() async throws -> [String: String] {
            let page = try await client.send(.get, "/v1/keys")
            let items = try #require(page.object["items"] as? [[String: Any]])
            return Dictionary(uniqueKeysWithValues: items.map { ($0["id"] as! String, $0["state"] as! String) })
        }
        let first = try await keys()
        #expect(first.values.sorted() == ["active"], "the bootstrap made the first key active")
        let rotated = try await client.send(.post, "/v1/keys/rotate", token: fixture.admin)
        #expect(rotated.status == 201)
        let pendingID = try #require(rotated.object["id"] as? String)
        #expect(try await keys()[pendingID] == "pending")
        let again = try await client.send(.post, "/v1/keys/rotate", token: fixture.admin)
        #expect(again.status == 409, "one rotation at a time")
        try await fixture.cluster.advanceKeyLifecycle()
        let afterActivation = try await keys()
        #expect(afterActivation[pendingID] == "active")
        #expect(afterActivation[first.keys.first!] == "retiring")
        try await fixture.cluster.advanceKeyLifecycle()
        #expect(try await keys() == [pendingID: "active"], "retired keys leave the set")
        #expect(!(try await client.send(.get, "/v1/keys")).body.contains("sealed"), "private keys never leave")
    }

    /// The Biscuit Web Key set: public, every published key with the Biscuit key id that
    /// `/v1/keys` gives it, in the reference's form, cacheable with an ETag that changes
    /// exactly when the set does.
    @Test func theBiscuitWebKeySetFollowsTheKeysAndIsCacheable() async throws {
        let fixture = try await Fixture()
        let client = fixture.client
        func keySet() async throws -> (answer: RouteClient.Answer, keys: [[String: Any]]) {
            let answer = try await client.send(.get, "/.well-known/biscuit-web-keys")
            #expect(answer.status == 200, "public: no key needed")
            return (answer, try #require(answer.object["keys"] as? [[String: Any]]))
        }
        func listed() async throws -> [UInt32: String] {
            let items = try #require(try await client.send(.get, "/v1/keys").object["items"] as? [[String: Any]])
            return Dictionary(uniqueKeysWithValues: items.map { (($0["root_key_id"] as! NSNumber).uint32Value, $0["public_key"] as! String) })
        }
        let (first, keys) = try await keySet()
        #expect(keys.count == 1)
        let key = try #require(keys.first)
        #expect(key["algorithm"] as? String == "ed25519" && key["issuer"] as? String == "rampart")
        let planned = try #require(key["expires_at"] as? String, "the active key's planned retirement (the default schedule rotates)")
        #expect(planned == (try await client.send(.get, "/v1/keys").object["items"] as? [[String: Any]])?.first?["retires_at"] as? String)
        #expect(try await listed() == [(key["key_id"] as! NSNumber).uint32Value: key["key_bytes"] as! String])
        let tag = try #require(first.headers[.eTag])
        #expect(first.headers[.cacheControl] == "public, max-age=60")

        // The same set: 304 without a body for a client that has it, whatever else it names.
        let unchanged = try await client.send(.get, "/.well-known/biscuit-web-keys", headers: ["If-None-Match": "\"other\", \(tag)"])
        #expect(unchanged.status == 304 && unchanged.body.isEmpty && unchanged.headers[.eTag] == tag)
        #expect(try await client.send(.get, "/.well-known/biscuit-web-keys", headers: ["If-None-Match": "\"other\""]).status == 200)
        // A write that does not touch the keys does not change the tag.
        #expect(try await client.send(.post, "/v1/orgs", body: #"{"name":"acme"}"#, token: fixture.admin).status == 201)
        #expect(try await keySet().answer.headers[.eTag] == tag)

        // A rotation publishes the pending key at once, under a new tag.
        let rotated = try await client.send(.post, "/v1/keys/rotate", token: fixture.admin)
        let pendingKeyID = try #require((rotated.object["root_key_id"] as? NSNumber)?.uint32Value)
        let (second, rotatedKeys) = try await keySet()
        #expect(second.headers[.eTag] != tag)
        #expect(Set(rotatedKeys.map { ($0["key_id"] as! NSNumber).uint32Value }) == Set(try await listed().keys))
        #expect(rotatedKeys.contains { ($0["key_id"] as! NSNumber).uint32Value == pendingKeyID })
        #expect(try await client.send(.get, "/.well-known/biscuit-web-keys", headers: ["If-None-Match": tag]).status == 200)
    }

    // Each operation of the table on its success path (the fake cluster has one member, so
    // membership changes and transfers are refused by it, as a one-replica cluster would).
    @Test func everyOperationAnswersOnItsSuccessPath() async throws {
        let fixture = try await Fixture()
        let client = fixture.client
        let admin = fixture.admin
        var seen: Set<String> = []
        func call(_ method: HTTPRequest.Method, _ template: String, _ path: String, _ body: String? = nil, expect status: Int) async throws
            -> RouteClient.Answer
        {
            let answer = try await client.send(method, path, body: body, token: admin)
            #expect(answer.status == status, "\(method) \(path): \(answer.status) \(answer.body)")
            seen.insert("\(method) \(template)")
            return answer
        }
        _ = try await call(.get, "/healthz", "/healthz", expect: 200)
        _ = try await call(.get, "/readyz", "/readyz", expect: 200)
        _ = try await call(.get, "/metrics", "/metrics", expect: 200)
        _ = try await call(.get, "/v1/cluster", "/v1/cluster", expect: 200)
        _ = try await call(.get, "/v1/cluster/hash", "/v1/cluster/hash", expect: 200)
        _ = try await call(.get, "/v1/snapshot", "/v1/snapshot", expect: 200)
        // The change stream's answer does not end: its head only (WatchRouteTests reads lines).
        let watch = try await client.head(.get, "/v1/watch", token: admin)
        #expect(watch.status == 200 && watch.headers[.contentType] == "application/x-ndjson")
        seen.insert("GET /v1/watch")
        fixture.cluster.run(replica: 4, at: "127.0.0.1:7004")
        _ = try await call(
            .post, "/v1/cluster/members", "/v1/cluster/members", #"{"action":"add_learner","replica":4,"peer_address":"127.0.0.1:7004"}"#,
            expect: 200)
        _ = try await call(.post, "/v1/cluster/leader", "/v1/cluster/leader", #"{"replica":2}"#, expect: 409)
        seen.insert("POST /v1/cluster/bootstrap")  // the fixture's bootstrap
        seen.insert("POST /v1/cluster/bootstrap/challenge")  // asked for by the fixture's bootstrap
        _ = try await call(
            .post, "/v1/cluster/break-glass", "/v1/cluster/break-glass",
            nil as String?, expect: 401)  // the route answers; its success path is breakGlassGivesTheAdministratorANewKeyAndIsAudited
        _ = try await call(.post, "/v1/orgs", "/v1/orgs", #"{"name":"alpha"}"#, expect: 201)
        _ = try await call(.get, "/v1/orgs", "/v1/orgs", expect: 200)
        _ = try await call(.get, "/v1/orgs/{org}", "/v1/orgs/alpha", expect: 200)
        _ = try await call(.patch, "/v1/orgs/{org}", "/v1/orgs/alpha", #"{"suspended":false}"#, expect: 200)
        _ = try await call(.post, "/v1/orgs/{org}/projects", "/v1/orgs/alpha/projects", #"{"name":"web"}"#, expect: 201)
        _ = try await call(.get, "/v1/orgs/{org}/projects", "/v1/orgs/alpha/projects", expect: 200)
        _ = try await call(.get, "/v1/orgs/{org}/projects/{project}", "/v1/orgs/alpha/projects/web", expect: 200)
        _ = try await call(.post, "/v1/orgs/{org}/principals", "/v1/orgs/alpha/principals", #"{"name":"dev","kind":"service_account"}"#, expect: 201)
        _ = try await call(.get, "/v1/orgs/{org}/principals", "/v1/orgs/alpha/principals", expect: 200)
        _ = try await call(.get, "/v1/orgs/{org}/principals/{principal}", "/v1/orgs/alpha/principals/dev", expect: 200)
        let key = try await call(.post, "/v1/orgs/{org}/principals/{principal}/keys", "/v1/orgs/alpha/principals/dev/keys", expect: 201)
        _ = try await call(.get, "/v1/orgs/{org}/principals/{principal}/keys", "/v1/orgs/alpha/principals/dev/keys", expect: 200)
        let keyID = try #require(key.object["id"] as? String)
        _ = try await call(.delete, "/v1/orgs/{org}/principals/{principal}/keys/{key}", "/v1/orgs/alpha/principals/dev/keys/\(keyID)", expect: 200)
        _ = try await call(.get, "/v1/roles", "/v1/roles", expect: 200)
        _ = try await call(.post, "/v1/orgs/{org}/roles", "/v1/orgs/alpha/roles", #"{"name":"ops","permissions":["compute.*.get"]}"#, expect: 201)
        _ = try await call(.get, "/v1/orgs/{org}/roles", "/v1/orgs/alpha/roles", expect: 200)
        _ = try await call(.get, "/v1/orgs/{org}/roles/{role}", "/v1/orgs/alpha/roles/ops", expect: 200)
        _ = try await call(.put, "/v1/orgs/{org}/roles/{role}", "/v1/orgs/alpha/roles/ops", #"{"permissions":["compute.*.list"]}"#, expect: 200)
        let binding = try await call(
            .post, "/v1/orgs/{org}/bindings", "/v1/orgs/alpha/bindings", #"{"principal":"dev","role":"ops","project":"web"}"#, expect: 201)
        _ = try await call(.get, "/v1/orgs/{org}/bindings", "/v1/orgs/alpha/bindings", expect: 200)
        _ = try await call(
            .post, "/v1/authorize", "/v1/authorize",
            #"{"principal":"alpha/dev","permission":"compute.disks.list","organization":"alpha","project":"web"}"#, expect: 200)
        let bindingID = try #require(binding.object["id"] as? String)
        _ = try await call(.delete, "/v1/orgs/{org}/bindings/{binding}", "/v1/orgs/alpha/bindings/\(bindingID)", expect: 200)
        _ = try await call(.get, "/v1/keys", "/v1/keys", expect: 200)
        let rotated = try await call(.post, "/v1/keys/rotate", "/v1/keys/rotate", expect: 201)
        let rotatedID = try #require(rotated.object["id"] as? String)
        _ = try await call(.post, "/v1/keys/{key}/revoke", "/v1/keys/\(rotatedID)/revoke", expect: 200)
        _ = try await call(.get, "/.well-known/biscuit-web-keys", "/.well-known/biscuit-web-keys", expect: 200)
        _ = try await call(.post, "/v1/tokens", "/v1/tokens", expect: 201)
        _ = try await call(.post, "/v1/tokens/revoke", "/v1/tokens/revoke", #"{"revocation_ids":["0a0b"],"reason":"test"}"#, expect: 200)
        _ = try await call(.get, "/v1/revocations", "/v1/revocations?since=0", expect: 200)
        _ = try await call(.get, "/v1/audit", "/v1/audit?limit=5", expect: 200)
        _ = try await call(.delete, "/v1/orgs/{org}/roles/{role}", "/v1/orgs/alpha/roles/ops", expect: 200)
        _ = try await call(.delete, "/v1/orgs/{org}/principals/{principal}", "/v1/orgs/alpha/principals/dev", expect: 200)
        _ = try await call(.delete, "/v1/orgs/{org}/projects/{project}", "/v1/orgs/alpha/projects/web", expect: 200)
        _ = try await call(.delete, "/v1/orgs/{org}", "/v1/orgs/alpha", expect: 200)
        #expect(seen == Set(AdminRoutes.operations.map { "\($0.method) \($0.path)" }), "every operation was exercised")
    }

    @Test func noLeaderIsAServiceUnavailableWithARetryHint() async throws {
        let fixture = try await Fixture()
        fixture.cluster.setUnavailable(true)
        let answer = try await fixture.client.send(.post, "/v1/orgs", body: #"{"name":"acme"}"#, token: fixture.admin)
        #expect(answer.status == 503)
        #expect(answer.headers[.retryAfter] == "1")
        #expect(answer.code == "unavailable")
    }
}
