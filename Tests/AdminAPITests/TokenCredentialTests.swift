import APIModels
import Biscuit
import Foundation
import PolicyModel
import Testing

@testable import AdminAPI

/// Tokens used where API keys are (bearer credentials), asked about (`POST /v1/authorize` with
/// a token), and revoked through the log (`POST /v1/tokens/revoke`, `GET /v1/revocations`).
@Suite struct TokenCredentialTests {
    /// Issues a token to the holder of `key`, with `attenuation` blocks.
    static func token(_ fixture: Fixture, _ key: String, attenuation: [String] = [], ttl: Int = 600) async throws -> (text: String, ids: [String]) {
        let blocks = attenuation.map { "\"" + $0.replacingOccurrences(of: "\"", with: "\\\"") + "\"" }.joined(separator: ",")
        let answer = try await fixture.client.send(.post, "/v1/tokens", body: #"{"ttl_seconds":\#(ttl),"attenuation":[\#(blocks)]}"#, token: key)
        #expect(answer.status == 201, "\(answer.body)")
        return (try #require(answer.object["token"] as? String), try #require(answer.object["revocation_ids"] as? [String]))
    }

    /// A tenant `alpha` with project `web`, and `dev`, an `org.admin` of alpha.
    static func tenant() async throws -> (fixture: Fixture, dev: String) {
        let fixture = try await Fixture()
        try await fixture.organization("alpha")
        #expect(try await fixture.client.send(.post, "/v1/orgs/alpha/projects", body: #"{"name":"web"}"#, token: fixture.admin).status == 201)
        #expect(try await fixture.client.send(.post, "/v1/orgs/alpha/projects", body: #"{"name":"api"}"#, token: fixture.admin).status == 201)
        let dev = try await fixture.member("alpha", "dev", role: "org.admin")
        return (fixture, dev)
    }

    @Test func aTokenIsABearerCredentialWithItsHoldersPermissions() async throws {
        let (fixture, dev) = try await Self.tenant()
        let token = try await Self.token(fixture, dev)
        #expect(try await fixture.client.send(.get, "/v1/orgs/alpha/projects", token: token.text).status == 200)
        let created = try await fixture.client.send(.post, "/v1/orgs/alpha/principals", body: #"{"name":"ci","kind":"service_account"}"#, token: token.text)
        #expect(created.status == 201, "\(created.body)")
        let elsewhere = try await fixture.client.send(.post, "/v1/orgs", body: #"{"name":"beta"}"#, token: token.text)
        #expect(elsewhere.status == 403, "an org admin's token cannot create organizations: \(elsewhere.body)")
        // A token issues a token (no longer-lived than itself).
        let child = try await fixture.client.send(.post, "/v1/tokens", body: #"{"ttl_seconds":3000}"#, token: token.text)
        #expect(child.status == 201, "\(child.body)")
        #expect(try TokenRoutesTests.seconds(child.object["expires_at"] as! String) == UInt64(fixture.cluster.now().millisecondsSinceEpoch / 1000) + 600)
        let warnings = try #require(child.object["warnings"] as? [String])
        #expect(warnings.count == 1 && warnings[0].hasPrefix("the token that asked expires at "), "\(warnings)")
    }

    @Test func anAttenuatedTokenCanDoOnlyWhatItsChecksAllow() async throws {
        let (fixture, dev) = try await Self.tenant()
        let readOnly = try await Self.token(fixture, dev, attenuation: [#"check if operation("read");"#])
        #expect(try await fixture.client.send(.get, "/v1/orgs/alpha/principals", token: readOnly.text).status == 200)
        let before = fixture.cluster.fingerprint
        let write = try await fixture.client.send(.post, "/v1/orgs/alpha/principals", body: #"{"name":"x","kind":"user"}"#, token: readOnly.text)
        #expect(write.status == 403 && write.code == "token_checks_failed", "\(write.body)")
        let delete = try await fixture.client.send(.delete, "/v1/orgs/alpha/projects/web", token: readOnly.text)
        #expect(delete.status == 403 && delete.code == "token_checks_failed", "\(delete.body)")
        #expect(fixture.cluster.fingerprint == before, "nothing changed")
        let issue = try await fixture.client.send(.post, "/v1/tokens", token: readOnly.text)
        #expect(issue.status == 403, "an attenuated token issues no token: \(issue.body)")
        // Confined to one project: its creates elsewhere are refused, on the router and the fast path alike.
        let webOnly = try await Self.token(fixture, dev, attenuation: [#"check if resource_project("web") or operation("read");"#])
        let inAPI = try await fixture.client.send(
            .post, "/v1/orgs/alpha/bindings", body: #"{"principal":"dev","role":"project.viewer","project":"api"}"#, token: webOnly.text)
        #expect(inAPI.status == 403 && inAPI.code == "token_checks_failed", "\(inAPI.body)")
        let inWeb = try await fixture.client.send(
            .post, "/v1/orgs/alpha/bindings", body: #"{"principal":"dev","role":"project.viewer","project":"web"}"#, token: webOnly.text)
        #expect(inWeb.status == 201, "\(inWeb.body)")
        #expect(try await fixture.client.send(.get, "/v1/orgs/alpha/projects/api", token: webOnly.text).status == 200)
    }

    @Test func expiredTamperedForeignAndOrphanedTokensAreRefused() async throws {
        let (fixture, dev) = try await Self.tenant()
        let token = try await Self.token(fixture, dev, ttl: 60)
        // Tampered: one character of the signature changed.
        var bytes = Array(token.text.utf8)
        let index = bytes.count - 10
        bytes[index] = bytes[index] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        let tampered = String(decoding: bytes, as: UTF8.self)
        // Another issuer's token with Rampart's facts and the same key id.
        let foreignKey = PrivateKey()
        let authority = try Block(code: #"principal("alpha/dev"); principal_kind("user"); organization("alpha"); api_key("00"); issued_at(2023-11-14T22:13:20Z);"#)
        let published = try await TokenRoutesTests.publishedKeys(fixture.client)
        let foreign = try Token(authority: authority, rootKey: foreignKey, rootKeyID: published.keys.first!).base64
        let unknownKey = try Token(authority: authority, rootKey: foreignKey, rootKeyID: 7).base64
        let cases: [(String, String)] = [
            (tampered, "token_invalid_signature"), ("notatoken", "token_malformed"), (foreign, "token_invalid_signature"),
            (unknownKey, "token_unknown_key"), (String(repeating: "A", count: 40_000), "unauthenticated"),
        ]
        for (text, code) in cases {
            let answer = try await fixture.client.send(.get, "/v1/orgs/alpha/projects", token: text)
            #expect(answer.status == 401 && answer.code == code, "\(code): \(answer.body)")
            let asked = try await fixture.client.send(
                .post, "/v1/authorize", body: #"{"token":"\#(text)","permission":"compute.instances.get","organization":"alpha"}"#, token: fixture.admin)
            #expect(asked.status == (text.count > 32 * 1024 ? 400 : 401), "authorize \(code): \(asked.body)")
        }
        // Its API key deleted: the token is revoked with it.
        let second = try await fixture.client.send(.post, "/v1/orgs/alpha/principals/dev/keys", token: fixture.admin)
        let secondKey = try #require(second.object["token"] as? String)
        let orphan = try await Self.token(fixture, secondKey)
        let keyID = try #require(second.object["id"] as? String)
        #expect(try await fixture.client.send(.delete, "/v1/orgs/alpha/principals/dev/keys/\(keyID)", token: fixture.admin).status == 200)
        let refused = try await fixture.client.send(.get, "/v1/orgs/alpha/projects", token: orphan.text)
        #expect(refused.status == 401 && refused.code == "token_revoked", "\(refused.body)")
        // Expired.
        fixture.cluster.advanceClock(seconds: 60)
        let expired = try await fixture.client.send(.get, "/v1/orgs/alpha/projects", token: token.text)
        #expect(expired.status == 401 && expired.code == "token_expired", "\(expired.body)")
    }

    @Test func authorizeDecidesForATokensHolderWithItsChecksAndTheCurrentPolicy() async throws {
        let (fixture, _) = try await Self.tenant()
        try await fixture.role("alpha", "runner", permissions: ["compute.instances.*"])
        let ci = try await fixture.member("alpha", "ci", role: "runner")
        let token = try await Self.token(fixture, ci)
        let narrowed = try await Self.token(fixture, ci, attenuation: [#"check if resource_project("web"), operation("read");"#])
        func ask(_ text: String, _ permission: String, project: String? = nil, principal: String? = nil) async throws -> RouteClient.Answer {
            let projectField = project.map { #","project":"\#($0)""# } ?? ""
            let principalField = principal.map { #","principal":"\#($0)""# } ?? ""
            return try await fixture.client.send(
                .post, "/v1/authorize?consistency=stale",
                body: #"{"token":"\#(text)","permission":"\#(permission)","organization":"alpha"\#(projectField)\#(principalField)}"#,
                token: fixture.admin)
        }
        #expect(try await ask(token.text, "compute.instances.create", project: "api").object["allowed"] as? Bool == true)
        #expect(try await ask(token.text, "storage.buckets.get").object["reason"] as? String == "noMatchingBinding")
        #expect(try await ask(narrowed.text, "compute.instances.get", project: "web").object["allowed"] as? Bool == true)
        let denied = try await ask(narrowed.text, "compute.instances.create", project: "web")
        #expect(denied.object["allowed"] as? Bool == false && denied.object["reason"] as? String == "tokenChecksFailed", "\(denied.body)")
        #expect(try await ask(narrowed.text, "compute.instances.get", project: "api").object["reason"] as? String == "tokenChecksFailed")
        #expect(try await ask(token.text, "compute.instances.get", principal: "alpha/ci").status == 200)
        #expect(try await ask(token.text, "compute.instances.get", principal: "alpha/dev").status == 400, "another principal's token")
        // The policy decides now: the binding removed, the unexpired token is denied at once.
        let bindings = try await fixture.client.send(.get, "/v1/orgs/alpha/bindings", token: fixture.admin)
        let items = try #require(bindings.object["items"] as? [[String: Any]])
        let binding = try #require(items.first { $0["principal"] as? String == "alpha/ci" }?["id"] as? String)
        #expect(try await fixture.client.send(.delete, "/v1/orgs/alpha/bindings/\(binding)", token: fixture.admin).status == 200)
        #expect(try await ask(token.text, "compute.instances.create", project: "api").object["reason"] as? String == "noMatchingBinding")
    }

    @Test func revocationByBlockIDByTokenByPrincipalAndByOrganization() async throws {
        let (fixture, dev) = try await Self.tenant()
        let parent = try await Self.token(fixture, dev)
        let child = try await Self.token(fixture, dev, attenuation: [#"check if operation("read");"#])
        // The child's own block id: the child is refused, the parent works.
        let revoked = try await fixture.client.send(.post, "/v1/tokens/revoke", body: #"{"token":"\#(child.text)","reason":"leaked"}"#, token: dev)
        #expect(revoked.status == 200, "\(revoked.body)")
        let entry = try #require((revoked.object["revoked"] as? [[String: Any]])?.first)
        #expect(entry["revocation_id"] as? String == child.ids[1] && entry["reason"] as? String == "leaked")
        let cached = fixture.client.routes.tokens.statistics.count
        #expect(try await fixture.client.send(.get, "/v1/orgs/alpha/projects", token: child.text).code == "token_revoked")
        #expect(fixture.client.routes.tokens.statistics.count == cached - 1, "a revoked token leaves the cache")
        #expect(try await fixture.client.send(.get, "/v1/orgs/alpha/projects", token: parent.text).status == 200)
        // The authority id: every token that shares it.
        let sibling = try await Self.token(fixture, dev)
        let byID = try await fixture.client.send(.post, "/v1/tokens/revoke", body: #"{"revocation_ids":["\#(sibling.ids[0])"]}"#, token: fixture.admin)
        #expect(byID.status == 200, "\(byID.body)")
        #expect(try await fixture.client.send(.get, "/v1/orgs/alpha/projects", token: sibling.text).code == "token_revoked")
        // A principal's tokens issued up to now, then an organization's.
        let ci = try await fixture.member("alpha", "ci", role: "org.viewer")
        let ciToken = try await Self.token(fixture, ci)
        #expect(try await fixture.client.send(.post, "/v1/tokens/revoke", body: #"{"principal":"alpha/ci"}"#, token: dev).status == 200)
        #expect(try await fixture.client.send(.get, "/v1/orgs/alpha/projects", token: ciToken.text).code == "token_revoked")
        #expect(try await fixture.client.send(.get, "/v1/orgs/alpha/projects", token: parent.text).status == 200, "another principal's")
        #expect(try await fixture.client.send(.post, "/v1/tokens/revoke", body: #"{"organization":"alpha"}"#, token: fixture.admin).status == 200)
        #expect(try await fixture.client.send(.get, "/v1/orgs/alpha/projects", token: parent.text).code == "token_revoked")
        // A token issued after the epoch's second works.
        fixture.cluster.advanceClock(seconds: 1)
        let fresh = try await Self.token(fixture, dev)
        #expect(try await fixture.client.send(.get, "/v1/orgs/alpha/projects", token: fresh.text).status == 200)
        // The audit log has each.
        let audit = try await fixture.client.send(.get, "/v1/audit?limit=1000", token: fixture.admin)
        let actions = (audit.object["items"] as? [[String: Any]] ?? []).compactMap { $0["action"] as? String }
        #expect(actions.filter { $0 == "tokens.revoke" }.count == 4)
    }

    @Test func badRevocationsAreRefusedAndChangeNothing() async throws {
        let (fixture, dev) = try await Self.tenant()
        let viewer = try await fixture.member("alpha", "viewer", role: "org.viewer")
        let token = try await Self.token(fixture, viewer)
        let cases: [(String, String, Int)] = [
            (#"{}"#, fixture.admin, 400),
            (#"{"principal":"alpha/dev","organization":"alpha"}"#, fixture.admin, 400),
            (#"{"revocation_ids":[]}"#, fixture.admin, 400),
            (#"{"revocation_ids":["zz"]}"#, fixture.admin, 400),
            (#"{"revocation_ids":[\#(Array(repeating: "\"00\"", count: 65).joined(separator: ","))]}"#, fixture.admin, 400),
            (#"{"principal":"alpha"}"#, fixture.admin, 400),
            (#"{"principal":"alpha/nobody"}"#, fixture.admin, 404),
            (#"{"organization":"nowhere"}"#, fixture.admin, 404),
            (#"{"organization":"alpha","reason":"\#(String(repeating: "x", count: 513))"}"#, fixture.admin, 400),
            (#"{"token":"garbage"}"#, fixture.admin, 401),
            (#"{"organization":"alpha"}"#, viewer, 403),
            (#"{"revocation_ids":["00"]}"#, dev, 403),
            (#"{"token":"\#(token.text)"}"#, viewer, 403),
            (#"{"organization":"alpha","extra":1}"#, fixture.admin, 400),
        ]
        let revision = fixture.cluster.revision
        for (body, key, status) in cases {
            let answer = try await fixture.client.send(.post, "/v1/tokens/revoke", body: body, token: key)
            #expect(answer.status == status, "\(body): \(answer.body)")
        }
        let feed = try await fixture.client.send(.get, "/v1/revocations", token: fixture.admin)
        #expect((feed.object["items"] as? [Any])?.isEmpty == true, "nothing revoked: \(feed.body)")
        #expect(fixture.cluster.revision - revision <= 2, "at most the not-found rejections, which the state machine audits")
        #expect(try await fixture.client.send(.get, "/v1/orgs/alpha/projects", token: token.text).status == 200)
    }

    @Test func theFeedPagesFollowsAndSaysWhenItCannotBeFollowed() async throws {
        let (fixture, dev) = try await Self.tenant()
        var revisions: [UInt64] = []
        for number in 0..<3 {
            let answer = try await fixture.client.send(
                .post, "/v1/tokens/revoke", body: #"{"revocation_ids":["0\#(number)"],"reason":"r\#(number)"}"#, token: fixture.admin)
            revisions.append(try #require((answer.object["revision"] as? NSNumber)?.uint64Value))
        }
        let first = try await fixture.client.send(.get, "/v1/revocations?limit=2", token: fixture.admin)
        #expect((first.object["items"] as? [[String: Any]])?.map { $0["revocation_id"] as? String } == ["00", "01"])
        #expect(first.object["more"] as? Bool == true && (first.object["next_since"] as? NSNumber)?.uint64Value == revisions[1])
        let rest = try await fixture.client.send(.get, "/v1/revocations?since=\(revisions[1])", token: fixture.admin)
        #expect((rest.object["items"] as? [[String: Any]])?.map { $0["reason"] as? String } == ["r2"])
        #expect(rest.object["more"] as? Bool == false)
        // A principal's revocation is listed to whoever may get its organization's principals.
        let outsider = try await fixture.member("system", "outsider", role: "org.viewer")
        #expect(try await fixture.client.send(.post, "/v1/tokens/revoke", body: #"{"principal":"alpha/dev"}"#, token: dev).status == 200)
        let seen = try await fixture.client.send(.get, "/v1/revocations?since=\(revisions[2])", token: dev)
        #expect((seen.object["items"] as? [[String: Any]])?.first?["principal"] as? String == "alpha/dev")
        let hidden = try await fixture.client.send(.get, "/v1/revocations?since=\(revisions[2])", token: outsider)
        #expect((hidden.object["items"] as? [Any])?.isEmpty == true, "\(hidden.body)")
        // Past the longest token life, the leader drops them; a follower behind the floor is told.
        fixture.cluster.advanceClock(seconds: 3601)
        let due = try #require(try fixture.cluster.readNow { $0.revocationExpiry(at: fixture.cluster.now()) }.value)
        _ = try await fixture.cluster.submit(due, timeout: .seconds(1))
        let gone = try await fixture.client.send(.get, "/v1/revocations?since=\(revisions[0])", token: fixture.admin)
        #expect(gone.status == 410 && gone.code == "gone", "\(gone.body)")
        let afresh = try await fixture.client.send(.get, "/v1/revocations?since=0", token: fixture.admin)
        #expect(afresh.status == 200 && (afresh.object["items"] as? [Any])?.isEmpty == true, "\(afresh.body)")
        for query in ["since=x", "limit=0", "limit=1001", "wait=26", "wait=-1", "cursor=1", "consistency=eventual"] {
            #expect(try await fixture.client.send(.get, "/v1/revocations?\(query)", token: fixture.admin).status == 400, "\(query)")
        }
        #expect(try await fixture.client.send(.get, "/v1/revocations").status == 401)
    }

    @Test func aRevokedRootKeyLeavesTheSetAtOnceAndItsTokensAreRefused() async throws {
        let (fixture, dev) = try await Self.tenant()
        let token = try await Self.token(fixture, dev)
        let listed = try await fixture.client.send(.get, "/v1/keys", token: fixture.admin)
        let active = try #require((listed.object["items"] as? [[String: Any]])?.first)
        let activeID = try #require(active["id"] as? String)
        #expect(active["retires_at"] as? String != nil, "the default schedule plans the active key's retirement")
        let rotated = try await fixture.client.send(.post, "/v1/keys/rotate", token: fixture.admin)
        #expect(rotated.status == 201 && rotated.object["retires_at"] as? String != nil, "\(rotated.body)")
        let before = fixture.cluster.fingerprint
        for (path, key, status) in [
            ("/v1/keys/\(activeID)/revoke", dev, 403), ("/v1/keys/00000000000000000000000000000009/revoke", fixture.admin, 404),
            ("/v1/keys/xyz/revoke", fixture.admin, 400),
        ] {
            #expect(try await fixture.client.send(.post, path, token: key).status == status, "\(path)")
        }
        #expect(fixture.cluster.fingerprint == before)
        let revoked = try await fixture.client.send(.post, "/v1/keys/\(activeID)/revoke", token: fixture.admin)
        #expect(revoked.status == 200 && revoked.object["state"] as? String == "retired", "\(revoked.body)")
        let refused = try await fixture.client.send(.get, "/v1/orgs/alpha/projects", token: token.text)
        #expect(refused.status == 401 && refused.code == "token_unknown_key", "\(refused.body)")
        let set = try await TokenRoutesTests.publishedKeys(fixture.client)
        #expect(set.count == 1, "only the promoted key is published")
        let fresh = try await Self.token(fixture, dev)
        #expect(try await fixture.client.send(.get, "/v1/orgs/alpha/projects", token: fresh.text).status == 200, "the promoted key signs")
        #expect(try await fixture.client.send(.post, "/v1/keys/\(activeID)/revoke", token: fixture.admin).status == 409, "already out")
    }
}
