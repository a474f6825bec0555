import Foundation
import Testing

@testable import AdminAPI

/// Outside review, finding 12: TRACE answered 404, duplicate JSON keys were accepted (the first
/// value winning), and routes without a body read and discarded bodies of any size.
@Suite struct RequestShapeTests {
    @Test func aKnownPathWithAnotherMethodIs405WithAllow() async throws {
        let fixture = try await Fixture()
        let client = fixture.client
        for (method, path, allowed) in [
            ("TRACE", "/v1/orgs", "GET, POST"), ("DELETE", "/v1/orgs", "GET, POST"), ("PUT", "/v1/orgs/acme", "GET, PATCH, DELETE"),
            ("GET", "/v1/keys/rotate", "POST"), ("TRACE", "/healthz", "GET"),
        ] {
            let answer = try await client.send(.init(method)!, path)
            #expect(answer.status == 405, "\(method) \(path)")
            #expect(answer.code == "method_not_allowed")
            #expect(answer.headers[.allow] == allowed, "\(method) \(path)")
        }
        #expect(try await client.send(.init("TRACE")!, "/v1/nothing-here", token: fixture.admin).status == 404)
        #expect(try await client.send(.get, "/v1/orgs//projects", token: fixture.admin).status == 404)
    }

    @Test func aKeyGivenTwiceIsRefusedAndChangesNothing() async throws {
        let fixture = try await Fixture()
        let before = fixture.cluster.fingerprint
        for body in [#"{"name":"first","name":"second"}"#, #"{"name":"first","\u006eame":"second"}"#, #"{"name":"a", "name":1}"#] {
            let answer = try await fixture.client.send(.post, "/v1/orgs", body: body, token: fixture.admin)
            #expect(answer.status == 400, "\(body)")
            #expect(answer.body.contains(#"field \"name\" appears more than once"#), "\(answer.body)")
        }
        #expect(fixture.cluster.fingerprint == before)
    }

    @Test func duplicateKeysAreFoundAtAnyDepthAndOnlyWithinOneObject() {
        func first(_ text: String) -> String? { Array(text.utf8).withUnsafeBytes { JSONDuplicateKeys.first(in: $0) } }
        #expect(first(#"{"a":1,"b":{"c":[{"d":1,"d":2}]}}"#) == "d")
        #expect(first(#"{"a":{"x":1},"b":{"x":1}}"#) == nil, "the same key in two objects")
        #expect(first(#"[{"a":1},{"a":2}]"#) == nil)
        #expect(first(#"{"\ud83d\ude00":1,"😀":2}"#) == "😀", "escaped and raw forms are one key")
        #expect(first(#"{"a\"b":1,"a\u0022b":2}"#) == #"a"b"#)
        #expect(first(#"{"a":1,"b""#) == nil, "malformed: left to the decoder")
        #expect(first(String(repeating: "[", count: 100) + String(repeating: "]", count: 100)) == nil, "too deep: left to the decoder")
    }

    @Test func aDeclaredBodyOverTheLimitIsRefusedBeforeItIsRead() async throws {
        let fixture = try await Fixture()
        let answer = try await fixture.client.send(.get, "/v1/cluster", token: fixture.admin, headers: ["Content-Length": "10000000"])
        #expect(answer.status == 413 && answer.code == "body_too_large")
        #expect(answer.headers[.connection] == "close")
        let nonsense = try await fixture.client.send(.get, "/v1/cluster", token: fixture.admin, headers: ["Content-Length": "-1"])
        #expect(nonsense.status == 400)
    }

    @Test func routeTemplatesMatchWholeSegments() {
        let table = RouteTable([("GET", "/v1/orgs/{org}"), ("DELETE", "/v1/orgs/{org}"), ("GET", "/v1/orgs")])
        #expect(table.methods(for: "/v1/orgs/acme") == ["GET", "DELETE"])
        #expect(table.methods(for: "/v1/orgs") == ["GET"])
        #expect(table.methods(for: "/v1/orgs/acme/extra") == nil)
        #expect(table.methods(for: "/v1/orgs/") == nil)
        #expect(table.methods(for: "v1/orgs") == nil)
    }
}
