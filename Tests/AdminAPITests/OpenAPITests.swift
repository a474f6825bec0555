import AdminAPI
import APIModels
import Foundation
import Hummingbird
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
            let answer = try await fixture.client.send(HTTPRequest.Method(operation.method)!, path, body: "{}", token: fixture.admin)
            #expect(answer.code != "no_such_route", "\(operation.method) \(operation.path) is not routed")
        }
        let unknown = try await fixture.client.send(.get, "/v1/not-an-operation", token: fixture.admin)
        #expect(unknown.code == "no_such_route")
    }

    @Test(arguments: [
        ("CreateOrganizationRequest", CreateOrganizationRequest.fields), ("UpdateOrganizationRequest", UpdateOrganizationRequest.fields),
        ("CreateProjectRequest", CreateProjectRequest.fields), ("CreatePrincipalRequest", CreatePrincipalRequest.fields),
        ("RoleRequest", RoleRequest.fields), ("CreateBindingRequest", CreateBindingRequest.fields),
        ("AuthorizeRequest", AuthorizeRequest.fields), ("MembershipRequest", MembershipRequest.fields),
        ("TransferRequest", TransferRequest.fields),
    ])
    func documentedRequestBodiesHaveTheAcceptedFields(schema: String, fields: Set<String>) {
        let components = Self.document["components"] as! [String: Any]
        let schemas = components["schemas"] as! [String: [String: Any]]
        let properties = schemas[schema]?["properties"] as? [String: Any]
        #expect(properties.map { Set($0.keys) } == fields, "\(schema)")
        #expect(schemas[schema]?["additionalProperties"] as? Bool == false, "\(schema) refuses unknown fields")
    }
}
