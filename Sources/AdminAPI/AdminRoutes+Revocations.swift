import APIModels
import Biscuit
import ClusterCertificates
import Foundation
import Hummingbird
import PolicyModel
import RampartAuthorizer

/// Revoking tokens (`POST /v1/tokens/revoke`, one replicated command) and the revocation feed
/// for services that verify tokens on their own (`GET /v1/revocations?since=N`).
extension AdminRoutes {
    /// The most revocations one feed page holds.
    static let maxRevocationsPage = 1000
    /// The query parameters the feed takes.
    static let revocationsParameters: Set<String> = ["since", "limit", "wait", "consistency", "min_revision"]

    /// The longest a feed request may wait for a revocation (`wait`, in seconds): below the
    /// 30-second idle timeout common in proxies and HTTP clients, so a long poll is not cut.
    static let maxRevocationsWait = 25

    /// The longest client certificate (PEM) a revocation takes.
    static let maxCertificateBytes = 16 << 10

    func revokeTokensRoute(_ input: RouteInput) async throws -> Response {
        let body = try await decode(RevokeTokensRequest.self, from: input.request)
        let forms = [body.token != nil, body.revocationIDs != nil, body.principal != nil, body.organization != nil, body.certificate != nil]
            .filter { $0 }.count
        guard forms == 1 else { throw APIError.badRequest("give exactly one of token, revocation_ids, principal, organization and certificate") }
        let reason = body.reason ?? ""
        guard reason.utf8.count <= TokenRevocation.maxReasonBytes, reason.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F }) else {
            throw APIError.badRequest("reason must be at most \(TokenRevocation.maxReasonBytes) printable bytes")
        }
        let now = cluster.now()
        // No token a revocation names outlives the longest token life from now.
        var expiresAt = Timestamp(millisecondsSinceEpoch: now.millisecondsSinceEpoch + Int64(Self.seconds(limits.tokenMaxTTL)) * 1000)
        let command: Command
        let scope: PolicyModel.Scope
        if let pem = body.certificate {
            // A client certificate is revoked by its fingerprint, until it expires (it would be
            // refused by TLS from then on). One naming a principal is its organization's to revoke.
            let certificate: (fingerprint: [UInt8], notValidAfter: Date, principal: String?)
            do {
                guard pem.utf8.count <= Self.maxCertificateBytes else { throw CertificateError.unreadable("longer than \(Self.maxCertificateBytes) bytes") }
                certificate = try ClusterCertificates.fingerprint(certificatePEM: pem)
            } catch {
                throw APIError.badRequest("certificate: \(error)")
            }
            expiresAt = Timestamp(millisecondsSinceEpoch: max(now.millisecondsSinceEpoch, Int64(certificate.notValidAfter.timeIntervalSince1970 * 1000)))
            let organization = try certificate.principal.map { text throws(APIError) in try parsePrincipal(text).organization }
            command = .revokeTokens(ids: [certificate.fingerprint], organization: organization, reason: reason, expiresAt: expiresAt)
            scope = organization.map(PolicyModel.Scope.organization) ?? .cluster
        } else if let text = body.token {
            guard !text.isEmpty, text.utf8.count <= VerifiedToken.maxTextBytes else {
                throw APIError.badRequest("token must be 1 to \(VerifiedToken.maxTextBytes) characters")
            }
            let token = try acceptedToken(text, key: TokenCache<AcceptedToken>.key(text))
            let last = token.verified.revocationIDs[token.verified.revocationIDs.count - 1]
            command = .revokeTokens(ids: [last], organization: token.principal.organization, reason: reason, expiresAt: expiresAt)
            scope = .organization(token.principal.organization)
        } else if let texts = body.revocationIDs {
            guard (1...TokenRevocation.maxIDs).contains(texts.count) else {
                throw APIError.badRequest("revocation_ids holds 1 to \(TokenRevocation.maxIDs) ids")
            }
            var ids: [[UInt8]] = []
            for text in texts {
                guard let id = Hex.decode(text), (1...TokenRevocation.maxIDBytes).contains(id.count) else {
                    throw APIError.badRequest("a revocation id is 1 to \(TokenRevocation.maxIDBytes) bytes in hex")
                }
                ids.append(id)
            }
            command = .revokeTokens(ids: ids, organization: nil, reason: reason, expiresAt: expiresAt)
            scope = .cluster
        } else if let text = body.principal {
            let principal = try parsePrincipal(text)
            command = .revokeTokenEpoch(.principal(principal), reason: reason, expiresAt: expiresAt)
            scope = .organization(principal.organization)
        } else {
            let organization = try parseName(body.organization ?? "")
            command = .revokeTokenEpoch(.organization(organization), reason: reason, expiresAt: expiresAt)
            scope = .organization(organization)
        }
        let caller = try await check(input.request, permission: RampartPermission.tokensRevoke, on: scope)
        let outcome = try await propose(input, actor: caller) { state throws(APIError) in
            switch command {
            case .revokeTokenEpoch(.principal(let principal), _, _): try Self.require(state.principal(principal) != nil, "principal \(principal)")
            case .revokeTokenEpoch(.organization(let name), _, _): try Self.require(state.organization(name) != nil, "organization \(name)")
            default: break
            }
            return command
        }
        let revoked: [TokenRevocation.Target]
        switch command {
        case .revokeTokens(let ids, _, _, _): revoked = ids.map(TokenRevocation.Target.id)
        case .revokeTokenEpoch(let target, _, _): revoked = [target]
        default: revoked = []
        }
        let items = revoked.map {
            Self.revocationResponse(TokenRevocation(target: $0, reason: reason, revokedAt: now, expiresAt: expiresAt, revision: outcome.revision))
        }
        return try json(RevokeTokensResponse(revoked: items, revision: outcome.revision))
    }

    /// The feed: the revocations written after `since` (default 0), oldest first, at most
    /// `limit` (default and maximum `maxRevocationsPage`); with `wait=S` (up to
    /// `maxRevocationsWait` seconds), an empty page waits until a revocation comes or the time
    /// is up. `since=0` (a follower starting afresh) gets the whole list as it is; `410 Gone`
    /// when `since` is older than the floor, the newest revision of a revocation that expired
    /// from the list (the follower reads the whole list again from 0; it drops entries past
    /// their `expires_at` by itself, the feed never lists removals). A revocation by principal or organization is listed
    /// to a caller that may get that principal or organization; revocation ids to every caller.
    func revocationsRoute(_ input: RouteInput) async throws -> Response {
        let query = input.request.uri.queryParameters
        if let unknown = query.first(where: { !Self.revocationsParameters.contains(String($0.key)) }) {
            throw APIError.badRequest("unknown query parameter \(unknown.key): the feed takes \(Self.revocationsParameters.sorted().joined(separator: ", "))")
        }
        var since: UInt64 = 0
        if let text = query["since"] {
            guard let value = UInt64(String(text)) else { throw APIError.badRequest("since must be a revision number") }
            since = value
        }
        var limit = Self.maxRevocationsPage
        if let text = query["limit"] {
            guard let value = Int(String(text)), (1...Self.maxRevocationsPage).contains(value) else {
                throw APIError.badRequest("limit must be 1...\(Self.maxRevocationsPage)")
            }
            limit = value
        }
        var wait = 0
        if let text = query["wait"] {
            guard let value = Int(String(text)), (0...Self.maxRevocationsWait).contains(value) else {
                throw APIError.badRequest("wait must be 0...\(Self.maxRevocationsWait) seconds")
            }
            wait = value
        }
        let caller = input.actor
        let (after, pageSize) = (since, limit)
        // A client's `X-Timeout-Ms` bounds the wait too.
        var patience = Duration.seconds(wait)
        if input.request.headers[.init(RequestLog.timeoutHeader)!] != nil { patience = min(patience, deadline(input.request)) }
        let deadline = ContinuousClock.now.advanced(by: patience)
        while true {
            let (page, revision) = try await readState(input.request) { state -> Result<RevocationsPage, APIError> in
                if after > 0 && after < state.revocationFloor {
                    return .failure(
                        .gone(
                            "revocations written up to revision \(state.revocationFloor) expired from the list after revision \(after): "
                                + "read the whole list again from since=0"))
                }
                let visible = state.revocations(after: after).filter { Self.mayList($0, caller, in: state) }
                let items = Array(visible.prefix(pageSize))
                return .success(
                    RevocationsPage(
                        items: items.map(Self.revocationResponse), nextSince: items.last?.revision ?? after, more: visible.count > pageSize,
                        floor: state.revocationFloor, revision: state.revision))
            }
            let result = try page.get()
            let remaining = deadline - ContinuousClock.now
            if !result.items.isEmpty || remaining <= .zero { return try json(result, revision: revision) }
            // Wait for the next applied revision, then look again.
            do throws(ClusterError) {
                try await cluster.waitForRevision(revision + 1, timeout: min(remaining, limits.requestTimeout))
            } catch .timedOut {
                continue
            } catch {
                throw APIError.cluster(error)
            }
        }
    }

    /// Whether `caller` sees `revocation` in the feed.
    static func mayList(_ revocation: TokenRevocation, _ caller: PrincipalReference, in state: PolicyState) -> Bool {
        switch revocation.target {
        case .id: return true
        case .principal(let principal): return state.access(caller, principalsGet, on: .organization(principal.organization)) == .allowed
        case .organization(let name): return state.access(caller, RampartPermission.organizationsGet, on: .organization(name)) == .allowed
        }
    }

    /// A revocation as the API shows it.
    static func revocationResponse(_ revocation: TokenRevocation) -> RevocationResponse {
        var response = RevocationResponse(
            kind: "id", revocationID: nil, principal: nil, organization: nil, reason: revocation.reason,
            revokedAt: DateText.format(UInt64(max(0, revocation.revokedAt.millisecondsSinceEpoch / 1000))),
            expiresAt: DateText.format(UInt64(max(0, revocation.expiresAt.millisecondsSinceEpoch / 1000))), revision: revocation.revision)
        switch revocation.target {
        case .id(let id): response.revocationID = Hex.encode(id)
        case .principal(let principal):
            response.kind = "principal"
            response.principal = "\(principal)"
        case .organization(let name):
            response.kind = "organization"
            response.organization = name.value
        }
        return response
    }
}
