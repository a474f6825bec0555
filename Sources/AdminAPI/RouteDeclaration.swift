import APIModels
import Hummingbird
import PolicyModel

/// One operation of the HTTP API, declared once: what it is (`Endpoint`: method and path), who
/// may call it and where its permission is checked, whether it writes, its body and answer
/// types, whether the fast path may serve it, and what it does. The router, the operation
/// table, the public paths, the OpenAPI checks and the client's paths all derive from the
/// declarations (`AdminRoutes.declarations`), so a new route is one declaration and its tests.
struct RouteDeclaration: Sendable {
    /// The method and path.
    let endpoint: Endpoint
    /// Who may call it.
    let access: RouteAccess
    /// Whether it proposes a change.
    let effect: RouteEffect
    /// The JSON body it reads, if any.
    let body: (any APIRequestBody.Type)?
    /// The type its success answers with, if it answers JSON.
    let answer: (any Encodable.Type)?
    /// Whether `FastPath` serves it too (`CreateRoute`, and the stale authorize).
    let fastPath: Bool
    /// What it does, once the path's names are parsed and its access checked.
    let serve: @Sendable (AdminRoutes, RouteInput) async throws -> Response

    init(
        _ endpoint: Endpoint, _ access: RouteAccess, _ effect: RouteEffect, body: (any APIRequestBody.Type)? = nil,
        answer: (any Encodable.Type)?, fastPath: Bool = false, serve: @escaping @Sendable (AdminRoutes, RouteInput) async throws -> Response
    ) {
        self.endpoint = endpoint
        self.access = access
        self.effect = effect
        self.body = body
        self.answer = answer
        self.fastPath = fastPath
        self.serve = serve
        nameParameters = endpoint.parameters.filter { !Self.idParameters.contains($0) }
        // `PathScope.scope(inOrder:)` relies on it.
        precondition(!endpoint.parameters.contains("org") || endpoint.parameters.first == "org", "\(endpoint): {org} comes first")
        precondition(
            !endpoint.parameters.contains("project") || Array(endpoint.parameters.prefix(2)) == ["org", "project"],
            "\(endpoint): {project} comes second")
    }

    /// The path parameters that are names (`Name`), parsed before the route runs; the others
    /// (`idParameters`) are entity ids, which the route parses where its checks allow.
    let nameParameters: [String]

    /// The path parameters that are entity ids.
    static let idParameters: Set<String> = ["key", "binding"]

    /// The permission it checks, if it checks one.
    var permission: Permission? {
        switch access {
        case .permission(let permission, _), .permissionInRequest(let permission, _), .authenticated(let permission?): return permission
        case .open, .clusterProof, .authenticated(nil): return nil
        }
    }

    /// Whether it is served without an API key.
    var isPublic: Bool {
        switch access {
        case .open, .clusterProof: return true
        case .authenticated, .permission, .permissionInRequest: return false
        }
    }
}

/// Who may call a route.
enum RouteAccess: Sendable {
    /// Anyone: health, readiness, metrics, the public key set.
    case open
    /// A one-time proof of the cluster secret instead of an API key (`ClusterProof`).
    case clusterProof
    /// Any valid API key; with a permission, the route shows only what the caller holds it on
    /// (the organizations listed are those it may get).
    case authenticated(filteredBy: Permission?)
    /// A valid API key whose principal holds the permission on the scope the path names,
    /// checked before the route runs.
    case permission(Permission, on: PathScope)
    /// A valid API key whose principal holds the permission on a scope the request's body or
    /// query names, checked by the route once it has read it; the text says where.
    case permissionInRequest(Permission, String)
}

/// The scope a route's path names.
enum PathScope: Sendable {
    /// The whole cluster.
    case cluster
    /// The organization `{org}`.
    case organization
    /// The project `{org}/{project}`.
    case project

    /// The scope, from the path's names.
    func scope(_ names: [String: Name]) -> Scope {
        switch self {
        case .cluster: return .cluster
        case .organization: return .organization(names["org"]!)
        case .project: return .project(organization: names["org"]!, project: names["project"]!)
        }
    }

    /// The scope, from the path's names in order: every path names `{org}` first and
    /// `{project}` second (the fast path's form, without a dictionary).
    func scope(inOrder names: [Name]) -> Scope {
        switch self {
        case .cluster: return .cluster
        case .organization: return .organization(names[0])
        case .project: return .project(organization: names[0], project: names[1])
        }
    }
}

/// Whether a route changes the state.
enum RouteEffect: Sendable {
    /// It reads (or answers from the replica alone).
    case read
    /// It proposes a command (or a membership change) through the leader.
    case write
}

/// What a route receives: the request, its context, the path's names and the caller its
/// access check found.
struct RouteInput: Sendable {
    let request: Request
    let context: APIRequestContext
    /// The path's names, by parameter.
    let names: [String: Name]
    /// The authenticated caller, for routes that need a key (nil for public routes).
    let caller: PrincipalReference?

    /// The name in path parameter `parameter` (declared by the route's endpoint).
    func name(_ parameter: String) -> Name {
        guard let name = names[parameter] else { preconditionFailure("the route declares no name parameter \(parameter)") }
        return name
    }

    /// The caller of a route that needs a key.
    var actor: PrincipalReference {
        guard let caller else { preconditionFailure("a public route has no caller") }
        return caller
    }

    /// The principal the path names (`{org}/principals/{principal}`).
    var principal: PrincipalReference { PrincipalReference(organization: name("org"), name: name("principal")) }

    /// The entity id in path parameter `parameter`.
    /// - Throws: a 400 naming `what` when it is not one.
    func id(_ parameter: String, _ what: String) throws(APIError) -> EntityID {
        guard let id = try? EntityID(hex: context.parameters.get(parameter) ?? "") else { throw .badRequest("malformed \(what) id") }
        return id
    }
}
