import Biscuit
import Testing

@testable import RampartAuthorizer

/// Verifying a Rampart token with the key set alone, reading its holder and expiry once, and
/// deciding a request with its checks (by its expiry alone when it has no other).
@Suite struct VerifiedTokenTests {
    static let issued: UInt64 = 1_700_000_000
    static let expires: UInt64 = 1_700_003_600

    /// A token as `POST /v1/tokens` writes it, signed by `key` with key id 42.
    static func rampartToken(_ key: PrivateKey, extraCheck: String? = nil) throws -> Token {
        var code = """
            principal("acme/ci"); principal_kind("service_account"); organization("acme"); api_key("00000000000000000000000000000001");
            issued_at({issued}); right("orgs/acme/projects/web", "compute.instances.*");
            check if time($time), $time < {expires};
            """
        if let extraCheck { code += extraCheck }
        return try Token(
            authority: try Block(code: code, parameters: ["issued": .date(issued), "expires": .date(expires)]), rootKey: key, rootKeyID: 42)
    }

    static func verify(_ token: Token, _ key: PrivateKey) throws(TokenRefusal) -> VerifiedToken {
        try VerifiedToken(text: token.base64) { $0 == 42 ? key.publicKey : nil }
    }

    static func request(_ time: UInt64, project: String? = "web", permission: String = "compute.instances.get") -> TokenRequest {
        TokenRequest(time: time, organization: "acme", project: project, permission: permission, operation: TokenRequest.operation(of: permission))
    }

    @Test func aTokenAsIssuedIsDecidedByItsExpiryAlone() throws {
        let key = PrivateKey()
        let verified = try Self.verify(try Self.rampartToken(key), key)
        #expect(verified.holder == TokenHolder(principal: "acme/ci", kind: "service_account", organization: "acme", apiKey: "00000000000000000000000000000001", issuedAt: Self.issued))
        #expect(verified.expiresAt == Self.expires && verified.onlyExpiry && verified.rootKeyID == 42)
        #expect(verified.revocationIDs.count == 1)
        #expect(verified.refusal(for: Self.request(Self.expires - 1)) == nil)
        #expect(verified.refusal(for: Self.request(Self.expires)) == .expired(expiresAt: Self.expires))
    }

    @Test func anyOtherCheckRunsWithTheRequestsFacts() throws {
        let key = PrivateKey()
        // An authority check besides the expiry: Datalog decides.
        let guarded = try Self.verify(try Self.rampartToken(key, extraCheck: #"check if operation("read");"#), key)
        #expect(guarded.expiresAt == nil && !guarded.onlyExpiry, "two checks: no shortcut")
        #expect(guarded.refusal(for: Self.request(Self.issued)) == nil)
        if case .checksFailed? = guarded.refusal(for: Self.request(Self.issued, permission: "compute.instances.create")) {} else {
            Issue.record("a write is refused by a read-only check")
        }
        // Attenuated by the holder: read-only and one project.
        let attenuated = try Self.rampartToken(key).appending(
            try Block(code: #"check if operation("read"), resource_project("web"); check if resource("orgs/acme/projects/web");"#))
        let verified = try Self.verify(attenuated, key)
        #expect(!verified.onlyExpiry && verified.expiresAt == Self.expires && verified.revocationIDs.count == 2)
        #expect(verified.refusal(for: Self.request(Self.issued)) == nil)
        #expect(verified.refusal(for: Self.request(Self.issued, project: "api")) != nil)
        #expect(verified.refusal(for: Self.request(Self.issued, project: nil)) != nil)
        #expect(verified.refusal(for: Self.request(Self.issued, permission: "compute.instances.delete")) != nil)
        #expect(verified.refusal(for: Self.request(Self.expires)) == .expired(expiresAt: Self.expires), "expiry first")
        // An attenuation block's facts do not reach the authority's rights nor the request's facts.
        let widened = try Self.rampartToken(key).appending(try Block(code: #"operation("read"); resource_project("web");"#))
        let readOnly = try Self.verify(try Self.rampartToken(key, extraCheck: #"check if operation("read");"#).appending(try Block(code: #"operation("read");"#)), key)
        #expect(readOnly.refusal(for: Self.request(Self.issued, permission: "compute.instances.create")) != nil, "no fact from a later block")
        #expect(try Self.verify(widened, key).refusal(for: Self.request(Self.issued)) == nil)
    }

    @Test func malformedForeignTamperedAndForeignLayoutTokensAreRefused() throws {
        let key = PrivateKey()
        let token = try Self.rampartToken(key)
        do {
            _ = try VerifiedToken(text: "%%%") { _ in key.publicKey }
            Issue.record("not base64: refused")
        } catch {
            if case .malformed = error {} else { Issue.record("\(error)") }
        }
        do {
            _ = try VerifiedToken(text: token.base64) { _ in nil }
            Issue.record("no key: refused")
        } catch {
            #expect(error == .unknownRootKey(42))
        }
        do {
            _ = try VerifiedToken(text: token.base64) { _ in PrivateKey().publicKey }
            Issue.record("another key: refused")
        } catch {
            if case .invalidSignature = error {} else { Issue.record("\(error)") }
        }
        do {
            _ = try VerifiedToken(text: String(repeating: "A", count: VerifiedToken.maxTextBytes + 1)) { _ in key.publicKey }
            Issue.record("too long: refused")
        } catch {
            if case .malformed = error {} else { Issue.record("\(error)") }
        }
        let foreign = try Token(authority: try Block(code: #"user("alice");"#), rootKey: key, rootKeyID: 42)
        do {
            _ = try Self.verify(foreign, key)
            Issue.record("not Rampart's layout: refused")
        } catch {
            if case .notIssuedByRampart = error {} else { Issue.record("\(error)") }
        }
        let twice = try Token(
            authority: try Block(code: #"principal("a/b"); principal("a/c"); principal_kind("user"); organization("a"); api_key("01"); issued_at(2020-01-01T00:00:00Z);"#),
            rootKey: key, rootKeyID: 42)
        do {
            _ = try Self.verify(twice, key)
            Issue.record("two principals: refused")
        } catch {
            if case .notIssuedByRampart = error {} else { Issue.record("\(error)") }
        }
    }

    @Test func theCacheIsBoundedAndDropsTheOldestFirst() {
        let cache = TokenCache<Int>(capacity: 3)
        for number in 0..<5 { cache.insert(number, for: TokenKey("token-\(number)")) }
        #expect(cache.statistics.count == 3)
        #expect(cache.value(TokenKey("token-0")) == nil && cache.value(TokenKey("token-1")) == nil)
        #expect(cache.value(TokenKey("token-4")) == 4)
        cache.insert(40, for: TokenKey("token-4"))
        #expect(cache.value(TokenKey("token-4")) == 40, "replaced in place")
        cache.evict { $0 == 3 }
        #expect(cache.value(TokenKey("token-3")) == nil && cache.statistics.count == 2)
        cache.remove(TokenKey("token-2"))
        #expect(cache.statistics.count == 1)
        let statistics = cache.statistics
        #expect(statistics.hits == 2 && statistics.misses == 3)
        #expect(TokenKey("a") == TokenKey("a") && TokenKey("a") != TokenKey("b"))
    }

    @Test func operationsFollowTheVerb() {
        #expect(TokenRequest.operation(of: "compute.instances.get") == .read)
        #expect(TokenRequest.operation(of: "iam.decisions.check") == .read)
        #expect(TokenRequest.operation(of: "compute.instances.create") == .write)
        #expect(TokenRequest(time: 0, operation: .read).resource == "cluster")
        #expect(TokenRequest(time: 0, organization: "acme", operation: .read).resource == "orgs/acme")
        #expect(TokenRequest(time: 0, organization: "acme", project: "web", operation: .read).resource == "orgs/acme/projects/web")
    }
}
