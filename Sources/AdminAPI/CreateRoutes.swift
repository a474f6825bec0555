import APIModels
import Foundation
import Hummingbird
import PolicyModel
import RampartAuthorizer

/// A route that creates a resource from names in its path and a flat JSON body: organizations,
/// projects and principals, the writes a tenant's automation makes most often.
///
/// Each is declared once, as a type of this protocol, and served two ways with the same checks
/// in the same order and the same answer: by the router (its `RouteDeclaration`, `AdminRoutes.createDeclaration`), and by
/// `FastPath` on the connection's event loop when everything about the request is in order
/// (`AdminRoutes.immediateCreate`), which proposes the command without a task per request.
protocol CreateRoute: SendableMetatype {
    /// The request body.
    associatedtype Body: APIRequestBody
    /// What the created resource is answered with.
    associatedtype Answer: Encodable & Sendable

    /// The method and path; its parameters are each a `Name`.
    static var endpoint: Endpoint { get }
    /// The permission the caller needs, on the scope the path names (`pathScope`).
    static var permission: Permission { get }
    /// Where the permission is checked.
    static var pathScope: PathScope { get }
    /// The command, from the path's names and the body.
    /// - Throws: `APIError` for an invalid value in the body.
    static func command(_ names: [Name], _ body: Body) throws(APIError) -> Command
    /// The answer once the command was applied at `revision`.
    static func answer(_ names: [Name], _ body: Body, revision: UInt64) -> Answer
}

extension CreateRoute {
    /// The path's segments.
    static var path: [Endpoint.Segment] { endpoint.segments }

    /// Where the permission is checked, from the path's names in order.
    static func scope(_ names: [Name]) -> Scope {
        pathScope.scope(inOrder: names)
    }

    /// The path's names when `target` is exactly this route's path: no query, no empty
    /// segment, every parameter a valid `Name` (so nothing percent-encoded); nil otherwise.
    static func names(in target: Substring) -> [Name]? {
        // Bytes, not characters: a path is ASCII, and anything else fails a literal or a name.
        // One pass, the literals compared before any name is made.
        let bytes = target.utf8
        guard bytes.first == UInt8(ascii: "/") else { return nil }
        var segmentStart = bytes.index(after: bytes.startIndex)
        var parameters: [Range<Substring.UTF8View.Index>] = []
        for (position, expected) in path.enumerated() {
            let segmentEnd = bytes[segmentStart...].firstIndex(of: UInt8(ascii: "/")) ?? bytes.endIndex
            let isLast = position == path.count - 1
            guard isLast == (segmentEnd == bytes.endIndex) else { return nil }
            switch expected {
            case .literal(let text):
                guard bytes[segmentStart..<segmentEnd].elementsEqual(text.utf8) else { return nil }
            case .parameter:
                parameters.append(segmentStart..<segmentEnd)
            }
            if !isLast { segmentStart = bytes.index(after: segmentEnd) }
        }
        var names: [Name] = []
        names.reserveCapacity(parameters.count)
        for range in parameters {
            guard let name = try? Name(String(target[range])) else { return nil }
            names.append(name)
        }
        return names
    }
}

/// `POST /v1/orgs`: a new organization, with `iam.organizations.create` on the cluster.
enum CreateOrganizationRoute: CreateRoute {
    static let endpoint = Endpoint.createOrganization
    static let permission = RampartPermission.organizationsCreate
    static let pathScope = PathScope.cluster

    static func command(_ names: [Name], _ body: CreateOrganizationRequest) throws(APIError) -> Command {
        .createOrganization(name: try AdminRoutes.parsedName(body.name))
    }

    static func answer(_ names: [Name], _ body: CreateOrganizationRequest, revision: UInt64) -> OrganizationResponse {
        OrganizationResponse(name: body.name, suspended: false, revision: revision)
    }
}

/// `POST /v1/orgs/{org}/projects`: a new project, with `iam.projects.create` on its organization.
enum CreateProjectRoute: CreateRoute {
    static let endpoint = Endpoint.createProject
    static let permission = RampartPermission.projectsCreate
    static let pathScope = PathScope.organization

    static func command(_ names: [Name], _ body: CreateProjectRequest) throws(APIError) -> Command {
        .createProject(organization: names[0], name: try AdminRoutes.parsedName(body.name))
    }

    static func answer(_ names: [Name], _ body: CreateProjectRequest, revision: UInt64) -> ProjectResponse {
        ProjectResponse(organization: names[0].value, name: body.name, revision: revision)
    }
}

/// `POST /v1/orgs/{org}/principals`: a new user or service account, with
/// `iam.principals.create` on its organization.
enum CreatePrincipalRoute: CreateRoute {
    static let endpoint = Endpoint.createPrincipal
    static let permission = RampartPermission.principalsCreate
    static let pathScope = PathScope.organization

    /// The kinds a body may name.
    static let kinds: [String: PrincipalKind] = ["user": .user, "service_account": .serviceAccount]

    static func command(_ names: [Name], _ body: CreatePrincipalRequest) throws(APIError) -> Command {
        let principal = try AdminRoutes.parsedName(body.name)
        guard let kind = kinds[body.kind] else { throw .badRequest("kind must be user or service_account") }
        return .createPrincipal(PrincipalReference(organization: names[0], name: principal), kind: kind)
    }

    static func answer(_ names: [Name], _ body: CreatePrincipalRequest, revision: UInt64) -> PrincipalResponse {
        PrincipalResponse(organization: names[0].value, name: body.name, kind: body.kind, revision: revision)
    }
}

/// A request target that is a create route's path, with the path's names.
struct CreateTarget {
    let route: any CreateRoute.Type
    let names: [Name]
}

/// A create request `FastPath` may propose: checked and built on the event loop, from the
/// replica's state as it is now.
struct PreparedCreate: Sendable {
    /// The command, its actor and the request's id.
    let envelope: CommandEnvelope
    /// The JSON answer once the command was applied at the revision given; nil if it could not be encoded.
    let answer: @Sendable (UInt64) -> [UInt8]?
}

/// What `FastPath` writes for a create: the same status, media type and body as the router's.
struct CreateAnswer: Equatable {
    var status: HTTPResponse.Status
    var contentType: String
    /// `Retry-After`, for an unavailable or overloaded cluster.
    var retryAfter: String?
    var body: [UInt8]
}

extension AdminRoutes {
    /// The create routes, in the order the fast path tries them.
    static let createRoutes: [any CreateRoute.Type] = [CreateOrganizationRoute.self, CreateProjectRoute.self, CreatePrincipalRoute.self]

    /// The create route whose path `target` is, and the path's names; nil when it is none's.
    static func createTarget(_ target: String) -> CreateTarget? {
        for route in createRoutes {
            if let names = route.names(in: target[...]) { return CreateTarget(route: route, names: names) }
        }
        return nil
    }

    /// The create request for `target`, ready to propose, when everything about it is in order
    /// now: a `credential` allowed the route's permission (a token's checks holding for the
    /// write), a flat body (`FlatJSON`) with valid values.
    /// Nil when anything is not: the router then answers, with the error. Nothing is proposed
    /// or changed here.
    func immediateCreate(_ target: CreateTarget, credential: ResolvedCredential, body: UnsafeRawBufferPointer, requestID: String) -> PreparedCreate? {
        prepare(target.route, names: target.names, credential: credential, body: body, requestID: requestID)
    }

    private func prepare<Route: CreateRoute>(
        _ route: Route.Type, names: [Name], credential: ResolvedCredential, body: UnsafeRawBufferPointer, requestID: String
    ) -> PreparedCreate? {
        let scope = Route.scope(names)
        if case .token(let token) = credential {
            do {
                try checkToken(token, permission: Route.permission, on: scope, operation: TokenRequest.Operation.write)
            } catch {
                return nil
            }
        }
        guard let access = try? cluster.readNow({ Self.verify(credential, Route.permission, on: scope, in: $0) }),
            case .success(let actor) = access.value,
            let decoded = FlatJSON.decode(Route.Body.self, from: body),
            let command = try? Route.command(names, decoded)
        else { return nil }
        let envelope = CommandEnvelope(
            command: command, actor: actor, requestID: requestID, idempotencyKey: nil, expectedRevision: nil, time: cluster.now())
        return PreparedCreate(envelope: envelope) { revision in try? Self.jsonBytes(Route.answer(names, decoded, revision: revision)) }
    }

    /// The answer to a proposed create, as the router gives it: `201 Created` with the
    /// resource, or the problem for a rejection or a cluster that could not apply it.
    static func createAnswer(_ result: Result<CommandOutcome, ClusterError>, _ prepared: PreparedCreate) -> CreateAnswer {
        let error: APIError
        switch result {
        case .success(let outcome):
            if let rejection = outcome.rejection {
                error = .rejected(rejection)
            } else if let body = prepared.answer(outcome.revision) {
                return CreateAnswer(status: .created, contentType: "application/json", body: body)
            } else {
                error = .cluster(.internalFailure("internal error"))
            }
        case .failure(let failure):
            error = .cluster(failure)
        }
        return CreateAnswer(status: error.status, contentType: APIError.problemContentType, retryAfter: error.retryAfter, body: Array(error.problemJSON))
    }
}
