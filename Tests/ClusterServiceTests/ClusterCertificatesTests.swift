import ClusterCertificates
import Foundation
import Testing

@testable import ClusterService

/// The cluster's certificates: a CA, replica and client certificates, and the checks a server
/// makes of its own at start, each refusal naming what is wrong.
@Suite struct ClusterCertificatesTests {
    @Test func aReplicaCertificateIsBoundToItsIdAndChecksAgainstItsCA() throws {
        let authority = try ClusterCertificates.makeAuthority(cluster: "prod", days: 30)
        let replica = try ClusterCertificates.issue(.replica(id: 2, cluster: "prod", hosts: ["rampart-2.internal", "127.0.0.2", "::1"]), by: authority, days: 10)
        let checked = try ClusterCertificates.check(
            certificatePEM: replica.certificatePEM, privateKeyPEM: replica.privateKeyPEM, authorityPEM: authority.certificatePEM)
        #expect(checked.replicaURI == "rampart://prod/replicas/2" && checked.subject.contains("prod replica 2"))
        #expect(checked.notValidAfter > Date().addingTimeInterval(9 * 86_400))
        let client = try ClusterCertificates.issue(.client(name: "billing"), by: authority, days: 10)
        let clientChecked = try ClusterCertificates.check(
            certificatePEM: client.certificatePEM, privateKeyPEM: client.privateKeyPEM, authorityPEM: authority.certificatePEM)
        #expect(clientChecked.replicaURI == nil && clientChecked.subject.contains("billing"))
    }

    @Test func aWrongKeyAnotherCAAnExpiredOrAFutureCertificateIsRefused() throws {
        let authority = try ClusterCertificates.makeAuthority(cluster: "prod", days: 30)
        let other = try ClusterCertificates.makeAuthority(cluster: "prod", days: 30)
        let replica = try ClusterCertificates.issue(.replica(id: 1, cluster: "prod", hosts: ["127.0.0.1"]), by: authority, days: 10)
        let second = try ClusterCertificates.issue(.replica(id: 2, cluster: "prod", hosts: ["127.0.0.1"]), by: authority, days: 10)
        func refusal(_ certificate: String, _ key: String, _ ca: String?, now: Date = Date()) -> CertificateError? {
            do {
                _ = try ClusterCertificates.check(certificatePEM: certificate, privateKeyPEM: key, authorityPEM: ca, now: now)
                return nil
            } catch {
                return error
            }
        }
        #expect(refusal(replica.certificatePEM, replica.privateKeyPEM, authority.certificatePEM) == nil)
        if case .keyMismatch? = refusal(replica.certificatePEM, second.privateKeyPEM, nil) {} else { Issue.record("another replica's key") }
        if case .notSignedByAuthority? = refusal(replica.certificatePEM, replica.privateKeyPEM, other.certificatePEM) {} else {
            Issue.record("another CA")
        }
        if case .expired? = refusal(replica.certificatePEM, replica.privateKeyPEM, nil, now: Date().addingTimeInterval(11 * 86_400)) {} else {
            Issue.record("expired")
        }
        if case .notYetValid? = refusal(replica.certificatePEM, replica.privateKeyPEM, nil, now: Date().addingTimeInterval(-3600)) {} else {
            Issue.record("not yet valid")
        }
        if case .unreadable? = refusal("not a certificate", replica.privateKeyPEM, nil) {} else { Issue.record("garbage") }
        if case .unreadable? = refusal(replica.certificatePEM, "not a key", nil) {} else { Issue.record("garbage key") }
    }

    @Test func badHostsNamesAndLivesAreRefused() throws {
        let authority = try ClusterCertificates.makeAuthority(cluster: "prod", days: 30)
        for holder: ClusterCertificates.Holder in [
            .replica(id: 1, cluster: "prod", hosts: []), .replica(id: 0, cluster: "prod", hosts: ["a"]),
            .replica(id: 1, cluster: "prod", hosts: ["bad host"]), .replica(id: 1, cluster: "prod", hosts: ["a..b"]), .client(name: ""),
            .client(name: "a/b"),
        ] {
            #expect(throws: CertificateError.self, "\(holder)") { try ClusterCertificates.issue(holder, by: authority, days: 1) }
        }
        #expect(throws: CertificateError.self) { try ClusterCertificates.issue(.client(name: "x"), by: authority, days: 0) }
        #expect(throws: CertificateError.self) { try ClusterCertificates.makeAuthority(cluster: "prod", days: 100_000) }
        var forged = authority
        forged.privateKeyPEM = try ClusterCertificates.makeAuthority(cluster: "prod", days: 1).privateKeyPEM
        #expect(throws: CertificateError.self, "a CA key that is not the CA's") { try ClusterCertificates.issue(.client(name: "x"), by: forged, days: 1) }
    }

    @Test func theServerRefusesBadTLSFilesAtStartNamingTheFile() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("rampart-tls-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let authority = try ClusterCertificates.makeAuthority(cluster: "rampart", days: 30)
        let other = try ClusterCertificates.makeAuthority(cluster: "rampart", days: 30)
        let replica = try ClusterCertificates.issue(.replica(id: 1, cluster: "rampart", hosts: ["127.0.0.1"]), by: authority, days: 10)
        let second = try ClusterCertificates.issue(.replica(id: 2, cluster: "rampart", hosts: ["127.0.0.1"]), by: authority, days: 10)
        for (name, text) in [("ca.pem", authority.certificatePEM), ("other-ca.pem", other.certificatePEM), ("cert.pem", replica.certificatePEM),
                             ("key.pem", replica.privateKeyPEM), ("second-key.pem", second.privateKeyPEM)] {
            try text.write(toFile: "\(folder)/\(name)", atomically: true, encoding: .utf8)
        }
        func settings(_ cert: String, _ key: String, _ ca: String) throws -> ServerConfiguration {
            var flags = ServerConfigurationTests.minimal
            flags["tls_cert_file"] = "\(folder)/\(cert)"
            flags["tls_key_file"] = "\(folder)/\(key)"
            if !ca.isEmpty { flags["tls_ca_file"] = "\(folder)/\(ca)" }
            return try ServerConfiguration.load(file: nil, environment: [:], flags: flags)
        }
        #expect(try ReplicaServer.tlsContext(try settings("cert.pem", "key.pem", "ca.pem")) != nil)
        func refusal(_ cert: String, _ key: String, _ ca: String) -> String {
            do {
                _ = try ReplicaServer.tlsContext(try settings(cert, key, ca))
                return ""
            } catch {
                return "\(error)"
            }
        }
        #expect(refusal("cert.pem", "second-key.pem", "").contains("tls_key_file \(folder)/second-key.pem: the private key does not match"))
        #expect(refusal("cert.pem", "key.pem", "other-ca.pem").contains("not signed by the CA"))
        #expect(refusal("missing.pem", "key.pem", "").contains("tls_cert_file \(folder)/missing.pem: cannot read it"))
        var flags = ServerConfigurationTests.minimal
        flags["tls_cert_file"] = "\(folder)/cert.pem"
        #expect(throws: ConfigurationError.invalid("tls_key_file", "tls_cert_file and tls_key_file go together")) {
            try ServerConfiguration.load(file: nil, environment: [:], flags: flags)
        }
    }
}
