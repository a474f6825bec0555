import Biscuit
public import Foundation
import Synchronization

/// How `ServiceAuthorizer` reaches a Rampart replica: one GET, answered with the status and
/// the body. `HTTPTransport` (RampartHTTPClient: HTTPS trusting the cluster's CA, connections
/// kept alive) is the one to use; tests give their own. There is no transport over Foundation's
/// URL loading: on Linux it trusts only the system's CAs, and it would link libcurl into every
/// binary that verifies tokens (a static build could not).
public protocol RampartTransport: Sendable {
    /// GETs `url`, with `Authorization: Bearer <bearer>` when given.
    func get(_ url: URL, bearer: String?, timeout: Duration) async throws -> (status: Int, body: Data)
}

/// A service's in-process authorizer: it follows a Rampart cluster's key set
/// (`GET /v1/keys`) and revocation feed (`GET /v1/revocations`, long-polled) from any of its
/// replicas, failing over across them, and decides with a token without a network hop: the
/// signatures (once per token, then cached), the key still published, no revocation covering
/// it, the token's own checks with the request's facts, and a right of its authority block
/// covering the request (`VerifiedToken.grants`).
///
/// What it cannot know offline: changes to the policy after the token was issued (a removed
/// binding) take effect when the token expires, as for any verifier of bearer tokens; a
/// revocation takes effect once the feed brings it (typically within milliseconds of its
/// commit). Ask a replica (`POST /v1/authorize` with the token) to decide against the current
/// policy instead.
///
/// Use: create it, `await refresh()` once (so the first decisions have keys), run `follow()`
/// in a task for the life of the service, and call `authorize(_:_:)` per request.
public final class ServiceAuthorizer: Sendable {
    /// The replicas' API endpoints (`http://host:port`), tried in order.
    public let endpoints: [URL]
    private let credential: String
    private let transport: any RampartTransport
    private let cache: TokenCache<VerifiedToken>
    private let state = Mutex(Followed())

    /// How often the key set is fetched again (a new key is published a minute before it
    /// signs, by default); a token naming an unknown key id also prompts a fetch, at most once
    /// per `keyRefetchSpacing`.
    public static let keyRefresh: Duration = .seconds(30)
    /// The least time between two key set fetches prompted by unknown key ids.
    public static let keyRefetchSpacing: Duration = .seconds(1)
    /// How long one long poll of the revocation feed waits (the server allows up to 25 s).
    public static let revocationWait = 20
    /// How long a failed fetch waits before the next endpoint is tried again.
    public static let retryDelay: Duration = .milliseconds(500)

    /// What it follows: keys by Biscuit key id, and the revocation list.
    struct Followed: Sendable {
        var keys: [UInt32: PublicKey] = [:]
        var revokedIDs: Set<[UInt8]> = []
        var principalEpochs: [String: UInt64] = [:]
        var organizationEpochs: [String: UInt64] = [:]
        /// Entries by what they revoke, with their expiry (seconds since 1970), to drop them.
        var expiries: [String: UInt64] = [:]
        var since: UInt64 = 0
        var keysFetched: ContinuousClock.Instant?
        var unknownKeyAsked = false
    }

    /// A decision's facts.
    public typealias Request = TokenRequest

    /// An authorizer following the cluster at `endpoints`, with `credential` (an API key or a
    /// token of a principal allowed to read the revocation feed), over `transport` (`HTTPTransport`).
    public init(endpoints: [URL], credential: String, transport: any RampartTransport, cacheCapacity: Int = 10_000) {
        precondition(!endpoints.isEmpty, "a ServiceAuthorizer needs at least one endpoint")
        self.endpoints = endpoints
        self.credential = credential
        self.transport = transport
        cache = TokenCache(capacity: cacheCapacity)
    }

    // MARK: - Deciding

    /// Decides whether the holder of `token` may make `request`.
    /// - Returns: the token's holder when allowed.
    /// - Throws: `TokenRefusal`: malformed, unknown key, bad signature, expired, revoked, or
    ///   `checksFailed` when its checks or its rights do not cover the request.
    public func authorize(_ token: String, _ request: TokenRequest) throws(TokenRefusal) -> TokenHolder {
        let key = TokenKey(token)
        let verified: VerifiedToken
        if let cached = cache.value(key) {
            verified = cached
        } else {
            let keys = state.withLock { $0.keys }
            do {
                verified = try VerifiedToken(text: token) { keys[$0] }
            } catch {
                if case .unknownRootKey = error { state.withLock { $0.unknownKeyAsked = true } }
                throw error
            }
            cache.insert(verified, for: key)
        }
        if let refusal = standing(verified) {
            throw refusal
        }
        if let refusal = verified.refusal(for: request) { throw refusal }
        guard verified.grants(request) else {
            throw .checksFailed("no right of the token covers \(request.permission ?? "the request") on \(request.resource)")
        }
        return verified.holder
    }

    /// Why a verified token no longer stands: its key left the set, or a revocation covers it.
    private func standing(_ token: VerifiedToken) -> TokenRefusal? {
        state.withLock { followed in
            guard let key = followed.keys[token.rootKeyID], key == token.rootKey else { return .unknownRootKey(token.rootKeyID) }
            if !followed.revokedIDs.isEmpty, token.revocationIDs.contains(where: { followed.revokedIDs.contains($0) }) {
                return .revoked("a revocation id of the token is revoked")
            }
            let issued = token.holder.issuedAt
            if let epoch = followed.principalEpochs[token.holder.principal], issued <= epoch {
                return .revoked("the tokens of \(token.holder.principal) were revoked")
            }
            if let epoch = followed.organizationEpochs[token.holder.organization], issued <= epoch {
                return .revoked("the tokens of organization \(token.holder.organization) were revoked")
            }
            return nil
        }
    }

    // MARK: - Following

    /// Fetches the key set and the whole revocation list once, from the first endpoint that
    /// answers.
    public func refresh() async throws {
        try await fetchKeys()
        while try await fetchRevocations(wait: 0) {}
    }

    /// Follows the cluster until the task is cancelled: long polls of the revocation feed,
    /// the key set every `keyRefresh` (sooner when a token names an unknown key). Failures
    /// move to the next endpoint after `retryDelay`; nothing is thrown.
    public func follow() async {
        while !Task.isCancelled {
            do {
                let due = state.withLock { followed -> Bool in
                    let stale = followed.keysFetched.map { ContinuousClock.now - $0 >= Self.keyRefresh } ?? true
                    let prompted = followed.unknownKeyAsked && (followed.keysFetched.map { ContinuousClock.now - $0 >= Self.keyRefetchSpacing } ?? true)
                    return stale || prompted
                }
                if due { try await fetchKeys() }
                _ = try await fetchRevocations(wait: Self.revocationWait)
                dropExpired(now: UInt64(max(0, Date().timeIntervalSince1970)))
            } catch {
                try? await Task.sleep(for: Self.retryDelay)
            }
        }
    }

    /// How many verified tokens the cache holds, its hits and misses, the keys and the
    /// revocations followed.
    public var statistics: (cached: Int, hits: UInt64, misses: UInt64, keys: Int, revocations: Int) {
        let cached = cache.statistics
        let followed = state.withLock { ($0.keys.count, $0.expiries.count) }
        return (cached.count, cached.hits, cached.misses, followed.0, followed.1)
    }

    private struct KeyList: Decodable {
        struct Key: Decodable {
            var rootKeyID: UInt32
            var publicKey: String
            enum CodingKeys: String, CodingKey {
                case rootKeyID = "root_key_id"
                case publicKey = "public_key"
            }
        }
        var items: [Key]
    }

    private struct RevocationPage: Decodable {
        struct Item: Decodable {
            var kind: String
            var revocationID: String?
            var principal: String?
            var organization: String?
            var revokedAt: String
            var expiresAt: String
            enum CodingKeys: String, CodingKey {
                case kind, principal, organization
                case revocationID = "revocation_id"
                case revokedAt = "revoked_at"
                case expiresAt = "expires_at"
            }
        }
        var items: [Item]
        var nextSince: UInt64
        var more: Bool
        enum CodingKeys: String, CodingKey {
            case items, more
            case nextSince = "next_since"
        }
    }

    /// A failed fetch from every endpoint.
    public struct FetchError: Error, CustomStringConvertible {
        public let description: String
    }

    /// GETs `path` from the first endpoint that answers 200 (a 410 is returned as such).
    private func get(_ path: String, bearer: String?, timeout: Duration) async throws -> (status: Int, body: Data) {
        var last = "no endpoint"
        for endpoint in endpoints {
            guard let url = URL(string: endpoint.absoluteString + path) else { continue }
            do {
                let answer = try await transport.get(url, bearer: bearer, timeout: timeout)
                if answer.status == 200 || answer.status == 410 { return answer }
                last = "\(endpoint): HTTP \(answer.status) \(String(decoding: answer.body.prefix(200), as: UTF8.self))"
            } catch {
                last = "\(endpoint): \(error)"
            }
        }
        throw FetchError(description: "no endpoint answered \(path) (last: \(last))")
    }

    private func fetchKeys() async throws {
        let answer = try await get("/v1/keys?consistency=stale", bearer: nil, timeout: .seconds(5))
        let list = try JSONDecoder().decode(KeyList.self, from: answer.body)
        var keys: [UInt32: PublicKey] = [:]
        for key in list.items {
            guard let bytes = Self.hex(key.publicKey), let publicKey = try? PublicKey(algorithm: .ed25519, bytes: bytes) else { continue }
            keys[key.rootKeyID] = publicKey
        }
        state.withLock { followed in
            followed.keys = keys
            followed.keysFetched = .now
            followed.unknownKeyAsked = false
        }
    }

    /// One page of the feed after what was followed; true when more pages follow at once.
    private func fetchRevocations(wait: Int) async throws -> Bool {
        let since = state.withLock { $0.since }
        let answer = try await get(
            "/v1/revocations?since=\(since)&wait=\(wait)&consistency=stale", bearer: credential, timeout: .seconds(wait + 5))
        if answer.status == 410 {
            // Behind the floor: read the whole list again.
            state.withLock { followed in
                followed.since = 0
                followed.revokedIDs = []
                followed.principalEpochs = [:]
                followed.organizationEpochs = [:]
                followed.expiries = [:]
            }
            return true
        }
        let page = try JSONDecoder().decode(RevocationPage.self, from: answer.body)
        state.withLock { followed in
            for item in page.items {
                let expires = DateText.parse(item.expiresAt) ?? .max
                let revoked = DateText.parse(item.revokedAt) ?? 0
                switch item.kind {
                case "id":
                    guard let text = item.revocationID, let id = Self.hex(text) else { continue }
                    followed.revokedIDs.insert(id)
                    followed.expiries["id:" + text] = expires
                case "principal":
                    guard let principal = item.principal else { continue }
                    followed.principalEpochs[principal] = max(followed.principalEpochs[principal] ?? 0, revoked)
                    followed.expiries["principal:" + principal] = expires
                case "organization":
                    guard let organization = item.organization else { continue }
                    followed.organizationEpochs[organization] = max(followed.organizationEpochs[organization] ?? 0, revoked)
                    followed.expiries["organization:" + organization] = expires
                default:
                    continue
                }
            }
            followed.since = max(followed.since, page.nextSince)
        }
        return page.more
    }

    /// Forgets revocations past their expiry (no token they name is valid any more).
    private func dropExpired(now: UInt64) {
        state.withLock { followed in
            for (entry, expiry) in followed.expiries where expiry <= now {
                followed.expiries[entry] = nil
                let parts = entry.split(separator: ":", maxSplits: 1).map(String.init)
                switch parts[0] {
                case "id": if let id = Self.hex(parts[1]) { followed.revokedIDs.remove(id) }
                case "principal": followed.principalEpochs[parts[1]] = nil
                default: followed.organizationEpochs[parts[1]] = nil
                }
            }
        }
    }

    private static func hex(_ text: String) -> [UInt8]? {
        guard text.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            guard let byte = UInt8(text[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        return bytes
    }
}
