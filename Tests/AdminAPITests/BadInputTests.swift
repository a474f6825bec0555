import AdminAPI
import Foundation
import Hummingbird
import Testing

/// Hundreds of generated invalid requests: each must be answered with a 4xx problem, never a
/// 5xx, and change nothing (neither the state nor the audit log).
@Suite struct BadInputTests {
    /// A route that takes a body, with a valid body to mutate.
    struct BodyRoute {
        var method: HTTPRequest.Method
        var path: String
        var field: String
    }

    static let bodyRoutes: [BodyRoute] = [
        BodyRoute(method: .post, path: "/v1/orgs", field: "name"),
        BodyRoute(method: .patch, path: "/v1/orgs/alpha", field: "suspended"),
        BodyRoute(method: .post, path: "/v1/orgs/alpha/projects", field: "name"),
        BodyRoute(method: .post, path: "/v1/orgs/alpha/principals", field: "name"),
        BodyRoute(method: .post, path: "/v1/orgs/alpha/roles", field: "permissions"),
        BodyRoute(method: .put, path: "/v1/orgs/alpha/roles/reader", field: "permissions"),
        BodyRoute(method: .post, path: "/v1/orgs/alpha/bindings", field: "principal"),
        BodyRoute(method: .post, path: "/v1/authorize", field: "permission"),
        BodyRoute(method: .post, path: "/v1/cluster/members", field: "action"),
        BodyRoute(method: .post, path: "/v1/cluster/leader", field: "replica"),
    ]

    /// Bodies no route accepts.
    static let badBodies: [String] = [
        "", "not json", "[]", "1", "null", "\"text\"", "{", "{\"name\":", "{}", "{\"name\":1}", "{\"name\":null}", "{\"name\":[]}",
        "{\"name\":\"\"}", "{\"name\":\"UPPER\"}", "{\"name\":\"has space\"}", "{\"name\":\"\(String(repeating: "a", count: 64))\"}",
        "{\"name\":\"ok\",\"unexpected\":true}", "{\"name\":\"-leading\"}", "{\"name\":\"caf\u{e9}\"}", "{\"suspended\":\"yes\"}",
        "{\"permissions\":\"a.b.c\"}", "{\"permissions\":[\"not-a-permission\"]}", "{\"principal\":\"ghost\",\"role\":\"org.admin\"}",
        "{\"principal\":\"reader\",\"role\":\"no-such-role\"}", "{\"replica\":0}", "{\"action\":\"explode\",\"replica\":2}",
        "{\"principal\":\"x\",\"permission\":\"a.*.c\",\"organization\":\"alpha\"}", "{\"name\":\"ok\"}{\"name\":\"twice\"}",
    ]

    /// Query strings no listing accepts.
    static let badQueries = [
        "limit=0", "limit=1001", "limit=abc", "limit=-1", "consistency=eventual", "min_revision=-4", "min_revision=abc",
        "cursor=\(String(repeating: "z", count: 300))",
    ]

    static let listings = [
        "/v1/orgs", "/v1/orgs/alpha/projects", "/v1/orgs/alpha/principals", "/v1/orgs/alpha/roles", "/v1/orgs/alpha/bindings",
        "/v1/audit",
    ]

    /// Paths with invalid or unknown names.
    static let badPaths: [(HTTPRequest.Method, String)] = [
        (.get, "/v1/orgs/UPPER"), (.get, "/v1/orgs/\(String(repeating: "a", count: 70))"), (.get, "/v1/orgs/ghost"),
        (.delete, "/v1/orgs/ghost"), (.patch, "/v1/orgs/ghost"), (.get, "/v1/orgs/alpha/projects/ghost"),
        (.delete, "/v1/orgs/alpha/projects/ghost"), (.get, "/v1/orgs/alpha/principals/ghost"), (.delete, "/v1/orgs/alpha/principals/ghost"),
        (.post, "/v1/orgs/alpha/principals/ghost/keys"), (.delete, "/v1/orgs/alpha/principals/reader/keys/zz"),
        (.delete, "/v1/orgs/alpha/principals/reader/keys/0000000000000000000000000000abcd"), (.get, "/v1/orgs/alpha/roles/ghost"),
        (.delete, "/v1/orgs/alpha/roles/ghost"), (.delete, "/v1/orgs/alpha/bindings/nothex"),
        (.delete, "/v1/orgs/alpha/bindings/0000000000000000000000000000abcd"), (.get, "/v1/nothing"), (.put, "/v1/orgs"),
        (.delete, "/v1/orgs?force=maybe"), (.delete, "/v1/orgs/alpha?force=maybe"), (.get, "/v1/orgs/alpha/projects/UP"),
        (.post, "/v1/orgs/beta/projects"), (.get, "/v1/orgs/a..b"), (.get, "/v1/orgs/%00"),
    ]

    static let badCredentials = [
        nil, "", "Bearer", "Bearer ", "Bearer abc", "Bearer abc.def", "Bearer 00.00", "Basic dXNlcjpwYXNz",
        "Bearer 0000000000000000000000000000abcd.0000", "Bootstrap 00",
    ]

    @Test func generatedInvalidRequestsAreRefusedWithoutAnyChange() async throws {
        let fixture = try await Fixture()
        try await fixture.organization("alpha")
        try await fixture.organization("beta")
        let alphaAdmin = try await fixture.member("alpha", "reader", role: "org.admin")
        let created = try await fixture.client.send(
            .post, "/v1/orgs/alpha/roles", body: #"{"name":"reader","permissions":["a.b.c"]}"#, token: fixture.admin)
        #expect(created.status == 201)
        let fingerprint = fixture.cluster.fingerprint
        let audited = fixture.cluster.auditCount
        var sent = 0
        func expectRefused(_ answer: RouteClient.Answer, _ what: String) {
            sent += 1
            #expect((400..<500).contains(answer.status), "\(what) answered \(answer.status): \(answer.body)")
            #expect(answer.code != nil, "\(what) answered without a problem code: \(answer.body)")
        }
        for route in Self.bodyRoutes {
            for body in Self.badBodies {
                let answer = try await fixture.client.send(route.method, route.path, body: body, token: fixture.admin)
                expectRefused(answer, "\(route.method) \(route.path) \(body)")
            }
            let huge = "{\"name\":\"" + String(repeating: "a", count: 70_000) + "\"}"
            expectRefused(try await fixture.client.send(route.method, route.path, body: huge, token: fixture.admin), "huge body")
        }
        for listing in Self.listings {
            for query in Self.badQueries {
                expectRefused(try await fixture.client.send(.get, "\(listing)?\(query)", token: fixture.admin), "\(listing)?\(query)")
            }
        }
        for (method, path) in Self.badPaths {
            expectRefused(try await fixture.client.send(method, path, body: "{}", token: fixture.admin), "\(method) \(path)")
            expectRefused(try await fixture.client.send(method, path, body: "{}", token: alphaAdmin), "\(method) \(path) as a tenant")
        }
        for credential in Self.badCredentials {
            let headers = credential.map { ["Authorization": $0] } ?? [:]
            for path in ["/v1/orgs", "/v1/orgs/alpha/projects"] {
                expectRefused(try await fixture.client.send(.post, path, body: #"{"name":"fresh"}"#, headers: headers), "credential \(credential ?? "none")")
            }
        }
        for timeout in ["0", "-5", "abc", "60001", "1e3"] {
            expectRefused(
                try await fixture.client.send(.get, "/v1/orgs", token: fixture.admin, headers: ["X-Timeout-Ms": timeout]), "X-Timeout-Ms \(timeout)")
        }
        for ifMatch in ["abc", "-1", "1.5", "\"\"", "99999"] {
            let answer = try await fixture.client.send(
                .put, "/v1/orgs/alpha/roles/reader", body: #"{"permissions":["x.y.z"]}"#, token: fixture.admin, headers: ["If-Match": ifMatch])
            if ifMatch == "99999" {
                // A well-formed but stale revision is a domain rejection: refused, and audited as one.
                #expect(answer.status == 412)
                sent += 1
                continue
            }
            expectRefused(answer, "If-Match \(ifMatch)")
        }
        #expect(sent >= 200, "the suite sent \(sent) requests")
        #expect(fixture.cluster.fingerprint == fingerprint, "no invalid request changed the state")
        #expect(fixture.cluster.auditCount == audited + 1, "only the stale If-Match reached the log, as a failure")
    }

    // Each way a body can be wrong gets its own explanation (the body is parsed once, so the
    // shape checks and the field checks must still tell these apart).
    @Test func bodyProblemsAreNamed() async throws {
        let fixture = try await Fixture()
        let audited = fixture.cluster.auditCount
        let cases: [(body: String, detail: String)] = [
            ("not json", "the body is not valid JSON"), ("{\"name\":\"ok\"}{\"name\":\"twice\"}", "the body is not valid JSON"),
            ("[]", "the body must be a JSON object"), ("1", "the body must be a JSON object"), ("null", "the body must be a JSON object"),
            ("{\"name\":\"ok\",\"extra\":1}", "unknown field \"extra\" (allowed: name)"),
            ("{\"name\":1}", "field \"name\" has the wrong type"), ("{\"name\":null}", "field \"name\" has the wrong type"),
            ("{}", "missing field \"name\""),
        ]
        for (body, detail) in cases {
            let answer = try await fixture.client.send(.post, "/v1/orgs", body: body, token: fixture.admin)
            #expect(answer.status == 400, "\(body)")
            let problem = try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any]
            #expect(problem?["detail"] as? String == detail, "\(body) answered \(answer.body)")
        }
        #expect(fixture.cluster.auditCount == audited)
    }
}
