@testable import AdminAPI
import APIModels
import Foundation
import Hummingbird
import PolicyModel
import Testing

/// Keeps `docs/openapi.json` true: it documents exactly the routed operations, each documented
/// operation is routed, and each documented request body has exactly the fields the server
/// accepts.
@Suite struct OpenAPITests {
    /// The document, read afresh by each test (it is small).
    static var document: [String: Any] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let data = try! Data(contentsOf: root.appendingPathComponent("docs/openapi.json"))
        return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    static var documentedOperations: Set<String> {
        let paths = document["paths"] as! [String: [String: Any]]
        return Set(paths.flatMap { path, operations in operations.keys.map { "\($0.uppercased()) \(path)" } })
    }

    @Test func documentListsExactlyTheOperationTable() {
        let table = Set(AdminRoutes.operations.map { "\($0.method) \($0.path)" })
        #expect(table.count == AdminRoutes.operations.count, "no operation is listed twice")
        #expect(Self.documentedOperations.subtracting(table).isEmpty, "documented but not in the table")
        #expect(table.subtracting(Self.documentedOperations).isEmpty, "in the table but not documented")
    }

    @Test func everyDocumentedOperationIsRouted() async throws {
        let fixture = try await Fixture()
        for operation in AdminRoutes.operations {
            let path = operation.path.replacingOccurrences(of: "{key}", with: "0000000000000000000000000000abcd")
                .replacingOccurrences(of: "{binding}", with: "0000000000000000000000000000abcd")
                .replacingOccurrences(of: #"\{[a-z]+\}"#, with: "ghost", options: .regularExpression)
            if operation.path == Endpoint.watch.template {
                // A change stream does not end: its head says it is routed.
                #expect(try await fixture.client.head(.get, path, token: fixture.admin).status == 200)
                continue
            }
            let answer = try await fixture.client.send(HTTPRequest.Method(operation.method)!, path, body: "{}", token: fixture.admin)
            #expect(answer.code != "no_such_route", "\(operation.method) \(operation.path) is not routed")
        }
        let unknown = try await fixture.client.send(.get, "/v1/not-an-operation", token: fixture.admin)
        #expect(unknown.code == "no_such_route")
    }

    /// The schema a request body refers to: its `$ref`, or the `$ref` inside its `allOf`.
    static func bodySchemaName(_ operation: [String: Any]) -> String? {
        guard let body = operation["requestBody"] as? [String: Any], let content = body["content"] as? [String: Any],
            let json = content["application/json"] as? [String: Any], let schema = json["schema"] as? [String: Any]
        else { return nil }
        let reference = (schema["$ref"] as? String) ?? ((schema["allOf"] as? [[String: Any]])?.compactMap { $0["$ref"] as? String }.first)
        return reference?.split(separator: "/").last.map(String.init)
    }

    static func operation(_ route: RouteDeclaration) -> [String: Any]? {
        let paths = document["paths"] as! [String: [String: Any]]
        return paths[route.endpoint.template]?[route.endpoint.method.lowercased()] as? [String: Any]
    }

    /// Each declared body is documented as a schema of the body type's name with exactly the
    /// fields the server accepts and no others; a route without a body documents none.
    @Test(arguments: AdminRoutes.declarations.map { ($0.endpoint.description, $0.body) })
    func documentedRequestBodiesHaveTheAcceptedFields(operation: String, body: (any APIRequestBody.Type)?) throws {
        let route = try #require(AdminRoutes.declarations.first { $0.endpoint.description == operation })
        let documented = try #require(Self.operation(route), "\(operation) is not documented")
        guard let body else {
            #expect(documented["requestBody"] == nil, "\(operation) documents a body it does not read")
            return
        }
        let schema = String(describing: body)
        #expect(Self.bodySchemaName(documented) == schema, "\(operation) documents another body than \(schema)")
        let components = Self.document["components"] as! [String: Any]
        let schemas = components["schemas"] as! [String: [String: Any]]
        let properties = schemas[schema]?["properties"] as? [String: Any]
        #expect(properties.map { Set($0.keys) } == body.fields, "\(schema)")
        #expect(schemas[schema]?["additionalProperties"] as? Bool == false, "\(schema) refuses unknown fields")
    }

    /// Who may call each operation is documented as declared: public operations need no API
    /// key, the others name the permission they check.
    @Test(arguments: AdminRoutes.declarations.map(\.endpoint.description))
    func documentedAccessIsTheDeclaredAccess(operation: String) throws {
        let route = try #require(AdminRoutes.declarations.first { $0.endpoint.description == operation })
        let documented = try #require(Self.operation(route), "\(operation) is not documented")
        let security = documented["security"] as? [Any]
        let description = documented["description"] as? String ?? ""
        switch route.access {
        case .open, .clusterProof:
            #expect(security?.isEmpty == true, "\(operation) is public but documented with an API key")
        case .authenticated(nil):
            #expect(security == nil && description.contains("any authenticated caller"), "\(operation): \(description)")
        case .permission(let permission, _), .permissionInRequest(let permission, _), .authenticated(let permission?):
            #expect(security == nil, "\(operation) needs an API key")
            #expect(description.contains("`\(permission)"), "\(operation) does not name \(permission): \(description)")
        }
    }

    @Test func everyEndpointIsDeclaredOnceInOrder() {
        #expect(AdminRoutes.declarations.map(\.endpoint) == Endpoint.all)
        #expect(Set(Endpoint.all).count == Endpoint.all.count)
        // The public paths are the open ones and the cluster-secret ones, nothing else.
        #expect(
            AdminRoutes.publicPaths == [
                "/healthz", "/readyz", "/metrics", "/v1/cluster/bootstrap/challenge", "/v1/cluster/bootstrap", "/v1/cluster/break-glass",
                "/v1/keys", "/.well-known/biscuit-web-keys",
            ])
        // Every permission Rampart defines is checked by some route.
        let checked = Set(AdminRoutes.declarations.compactMap(\.permission).map(\.description))
        let unused = Set(RampartPermission.all.map(\.description)).subtracting(checked)
        #expect(unused.isEmpty, "defined but checked by no route: \(unused.sorted())")
        // Writes are the routes that propose; the fast path serves the creates and authorize.
        // The routes declared for the fast path are the ones it serves: the create routes it
        // proposes, and the stale authorize.
        #expect(AdminRoutes.declarations.filter(\.fastPath).map(\.endpoint) == AdminRoutes.createRoutes.map { $0.endpoint } + [.authorize])
        #expect(FastPath.target.hasPrefix(Endpoint.authorize.template + "?"))
        for route in AdminRoutes.declarations where route.endpoint.method == "GET" {
            #expect(route.effect == .read, "\(route.endpoint) is a GET that writes")
        }
    }

    @Test func endpointPathsFillTheirParametersEscaped() {
        #expect(Endpoint.deleteAPIKey.parameters == ["org", "principal", "key"])
        #expect(Endpoint.deleteAPIKey.path("acme", "ci-bot", "00ab") == "/v1/orgs/acme/principals/ci-bot/keys/00ab")
        #expect(Endpoint.getOrganization.path("a/b c") == "/v1/orgs/a%2Fb%20c", "a value cannot add a segment")
        #expect(Endpoint.listOrganizations.path() == "/v1/orgs")
    }
}
