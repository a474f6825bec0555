import APIModels
import Crypto
import Foundation
import Hummingbird
import PolicyModel
import RampartAuthorizer

/// Query parameters, reads at a consistency, pagination and credentials, shared by the routes.
extension AdminRoutes {
    /// One page request: `cursor` (the last key of the previous page) and `limit`.
    struct PageRequest {
        var cursor: String?
        var limit: Int
    }

    /// The default and largest page sizes.
    static let defaultPageSize = 100
    static let maxPageSize = 1000

    func pageParameters(_ request: Request) throws -> PageRequest {
        let query = request.uri.queryParameters
        var limit = Self.defaultPageSize
        if let text = query["limit"] {
            guard let value = Int(String(text)), (1...Self.maxPageSize).contains(value) else {
                throw APIError.badRequest("limit must be 1...\(Self.maxPageSize)")
            }
            limit = value
        }
        let cursor = query["cursor"].map(String.init)
        if let cursor, cursor.utf8.count > 256 { throw APIError.badRequest("cursor is too long") }
        return PageRequest(cursor: cursor, limit: limit)
    }

    /// The page of `items` (sorted by `key`) after the cursor.
    func paginate<Item: Codable & Sendable>(_ items: [Item], page: PageRequest, key: KeyPath<Item, String>, revision: UInt64) -> ListResponse<Item> {
        let sorted = items.sorted { $0[keyPath: key] < $1[keyPath: key] }
        let rest = page.cursor.map { cursor in sorted.filter { $0[keyPath: key] > cursor } } ?? sorted
        let slice = Array(rest.prefix(page.limit))
        let next = rest.count > page.limit ? slice.last?[keyPath: key] : nil
        return ListResponse(items: slice, nextCursor: next, revision: revision)
    }

    func consistencyParameter(_ request: Request) throws -> ReadConsistency {
        guard let text = request.uri.queryParameters["consistency"] else { return .linearizable }
        guard let consistency = ReadConsistency(rawValue: String(text)) else {
            throw APIError.badRequest("consistency must be linearizable, leader or stale")
        }
        return consistency
    }

    func minRevisionParameter(_ request: Request) throws -> UInt64? {
        guard let text = request.uri.queryParameters["min_revision"] else { return nil }
        guard let value = UInt64(String(text)) else { throw APIError.badRequest("min_revision must be a revision number") }
        return value
    }

    /// Waits until this replica has applied the request's `min_revision`, if it names one (at
    /// once when it has: a request that waited in `check` does not wait again).
    func waitForMinRevision(_ request: Request) async throws {
        guard let minimum = try minRevisionParameter(request) else { return }
        try await wrap { () async throws(ClusterError) in try await cluster.waitForRevision(minimum, timeout: deadline(request)) }
    }

    /// Runs `body` on the state after waiting for `min_revision` and the requested consistency.
    func readState<Value: Sendable>(_ request: Request, _ body: @escaping @Sendable (PolicyState) -> Value) async throws
        -> (Value, UInt64)
    {
        let consistency = try consistencyParameter(request)
        try await waitForMinRevision(request)
        let result = try await wrap { () async throws(ClusterError) in
            try await cluster.read(consistency, timeout: deadline(request), body)
        }
        return (result.value, result.revision)
    }

    /// Authenticates the bearer key: the key id names the key, and the secret's SHA-256 is
    /// compared with the stored hash in constant time.
    /// - Returns: the principal the key belongs to.
    func authenticate(_ request: Request) async throws -> PrincipalReference {
        try await check(request, permission: nil, on: .cluster)
    }

    /// Authenticates, then checks `permission` on `scope` with Rampart's own authorizer.
    ///
    /// The order is the outside review's: authentication first, against the state this replica
    /// has applied now, so a request with a made-up key is refused at once and never holds a
    /// waiter or memory; then the wait for the request's `min_revision`, if it has one; then
    /// the permission check at that revision (the resource may be what it created). A key
    /// created at a revision this replica has not applied yet is refused like an unknown one:
    /// the client retries, or asks a replica that has applied it.
    ///
    /// Without a `min_revision` both checks are made in one read of the state as it is now.
    func check(_ request: Request, permission: Permission?, on scope: Scope) async throws -> PrincipalReference {
        let credential = try resolvedCredential(request)
        do {
            return try await check(request, credential, permission: permission, on: scope)
        } catch let error as APIError {
            evictIfGone(error, credential)
            throw error
        }
    }

    private func check(_ request: Request, _ credential: ResolvedCredential, permission: Permission?, on scope: Scope) async throws
        -> PrincipalReference
    {
        if case .token(let token) = credential {
            // The token's own checks (its attenuation) see the request; they need no state.
            try checkToken(token, permission: permission, on: scope, operation: Self.operation(request))
        }
        var principal: Result<PrincipalReference, APIError>
        let caller: PrincipalReference
        if request.uri.queryParameters["min_revision"] == nil {
            let both = try await wrap { () throws(ClusterError) in
                try cluster.readNow { state in
                    (Self.verify(credential, nil, on: scope, in: state), Self.verify(credential, permission, on: scope, in: state))
                }
            }.value
            caller = try both.0.get()
            principal = both.1
        } else {
            let known = try await wrap { () throws(ClusterError) in try cluster.readNow { state in Self.verify(credential, nil, on: scope, in: state) } }.value
            caller = try known.get()
            try await waitForMinRevision(request)
            principal = try await wrap { () async throws(ClusterError) in
                try await cluster.read(.stale, timeout: deadline(request)) { state in Self.verify(credential, permission, on: scope, in: state) }
            }.value
        }
        if Self.isWrite(request), case .failure(let refusal) = principal, Self.mayBeStale(refusal) {
            // A write refused by this replica's state as it is now: a follower may not have
            // applied what the caller wrote a moment ago through another replica (the
            // organization it writes into, the binding that gives it the right). Refused only
            // if the state at the leader's commit index refuses it too (one ReadIndex round, on
            // refusals of known callers only).
            principal = try await wrap { () async throws(ClusterError) in
                try await cluster.read(.linearizable, timeout: deadline(request)) { state in Self.verify(credential, permission, on: scope, in: state) }
            }.value
        }
        if case .failure(.forbidden) = principal, let permission {
            denials.record(caller, permission, on: scope, .lacksPermission, requestID: request.headers[requestIDHeader] ?? "-")
        }
        return try principal.get()
    }

    /// Whether `request` asks for a change (anything but GET and HEAD).
    static func isWrite(_ request: Request) -> Bool {
        request.method != .get && request.method != .head
    }

    /// Whether a known caller's refusal may come from a state that has not caught up: a
    /// missing resource, or a permission not (yet) held.
    static func mayBeStale(_ refusal: APIError) -> Bool {
        switch refusal {
        case .forbidden, .rejected(.notFound): return true
        default: return false
        }
    }

    /// The one check of a credential against the state: an API key must exist with the
    /// presented secret's hash (compared in constant time); a token must still stand
    /// (`AcceptedToken.refusal(in:)`) and its principal exist. Then the principal must hold
    /// `permission` on `scope` (`decide`), when one is asked for.
    /// - Returns: the credential's principal, or the error to answer with.
    static func verify(_ credential: ResolvedCredential, _ permission: Permission?, on scope: Scope, in state: PolicyState)
        -> Result<PrincipalReference, APIError>
    {
        let principal: PrincipalReference
        switch credential {
        case .apiKey(let key):
            guard let stored = state.apiKey(key.id), constantTimeEqual(stored.secretHash, key.secretHash) else {
                return .failure(.unauthenticated("unknown or revoked API key"))
            }
            principal = stored.principal
        case .token(let token):
            if let refusal = token.refusal(in: state) { return .failure(.token(refusal)) }
            guard state.principal(token.principal) != nil else {
                return .failure(.token(.holderGone("principal \(token.principal) no longer exists")))
            }
            principal = token.principal
        case .certificate(let certificate):
            guard state.principal(certificate.principal) != nil else {
                return .failure(.unauthenticated("the client certificate names principal \(certificate.principal), which does not exist"))
            }
            if let revoked = state.revocation(ofID: certificate.fingerprint) {
                return .failure(.unauthenticated("the client certificate was revoked: \(revoked)"))
            }
            principal = certificate.principal
        }
        guard let permission else { return .success(principal) }
        return decide(state, principal, permission, on: scope)
    }

    /// The key id and the SHA-256 of the secret of an `Authorization: Bearer <id>.<hex secret>`
    /// header; nil when the header is not one.
    static func bearerKey(_ header: String) -> BearerKey? {
        guard header.hasPrefix("Bearer ") else { return nil }
        let parts = header.dropFirst("Bearer ".count).split(separator: ".", maxSplits: 1)
        guard parts.count == 2, let keyID = try? EntityID(hex: String(parts[0])), let secret = Hex.decode(String(parts[1])) else {
            return nil
        }
        return (keyID, SecretHasher.hash(secret))
    }

    /// The route-level decision (`PolicyState.access`): a missing resource is "not found" only
    /// for a caller that could act where it would be, so a tenant cannot probe for another
    /// tenant's names.
    static func decide(_ state: PolicyState, _ principal: PrincipalReference, _ permission: Permission, on scope: Scope)
        -> Result<PrincipalReference, APIError>
    {
        switch state.access(principal, permission, on: scope) {
        case .allowed: return .success(principal)
        case .notFound: return .failure(.rejected(.notFound("\(scope)")))
        case .forbidden: return .failure(.forbidden("\(principal) lacks \(permission) on \(scope)"))
        }
    }

    /// How long this request may wait for the cluster: the client's `X-Timeout-Ms` (checked by
    /// `RequestLogMiddleware`), at most `limits.requestTimeout`. A write forwarded to the leader
    /// carries what remains of it.
    func deadline(_ request: Request) -> Duration {
        guard let text = request.headers[.init(RequestLog.timeoutHeader)!], let milliseconds = Int(text) else {
            return limits.requestTimeout
        }
        return min(.milliseconds(milliseconds), limits.requestTimeout)
    }

    /// A JSON response that also says, in `X-Rampart-Revision`, the revision it reflects.
    func json(_ value: some Encodable, revision: UInt64) throws -> Response {
        var response = try json(value)
        response.headers[.init("X-Rampart-Revision")!] = String(revision)
        return response
    }
}

/// A presented API key: the key id, and the SHA-256 of the secret (`AdminRoutes.bearerKey`).
typealias BearerKey = (id: EntityID, secretHash: [UInt8])

/// How API key secrets are stored: SHA-256 (the secret is 32 random bytes, so a slow hash adds
/// nothing against guessing).
enum SecretHasher {
    static func hash(_ secret: [UInt8]) -> [UInt8] {
        Array(SHA256.hash(data: secret))
    }
}
