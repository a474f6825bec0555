import AdminAPI
import APIModels
import Foundation
import Testing

/// `GET /v1/snapshot`: the copy streamed behind its header, the permission it needs, and bad
/// requests refused before any copy is made.
@Suite struct SnapshotRouteTests {
    @Test func aSnapshotIsStreamedBehindItsHeaderAndTheCopyRemoved() async throws {
        let fixture = try await Fixture()
        let answer = try await fixture.client.send(.get, "/v1/snapshot", token: fixture.admin)
        #expect(answer.status == 200)
        #expect(answer.headers[.contentType] == "application/vnd.rampart.snapshot")
        #expect(answer.headers[.init("X-Rampart-Revision")!] == String(fixture.cluster.revision))
        // What arrived is a whole snapshot file: written out, it passes the framing and checksum check.
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("route-snapshot-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(FileManager.default.createFile(atPath: path, contents: Data(answer.bytes)))
        let (header, offset) = try SnapshotArchive.verify(fileAt: path)
        #expect(header.databaseBytes == UInt64(FakeCluster.snapshotBytes.count))
        #expect(Array(answer.bytes[Int(offset)...]) == FakeCluster.snapshotBytes)
        #expect(header.clusterID == ClusterIdentity.id(secret: FakeCluster.secret))
        #expect(fixture.cluster.liveSnapshotCopies.withLockedValue { $0.isEmpty })
    }

    @Test func savingNeedsTheSnapshotPermissionOnTheCluster() async throws {
        let fixture = try await Fixture()
        try await fixture.organization("acme")
        // An organization's administrator holds every permission on its organization, not this one.
        let tenantAdmin = try await fixture.member("acme", "alice", role: "org.admin")
        let refused = try await fixture.client.send(.get, "/v1/snapshot", token: tenantAdmin)
        #expect(refused.status == 403)
        // A cluster-wide auditor reads the audit log, not the sealed keys and key hashes.
        let auditor = try await fixture.member("system", "auditor", role: "system.auditor")
        #expect(try await fixture.client.send(.get, "/v1/snapshot", token: auditor).status == 403)
        let anonymous = try await fixture.client.send(.get, "/v1/snapshot")
        #expect(anonymous.status == 401)
        #expect(fixture.cluster.liveSnapshotCopies.withLockedValue { $0.isEmpty })
    }

    @Test func badParametersAreRefusedBeforeAnyCopy() async throws {
        let fixture = try await Fixture()
        let unknown = try await fixture.client.send(.get, "/v1/snapshot?format=tar", token: fixture.admin)
        #expect(unknown.status == 400)
        #expect(unknown.body.contains("unknown query parameter format"))
        let consistency = try await fixture.client.send(.get, "/v1/snapshot?consistency=eventual", token: fixture.admin)
        #expect(consistency.status == 400)
        fixture.cluster.setUnavailable(true)
        let unavailable = try await fixture.client.send(.get, "/v1/snapshot", token: fixture.admin)
        #expect(unavailable.status == 503)
        #expect(fixture.cluster.liveSnapshotCopies.withLockedValue { $0.isEmpty })
    }
}
