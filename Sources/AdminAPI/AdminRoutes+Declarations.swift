import APIModels
import Foundation
import Hummingbird
import PolicyModel

/// Every route of the API, declared once (`RouteDeclaration`). The router serves exactly these,
/// `operations` lists them, the authentication middleware's public paths come from their
/// access, and the OpenAPI tests check the document against them. Routes that write decide
/// their command in one read of the state (`propose`).
extension AdminRoutes {
    /// Every route, in the order of `Endpoint.all`.
    static let declarations: [RouteDeclaration] = operationRoutes + organizationRoutes + projectRoutes + principalRoutes + roleRoutes
        + bindingRoutes + decisionKeyAndAuditRoutes

    /// Every operation the API serves, as (method, path template). `docs/openapi.json` documents
    /// exactly these, and a test checks both that the document matches and that each is routed.
    public static let operations: [(method: String, path: String)] = declarations.map { ($0.endpoint.method, $0.endpoint.template) }

    /// The paths served without an API key.
    static let publicPaths: Set<String> = Set(declarations.filter(\.isPublic).map(\.endpoint.template))

    // MARK: - Operations of the replica

    private static let operationRoutes: [RouteDeclaration] = [
        RouteDeclaration(.health, .open, .read, answer: nil) { routes, _ in try routes.health(routes.cluster.isHealthy()) },
        RouteDeclaration(.readiness, .open, .read, answer: nil) { routes, _ in try routes.health(routes.cluster.isReady()) },
        RouteDeclaration(.metrics, .open, .read, answer: nil) { routes, _ in
            let text = routes.cluster.metricsText() + routes.metrics.prometheusText() + routes.throttle.prometheusText()
                + routes.denials.prometheusText() + routes.requestMetrics.prometheusText()
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
        },
        RouteDeclaration(.clusterStatus, .permission(RampartPermission.clusterGet, on: .cluster), .read, answer: ClusterStatus.self) { routes, _ in
            try routes.json(routes.cluster.status())
        },
        RouteDeclaration(.clusterHash, .permission(RampartPermission.clusterGet, on: .cluster), .read, answer: StateHashResponse.self) {
            routes, _ in
            let (hash, revision) = try await routes.wrap { () async throws(ClusterError) in try await routes.cluster.stateHash() }
            let status = routes.cluster.status()
            return try routes.json(
                StateHashResponse(stateHash: hash, revision: revision, auditHead: status.auditHead, auditSequence: status.auditSequence))
        },
        RouteDeclaration(
            .clusterMembers, .permission(RampartPermission.clusterUpdate, on: .cluster), .write, body: MembershipRequest.self,
            answer: RevisionResponse.self
        ) { routes, input in
            try await routes.membershipRoute(input)
        },
        RouteDeclaration(
            .clusterLeader, .permission(RampartPermission.clusterUpdate, on: .cluster), .write, body: TransferRequest.self,
            answer: ClusterStatus.self
        ) { routes, input in
            let body = try await routes.decode(TransferRequest.self, from: input.request)
            try await routes.wrap { () async throws(ClusterError) in
                try await routes.cluster.transferLeadership(to: body.replica, timeout: routes.deadline(input.request))
            }
            return try routes.json(routes.cluster.status())
        },
        RouteDeclaration(.bootstrapChallenge, .open, .read, answer: ChallengeResponse.self) { routes, _ in
            try routes.json(
                ChallengeResponse(
                    challenge: Hex.encode(routes.challenges.issue()), expiresInSeconds: Int(BootstrapChallenges.lifetime.components.seconds)),
                status: .created)
        },
        RouteDeclaration(.bootstrap, .clusterProof, .write, answer: BootstrapResponse.self) { routes, input in
            try await routes.administratorKey(.bootstrap, input.request, input.context)
        },
        RouteDeclaration(.breakGlass, .clusterProof, .write, answer: BootstrapResponse.self) { routes, input in
            try await routes.administratorKey(.breakGlass, input.request, input.context)
        },
        RouteDeclaration(.snapshot, .permission(RampartPermission.snapshotsSave, on: .cluster), .read, answer: nil) { routes, input in
            try await routes.snapshotRoute(input.request)
        },
    ]

    // MARK: - Organizations

    private static let organizationRoutes: [RouteDeclaration] = [
        RouteDeclaration(.listOrganizations, .authenticated(filteredBy: RampartPermission.organizationsGet), .read, answer: ListResponse<OrganizationResponse>.self) { routes, input in
            let actor = input.actor
            let page = try routes.pageParameters(input.request)
            let (items, revision) = try await routes.readState(input.request) { state in
                state.allOrganizations.filter { organization in
                    state.authorize(actor, RampartPermission.organizationsGet, on: .organization(organization.name)).allowed
                }.map(Self.organizationResponse)
            }
            return try routes.json(routes.paginate(items, page: page, key: \.name, revision: revision))
        },
        createDeclaration(CreateOrganizationRoute.self),
        RouteDeclaration(
            .getOrganization, .permission(RampartPermission.organizationsGet, on: .organization), .read, answer: OrganizationResponse.self
        ) { routes, input in
            let name = input.name("org")
            let (found, revision) = try await routes.readState(input.request) { $0.organization(name).map(Self.organizationResponse) }
            return try routes.json(try routes.existing(found, "organization \(name)"), revision: revision)
        },
        RouteDeclaration(
            .updateOrganization, .permission(RampartPermission.organizationsUpdate, on: .cluster), .write,
            body: UpdateOrganizationRequest.self, answer: OrganizationResponse.self
        ) { routes, input in
            let name = input.name("org")
            let body = await routes.body(UpdateOrganizationRequest.self, from: input.request)
            let outcome = try await routes.propose(input) { state throws(APIError) in
                try Self.require(state.organization(name) != nil, "organization \(name)")
                return .setOrganizationSuspended(name: name, suspended: try body.get().suspended)
            }
            return try routes.json(OrganizationResponse(name: name.value, suspended: try body.get().suspended, revision: outcome.revision))
        },
        RouteDeclaration(
            .deleteOrganization, .permission(RampartPermission.organizationsDelete, on: .cluster), .write, answer: RevisionResponse.self
        ) { routes, input in
            let name = input.name("org")
            let outcome = try await routes.propose(input) { state throws(APIError) in
                try Self.require(state.organization(name) != nil, "organization \(name)")
                return .deleteOrganization(name: name, force: try Self.forceParameter(input.request))
            }
            return try routes.json(RevisionResponse(revision: outcome.revision))
        },
    ]

    // MARK: - Projects

    private static let projectRoutes: [RouteDeclaration] = [
        RouteDeclaration(.listProjects, .permission(RampartPermission.projectsList, on: .organization), .read, answer: ListResponse<ProjectResponse>.self)
        { routes, input in
            let organization = input.name("org")
            let page = try routes.pageParameters(input.request)
            let (items, revision) = try await routes.readState(input.request) { state in state.projects(of: organization).map(Self.projectResponse) }
            return try routes.json(routes.paginate(items, page: page, key: \.name, revision: revision))
        },
        createDeclaration(CreateProjectRoute.self),
        RouteDeclaration(.getProject, .permission(RampartPermission.projectsGet, on: .project), .read, answer: ProjectResponse.self) { routes, input in
            let (organization, name) = (input.name("org"), input.name("project"))
            let (found, revision) = try await routes.readState(input.request) { $0.project(organization, name).map(Self.projectResponse) }
            return try routes.json(try routes.existing(found, "project \(organization)/\(name)"), revision: revision)
        },
        RouteDeclaration(.deleteProject, .permission(RampartPermission.projectsDelete, on: .organization), .write, answer: RevisionResponse.self) {
            routes, input in
            let (organization, name) = (input.name("org"), input.name("project"))
            let outcome = try await routes.propose(input) { state throws(APIError) in
                try Self.require(state.project(organization, name) != nil, "project \(organization)/\(name)")
                return .deleteProject(organization: organization, name: name, force: try Self.forceParameter(input.request))
            }
            return try routes.json(RevisionResponse(revision: outcome.revision))
        },
    ]

    // MARK: - Principals and API keys

    private static let principalRoutes: [RouteDeclaration] = [
        RouteDeclaration(
            .listPrincipals, .permission(RampartPermission.principalsList, on: .organization), .read, answer: ListResponse<PrincipalResponse>.self
        ) { routes, input in
            let organization = input.name("org")
            let page = try routes.pageParameters(input.request)
            let (items, revision) = try await routes.readState(input.request) { state in state.principals(of: organization).map(Self.principalResponse) }
            return try routes.json(routes.paginate(items, page: page, key: \.name, revision: revision))
        },
        createDeclaration(CreatePrincipalRoute.self),
        RouteDeclaration(.getPrincipal, .permission(RampartPermission.principalsGet, on: .organization), .read, answer: PrincipalResponse.self) {
            routes, input in
            let reference = input.principal
            let (found, revision) = try await routes.readState(input.request) { $0.principal(reference).map(Self.principalResponse) }
            return try routes.json(try routes.existing(found, "principal \(reference)"), revision: revision)
        },
        RouteDeclaration(
            .deletePrincipal, .permission(RampartPermission.principalsDelete, on: .organization), .write, answer: RevisionResponse.self
        ) { routes, input in
            let reference = input.principal
            let outcome = try await routes.propose(input) { state throws(APIError) in
                try Self.require(state.principal(reference) != nil, "principal \(reference)")
                return .deletePrincipal(reference, force: try Self.forceParameter(input.request))
            }
            return try routes.json(RevisionResponse(revision: outcome.revision))
        },
        RouteDeclaration(.listAPIKeys, .permission(RampartPermission.apiKeysList, on: .organization), .read, answer: ListResponse<APIKeyResponse>.self)
        { routes, input in
            let reference = input.principal
            let (items, revision) = try await routes.readState(input.request) { state in
                state.apiKeys(of: reference).map { APIKeyResponse(id: "\($0.id)", principal: "\($0.principal)", revision: $0.revision) }
            }
            return try routes.json(ListResponse(items: items, nextCursor: nil, revision: revision))
        },
        RouteDeclaration(.createAPIKey, .permission(RampartPermission.apiKeysCreate, on: .organization), .write, answer: APIKeyCreatedResponse.self) {
            routes, input in
            let reference = input.principal
            let id = routes.cluster.newEntityID()
            let secret = routes.cluster.newSecret()
            let secretHash = SecretHasher.hash(secret)
            let outcome = try await routes.propose(input) { state throws(APIError) in
                try Self.require(state.principal(reference) != nil, "principal \(reference)")
                return .createAPIKey(id: id, principal: reference, secretHash: secretHash)
            }
            if outcome.replayed {
                // The key of the answer is the first request's; this request's secret was never stored.
                let (first, _) = try await routes.readState(input.request) { state in
                    state.apiKeys(of: reference).first { $0.revision == outcome.revision }.map { "\($0.id)" }
                }
                throw APIError.secretNotRepeatable(keyID: first)
            }
            return try routes.json(
                APIKeyCreatedResponse(id: "\(id)", principal: "\(reference)", token: "\(id).\(Hex.encode(secret))", revision: outcome.revision),
                status: .created)
        },
        RouteDeclaration(.deleteAPIKey, .permission(RampartPermission.apiKeysDelete, on: .organization), .write, answer: RevisionResponse.self) {
            routes, input in
            let reference = input.principal
            let id = try input.id("key", "key")
            let outcome = try await routes.propose(input) { state throws(APIError) in
                // The key must belong to the principal of the path: no revoking another tenant's key by id.
                try Self.require(state.apiKey(id)?.principal == reference, "API key \(id)")
                return .revokeAPIKey(id: id)
            }
            return try routes.json(RevisionResponse(revision: outcome.revision))
        },
    ]

    // MARK: - Roles

    private static let roleRoutes: [RouteDeclaration] = [
        RouteDeclaration(.listBuiltInRoles, .authenticated(filteredBy: nil), .read, answer: ListResponse<RoleResponse>.self) { routes, _ in
            let roles = BuiltInRole.allCases.sorted().map { Self.roleResponse($0.role) }
            return try routes.json(ListResponse(items: roles, nextCursor: nil, revision: routes.cluster.status().appliedIndex))
        },
        RouteDeclaration(.listRoles, .permission(RampartPermission.rolesList, on: .organization), .read, answer: ListResponse<RoleResponse>.self) {
            routes, input in
            let organization = input.name("org")
            let page = try routes.pageParameters(input.request)
            let (items, revision) = try await routes.readState(input.request) { state in state.roles(of: organization).map(Self.roleResponse) }
            return try routes.json(routes.paginate(items, page: page, key: \.name, revision: revision))
        },
        RouteDeclaration(
            .createRole, .permission(RampartPermission.rolesCreate, on: .organization), .write, body: RoleRequest.self, answer: RoleResponse.self
        ) { routes, input in
            let organization = input.name("org")
            let body = try await routes.decode(RoleRequest.self, from: input.request)
            let name = try Self.parsedName(body.name ?? "")
            let permissions = try Self.parsePermissions(body.permissions)
            let outcome = try await routes.propose(input) { _ throws(APIError) in
                .createRole(organization: organization, name: name, permissions: permissions)
            }
            let role = Role(reference: .custom(organization: organization, name: name), permissions: permissions, revision: outcome.revision)
            return try routes.json(Self.roleResponse(role), status: .created)
        },
        RouteDeclaration(.getRole, .permission(RampartPermission.rolesGet, on: .organization), .read, answer: RoleResponse.self) { routes, input in
            let (organization, name) = (input.name("org"), input.name("role"))
            let (found, revision) = try await routes.readState(input.request) {
                $0.role(.custom(organization: organization, name: name)).map(Self.roleResponse)
            }
            return try routes.json(try routes.existing(found, "role \(organization)/\(name)"), revision: revision)
        },
        RouteDeclaration(
            .updateRole, .permission(RampartPermission.rolesUpdate, on: .organization), .write, body: RoleRequest.self, answer: RoleResponse.self
        ) { routes, input in
            let (organization, name) = (input.name("org"), input.name("role"))
            let body = await routes.body(RoleRequest.self, from: input.request)
            let outcome = try await routes.propose(input) { state throws(APIError) in
                try Self.require(state.role(.custom(organization: organization, name: name)) != nil, "role \(organization)/\(name)")
                let body = try body.get()
                if let bodyName = body.name, bodyName != name.value { throw .badRequest("the body names role \(bodyName), the path \(name)") }
                return .updateRole(organization: organization, name: name, permissions: try Self.parsePermissions(body.permissions))
            }
            let permissions = try Self.parsePermissions(try body.get().permissions)
            let role = Role(reference: .custom(organization: organization, name: name), permissions: permissions, revision: outcome.revision)
            return try routes.json(Self.roleResponse(role))
        },
        RouteDeclaration(.deleteRole, .permission(RampartPermission.rolesDelete, on: .organization), .write, answer: RevisionResponse.self) {
            routes, input in
            let (organization, name) = (input.name("org"), input.name("role"))
            let outcome = try await routes.propose(input) { state throws(APIError) in
                try Self.require(state.role(.custom(organization: organization, name: name)) != nil, "role \(organization)/\(name)")
                return .deleteRole(organization: organization, name: name, force: try Self.forceParameter(input.request))
            }
            return try routes.json(RevisionResponse(revision: outcome.revision))
        },
    ]

    // MARK: - Bindings

    private static let bindingRoutes: [RouteDeclaration] = [
        RouteDeclaration(.listBindings, .permission(RampartPermission.bindingsList, on: .organization), .read, answer: ListResponse<BindingResponse>.self)
        { routes, input in
            let organization = input.name("org")
            let page = try routes.pageParameters(input.request)
            let (items, revision) = try await routes.readState(input.request) { state in state.bindings(in: organization).map(Self.bindingResponse) }
            return try routes.json(routes.paginate(items, page: page, key: \.id, revision: revision))
        },
        RouteDeclaration(
            .createBinding, .permissionInRequest(RampartPermission.bindingsCreate, "at the binding's scope"), .write, body: CreateBindingRequest.self,
            answer: BindingResponse.self
        ) { routes, input in
            let organization = input.name("org")
            let body = try await routes.decode(CreateBindingRequest.self, from: input.request)
            let principal = PrincipalReference(organization: organization, name: try Self.parsedName(body.principal))
            let role: RoleReference =
                try BuiltInRole(rawValue: body.role).map { .builtIn($0) } ?? .custom(organization: organization, name: try Self.parsedName(body.role))
            // The system roles are bound cluster-wide, to principals of the system organization.
            let clusterWide = role == .builtIn(.systemAdmin) || role == .builtIn(.systemAuditor)
            let scope: Scope =
                try body.project.map { .project(organization: organization, project: try Self.parsedName($0)) }
                ?? (clusterWide ? .cluster : .organization(organization))
            let actor = try await routes.check(input.request, permission: RampartPermission.bindingsCreate, on: scope)
            let id = routes.cluster.newEntityID()
            let outcome = try await routes.propose(input, actor: actor) { state throws(APIError) in
                try Self.require(state.principal(principal) != nil, "principal \(principal)")
                try Self.require(state.role(role) != nil, "role \(role)")
                return .createBinding(id: id, principal: principal, role: role, scope: scope)
            }
            return try routes.json(
                BindingResponse(id: "\(id)", principal: "\(principal)", role: role.description, scope: scope.description, revision: outcome.revision),
                status: .created)
        },
        RouteDeclaration(.deleteBinding, .permission(RampartPermission.bindingsDelete, on: .organization), .write, answer: RevisionResponse.self) {
            routes, input in
            let organization = input.name("org")
            let id = try input.id("binding", "binding")
            let outcome = try await routes.propose(input) { state throws(APIError) in
                try Self.require(state.binding(id)?.principal.organization == organization, "binding \(id)")
                return .deleteBinding(id: id)
            }
            return try routes.json(RevisionResponse(revision: outcome.revision))
        },
    ]

    // MARK: - Decisions, keys and the audit log

    private static let decisionKeyAndAuditRoutes: [RouteDeclaration] = [
        RouteDeclaration(
            .authorize, .permissionInRequest(RampartPermission.decisionsCheck, "on the resource"), .read, body: AuthorizeRequest.self,
            answer: AuthorizeResponse.self, fastPath: true
        ) { routes, input in try await routes.authorizeRoute(input.request) },
        RouteDeclaration(.listKeys, .open, .read, answer: ListResponse<PublicKeyResponse>.self) { routes, input in
            let (keys, revision) = try await routes.readState(input.request) { state in
                let published = state.publishedRootKeys
                return published.map { routes.publicKeyResponse($0, among: published) }
            }
            return try routes.json(ListResponse(items: keys, nextCursor: nil, revision: revision))
        },
        RouteDeclaration(.rotateKeys, .permission(RampartPermission.keysRotate, on: .cluster), .write, answer: PublicKeyResponse.self) {
            routes, input in try await routes.rotateRoute(input)
        },
        RouteDeclaration(.revokeRootKey, .permission(RampartPermission.keysRotate, on: .cluster), .write, answer: PublicKeyResponse.self) {
            routes, input in try await routes.revokeRootKeyRoute(input)
        },
        RouteDeclaration(.biscuitWebKeys, .open, .read, answer: BiscuitWebKeySet.self) { routes, input in
            try await routes.biscuitWebKeysRoute(input.request)
        },
        RouteDeclaration(.issueToken, .authenticated(filteredBy: nil), .read, body: IssueTokenRequest.self, answer: TokenResponse.self) {
            routes, input in try await routes.issueTokenRoute(input)
        },
        RouteDeclaration(
            .revokeTokens,
            .permissionInRequest(
                RampartPermission.tokensRevoke, "on the token's organization, the principal's or the organization named; on the cluster for bare revocation ids"),
            .write, body: RevokeTokensRequest.self, answer: RevokeTokensResponse.self
        ) { routes, input in try await routes.revokeTokensRoute(input) },
        RouteDeclaration(.revocations, .authenticated(filteredBy: nil), .read, answer: RevocationsPage.self) { routes, input in
            try await routes.revocationsRoute(input)
        },
        RouteDeclaration(
            .audit, .permissionInRequest(RampartPermission.auditRead, "on the organization filter, or the cluster"), .read,
            answer: ListResponse<AuditRecordResponse>.self
        ) { routes, input in try await routes.auditRoute(input.request) },
        RouteDeclaration(.watch, .permissionInRequest(RampartPermission.auditRead, "on the organization filter, or the cluster"), .read, answer: nil) {
            routes, input in try await routes.watchRoute(input.request)
        },
    ]

    /// The declaration of a create route (`CreateRoute`): served by the router as declared here,
    /// and by the fast path.
    private static func createDeclaration<Route: CreateRoute>(_ route: Route.Type) -> RouteDeclaration {
        RouteDeclaration(
            Route.endpoint, .permission(Route.permission, on: Route.pathScope), .write, body: Route.Body.self, answer: Route.Answer.self,
            fastPath: true
        ) { routes, input in
            let names = Route.endpoint.parameters.map { input.name($0) }
            let body = try await routes.decode(Route.Body.self, from: input.request)
            let command = try Route.command(names, body)
            let outcome = try await routes.propose(input) { _ throws(APIError) in command }
            return try routes.json(Route.answer(names, body, revision: outcome.revision), status: .created)
        }
    }

    // MARK: - Serving a declaration

    /// Serves `route`: parses the path's names, checks its access, then runs it.
    func serve(_ route: RouteDeclaration, _ request: Request, _ context: APIRequestContext) async throws -> Response {
        var names: [String: Name] = [:]
        for parameter in route.nameParameters { names[parameter] = try Self.parsedName(context.parameters.get(parameter) ?? "") }
        let caller: PrincipalReference?
        switch route.access {
        // A route whose scope is in its body or query checks its permission once it has read it.
        case .open, .clusterProof, .permissionInRequest: caller = nil
        case .authenticated: caller = try await authenticate(request)
        case .permission(let permission, let scope): caller = try await check(request, permission: permission, on: scope.scope(names))
        }
        return try await route.serve(self, RouteInput(request: request, context: context, names: names, caller: caller))
    }

    /// Proposes the command `prepare` decides from one read of the state, as `actor` (the
    /// route's caller unless given): the references it needs must exist (404) and its values
    /// be valid (400), then, in the same read, the actor must hold every permission the command
    /// makes reachable (`PolicyState.missingAccess`; 403, recorded as a denial). Nothing is
    /// proposed unless all hold. (A reference removed between this read and the apply is still
    /// refused by the state machine, and audited as a failure like any domain rejection.)
    func propose(
        _ input: RouteInput, actor given: PrincipalReference? = nil, _ prepare: @escaping @Sendable (PolicyState) throws(APIError) -> Command
    ) async throws -> CommandOutcome {
        let actor = given ?? input.actor
        let decided = try await wrap { () async throws(ClusterError) in
            try await cluster.read(.stale, timeout: limits.requestTimeout) { state -> Result<(Command, (permission: Permission, scope: Scope)?), APIError> in
                do throws(APIError) {
                    let command = try prepare(state)
                    return .success((command, state.missingAccess(of: actor, for: command)))
                } catch {
                    return .failure(error)
                }
            }
        }.value
        let (command, missing) = try decided.get()
        if let missing {
            denials.record(actor, missing.permission, on: missing.scope, .cannotGrant, requestID: input.request.headers[requestIDHeader] ?? "-")
            throw APIError.forbidden("\(actor) cannot grant \(missing.permission) on \(missing.scope): it does not hold it there")
        }
        return try await submit(command, actor: actor, request: input.request, escalationChecked: true)
    }

    /// Refuses, as not found, what `exists` says is missing.
    static func require(_ exists: Bool, _ what: String) throws(APIError) {
        guard exists else { throw .rejected(.notFound(what)) }
    }
}
