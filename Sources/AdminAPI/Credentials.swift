import APIModels
import Biscuit
import Hummingbird
import HTTPTypes
import PolicyModel
import RampartAuthorizer
import Synchronization

/// What a request presents in `Authorization: Bearer …`: an API key (`<key id>.<secret>`, with
/// a dot) or a Biscuit token Rampart issued (URL-safe base64, which has none).
enum Credential: Sendable {
    /// An API key: its id and the SHA-256 of its secret.
    case apiKey(BearerKey)
    /// A token's text and its cache key.
    case token(text: String, key: TokenCache<AcceptedToken>.Key)

    /// The credential of an `Authorization` header; nil when it is neither form.
    static func parse(_ header: String) -> Credential? {
        guard header.hasPrefix("Bearer ") else { return nil }
        let value = header.dropFirst("Bearer ".count)
        if value.contains(".") { return AdminRoutes.bearerKey(header).map(Credential.apiKey) }
        guard !value.isEmpty, value.utf8.count <= VerifiedToken.maxTextBytes else { return nil }
        let text = String(value)
        return .token(text: text, key: TokenCache<AcceptedToken>.key(text))
    }
}

/// A credential ready for the state: an API key, a token whose signatures are verified, or a
/// client certificate TLS verified (`ClientCertificateHandler`).
enum ResolvedCredential: Sendable {
    case apiKey(BearerKey)
    case token(AcceptedToken)
    case certificate(CertificateCredential)
}

/// A verified Rampart token as a replica decides with it: the token and its holder, parsed
/// once (cached in `AdminRoutes.tokens`).
struct AcceptedToken: Sendable {
    /// The token and what was read from it.
    let verified: VerifiedToken
    /// Its principal.
    let principal: PrincipalReference
    /// The API key it was first issued for: deleting that key revokes the token.
    let apiKey: EntityID
    /// The bytes of the root key that verified it (a key of the same Biscuit id, published
    /// later, does not verify it).
    let rootPublicKey: [UInt8]

    /// Its key in the cache, to evict it once it no longer stands.
    let cacheKey: TokenKey

    init(_ verified: VerifiedToken, cacheKey: TokenKey) throws(TokenRefusal) {
        self.cacheKey = cacheKey
        let parts = verified.holder.principal.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let organization = try? Name(String(parts[0])), let name = try? Name(String(parts[1])),
            organization.value == verified.holder.organization
        else { throw .notIssuedByRampart("its principal is not organization/name of its organization") }
        guard let apiKey = try? EntityID(hex: verified.holder.apiKey) else { throw .notIssuedByRampart("its api_key is not a key id") }
        self.verified = verified
        principal = PrincipalReference(organization: organization, name: name)
        self.apiKey = apiKey
        rootPublicKey = verified.rootKey.bytes
    }

    /// Whether the token stands in `state`: its root key still published, none of its
    /// revocation ids revoked, not issued before its principal's or organization's tokens were
    /// revoked, and the API key it was issued for not deleted.
    /// - Returns: nil when it does, or why not.
    func refusal(in state: PolicyState) -> TokenRefusal? {
        guard let key = state.publishedRootKey(biscuitKeyID: verified.rootKeyID), key.publicKey == rootPublicKey else {
            return .unknownRootKey(verified.rootKeyID)
        }
        if let reason = state.tokenRevocation(
            ids: verified.revocationIDs, principal: principal, issuedAt: Timestamp(millisecondsSinceEpoch: Int64(verified.holder.issuedAt) * 1000))
        {
            return .revoked(reason)
        }
        guard let stored = state.apiKey(apiKey), stored.principal == principal else {
            return .revoked("the API key it was issued for (\(apiKey)) was deleted")
        }
        return nil
    }
}

/// The published root keys as `PublicKey`s, made once per key: making one checks that its bytes
/// are a point of the curve, which took a fifth of the CPU of verifying a new token.
final class RootKeyCache: Sendable {
    private let keys = Mutex<[[UInt8]: PublicKey]>([:])
    /// The most keys kept (a cluster publishes two or three at a time).
    static let capacity = 16

    /// The key with these bytes; nil when they are not an Ed25519 key.
    func key(_ bytes: [UInt8]) -> PublicKey? {
        if let known = keys.withLock({ $0[bytes] }) { return known }
        guard let key = try? PublicKey(algorithm: .ed25519, bytes: bytes) else { return nil }
        keys.withLock { keys in
            if keys.count >= Self.capacity { keys.removeAll() }
            keys[bytes] = key
        }
        return key
    }
}

extension AdminRoutes {
    /// The request's credential, with a token's signatures verified (or found verified in the
    /// cache). Verifying reads the published keys, then checks the signatures outside the
    /// state's lock.
    /// - Throws: `APIError.unauthenticated` for a missing or malformed header,
    ///   `APIError.token` for a token that does not verify.
    func resolvedCredential(_ request: Request) throws(APIError) -> ResolvedCredential {
        guard let header = request.headers[.authorization] else {
            // Without a bearer credential, a client certificate naming a principal, where the
            // replica accepts them (its field is set by `ClientCertificateHandler` alone).
            if limits.clientCertificates {
                if let field = request.headers[Self.clientCertificateField] { return .certificate(try CertificateCredential(field: field)) }
                throw .unauthenticated("missing `Authorization: Bearer <api key or token>`, or a client certificate naming a principal")
            }
            throw .unauthenticated("missing `Authorization: Bearer <api key or token>`")
        }
        guard header.hasPrefix("Bearer ") else { throw .unauthenticated("missing `Authorization: Bearer <api key or token>`") }
        guard let credential = Credential.parse(header) else { throw .unauthenticated("malformed API key or token") }
        return try resolve(credential)
    }

    /// The request field `ClientCertificateHandler` sets.
    static let clientCertificateField = HTTPField.Name(ClientCertificateHandler.fieldName)!

    /// `credential`, with a token's signatures verified (or found verified in the cache).
    func resolve(_ credential: Credential) throws(APIError) -> ResolvedCredential {
        switch credential {
        case .apiKey(let key): return .apiKey(key)
        case .token(let text, let key): return .token(try acceptedToken(text, key: key))
        }
    }

    /// The token `text`, from the cache or verified against the published keys and cached.
    func acceptedToken(_ text: String, key: TokenCache<AcceptedToken>.Key) throws(APIError) -> AcceptedToken {
        if let cached = tokens.value(key) { return cached }
        let published: [UInt32: [UInt8]]
        do {
            published = try cluster.readNow { state in
                Dictionary(state.publishedRootKeys.map { ($0.biscuitKeyID, $0.publicKey) }, uniquingKeysWith: { first, _ in first })
            }.value
        } catch {
            throw .cluster(error)
        }
        do throws(TokenRefusal) {
            let verified = try VerifiedToken(text: text) { id in published[id].flatMap(rootKeys.key) }
            let accepted = try AcceptedToken(verified, cacheKey: key)
            tokens.insert(accepted, for: key)
            return accepted
        } catch {
            throw .token(error)
        }
    }

    /// Drops a token from the cache once it can never stand again: its key left the set, or a
    /// revocation covers it (later uses are refused by the state anyway; this frees the entry).
    func evictIfGone(_ error: APIError, _ credential: ResolvedCredential) {
        guard case .token(let token) = credential else { return }
        switch error {
        case .token(.revoked), .token(.unknownRootKey), .token(.expired): tokens.remove(token.cacheKey)
        default: break
        }
    }

    /// Runs a token's checks for a request to this API (`TokenRequest`): the permission the
    /// route checks on `scope`, read or write as the route is.
    /// - Throws: `APIError.token(.expired)`, or `.token(.checksFailed)` (403).
    func checkToken(_ token: AcceptedToken, permission: Permission?, on scope: PolicyModel.Scope, operation: TokenRequest.Operation) throws(APIError) {
        if let refusal = token.verified.refusal(for: Self.tokenRequest(permission?.description, on: scope, operation: operation, now: cluster.now())) {
            throw .token(refusal)
        }
    }

    /// The facts a token's checks see for a request.
    static func tokenRequest(_ permission: String?, on scope: PolicyModel.Scope, operation: TokenRequest.Operation, now: Timestamp) -> TokenRequest {
        let time = UInt64(max(0, now.millisecondsSinceEpoch / 1000))
        switch scope {
        case .cluster: return TokenRequest(time: time, permission: permission, operation: operation)
        case .organization(let organization):
            return TokenRequest(time: time, organization: organization.value, permission: permission, operation: operation)
        case .project(let organization, let project):
            return TokenRequest(time: time, organization: organization.value, project: project.value, permission: permission, operation: operation)
        }
    }

    /// Whether a request reads or writes, for a token's `operation` fact: `GET` and `HEAD`
    /// read, and so do the `POST`s that change nothing (`POST /v1/authorize`, `POST /v1/tokens`:
    /// the routes declared `.read`); every other request writes.
    static func operation(_ request: Request) -> TokenRequest.Operation {
        switch request.method {
        case .get, .head: return .read
        case .post where readingPosts.contains(request.uri.path): return .read
        default: return .write
        }
    }

    /// The paths of the `POST` routes declared `.read`.
    static let readingPosts: Set<String> = Set(
        declarations.filter { $0.endpoint.method == "POST" && $0.effect == .read && $0.endpoint.parameters.isEmpty }.map(\.endpoint.template))
}
