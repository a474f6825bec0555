import APIModels
import ClusterCertificates
import Foundation
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import AdminAPI

/// Client certificates as credentials: the field `ClientCertificateHandler` sets, trusted only
/// where the replica accepts client certificates, checked against the state on every request.
@Suite struct ClientCertificateTests {
    /// A fixture whose routes accept client certificates, with `alpha/dev`, an org viewer.
    static func fixture(clientCertificates: Bool = true) async throws -> Fixture {
        var limits = AdminRoutes.Limits()
        limits.clientCertificates = clientCertificates
        let fixture = try await Fixture(limits: limits)
        try await fixture.organization("alpha")
        _ = try await fixture.member("alpha", "dev", role: "org.viewer")
        return fixture
    }

    static let fingerprint = String(repeating: "ab", count: 32)

    static func field(_ principal: String) -> [String: String] {
        ["rampart-client-certificate": "ok \(principal) 1700000000 \(fingerprint)"]
    }

    @Test func aCertificateNamingAPrincipalAuthenticatesAsIt() async throws {
        let fixture = try await Self.fixture()
        let read = try await fixture.client.send(.get, "/v1/orgs/alpha/projects", headers: Self.field("alpha/dev"))
        #expect(read.status == 200, "\(read.body)")
        let write = try await fixture.client.send(.post, "/v1/orgs/alpha/projects", body: #"{"name":"x"}"#, headers: Self.field("alpha/dev"))
        #expect(write.status == 403, "a viewer's certificate cannot write: \(write.body)")
        let token = try await fixture.client.send(.post, "/v1/tokens", headers: Self.field("alpha/dev"))
        #expect(token.status == 403 && token.body.contains("tokens are issued to API keys"), "\(token.body)")
    }

    @Test func unknownRefusedMalformedAndRevokedCertificatesAreRefused() async throws {
        let fixture = try await Self.fixture()
        let before = fixture.cluster.fingerprint
        for (headers, expected) in [
            (Self.field("alpha/ghost"), "does not exist"),
            (["rampart-client-certificate": "refused the client certificate names no principal of cluster rampart"], "names no principal"),
            (["rampart-client-certificate": "ok alpha/dev"], "unreadable"),
            (["rampart-client-certificate": "ok Alpha/DEV 0 \(Self.fingerprint)"], "which is not organization"),
        ] {
            let answer = try await fixture.client.send(.post, "/v1/orgs/alpha/projects", body: #"{"name":"x"}"#, headers: headers)
            #expect(answer.status == 401 && answer.body.contains(expected), "\(headers): \(answer.body)")
        }
        #expect(fixture.cluster.fingerprint == before, "nothing changed")
        let revoked = try await fixture.client.send(
            .post, "/v1/tokens/revoke", body: #"{"revocation_ids":["\#(Self.fingerprint)"],"reason":"lost"}"#, token: fixture.admin)
        #expect(revoked.status == 200 || revoked.status == 201, "\(revoked.body)")
        let refused = try await fixture.client.send(.get, "/v1/orgs/alpha/projects", headers: Self.field("alpha/dev"))
        #expect(refused.status == 401 && refused.body.contains("revoked") && refused.body.contains("lost"), "\(refused.body)")
    }

    @Test func theFieldIsIgnoredWhereClientCertificatesAreOff() async throws {
        let fixture = try await Self.fixture(clientCertificates: false)
        let answer = try await fixture.client.send(.get, "/v1/orgs/alpha/projects", headers: Self.field("system/admin"))
        #expect(answer.status == 401 && !answer.body.contains("client certificate"), "\(answer.body)")
    }

    @Test func theHandlerRemovesAFieldTheClientSent() throws {
        // No TLS on this channel, so no certificate: the forged field is removed, none added.
        let channel = EmbeddedChannel(handler: ClientCertificateHandler(cluster: "rampart"))
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/v1/orgs")
        head.headers.add(name: "Rampart-Client-Certificate", value: "ok system/admin 0 00")
        head.headers.add(name: "rampart-client-certificate", value: "ok system/admin 0 00")
        try channel.writeInbound(HTTPServerRequestPart.head(head))
        guard case .head(let passed)? = try channel.readInbound(as: HTTPServerRequestPart.self) else {
            Issue.record("the head was not passed on")
            return
        }
        #expect(passed.headers["rampart-client-certificate"].isEmpty && passed.uri == "/v1/orgs")
        _ = try channel.finish()
    }

    @Test func aCertificateNamesOnePrincipalOfItsCluster() throws {
        let authority = try ClusterCertificates.makeAuthority(cluster: "prod", days: 30)
        func der(_ holder: ClusterCertificates.Holder) throws -> [UInt8] {
            let pem = try ClusterCertificates.issue(holder, by: authority, days: 1).certificatePEM
            let base64 = pem.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
            return Array(try #require(Data(base64Encoded: base64)))
        }
        let named = try der(.client(name: "deployer", principal: "alpha/dev", cluster: "prod"))
        let identity = try ClusterCertificates.clientIdentity(certificateDER: named, cluster: "prod").get()
        #expect(identity.principal == "alpha/dev" && identity.fingerprint.count == 32)
        #expect((try? ClusterCertificates.clientIdentity(certificateDER: named, cluster: "staging").get()) == nil, "another cluster's principal")
        #expect((try? ClusterCertificates.clientIdentity(certificateDER: try der(.client(name: "ops")), cluster: "prod").get()) == nil)
        for bad in ["alpha", "alpha/dev/x", "Alpha/dev", "/dev", "alpha/"] {
            #expect(throws: CertificateError.self, "\(bad)") {
                try ClusterCertificates.issue(.client(name: "x", principal: bad), by: authority, days: 1)
            }
        }
    }
}
