import APIModels
import Foundation
public import Hummingbird
import PolicyModel

/// The IAM resources: organizations, projects, principals, API keys, roles, bindings, the
/// authorization check, the public key set and the audit log. Each route names the permission
/// it needs and the scope it is checked on, so an organization's admins can act only inside it.
/// The routes that create organizations, projects and principals are declared in
/// `CreateRoutes.swift`, where the fast path shares them.
extension AdminRoutes {
    /// Adds the resource routes to `router`.
    public func addResourceRoutes(to router: Router<APIRequestContext>) {
        addOrganizationRoutes(to: router)
        addProjectRoutes(to: router)
        addPrincipalRoutes(to: router)
        addRoleRoutes(to: router)
        addBindingRoutes(to: router)
        for route in Self.createRoutes { addCreateRoute(route, to: router) }
        router.post("/v1/authorize") { request, _ in try await authorizeRoute(request) }
        router.get("/v1/keys") { request, _ in
            let (keys, revision) = try await readState(request) { state in
                state.publishedRootKeys.map {
                    PublicKeyResponse(id: "\($0.id)", algorithm: "Ed25519", publicKey: Hex.encode($0.publicKey), state: "\($0.state)")
                }
            }
            return try json(ListResponse(items: keys, nextCursor: nil, revision: revision))
        }
        router.get("/v1/audit") { request, _ in try await auditRoute(request) }
        router.post("/v1/keys/rotate") { request, _ in try await rotateRoute(request) }
    }

    // MARK: - Organizations

    private func addOrganizationRoutes(to router: Router<APIRequestContext>) {
        router.get("/v1/orgs") { request, _ in
            let actor = try await authenticate(request)
            let page = try pageParameters(request)
            let (items, revision) = try await readState(request) { state in
                state.allOrganizations.filter { organization in
                    state.authorize(actor, Self.permission("iam.organizations.get"), on: .organization(organization.name)).allowed
                }.map(Self.organizationResponse)
            }
            return try json(paginate(items, page: page, key: \.name, revision: revision))
        }
        router.get("/v1/orgs/{org}") { request, context in
            let name = try parseName(context.parameters.get("org") ?? "")
            _ = try await authorize(request, "iam.organizations.get", on: .organization(name))
            let (found, revision) = try await readState(request) { $0.organization(name).map(Self.organizationResponse) }
            return try json(try existing(found, "organization \(name)"), revision: revision)
        }
        router.patch("/v1/orgs/{org}") { request, context in
            let name = try parseName(context.parameters.get("org") ?? "")
            let actor = try await authorize(request, "iam.organizations.update", on: .cluster)
            try await requireExisting("organization \(name)") { $0.organization(name) != nil }
            let body = try await decode(UpdateOrganizationRequest.self, from: request)
            let outcome = try await submit(.setOrganizationSuspended(name: name, suspended: body.suspended), actor: actor, request: request)
            return try json(OrganizationResponse(name: name.value, suspended: body.suspended, revision: outcome.revision))
        }
        router.delete("/v1/orgs/{org}") { request, context in
            let name = try parseName(context.parameters.get("org") ?? "")
            let actor = try await authorize(request, "iam.organizations.delete", on: .cluster)
            try await requireExisting("organization \(name)") { $0.organization(name) != nil }
            let outcome = try await submit(.deleteOrganization(name: name, force: try forceParameter(request)), actor: actor, request: request)
            return try json(RevisionResponse(revision: outcome.revision))
        }
    }

    // MARK: - Projects

    private func addProjectRoutes(to router: Router<APIRequestContext>) {
        router.get("/v1/orgs/{org}/projects") { request, context in
            let organization = try parseName(context.parameters.get("org") ?? "")
            _ = try await authorize(request, "iam.projects.list", on: .organization(organization))
            let page = try pageParameters(request)
            let (items, revision) = try await readState(request) { state in
                state.projects(of: organization).map { ProjectResponse(organization: $0.organization.value, name: $0.name.value, revision: $0.revision) }
            }
            return try json(paginate(items, page: page, key: \.name, revision: revision))
        }
        router.get("/v1/orgs/{org}/projects/{project}") { request, context in
            let organization = try parseName(context.parameters.get("org") ?? "")
            let name = try parseName(context.parameters.get("project") ?? "")
            _ = try await authorize(request, "iam.projects.get", on: .project(organization: organization, project: name))
            let (found, revision) = try await readState(request) { state in
                state.project(organization, name).map { ProjectResponse(organization: $0.organization.value, name: $0.name.value, revision: $0.revision) }
            }
            return try json(try existing(found, "project \(organization)/\(name)"), revision: revision)
        }
        router.delete("/v1/orgs/{org}/projects/{project}") { request, context in
            let organization = try parseName(context.parameters.get("org") ?? "")
            let name = try parseName(context.parameters.get("project") ?? "")
            let actor = try await authorize(request, "iam.projects.delete", on: .organization(organization))
            try await requireExisting("project \(organization)/\(name)") { $0.project(organization, name) != nil }
            let outcome = try await submit(
                .deleteProject(organization: organization, name: name, force: try forceParameter(request)), actor: actor, request: request)
            return try json(RevisionResponse(revision: outcome.revision))
        }
    }

    // MARK: - Principals and API keys

    private func addPrincipalRoutes(to router: Router<APIRequestContext>) {
        router.get("/v1/orgs/{org}/principals") { request, context in
            let organization = try parseName(context.parameters.get("org") ?? "")
            _ = try await authorize(request, "iam.principals.list", on: .organization(organization))
            let page = try pageParameters(request)
            let (items, revision) = try await readState(request) { state in state.principals(of: organization).map(Self.principalResponse) }
            return try json(paginate(items, page: page, key: \.name, revision: revision))
        }
        router.get("/v1/orgs/{org}/principals/{principal}") { request, context in
            let reference = try principalParameter(context)
            _ = try await authorize(request, "iam.principals.get", on: .organization(reference.organization))
            let (found, revision) = try await readState(request) { $0.principal(reference).map(Self.principalResponse) }
            return try json(try existing(found, "principal \(reference)"), revision: revision)
        }
        router.delete("/v1/orgs/{org}/principals/{principal}") { request, context in
            let reference = try principalParameter(context)
            let actor = try await authorize(request, "iam.principals.delete", on: .organization(reference.organization))
            try await requireExisting("principal \(reference)") { $0.principal(reference) != nil }
            let outcome = try await submit(.deletePrincipal(reference, force: try forceParameter(request)), actor: actor, request: request)
            return try json(RevisionResponse(revision: outcome.revision))
        }
        router.post("/v1/orgs/{org}/principals/{principal}/keys") { request, context in
            let reference = try principalParameter(context)
            let actor = try await authorize(request, "iam.apikeys.create", on: .organization(reference.organization))
            try await requireExisting("principal \(reference)") { $0.principal(reference) != nil }
            let id = cluster.newEntityID()
            let secret = cluster.newSecret()
            let outcome = try await submit(
                .createAPIKey(id: id, principal: reference, secretHash: Self.secretHash(secret)), actor: actor, request: request)
            if outcome.replayed {
                // The key of the answer is the first request's; this request's secret was never stored.
                let (first, _) = try await readState(request) { state in
                    state.apiKeys(of: reference).first { $0.revision == outcome.revision }.map { "\($0.id)" }
                }
                throw APIError.secretNotRepeatable(keyID: first)
            }
            return try json(
                APIKeyCreatedResponse(id: "\(id)", principal: "\(reference)", token: "\(id).\(Hex.encode(secret))", revision: outcome.revision),
                status: .created)
        }
        router.get("/v1/orgs/{org}/principals/{principal}/keys") { request, context in
            let reference = try principalParameter(context)
            _ = try await authorize(request, "iam.apikeys.list", on: .organization(reference.organization))
            let (items, revision) = try await readState(request) { state in
                state.apiKeys(of: reference).map { APIKeyResponse(id: "\($0.id)", principal: "\($0.principal)", revision: $0.revision) }
            }
            return try json(ListResponse(items: items, nextCursor: nil, revision: revision))
        }
        router.delete("/v1/orgs/{org}/principals/{principal}/keys/{key}") { request, context in
            let reference = try principalParameter(context)
            let actor = try await authorize(request, "iam.apikeys.delete", on: .organization(reference.organization))
            guard let id = try? EntityID(hex: context.parameters.get("key") ?? "") else { throw APIError.badRequest("malformed key id") }
            // The key must belong to the principal of the path: no revoking another tenant's key by id.
            let (owner, _) = try await readState(request) { $0.apiKey(id)?.principal }
            guard owner == reference else { throw APIError.rejected(.notFound("API key \(id)")) }
            let outcome = try await submit(.revokeAPIKey(id: id), actor: actor, request: request)
            return try json(RevisionResponse(revision: outcome.revision))
        }
    }

    // MARK: - Roles

    private func addRoleRoutes(to router: Router<APIRequestContext>) {
        router.get("/v1/roles") { request, _ in
            _ = try await authenticate(request)
            let roles = BuiltInRole.allCases.sorted().map { Self.roleResponse($0.role) }
            return try json(ListResponse(items: roles, nextCursor: nil, revision: cluster.status().appliedIndex))
        }
        router.post("/v1/orgs/{org}/roles") { request, context in
            let organization = try parseName(context.parameters.get("org") ?? "")
            let actor = try await authorize(request, "iam.roles.create", on: .organization(organization))
            let body = try await decode(RoleRequest.self, from: request)
            let name = try parseName(body.name ?? "")
            let permissions = try parsePermissions(body.permissions)
            let outcome = try await submit(.createRole(organization: organization, name: name, permissions: permissions), actor: actor, request: request)
            let role = Role(reference: .custom(organization: organization, name: name), permissions: permissions, revision: outcome.revision)
            return try json(Self.roleResponse(role), status: .created)
        }
        router.get("/v1/orgs/{org}/roles") { request, context in
            let organization = try parseName(context.parameters.get("org") ?? "")
            _ = try await authorize(request, "iam.roles.list", on: .organization(organization))
            let page = try pageParameters(request)
            let (items, revision) = try await readState(request) { state in state.roles(of: organization).map(Self.roleResponse) }
            return try json(paginate(items, page: page, key: \.name, revision: revision))
        }
        router.get("/v1/orgs/{org}/roles/{role}") { request, context in
            let organization = try parseName(context.parameters.get("org") ?? "")
            let name = try parseName(context.parameters.get("role") ?? "")
            _ = try await authorize(request, "iam.roles.get", on: .organization(organization))
            let (found, revision) = try await readState(request) { $0.role(.custom(organization: organization, name: name)).map(Self.roleResponse) }
            return try json(try existing(found, "role \(organization)/\(name)"), revision: revision)
        }
        router.put("/v1/orgs/{org}/roles/{role}") { request, context in
            let organization = try parseName(context.parameters.get("org") ?? "")
            let name = try parseName(context.parameters.get("role") ?? "")
            let actor = try await authorize(request, "iam.roles.update", on: .organization(organization))
            try await requireExisting("role \(organization)/\(name)") { $0.role(.custom(organization: organization, name: name)) != nil }
            let body = try await decode(RoleRequest.self, from: request)
            if let bodyName = body.name, bodyName != name.value { throw APIError.badRequest("the body names role \(bodyName), the path \(name)") }
            let permissions = try parsePermissions(body.permissions)
            let outcome = try await submit(.updateRole(organization: organization, name: name, permissions: permissions), actor: actor, request: request)
            let role = Role(reference: .custom(organization: organization, name: name), permissions: permissions, revision: outcome.revision)
            return try json(Self.roleResponse(role))
        }
        router.delete("/v1/orgs/{org}/roles/{role}") { request, context in
            let organization = try parseName(context.parameters.get("org") ?? "")
            let name = try parseName(context.parameters.get("role") ?? "")
            let actor = try await authorize(request, "iam.roles.delete", on: .organization(organization))
            try await requireExisting("role \(organization)/\(name)") { $0.role(.custom(organization: organization, name: name)) != nil }
            let outcome = try await submit(
                .deleteRole(organization: organization, name: name, force: try forceParameter(request)), actor: actor, request: request)
            return try json(RevisionResponse(revision: outcome.revision))
        }
    }

    // MARK: - Bindings

    private func addBindingRoutes(to router: Router<APIRequestContext>) {
        router.post("/v1/orgs/{org}/bindings") { request, context in
            let organization = try parseName(context.parameters.get("org") ?? "")
            let body = try await decode(CreateBindingRequest.self, from: request)
            let principal = PrincipalReference(organization: organization, name: try parseName(body.principal))
            let scope: Scope = try body.project.map { .project(organization: organization, project: try parseName($0)) } ?? .organization(organization)
            let role: RoleReference =
                try BuiltInRole(rawValue: body.role).map { .builtIn($0) } ?? .custom(organization: organization, name: try parseName(body.role))
            let actor = try await authorize(request, "iam.bindings.create", on: scope)
            try await requireExisting("principal \(principal)") { $0.principal(principal) != nil }
            try await requireExisting("role \(role)") { $0.role(role) != nil }
            let id = cluster.newEntityID()
            let outcome = try await submit(.createBinding(id: id, principal: principal, role: role, scope: scope), actor: actor, request: request)
            return try json(
                BindingResponse(id: "\(id)", principal: "\(principal)", role: role.description, scope: scope.description, revision: outcome.revision),
                status: .created)
        }
        router.get("/v1/orgs/{org}/bindings") { request, context in
            let organization = try parseName(context.parameters.get("org") ?? "")
            _ = try await authorize(request, "iam.bindings.list", on: .organization(organization))
            let page = try pageParameters(request)
            let (items, revision) = try await readState(request) { state in state.bindings(in: organization).map(Self.bindingResponse) }
            return try json(paginate(items, page: page, key: \.id, revision: revision))
        }
        router.delete("/v1/orgs/{org}/bindings/{binding}") { request, context in
            let organization = try parseName(context.parameters.get("org") ?? "")
            let actor = try await authorize(request, "iam.bindings.delete", on: .organization(organization))
            guard let id = try? EntityID(hex: context.parameters.get("binding") ?? "") else { throw APIError.badRequest("malformed binding id") }
            let (bindingOrganization, _) = try await readState(request) { $0.binding(id)?.scope.organization }
            guard bindingOrganization == organization else { throw APIError.rejected(.notFound("binding \(id)")) }
            let outcome = try await submit(.deleteBinding(id: id), actor: actor, request: request)
            return try json(RevisionResponse(revision: outcome.revision))
        }
    }

    // MARK: - Authorization checks and audit

    private func authorizeRoute(_ request: Request) async throws -> Response {
        let body = try await decode(AuthorizeRequest.self, from: request)
        let resource = try requestedResource(body)
        let caller = try await check(request, permission: Self.decisionsCheck, on: resource)
        let question = try authorizationQuestion(body, resource: resource)
        let (decision, revision) = try await readState(request) { Self.decide(question, on: resource, for: caller, in: $0) }
        return try json(AuthorizeResponse(decision, revision: revision))
    }

    /// The decision on `question` as `caller` may see it: a caller that may not read the
    /// principals of the asked-about principal's organization (`iam.principals.get` there)
    /// cannot tell a principal that does not exist, or whose organization is suspended, from
    /// one without a matching binding, so that another tenant's principals cannot be
    /// enumerated through decisions. Both paths (the router and the fast path) answer with it.
    static func decide(
        _ question: (principal: PrincipalReference, permission: Permission), on resource: Scope, for caller: PrincipalReference,
        in state: PolicyState
    ) -> AuthorizationDecision {
        var decision = state.authorize(question.principal, question.permission, on: resource)
        switch decision.denial {
        case .unknownPrincipal?, .principalSuspended?:
            if state.access(caller, principalsGet, on: .organization(question.principal.organization)) != .allowed {
                decision.denial = .noMatchingBinding
            }
        case .unknownResource?, .resourceSuspended?, .noMatchingBinding?, nil:
            break
        }
        return decision
    }

    /// The permission that lets a caller learn whether a principal exists.
    static let principalsGet = permission("iam.principals.get")

    /// The permission that reads audit records.
    static let auditRead = permission("iam.audit.read")

    /// The permission `POST /v1/authorize` needs on the resource it asks about.
    static let decisionsCheck = permission("iam.decisions.check")

    /// The organization or project an authorize request asks about.
    func requestedResource(_ body: AuthorizeRequest) throws -> Scope {
        let organization = try parseName(body.organization)
        return try body.project.map { .project(organization: organization, project: try parseName($0)) } ?? .organization(organization)
    }

    /// The principal and permission an authorize request asks about.
    func authorizationQuestion(_ body: AuthorizeRequest, resource: Scope) throws -> (principal: PrincipalReference, permission: Permission) {
        let parts = body.principal.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw APIError.badRequest("principal must be organization/name") }
        let principal = PrincipalReference(organization: try parseName(String(parts[0])), name: try parseName(String(parts[1])))
        do {
            return (principal, try Permission(body.permission, allowWildcards: false))
        } catch {
            throw APIError.rejected(error)
        }
    }

    /// Starts a root key rotation: a new key is published as pending (verifiers can fetch it
    /// before it signs). The leader's key maintenance activates it after the activation delay,
    /// the previous key then verifies as retiring for the overlap, and is retired after it.
    private func rotateRoute(_ request: Request) async throws -> Response {
        let actor = try await authorize(request, "rampart.keys.rotate", on: .cluster)
        let (pending, _) = try await readState(request) { state in state.allRootKeys.contains { $0.state == .pending } }
        if pending { throw APIError.rejected(.invalidState("a rotation is already pending")) }
        let key = try await wrap { () throws(ClusterError) in try cluster.newRootKey() }
        let outcome = try await submit(
            .addRootKey(id: key.id, publicKey: key.publicKey, sealedPrivateKey: key.sealedPrivateKey), actor: actor, request: request)
        _ = outcome
        return try json(
            PublicKeyResponse(id: "\(key.id)", algorithm: "Ed25519", publicKey: Hex.encode(key.publicKey), state: "pending"), status: .created)
    }

    private func auditRoute(_ request: Request) async throws -> Response {
        let query = request.uri.queryParameters
        let organization = try query["organization"].map { try parseName(String($0)) }
        let caller = try await check(request, permission: Self.auditRead, on: organization.map { .organization($0) } ?? .cluster)
        let page = try pageParameters(request)
        // The audit log's cursor is a sequence number; anything else is the client's mistake.
        if let cursor = page.cursor, UInt64(cursor) == nil {
            throw APIError.badRequest("cursor must be a sequence number from a previous page's next_cursor")
        }
        func milliseconds(_ key: String) throws -> Int64? {
            guard let text = query[Substring(key)] else { return nil }
            guard let value = Int64(String(text)) else { throw APIError.badRequest("\(key) must be milliseconds since the epoch") }
            return value
        }
        var filter = AuditQuery(
            organization: organization?.value, actor: query["actor"].map(String.init), action: query["action"].map(String.init),
            sinceMilliseconds: try milliseconds("since"), untilMilliseconds: try milliseconds("until"),
            requestID: query["request_id"].map(String.init))
        // A tenant's auditors read their organization's records, not those of an earlier
        // organization of the same name (deleted, then the name created again): records are
        // kept by name, so the organization's own history starts at its creation. Cluster-wide
        // auditors may read any organization's history by name.
        if organization != nil {
            filter.currentOrganizationOnly = try await wrap { () throws(ClusterError) in
                try cluster.readNow { $0.access(caller, Self.auditRead, on: .cluster) != .allowed }
            }.value
        }
        let consistency = try consistencyParameter(request)
        try await waitForMinRevision(request)
        let result = try await wrap { () async throws(ClusterError) in
            try await cluster.auditRecords(after: page.cursor, limit: page.limit, filter: filter, consistency: consistency, timeout: deadline(request))
        }
        return try json(ListResponse(items: result.records.map(AuditRecordResponse.init), nextCursor: result.nextCursor, revision: result.revision))
    }

    // MARK: - Helpers

    static func permission(_ text: String) -> Permission {
        try! Permission(text)
    }

    static func organizationResponse(_ organization: Organization) -> OrganizationResponse {
        OrganizationResponse(name: organization.name.value, suspended: organization.suspended, revision: organization.revision)
    }

    static func principalResponse(_ principal: Principal) -> PrincipalResponse {
        PrincipalResponse(
            organization: principal.reference.organization.value, name: principal.reference.name.value,
            kind: principal.kind == .user ? "user" : "service_account", revision: principal.revision)
    }

    static func roleResponse(_ role: Role) -> RoleResponse {
        switch role.reference {
        case .builtIn(let builtIn):
            return RoleResponse(organization: nil, name: builtIn.rawValue, builtIn: true, permissions: role.permissions.map(\.description), revision: 0)
        case .custom(let organization, let name):
            return RoleResponse(
                organization: organization.value, name: name.value, builtIn: false, permissions: role.permissions.map(\.description),
                revision: role.revision)
        }
    }

    static func bindingResponse(_ binding: RoleBinding) -> BindingResponse {
        BindingResponse(
            id: "\(binding.id)", principal: "\(binding.principal)", role: binding.role.description, scope: binding.scope.description,
            revision: binding.revision)
    }

    static func secretHash(_ secret: [UInt8]) -> [UInt8] {
        SecretHasher.hash(secret)
    }

    func principalParameter(_ context: APIRequestContext) throws -> PrincipalReference {
        PrincipalReference(
            organization: try parseName(context.parameters.get("org") ?? ""), name: try parseName(context.parameters.get("principal") ?? ""))
    }

    func parsePermissions(_ texts: [String]) throws -> [Permission] {
        var permissions: [Permission] = []
        for text in texts {
            do {
                permissions.append(try Permission(text))
            } catch {
                throw APIError.rejected(error)
            }
        }
        return permissions
    }

    func existing<Value>(_ value: Value?, _ what: String) throws -> Value {
        guard let value else { throw APIError.rejected(.notFound(what)) }
        return value
    }

    func forceParameter(_ request: Request) throws -> Bool {
        switch request.uri.queryParameters["force"].map(String.init) {
        case nil, "false": return false
        case "true": return true
        case let other?: throw APIError.badRequest("force must be true or false, not \(other)")
        }
    }
}
