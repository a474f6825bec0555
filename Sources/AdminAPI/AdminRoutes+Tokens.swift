import APIModels
import Biscuit
import Foundation
import Hummingbird
import PolicyModel
import RampartAuthorizer

/// Issuing Biscuit tokens (`POST /v1/tokens`, authenticated by an API key or by a token that
/// has no attenuation block): any replica answers from the state it has
/// applied, without a write, with a token signed by the active root key whose authority block
/// says who the caller is and what it holds.
///
/// The authority block's facts (strings unless said otherwise):
/// - `principal("acme/deployer")`, `principal_kind("service_account")` (or `"user"`),
///   `organization("acme")`, `api_key("<key id>")` (the credential it was issued for);
/// - `binding("<binding id>", "<role>", "<scope>")` for each of its role bindings, and
///   `right("<scope>", "<permission>")` for each permission they grant, where a scope is
///   `cluster`, `orgs/<org>` or `orgs/<org>/projects/<project>` and a permission may hold
///   wildcards as the role states it (`compute.instances.*`);
/// - `issued_at(<date>)`, and the check `check if time($time), $time < <expiry>`.
///
/// A service verifying such a token supplies `time(<now>)` and its own checks, such as
/// `check if right("orgs/acme/projects/web", "compute.instances.create")`.
extension AdminRoutes {
    /// The most attenuation blocks a request may append.
    static let maxAttenuationBlocks = 8

    /// What a token states about its holder, read from the state in one go.
    struct TokenGrant: Sendable {
        var principal: PrincipalReference
        var kind: PrincipalKind
        var keyID: EntityID
        var bindings: [(id: EntityID, role: String, scope: String)]
        var rights: [(scope: String, permission: String)]
        var rootKey: RootKey
    }

    func issueTokenRoute(_ input: RouteInput) async throws -> Response {
        let request = try await optionalBody(IssueTokenRequest.self, from: input.request) ?? IssueTokenRequest()
        let maxTTL = Self.seconds(limits.tokenMaxTTL)
        let ttl = request.ttlSeconds ?? maxTTL
        guard ttl >= 1 else { throw APIError.badRequest("ttl_seconds must be at least 1") }
        let lifetime = min(ttl, maxTTL)
        let attenuation = request.attenuation ?? []
        guard attenuation.count <= Self.maxAttenuationBlocks else {
            throw APIError.badRequest("at most \(Self.maxAttenuationBlocks) attenuation blocks")
        }
        var blocks: [Block] = []
        for (number, code) in attenuation.enumerated() {
            do {
                blocks.append(try Block(code: code))
            } catch {
                throw APIError.badRequest("attenuation block \(number + 1): \(error)")
            }
        }
        let credential = try resolvedCredential(input.request)
        // A token issues tokens that live no longer than itself; an attenuated one issues none,
        // since a new token would not carry its restrictions.
        var ceiling = UInt64.max
        if case .token(let token) = credential {
            guard token.verified.token.blocks.count == 1 else {
                throw APIError.forbidden("an attenuated token cannot issue tokens: attenuate it offline instead")
            }
            try checkToken(token, permission: nil, on: PolicyModel.Scope.cluster, operation: TokenRequest.Operation.read)
            ceiling = token.verified.expiresAt ?? .max
        }
        let read = try await wrap { () throws(ClusterError) in try cluster.readNow { state in Self.tokenGrant(credential, in: state) } }
        let grant = try read.value.get()
        let opened = try await wrap { () throws(ClusterError) in try cluster.openRootKey(grant.rootKey) }
        let signer: PrivateKey
        do {
            signer = try PrivateKey(algorithm: .ed25519, bytes: opened)
        } catch {
            throw APIError.cluster(.internalFailure("the active root key is not an Ed25519 private key"))
        }
        let issued = UInt64(max(0, cluster.now().millisecondsSinceEpoch / 1000))
        let expires = min(issued + UInt64(lifetime), ceiling)
        // As Vault does, a life longer than allowed is cut, not refused, and the answer says so.
        var warnings: [String] = []
        if ttl > maxTTL {
            warnings.append("ttl_seconds \(ttl) is above the server's token_max_ttl_seconds (\(maxTTL)): the token lives \(maxTTL) seconds")
        }
        if ceiling < issued + UInt64(lifetime) {
            warnings.append("the token that asked expires at \(Self.rfc3339(ceiling)): the new token expires with it")
        }
        var token: Token
        do {
            token = try Token(authority: try Self.authority(grant, issued: issued, expires: expires), rootKey: signer, rootKeyID: grant.rootKey.biscuitKeyID)
            for block in blocks { token = try token.appending(block) }
        } catch {
            throw APIError.badRequest("the token cannot be made: \(error)")
        }
        return try json(
            TokenResponse(
                token: token.base64, rootKeyID: grant.rootKey.biscuitKeyID, expiresAt: Self.rfc3339(expires),
                revocationIDs: token.revocationIDs.map { Hex.encode($0) }, revision: read.revision, warnings: warnings.isEmpty ? nil : warnings),
            status: .created)
    }

    /// Who presents `credential` and what it holds, and the key that signs: 401 for an unknown
    /// key or a token that no longer stands, 403 for a suspended organization, 503 when no root
    /// key is active. A token's API key is the one it was first issued for.
    static func tokenGrant(_ credential: ResolvedCredential, in state: PolicyState) -> Result<TokenGrant, APIError> {
        let caller: PrincipalReference
        let keyID: EntityID
        switch credential {
        case .apiKey(let key): keyID = key.id
        case .token(let token): keyID = token.apiKey
        case .certificate:
            return .failure(.forbidden("tokens are issued to API keys (and tokens they issued); a client certificate cannot ask for one"))
        }
        switch verify(credential, nil, on: .cluster, in: state) {
        case .success(let principal): caller = principal
        case .failure(let error): return .failure(error)
        }
        guard let principal = state.principal(caller) else { return .failure(.unauthenticated("unknown or revoked API key")) }
        if state.organization(caller.organization)?.suspended ?? true {
            return .failure(.forbidden("organization \(caller.organization) is suspended"))
        }
        guard let rootKey = state.activeRootKey else {
            return .failure(.cluster(.unavailable("no root key is active (the cluster is not bootstrapped)")))
        }
        var bindings: [(id: EntityID, role: String, scope: String)] = []
        var rights: [(scope: String, permission: String)] = []
        var seen = Set<String>()
        for binding in state.bindings(of: caller) {
            bindings.append((binding.id, binding.role.description, binding.scope.description))
            for permission in state.role(binding.role)?.permissions ?? [] {
                let right = (scope: binding.scope.description, permission: permission.description)
                if seen.insert(right.scope + " " + right.permission).inserted { rights.append(right) }
            }
        }
        return .success(TokenGrant(principal: caller, kind: principal.kind, keyID: keyID, bindings: bindings, rights: rights, rootKey: rootKey))
    }

    /// The authority block of `grant`'s token (every value a parameter: nothing from the state
    /// is read as Datalog).
    static func authority(_ grant: TokenGrant, issued: UInt64, expires: UInt64) throws(BiscuitError) -> Block {
        var code = """
            principal({principal});
            principal_kind({kind});
            organization({organization});
            api_key({key});
            issued_at({issued});
            check if time($time), $time < {expires};

            """
        var parameters: [String: Term] = [
            "principal": .string("\(grant.principal)"), "kind": .string(grant.kind == .user ? "user" : "service_account"),
            "organization": .string(grant.principal.organization.value), "key": .string("\(grant.keyID)"),
            "issued": .date(issued), "expires": .date(expires),
        ]
        for (number, binding) in grant.bindings.enumerated() {
            code += "binding({b\(number)}, {b\(number)role}, {b\(number)scope});\n"
            parameters["b\(number)"] = .string("\(binding.id)")
            parameters["b\(number)role"] = .string(binding.role)
            parameters["b\(number)scope"] = .string(binding.scope)
        }
        for (number, right) in grant.rights.enumerated() {
            code += "right({r\(number)scope}, {r\(number)permission});\n"
            parameters["r\(number)scope"] = .string(right.scope)
            parameters["r\(number)permission"] = .string(right.permission)
        }
        return try Block(code: code, parameters: parameters)
    }

    /// Seconds since the epoch as RFC 3339, in UTC (`2026-12-07T04:36:16Z`), as the token's own
    /// dates print (a Foundation date formatter, made for each token, took a third of issuance's
    /// CPU).
    static func rfc3339(_ seconds: UInt64) -> String {
        DateText.format(seconds)
    }
}
