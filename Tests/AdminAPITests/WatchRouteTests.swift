@testable import AdminAPI
import APIModels
import Foundation
import Hummingbird
import NIOCore
import Testing

/// `GET /v1/watch`: the change stream's lines, its resumption by revision, its scope, and bad
/// requests refused before any stream starts.
@Suite struct WatchRouteTests {
    /// Collects the stream's lines; throws (as a gone client's connection would) after `limit`.
    final class LineWriter: ResponseBodyWriter, @unchecked Sendable {
        struct Gone: Error {}
        var lines: [WatchEvent] = []
        let limit: Int

        init(limit: Int) { self.limit = limit }

        func write(_ buffer: ByteBuffer) async throws {
            for line in String(buffer: buffer).split(separator: "\n") {
                lines.append(try JSONDecoder().decode(WatchEvent.self, from: Data(line.utf8)))
                if lines.count >= limit { throw Gone() }
            }
        }

        func finish(_ trailingHeaders: HTTPFields?) async throws {}
    }

    /// The lines a stream from `filter` writes, until `limit` of them.
    static func lines(_ cluster: FakeCluster, _ filter: AuditQuery, limit: Int) async throws -> [WatchEvent] {
        let collector = LineWriter(limit: limit)
        var writer: any ResponseBodyWriter = collector
        await #expect(throws: LineWriter.Gone.self) {
            try await AdminRoutes.stream(cluster, filter: filter, progressEvery: .milliseconds(10), timeout: .seconds(1), to: &writer)
        }
        return collector.lines
    }

    @Test func changesComeInOrderFromTheRevisionAskedThenProgress() async throws {
        let fixture = try await Fixture()
        for name in ["acme", "globex", "initech"] { try await fixture.organization(name) }
        // A failed command changed nothing: it is not a change.
        let refused = try await fixture.client.send(.post, "/v1/orgs", body: #"{"name":"acme"}"#, token: fixture.admin)
        #expect(refused.status == 409)
        var everything = AuditQuery()
        everything.fromRevision = 1
        let all = try await Self.lines(fixture.cluster, everything, limit: 6)
        let changes = all.filter { $0.type == "change" }
        #expect(changes.map(\.action) == ["cluster.bootstrap", "organization.create", "organization.create", "organization.create"])
        #expect(changes.map(\.target).suffix(3) == ["orgs/acme", "orgs/globex", "orgs/initech"])
        #expect(zip(changes, changes.dropFirst()).allSatisfy { $0.revision < $1.revision && $0.sequence! < $1.sequence! })
        // Then the stream is quiet: progress lines at the replica's revision.
        #expect(all.dropFirst(4).allSatisfy { $0.type == "progress" && $0.revision == fixture.cluster.revision })
        // Resuming after the second organization gives the third, once.
        var resumed = AuditQuery()
        resumed.fromRevision = changes[2].revision + 1
        let rest = try await Self.lines(fixture.cluster, resumed, limit: 2)
        #expect(rest.first?.target == "orgs/initech" && rest.first?.revision == changes[3].revision)
        #expect(rest.last?.type == "progress")
    }

    @Test func anOrganizationsStreamHoldsItsChangesOnly() async throws {
        let fixture = try await Fixture()
        try await fixture.organization("acme")
        try await fixture.organization("globex")
        _ = try await fixture.member("acme", "alice", role: "org.viewer")
        _ = try await fixture.member("globex", "bob", role: "org.viewer")
        var acme = AuditQuery(organization: "acme")
        acme.fromRevision = 1
        let lines = try await Self.lines(fixture.cluster, acme, limit: 4)
        #expect(lines.filter { $0.type == "change" }.allSatisfy { $0.organization == "acme" })
        #expect(lines.filter { $0.type == "change" }.count == 4, "the organization, alice, her binding and her key")
    }

    @Test func badWatchesAreRefusedBeforeAnyStream() async throws {
        let fixture = try await Fixture()
        try await fixture.organization("acme")
        let client = fixture.client
        let future = try await client.send(.get, "/v1/watch?from_revision=\(fixture.cluster.revision + 5)", token: fixture.admin)
        #expect(future.status == 400)
        #expect(future.body.contains("is ahead of the cluster's revision"))
        for bad in ["from_revision=0", "from_revision=x", "from_revision=-1", "since=3", "organization=Bad_Name"] {
            let answer = try await client.send(.get, "/v1/watch?\(bad)", token: fixture.admin)
            #expect(answer.status == 400, "\(bad): \(answer.body)")
        }
        // A tenant's admin watches its organization, not the cluster's or another's.
        try await fixture.organization("globex")
        let tenant = try await fixture.member("acme", "alice", role: "org.admin")
        #expect(try await client.send(.get, "/v1/watch", token: tenant).status == 403)
        #expect(try await client.send(.get, "/v1/watch?organization=globex", token: tenant).status == 403)
        #expect(try await client.send(.get, "/v1/watch").status == 401)
    }
}
