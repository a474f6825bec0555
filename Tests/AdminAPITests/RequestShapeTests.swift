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

    /// Found by schemathesis: requests the state machine refuses whatever the state were
    /// proposed first, so they moved the revision and left an audit record; and a reused
    /// idempotency key answered another request with the first one's outcome, having done
    /// nothing.
    @Test func staticallyInvalidWritesAreRefusedBeforeTheyAreProposed() async throws {
        let fixture = try await Fixture()
        let client = fixture.client
        try await fixture.organization("alpha")
        let before = fixture.cluster.fingerprint
        let audited = fixture.cluster.auditCount
        let permissions = (0..<257).map { #""svc.res\#($0).get""# }.joined(separator: ",")
        let cases: [(String, String, [String: String], Int, String)] = [
            ("/v1/orgs", #"{"name":"beta"}"#, ["Idempotency-Key": ""], 400, "invalid_argument"),
            ("/v1/orgs", #"{"name":"beta"}"#, ["Idempotency-Key": String(repeating: "k", count: 129)], 400, "invalid_argument"),
            ("/v1/orgs", #"{"name":"beta"}"#, ["If-Match": "5"], 400, "invalid_argument"),
            ("/v1/orgs/alpha/roles", #"{"name":"wide","permissions":[\#(permissions)]}"#, [:], 422, "limit_exceeded"),
        ]
        for (path, body, headers, status, code) in cases {
            let answer = try await client.send(.post, path, body: body, token: fixture.admin, headers: headers)
            #expect(answer.status == status && answer.code == code, "\(path) \(headers.keys.sorted()): \(answer.body)")
        }
        #expect(fixture.cluster.fingerprint == before)
        #expect(fixture.cluster.auditCount == audited, "nothing was proposed")
    }

    @Test func anIdempotencyKeyAnswersItsOwnRequestOnly() async throws {
        let fixture = try await Fixture()
        let client = fixture.client
        let first = try await client.send(.post, "/v1/orgs", body: #"{"name":"first"}"#, token: fixture.admin, headers: ["Idempotency-Key": "k1"])
        #expect(first.status == 201)
        let retry = try await client.send(.post, "/v1/orgs", body: #"{"name":"first"}"#, token: fixture.admin, headers: ["Idempotency-Key": "k1"])
        #expect(retry.status == 201 && retry.object["revision"] as? Int == first.object["revision"] as? Int)
        let other = try await client.send(.post, "/v1/orgs", body: #"{"name":"second"}"#, token: fixture.admin, headers: ["Idempotency-Key": "k1"])
        #expect(other.status == 400 && other.body.contains("was used for another request"), "\(other.body)")
        #expect(try await client.send(.get, "/v1/orgs/second", token: fixture.admin).status == 404)
        let delete = try await client.send(.delete, "/v1/orgs/first", token: fixture.admin, headers: ["Idempotency-Key": "k1"])
        #expect(delete.status == 400)
        #expect(try await client.send(.get, "/v1/orgs/first", token: fixture.admin).status == 200, "not deleted")
    }

    @Test func bodiesMustBeUTF8AndCursorsSequenceNumbers() async throws {
        let fixture = try await Fixture()
        let client = fixture.client
        let before = fixture.cluster.fingerprint
        // UTF-16LE: every ASCII character followed by a zero byte.
        let body = String(decoding: Array(#"{"name":"wide"}"#.utf16).flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }, as: UTF8.self)
        let answer = try await client.send(.post, "/v1/orgs", body: body, token: fixture.admin)
        #expect(answer.status == 400 && answer.body.contains("UTF-8"), "\(answer.body)")
        #expect(fixture.cluster.fingerprint == before)
        let cursor = try await client.send(.get, "/v1/audit?cursor=x", token: fixture.admin)
        #expect(cursor.status == 400 && cursor.body.contains("sequence number"))
    }
}
