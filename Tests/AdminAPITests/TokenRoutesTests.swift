import APIModels
import Biscuit
import Foundation
import Testing

@testable import AdminAPI

/// `POST /v1/tokens`: a token that says who the caller is and what it holds, signed by the
/// active root key, verified here with the key the Biscuit Web Key set publishes.
@Suite struct TokenRoutesTests {
    /// The published keys, by Biscuit key id.
    static func publishedKeys(_ client: RouteClient) async throws -> [UInt32: PublicKey] {
        let set = try await client.send(.get, "/.well-known/biscuit-web-keys")
        let keys = try #require(set.object["keys"] as? [[String: Any]])
        var found: [UInt32: PublicKey] = [:]
        for key in keys {
            let bytes = try #require(Hex.decode(key["key_bytes"] as! String))
            found[(key["key_id"] as! NSNumber).uint32Value] = try PublicKey(algorithm: .ed25519, bytes: bytes)
        }
        return found
    }

    static func seconds(_ rfc3339: String) throws -> UInt64 {
        let date = try #require(ISO8601DateFormatter().date(from: rfc3339))
        return UInt64(date.timeIntervalSince1970)
    }

    /// Runs `code` (with `time(<at>)`) against `token`; whether it was allowed.
    static func allows(_ token: Token, _ code: String, at time: UInt64) -> Bool {
        do {
            var builder = AuthorizerBuilder()
            try builder.add(code: "time({now}); " + code, parameters: ["now": .date(time)])
            _ = try builder.authorize(token)
            return true
        } catch {
            return false
        }
    }

    @Test func aTokenSaysWhoTheCallerIsAndWhatItHoldsAndVerifiesWithThePublishedKey() async throws {
        let fixture = try await Fixture()
        try await fixture.organization("alpha")
        #expect(try await fixture.client.send(.post, "/v1/orgs/alpha/projects", body: #"{"name":"web"}"#, token: fixture.admin).status == 201)
        let role = try await fixture.client.send(
            .post, "/v1/orgs/alpha/roles", body: #"{"name":"reader","permissions":["compute.instances.get"]}"#, token: fixture.admin)
        #expect(role.status == 201, "\(role.body)")
        let dev = try await fixture.member("alpha", "dev", role: "reader", project: "web")
        let answer = try await fixture.client.send(.post, "/v1/tokens", body: #"{"ttl_seconds":600}"#, token: dev)
        #expect(answer.status == 201, "\(answer.body)")
        let keys = try await Self.publishedKeys(fixture.client)
        let keyID = try #require((answer.object["root_key_id"] as? NSNumber)?.uint32Value)
        #expect(keys[keyID] != nil, "signed by a published key")
        let token = try Token(base64: try #require(answer.object["token"] as? String)) { keys[$0 ?? .max] }
        let expires = try Self.seconds(try #require(answer.object["expires_at"] as? String))
        #expect(expires == UInt64(fixture.cluster.now().millisecondsSinceEpoch / 1000) + 600)
        #expect((answer.object["revocation_ids"] as? [String])?.count == 1)
        let source = token.blocks[0].source
        #expect(source.contains(#"principal("alpha/dev")"#) && source.contains(#"organization("alpha")"#))
        #expect(source.contains(#"principal_kind("user")"#) && source.contains(#"api_key(""#))
        #expect(source.contains(#"binding(""#) && source.contains(#""alpha/reader", "orgs/alpha/projects/web")"#), "\(source)")
        // A service's check against what the token holds, before and at its expiry.
        let check = #"allow if right("orgs/alpha/projects/web", "compute.instances.get");"#
        #expect(Self.allows(token, check, at: expires - 1))
        #expect(!Self.allows(token, check, at: expires), "expired")
        #expect(!Self.allows(token, #"allow if right("orgs/beta", $p);"#, at: expires - 1), "no right elsewhere")
        // Another key cannot verify it.
        #expect(throws: BiscuitError.self) { try Token(base64: answer.object["token"] as! String, rootKey: PrivateKey().publicKey) }
    }

    @Test func theLifeIsCappedAndAttenuationIsAppended() async throws {
        let fixture = try await Fixture()
        let now = UInt64(fixture.cluster.now().millisecondsSinceEpoch / 1000)
        let capped = try await fixture.client.send(.post, "/v1/tokens", body: #"{"ttl_seconds":999999}"#, token: fixture.admin)
        #expect(try Self.seconds(capped.object["expires_at"] as! String) == now + 3600, "capped at the server's maximum")
        #expect(capped.object["warnings"] as? [String] == ["ttl_seconds 999999 is above the server's token_max_ttl_seconds (3600): the token lives 3600 seconds"])
        let extreme = try await fixture.client.send(.post, "/v1/tokens", body: #"{"ttl_seconds":9223372036854775807}"#, token: fixture.admin)
        #expect(try Self.seconds(extreme.object["expires_at"] as! String) == now + 3600, "the largest integer is capped too")
        let defaulted = try await fixture.client.send(.post, "/v1/tokens", token: fixture.admin)
        #expect(defaulted.status == 201, "no body: the defaults")
        #expect(try Self.seconds(defaulted.object["expires_at"] as! String) == now + 3600)
        #expect(defaulted.object["warnings"] == nil, "nothing asked was cut")
        let attenuated = try await fixture.client.send(
            .post, "/v1/tokens", body: #"{"attenuation":["check if operation(\"read\");"]}"#, token: fixture.admin)
        #expect(attenuated.status == 201, "\(attenuated.body)")
        #expect((attenuated.object["revocation_ids"] as? [String])?.count == 2)
        let keys = try await Self.publishedKeys(fixture.client)
        let token = try Token(base64: attenuated.object["token"] as! String) { keys[$0 ?? .max] }
        #expect(Self.allows(token, #"operation("read"); allow if true;"#, at: now))
        // An attenuation block cannot add rights: the authorizer trusts the authority block only.
        let member = try await fixture.member("system", "reader", role: "org.viewer")
        let widened = try await fixture.client.send(
            .post, "/v1/tokens", body: #"{"attenuation":["right(\"cluster\", \"*.*.*\");"]}"#, token: member)
        #expect(widened.status == 201, "\(widened.body)")
        let widenedToken = try Token(base64: widened.object["token"] as! String) { keys[$0 ?? .max] }
        #expect(!Self.allows(widenedToken, #"allow if right("cluster", "*.*.*");"#, at: now), "no right gained by attenuating")
        #expect(Self.allows(token, #"operation("read"); allow if right("cluster", "*.*.*");"#, at: now), "the admin's own right")
        #expect(!Self.allows(token, #"operation("write"); allow if true;"#, at: now), "the attenuation holds")
    }

    @Test func badRequestsAreRefusedAndIssueNothing() async throws {
        let fixture = try await Fixture()
        let cases: [(body: String?, token: String?, status: Int)] = [
            (#"{"ttl_seconds":0}"#, fixture.admin, 400),
            (#"{"ttl_seconds":-1}"#, fixture.admin, 400),
            (#"{"ttl_seconds":9223372036854775808}"#, fixture.admin, 400),
            (#"{"ttl_seconds":"long"}"#, fixture.admin, 400),
            (#"{"attenuation":["check if"]}"#, fixture.admin, 400),
            (#"{"attenuation":[\#(Array(repeating: #""check if true;""#, count: 9).joined(separator: ","))]}"#, fixture.admin, 400),
            (#"{"scope":"all"}"#, fixture.admin, 400),
            (nil, nil, 401),
            (nil, "0000000000000000000000000000abcd.00", 401),
        ]
        let before = fixture.cluster.revision
        for (body, token, status) in cases {
            let answer = try await fixture.client.send(.post, "/v1/tokens", body: body, token: token)
            #expect(answer.status == status, "\(body ?? "-"): \(answer.body)")
            #expect(answer.object["token"] == nil)
        }
        #expect(fixture.cluster.revision == before, "issuing writes nothing")
    }

    @Test func expiriesAreWrittenAsRFC3339InUTC() {
        #expect(AdminRoutes.rfc3339(0) == "1970-01-01T00:00:00Z")
        #expect(AdminRoutes.rfc3339(1_700_000_600) == "2023-11-14T22:23:20Z")
        #expect(AdminRoutes.rfc3339(951_782_400) == "2000-02-29T00:00:00Z", "a leap day")
        #expect(AdminRoutes.rfc3339(253_402_300_799) == "9999-12-31T23:59:59Z")
    }
}
