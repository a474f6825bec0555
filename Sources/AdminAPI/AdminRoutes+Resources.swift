import APIModels
import Foundation
public import Hummingbird
import PolicyModel
import RampartAuthorizer

/// What the resource routes (`AdminRoutes+Declarations`) share: the authorization check, key
/// rotation, the audit log's reads, and the answers' shapes.
extension AdminRoutes {
    // MARK: - Authorization checks and audit

    func authorizeRoute(_ request: Request) async throws -> Response {
        let body = try await decode(AuthorizeRequest.self, from: request)
        let resource = try requestedResource(body)
        let caller = try await check(request, permission: Self.decisionsCheck, on: resource)
        let question = try authorizationQuestion(body, resource: resource)
        guard let text = question.token else {
            let principal = question.principal!
            let (decision, revision) = try await readState(request) { Self.decide((principal, question.permission), on: resource, for: caller, in: $0) }
            return try json(AuthorizeResponse(decision, revision: revision))
        }
        let token = try acceptedToken(text, key: TokenCache<AcceptedToken>.key(text))
        let checks: TokenRefusal?
        do {
            checks = try tokenChecks(token, question.permission, on: resource)
        } catch {
            evictIfGone(error, .token(token))
            throw error
        }
        let (decision, revision) = try await readState(request) { state in
            Self.decide(token: token, checks: checks, named: question.principal, question.permission, on: resource, for: caller, in: state)
        }
        if case .failure(let error) = decision { evictIfGone(error, .token(token)) }
        return try json(AuthorizeResponse(try decision.get(), revision: revision))
    }

    /// Runs a token's checks for a decision on `permission` at `resource` (`TokenRequest`,
    /// with the operation the permission's verb implies).
    /// - Returns: nil when they hold, or the failure (a denial, not an error).
    /// - Throws: `APIError.token(.expired)`.
    func tokenChecks(_ token: AcceptedToken, _ permission: Permission, on resource: Scope) throws(APIError) -> TokenRefusal? {
        let text = permission.description
        let refusal = token.verified.refusal(
            for: Self.tokenRequest(text, on: resource, operation: TokenRequest.operation(of: text), now: cluster.now()))
        if case .expired? = refusal { throw .token(refusal!) }
        return refusal
    }

    /// The decision for a token's holder: refused (401) when the token no longer stands
    /// (`AcceptedToken.refusal(in:)`); a bad request when it was issued to another principal
    /// than the one named; denied when its checks refuse the request; otherwise the policy's
    /// decision for its principal, now (`decide`).
    static func decide(
        token: AcceptedToken, checks: TokenRefusal?, named: PrincipalReference?, _ permission: Permission, on resource: Scope,
        for caller: PrincipalReference, in state: PolicyState
    ) -> Result<AuthorizationDecision, APIError> {
        if let refusal = token.refusal(in: state) { return .failure(.token(refusal)) }
        if let named, named != token.principal {
            return .failure(.badRequest("the token was issued to \(token.principal), not \(named)"))
        }
        if checks != nil { return .success(.deny(.tokenChecksFailed)) }
        return .success(decide((token.principal, permission), on: resource, for: caller, in: state))
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
        case .unknownResource?, .resourceSuspended?, .noMatchingBinding?, .tokenChecksFailed?, nil:
            break
        }
        return decision
    }

    /// The permission that lets a caller learn whether a principal exists.
    static let principalsGet = RampartPermission.principalsGet

    /// The permission that reads audit records.
    static let auditRead = RampartPermission.auditRead

    /// The permission `POST /v1/authorize` needs on the resource it asks about.
    static let decisionsCheck = RampartPermission.decisionsCheck

    /// The organization or project an authorize request asks about.
    func requestedResource(_ body: AuthorizeRequest) throws -> Scope {
        let organization = try parseName(body.organization)
        return try body.project.map { .project(organization: organization, project: try parseName($0)) } ?? .organization(organization)
    }

    /// A principal named `organization/name` in a request.
    func parsePrincipal(_ text: String) throws(APIError) -> PrincipalReference {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw .badRequest("principal must be organization/name") }
        return PrincipalReference(organization: try parseName(String(parts[0])), name: try parseName(String(parts[1])))
    }

    /// The principal or token, and the permission, an authorize request asks about: a
    /// principal, a token, or both (then the token must be the principal's).
    func authorizationQuestion(_ body: AuthorizeRequest, resource: Scope) throws
        -> (principal: PrincipalReference?, token: String?, permission: Permission)
    {
        var principal: PrincipalReference?
        if let text = body.principal { principal = try parsePrincipal(text) }
        guard principal != nil || body.token != nil else { throw APIError.badRequest("give principal, token, or both") }
        if let token = body.token, token.isEmpty || token.utf8.count > VerifiedToken.maxTextBytes {
            throw APIError.badRequest("token must be 1 to \(VerifiedToken.maxTextBytes) characters")
        }
        do {
            return (principal, body.token, try Permission(body.permission, allowWildcards: false))
        } catch {
            throw APIError.rejected(error)
        }
    }

    /// Starts a root key rotation: a new key is published as pending (verifiers can fetch it
    /// before it signs). The leader's key maintenance activates it after the activation delay,
    /// the previous key then verifies as retiring for the overlap, and is retired after it.
    func rotateRoute(_ input: RouteInput) async throws -> Response {
        // A key whose Biscuit key id a published key has would be refused: draw another.
        var drawn = try await wrap { () throws(ClusterError) in try cluster.newRootKey() }
        for _ in 0..<Self.rootKeyDraws {
            let candidate = RootKey.biscuitKeyID(of: drawn.id)
            let taken = try await wrap { () throws(ClusterError) in
                try cluster.readNow { state in state.publishedRootKeys.contains { $0.biscuitKeyID == candidate } }
            }.value
            guard taken else { break }
            drawn = try await wrap { () throws(ClusterError) in try cluster.newRootKey() }
        }
        let key = drawn
        _ = try await propose(input) { state throws(APIError) in
            if state.allRootKeys.contains(where: { $0.state == .pending }) { throw .rejected(.invalidState("a rotation is already pending")) }
            return .addRootKey(id: key.id, publicKey: key.publicKey, sealedPrivateKey: key.sealedPrivateKey)
        }
        return try json(
            PublicKeyResponse(
                id: "\(key.id)", rootKeyID: RootKey.biscuitKeyID(of: key.id), algorithm: "Ed25519", publicKey: Hex.encode(key.publicKey),
                state: "pending", retiresAt: retirement(of: RootKey(id: key.id, state: .pending, publicKey: key.publicKey, sealedPrivateKey: [], createdAt: cluster.now(), revision: 0), among: [])),
            status: .created)
    }

    /// How many keys a rotation draws at most to find a Biscuit key id no published key has
    /// (ids are 32 random bits: a second draw is already rare).
    static let rootKeyDraws = 4

    /// The issuer named in the Biscuit Web Key set.
    static let biscuitIssuer = "rampart"

    /// `Cache-Control` of the key set: verifiers may keep it a minute (a new key is published,
    /// pending, for the activation delay before it signs, a minute by default).
    static let keySetCacheControl = "public, max-age=60"

    /// The Biscuit Web Key set: every published key (pending, active, retiring), from this
    /// replica's state now, with an `ETag` that changes exactly when the set does (the latest
    /// revision of any root key: every change of a key sets it) and `304 Not Modified` for a
    /// client that has it.
    func biscuitWebKeysRoute(_ request: Request) async throws -> Response {
        let (set, tag) = try await wrap { () throws(ClusterError) in
            try cluster.readNow { state -> (BiscuitWebKeySet, String) in
                let published = state.publishedRootKeys
                let keys = published.sorted { $0.biscuitKeyID < $1.biscuitKeyID }.map { key in
                    BiscuitWebKey(
                        algorithm: "ed25519", keyBytes: Hex.encode(key.publicKey), keyID: key.biscuitKeyID, issuer: Self.biscuitIssuer,
                        expiresAt: retirement(of: key, among: published))
                }
                return (BiscuitWebKeySet(keys: keys), "\"keys-\(state.allRootKeys.map(\.revision).max() ?? 0)\"")
            }
        }.value
        let headers: HTTPFields = [.eTag: tag, .cacheControl: Self.keySetCacheControl]
        if let given = request.headers[.ifNoneMatch],
            given.split(separator: ",").contains(where: { let value = $0.trimmingCharacters(in: .whitespaces); return value == tag || value == "*" })
        {
            return Response(status: .notModified, headers: headers)
        }
        var response = try json(set)
        for field in headers { response.headers.append(field) }
        return response
    }

    func auditRoute(_ request: Request) async throws -> Response {
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

    /// A root key as the API shows it, with its planned retirement among `keys`.
    func publicKeyResponse(_ key: RootKey, among keys: [RootKey]) -> PublicKeyResponse {
        PublicKeyResponse(
            id: "\(key.id)", rootKeyID: key.biscuitKeyID, algorithm: "Ed25519", publicKey: Hex.encode(key.publicKey), state: "\(key.state)",
            retiresAt: retirement(of: key, among: keys))
    }

    /// When `key` is planned to leave the key set (`RootKeySchedule.plannedRetirement`), RFC 3339.
    func retirement(of key: RootKey, among keys: [RootKey]) -> String? {
        limits.keySchedule.plannedRetirement(of: key, among: keys).map { Self.rfc3339(UInt64(max(0, $0.millisecondsSinceEpoch / 1000))) }
    }

    /// Revokes a root key at once (`Command.revokeRootKey`): it leaves the key set, and every
    /// token it signed is refused by every replica that has applied it.
    func revokeRootKeyRoute(_ input: RouteInput) async throws -> Response {
        let id: EntityID
        do {
            id = try EntityID(hex: input.context.parameters.get("key") ?? "")
        } catch {
            throw APIError.rejected(error)
        }
        let outcome = try await propose(input) { state throws(APIError) in
            try Self.require(state.allRootKeys.contains { $0.id == id }, "root key \(id)")
            return .revokeRootKey(id: id)
        }
        let (keys, revision) = try await readState(input.request) { state in state.allRootKeys }
        guard let key = keys.first(where: { $0.id == id }) else { throw APIError.rejected(.notFound("root key \(id)")) }
        return try json(publicKeyResponse(key, among: keys), revision: max(revision, outcome.revision))
    }

    static func projectResponse(_ project: Project) -> ProjectResponse {
        ProjectResponse(organization: project.organization.value, name: project.name.value, revision: project.revision)
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

    static func parsePermissions(_ texts: [String]) throws(APIError) -> [Permission] {
        var permissions: [Permission] = []
        for text in texts {
            do {
                permissions.append(try Permission(text))
            } catch {
                throw .rejected(error)
            }
        }
        return permissions
    }

    func existing<Value>(_ value: Value?, _ what: String) throws -> Value {
        guard let value else { throw APIError.rejected(.notFound(what)) }
        return value
    }

    static func forceParameter(_ request: Request) throws(APIError) -> Bool {
        switch request.uri.queryParameters["force"].map(String.init) {
        case nil, "false": return false
        case "true": return true
        case let other?: throw .badRequest("force must be true or false, not \(other)")
        }
    }
}
