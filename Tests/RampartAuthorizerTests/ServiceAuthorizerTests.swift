import Biscuit
import Foundation
import Synchronization
import Testing

@testable import RampartAuthorizer

/// The in-process authorizer against a scripted cluster: keys and revocations as the API
/// serves them, failover across endpoints, and decisions by checks, rights and revocations.
@Suite struct ServiceAuthorizerTests {
    /// Answers by the longest matching path prefix; the first endpoint is down when `firstDown`.
    final class ScriptedCluster: RampartTransport {
        let answers = Mutex<[(prefix: String, status: Int, body: String)]>([])
        let asked = Mutex<[String]>([])
        let firstDown: Bool

        init(firstDown: Bool = false) { self.firstDown = firstDown }

        func set(_ prefix: String, _ status: Int, _ body: String) {
            answers.withLock { list in
                list.removeAll { $0.prefix == prefix }
                list.append((prefix, status, body))
            }
        }

        func get(_ url: URL, bearer: String?, timeout: Duration) async throws -> (status: Int, body: Data) {
            asked.withLock { $0.append(url.absoluteString) }
            if firstDown && url.port == 1 { throw URLError(.cannotConnectToHost) }
            let path = String(url.absoluteString.drop { $0 != "/" }.dropFirst(2).drop { $0 != "/" })
            if path.hasPrefix("/v1/revocations"), bearer != "service-key" { return (401, Data()) }
            guard let answer = answers.withLock({ $0.filter { path.hasPrefix($0.prefix) }.max { $0.prefix.count < $1.prefix.count } }) else {
                return (404, Data())
            }
            return (answer.status, Data(answer.body.utf8))
        }
    }

    static let now = UInt64(Date().timeIntervalSince1970)

    /// A Rampart-shaped token of `acme/ci` with `right`, issued a minute ago, for an hour.
    static func token(_ key: PrivateKey, right: (String, String) = ("orgs/acme/projects/web", "compute.instances.*"), issued: UInt64 = now - 60)
        throws -> Token
    {
        try Token(
            authority: try Block(
                code: """
                    principal("acme/ci"); principal_kind("service_account"); organization("acme"); api_key("01"); issued_at({issued});
                    right({scope}, {permission}); check if time($time), $time < {expires};
                    """,
                parameters: [
                    "issued": .date(issued), "expires": .date(now + 3600), "scope": .string(right.0), "permission": .string(right.1),
                ]),
            rootKey: key, rootKeyID: 5)
    }

    static func keys(_ key: PrivateKey) -> String {
        #"{"items":[{"root_key_id":5,"public_key":"\#(key.publicKey.bytes.map { String(format: "%02x", $0) }.joined())","id":"x","algorithm":"Ed25519","state":"active"}],"revision":3}"#
    }

    static func feed(_ items: [String], next: UInt64, more: Bool = false) -> String {
        #"{"items":[\#(items.joined(separator: ","))],"next_since":\#(next),"more":\#(more),"floor":0,"revision":\#(next)}"#
    }

    static func request(_ permission: String = "compute.instances.list", project: String = "web") -> TokenRequest {
        TokenRequest(time: now, organization: "acme", project: project, permission: permission, operation: TokenRequest.operation(of: permission))
    }

    static func refusal(_ authorizer: ServiceAuthorizer, _ token: String, _ request: TokenRequest = request()) -> TokenRefusal? {
        do {
            _ = try authorizer.authorize(token, request)
            return nil
        } catch {
            return error
        }
    }

    @Test func itDecidesWithTheRightsChecksAndRevocationsItFollows() async throws {
        let key = PrivateKey()
        let cluster = ScriptedCluster(firstDown: true)
        cluster.set("/v1/keys", 200, Self.keys(key))
        cluster.set("/v1/revocations", 200, Self.feed([], next: 3))
        let authorizer = ServiceAuthorizer(
            endpoints: [URL(string: "http://127.0.0.1:1")!, URL(string: "http://127.0.0.1:2")!], credential: "service-key", transport: cluster)
        try await authorizer.refresh()
        #expect(cluster.asked.withLock { $0.contains { $0.hasPrefix("http://127.0.0.1:2/v1/keys") } }, "the second endpoint served")
        let token = try Self.token(key)
        #expect(try authorizer.authorize(token.base64, Self.request()).principal == "acme/ci")
        #expect(Self.refusal(authorizer, token.base64, Self.request(project: "api")).map(\.code) == "token_checks_failed", "no right there")
        #expect(Self.refusal(authorizer, token.base64, Self.request("storage.buckets.get")).map(\.code) == "token_checks_failed")
        let readOnly = try token.appending(try Block(code: #"check if operation("read");"#))
        #expect(Self.refusal(authorizer, readOnly.base64) == nil)
        #expect(Self.refusal(authorizer, readOnly.base64, Self.request("compute.instances.create")).map(\.code) == "token_checks_failed")
        #expect(Self.refusal(authorizer, try Self.token(PrivateKey()).base64).map(\.code) == "token_invalid_signature")
        #expect(authorizer.statistics.keys == 1 && authorizer.statistics.cached == 2)
        // The feed brings a revocation of the attenuated token's own block: it is refused, its parent is not.
        let childID = readOnly.revocationIDs[1].map { String(format: "%02x", $0) }.joined()
        let entry = #"{"kind":"id","revocation_id":"\#(childID)","reason":"","revoked_at":"2026-01-01T00:00:00Z","expires_at":"2999-01-01T00:00:00Z","revision":4}"#
        cluster.set("/v1/revocations", 200, Self.feed([entry], next: 4))
        try await authorizer.refresh()
        #expect(Self.refusal(authorizer, readOnly.base64).map(\.code) == "token_revoked")
        #expect(Self.refusal(authorizer, token.base64) == nil)
        // A principal's epoch: its tokens issued up to then are refused, later ones are not.
        let epoch = #"{"kind":"principal","principal":"acme/ci","reason":"","revoked_at":"\#(DateText.format(Self.now - 30))","expires_at":"2999-01-01T00:00:00Z","revision":5}"#
        cluster.set("/v1/revocations", 200, Self.feed([epoch], next: 5))
        try await authorizer.refresh()
        #expect(Self.refusal(authorizer, token.base64).map(\.code) == "token_revoked")
        #expect(Self.refusal(authorizer, try Self.token(key, issued: Self.now - 10).base64) == nil)
        #expect(authorizer.statistics.revocations == 2)
        // Behind the floor: the whole list is read again.
        cluster.set("/v1/revocations?since=5", 410, #"{"code":"gone"}"#)
        cluster.set("/v1/revocations?since=0", 200, Self.feed([], next: 9))
        try await authorizer.refresh()
        #expect(Self.refusal(authorizer, token.base64) == nil, "the list as it is now holds nothing")
        // The key leaves the set: its tokens are refused.
        cluster.set("/v1/keys", 200, #"{"items":[],"revision":10}"#)
        try await authorizer.refresh()
        #expect(Self.refusal(authorizer, token.base64).map(\.code) == "token_unknown_key")
    }

    @Test func aClusterThatCannotBeReachedIsAnError() async throws {
        let cluster = ScriptedCluster()
        let authorizer = ServiceAuthorizer(endpoints: [URL(string: "http://127.0.0.1:3")!], credential: "wrong", transport: cluster)
        cluster.set("/v1/keys", 200, #"{"items":[],"revision":1}"#)
        await #expect(throws: ServiceAuthorizer.FetchError.self) { try await authorizer.refresh() }
    }

    @Test func rightsCoverTheirScopeAndMatchWildcards() {
        let right = TokenRight(scope: "orgs/acme", permission: "compute.*.get")
        #expect(right.covers("orgs/acme") && right.covers("orgs/acme/projects/web"))
        #expect(!right.covers("orgs/acme2") && !right.covers("cluster") && !right.covers("orgs/other/projects/web"))
        #expect(TokenRight(scope: "cluster", permission: "*.*.*").covers("orgs/x/projects/y"))
        #expect(right.grants("compute.disks.get") && !right.grants("compute.disks.list") && !right.grants("storage.disks.get"))
        #expect(!right.grants("compute.get") && !TokenRight(scope: "cluster", permission: "bad").grants("a.b.c"))
        #expect(DateText.parse("2026-01-01T00:00:00Z") == 1_767_225_600 && DateText.parse("2026-01-01") == nil && DateText.parse("x") == nil)
    }
}
