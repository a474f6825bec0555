import AdminAPI
import APIModels
import Foundation
import PolicyModel
import Testing

/// `POST /v1/cluster/members` with peer addresses: a learner added by address is written to
/// the replicated address book (audited) after the replica proved it runs there, then joins;
/// bad requests are refused and change nothing.
@Suite struct MembershipRouteTests {
    static let path = "/v1/cluster/members"

    @Test func aLearnerAddedByAddressIsInTheBookThenAMember() async throws {
        let fixture = try await Fixture()
        fixture.cluster.run(replica: 4, at: "127.0.0.1:7004")
        // With an idempotency key, which belongs to the new replica's address alone: the
        // founder's address, written with it, is not taken for a replay of it.
        let added = try await fixture.client.send(
            .post, Self.path, body: #"{"action":"add_learner","replica":4,"peer_address":"127.0.0.1:7004"}"#, token: fixture.admin,
            headers: ["Idempotency-Key": "add-4"])
        #expect(added.status == 200, "\(added.body)")
        #expect(fixture.cluster.probes == ["4@127.0.0.1:7004"])
        let book = try fixture.cluster.readNow { $0.peerAddressBook }.value
        #expect(book[4]?.address == "127.0.0.1:7004" && book[4]?.autoPromote == true)
        // The founder's configured address went to the book first, so that the new replica
        // learns it there (its own configuration need not name it).
        #expect(book[1]?.address == FakeCluster.configuredAddress && book[1]?.autoPromote == false)
        #expect(fixture.cluster.auditLog.suffix(2).map(\.target) == ["replicas/1 at 127.0.0.1:7001", "replicas/4 at 127.0.0.1:7004"])
        #expect(fixture.cluster.status().learners == [4])
        let record = try #require(fixture.cluster.auditLog.last)
        #expect(record.action == "cluster.peer-address.set" && record.target == "replicas/4 at 127.0.0.1:7004" && record.actor == "system/admin")

        // Moved: proved at the new address, then written; the member stays.
        fixture.cluster.run(replica: 4, at: "127.0.0.1:7014")
        let moved = try await fixture.client.send(
            .post, Self.path, body: #"{"action":"set_address","replica":4,"peer_address":"127.0.0.1:7014"}"#, token: fixture.admin)
        #expect(moved.status == 200, "\(moved.body)")
        #expect(try fixture.cluster.readNow { $0.peerAddressBook[4]?.address }.value == "127.0.0.1:7014")

        // Removed: the member, then its address.
        let removed = try await fixture.client.send(.post, Self.path, body: #"{"action":"remove","replica":4}"#, token: fixture.admin)
        #expect(removed.status == 200, "\(removed.body)")
        #expect(fixture.cluster.status().learners.isEmpty)
        #expect(try fixture.cluster.readNow { $0.peerAddressBook }.value.keys.sorted() == [1], "the founder's address stays")
        #expect(fixture.cluster.auditLog.last?.action == "cluster.peer-address.remove")
    }

    @Test func anAddressLeftBehindIsRemovedByRemove() async throws {
        let fixture = try await Fixture()
        fixture.cluster.run(replica: 6, at: "127.0.0.1:7006")
        // An address with no member (a failure between the two steps of an add).
        let set = try await fixture.client.send(
            .post, Self.path, body: #"{"action":"set_address","replica":6,"peer_address":"127.0.0.1:7006"}"#, token: fixture.admin)
        #expect(set.status == 404, "set_address is for members and known addresses: \(set.body)")
        let added = try await fixture.client.send(
            .post, Self.path, body: #"{"action":"add_learner","replica":6,"peer_address":"127.0.0.1:7006"}"#, token: fixture.admin)
        #expect(added.status == 200)
        _ = try await fixture.cluster.changeMembership(.remove(6), timeout: .seconds(1))
        #expect(try fixture.cluster.readNow { $0.peerAddressBook[6] != nil }.value, "left behind")
        let removed = try await fixture.client.send(.post, Self.path, body: #"{"action":"remove","replica":6}"#, token: fixture.admin)
        #expect(removed.status == 200, "\(removed.body)")
        #expect(try fixture.cluster.readNow { $0.peerAddressBook }.value.keys.sorted() == [1])
        // Neither a member nor an address: refused as before.
        let again = try await fixture.client.send(.post, Self.path, body: #"{"action":"remove","replica":6}"#, token: fixture.admin)
        #expect(again.status == 409 && again.body.contains("is not a member"), "\(again.body)")
    }

    @Test func aLearnerCanBeKeptFromAutomaticPromotion() async throws {
        let fixture = try await Fixture()
        fixture.cluster.run(replica: 5, at: "[::1]:7005")
        let added = try await fixture.client.send(
            .post, Self.path, body: #"{"action":"add_learner","replica":5,"peer_address":"[::1]:7005","auto_promote":false}"#,
            token: fixture.admin)
        #expect(added.status == 200, "\(added.body)")
        #expect(try fixture.cluster.readNow { $0.peerAddressBook[5]?.autoPromote }.value == false)
    }

    @Test func badMembershipRequestsAreRefusedAndChangeNothing() async throws {
        let fixture = try await Fixture()
        fixture.cluster.run(replica: 4, at: "127.0.0.1:7004")
        let auditBefore = fixture.cluster.auditCount
        let cases: [(body: String, status: Int, detail: String)] = [
            // Nothing listens there (or not replica 4): refused before anything is written.
            (#"{"action":"add_learner","replica":4,"peer_address":"127.0.0.1:7999"}"#, 400, "cannot reach replica 4 at 127.0.0.1:7999"),
            (#"{"action":"add_learner","replica":5,"peer_address":"127.0.0.1:7004"}"#, 400, "cannot reach replica 5"),
            (#"{"action":"add_learner","replica":4,"peer_address":"not an address"}"#, 400, "peer address"),
            (#"{"action":"add_learner","replica":4,"peer_address":"127.0.0.1:0"}"#, 400, "port"),
            (#"{"action":"add_learner","replica":4}"#, 400, "no peer address"),
            (#"{"action":"add_learner","replica":1,"peer_address":"127.0.0.1:7004"}"#, 409, "already a member"),
            (#"{"action":"add_learner","replica":0,"peer_address":"127.0.0.1:7004"}"#, 400, "start at 1"),
            (#"{"action":"add_learner","replica":4,"auto_promote":true}"#, 400, "auto_promote applies"),
            (#"{"action":"promote","replica":4,"peer_address":"127.0.0.1:7004"}"#, 400, "peer_address applies"),
            (#"{"action":"set_address","replica":4}"#, 400, "needs peer_address"),
            (#"{"action":"set_address","replica":9,"peer_address":"127.0.0.1:7004"}"#, 404, "neither a member"),
            (#"{"action":"join","replica":4}"#, 400, "action must be"),
            (#"{"action":"add_learner","replica":4,"peer_address":7004}"#, 400, ""),
            (#"{"action":"add_learner","replica":4,"peer_address":"127.0.0.1:7004","auto_promote":"yes"}"#, 400, ""),
        ]
        for (body, status, detail) in cases {
            let answer = try await fixture.client.send(.post, Self.path, body: body, token: fixture.admin)
            #expect(answer.status == status, "\(body): \(answer.status) \(answer.body)")
            #expect(answer.headers[.contentType] == "application/problem+json", "\(body)")
            #expect(detail.isEmpty || answer.body.contains(detail), "\(body): \(answer.body)")
        }
        #expect(fixture.cluster.auditCount == auditBefore, "nothing was written")
        #expect(try fixture.cluster.readNow { $0.peerAddressBook }.value.isEmpty)
        #expect(fixture.cluster.status().learners.isEmpty)
    }

    @Test func onlyWhoMayChangeTheClusterMayAddAReplica() async throws {
        let fixture = try await Fixture()
        try await fixture.organization("acme")
        let orgAdmin = try await fixture.member("acme", "ops", role: "org.admin")
        fixture.cluster.run(replica: 4, at: "127.0.0.1:7004")
        let answer = try await fixture.client.send(
            .post, Self.path, body: #"{"action":"add_learner","replica":4,"peer_address":"127.0.0.1:7004"}"#, token: orgAdmin)
        #expect(answer.status == 403)
        #expect(fixture.cluster.probes.isEmpty, "nothing was probed for a refused caller")
        #expect(try fixture.cluster.readNow { $0.peerAddressBook }.value.isEmpty)
    }
}

/// Writes through a replica that has not applied what the caller just wrote elsewhere: refused
/// only if the state at the leader's commit index refuses them too.
@Suite struct LaggingReplicaWriteTests {
    @Test func aWriteIntoAnOrganizationThisReplicaHasNotAppliedYetSucceeds() async throws {
        let fixture = try await Fixture()
        fixture.cluster.lag()  // this replica's reads stop at the current revision...
        // ...while the organization is created (elsewhere, as far as this replica knows).
        let created = try await fixture.client.send(.post, "/v1/orgs", body: #"{"name":"fresh"}"#, token: fixture.admin)
        #expect(created.status == 201)
        #expect(try fixture.cluster.readNow { $0.organization(try! Name("fresh")) == nil }.value, "this replica lags")
        let project = try await fixture.client.send(.post, "/v1/orgs/fresh/projects", body: #"{"name":"web"}"#, token: fixture.admin)
        #expect(project.status == 201, "\(project.body)")
        // A refusal that holds at the leader too is still a refusal.
        let missing = try await fixture.client.send(.post, "/v1/orgs/nowhere/projects", body: #"{"name":"web"}"#, token: fixture.admin)
        #expect(missing.status == 404)
    }
}
