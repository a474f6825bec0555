import AdminAPI
import ClusterCertificates
import Foundation
import Logging
import NIOSSL
import PeerTransport
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
        #expect(try TLSMaterial.load(try settings("cert.pem", "key.pem", "ca.pem")).api != nil)
        func refusal(_ cert: String, _ key: String, _ ca: String) -> String {
            do {
                _ = try TLSMaterial.load(try settings(cert, key, ca))
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

    @Test func aPeerCertificateMustNameExactlyTheReplicaItStandsFor() throws {
        let authority = try ClusterCertificates.makeAuthority(cluster: "prod", days: 30)
        func der(_ issued: ClusterCertificates.Issued) throws -> [UInt8] {
            try NIOSSLCertificate.fromPEMBytes(Array(issued.certificatePEM.utf8))[0].toDERBytes()
        }
        let two = try der(try ClusterCertificates.issue(.replica(id: 2, cluster: "prod", hosts: ["127.0.0.1"]), by: authority, days: 1))
        #expect(ClusterCertificates.replicaIdentityProblem(certificateDER: two, cluster: "prod", id: 2) == nil)
        #expect(ClusterCertificates.replicaIdentityProblem(certificateDER: two, cluster: "prod", id: 3)?.contains("names rampart://prod/replicas/2, not rampart://prod/replicas/3") == true)
        #expect(ClusterCertificates.replicaIdentityProblem(certificateDER: two, cluster: "staging", id: 2) != nil)
        let client = try der(try ClusterCertificates.issue(.client(name: "billing"), by: authority, days: 1))
        #expect(ClusterCertificates.replicaIdentityProblem(certificateDER: client, cluster: "prod", id: 2)?.contains("names no replica") == true)
        #expect(ClusterCertificates.replicaIdentityProblem(certificateDER: [0x30, 0x03, 0x01], cluster: "prod", id: 2)?.contains("cannot be read") == true)
        let identity = ClusterCertificates.replicaIdentity(
            certificatePEM: try ClusterCertificates.issue(.replica(id: 7, cluster: "eu-west", hosts: ["a.example"]), by: authority, days: 1).certificatePEM)
        #expect(identity?.cluster == "eu-west" && identity?.id == 7)
    }

    /// A folder of certificate files for replica 1 of cluster `rampart`, removed by `remove`.
    struct Files {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("rampart-tls-\(UUID().uuidString)").path
        let authority: ClusterCertificates.Issued

        init() throws {
            authority = try ClusterCertificates.makeAuthority(cluster: "rampart", days: 30)
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try write("ca.pem", authority.certificatePEM)
        }

        func write(_ name: String, _ text: String) throws {
            try text.write(toFile: "\(folder)/\(name)", atomically: true, encoding: .utf8)
        }

        /// Writes `holder`'s certificate and key as `name`.pem and `name`-key.pem.
        func issue(_ holder: ClusterCertificates.Holder, as name: String, days: Int = 10) throws {
            let issued = try ClusterCertificates.issue(holder, by: authority, days: days)
            try write("\(name).pem", issued.certificatePEM)
            try write("\(name)-key.pem", issued.privateKeyPEM)
        }

        func settings(_ extra: [String: String] = [:]) throws -> ServerConfiguration {
            var flags = ServerConfigurationTests.minimal
            flags["tls_cert_file"] = "\(folder)/replica.pem"
            flags["tls_key_file"] = "\(folder)/replica-key.pem"
            flags["tls_ca_file"] = "\(folder)/ca.pem"
            flags.merge(extra) { $1 }
            return try ServerConfiguration.load(file: nil, environment: [:], flags: flags)
        }

        func remove() { try? FileManager.default.removeItem(atPath: folder) }
    }

    func refusal(_ settings: ServerConfiguration) -> String {
        do {
            _ = try TLSMaterial.load(settings)
            return ""
        } catch {
            return "\(error)"
        }
    }

    @Test func peerTLSIsOnWithACAAndRefusesACertificateOfAnotherReplica() throws {
        let files = try Files()
        defer { files.remove() }
        try files.issue(.replica(id: 1, cluster: "rampart", hosts: ["127.0.0.1"]), as: "replica")
        try files.issue(.replica(id: 2, cluster: "rampart", hosts: ["127.0.0.1"]), as: "second")
        try files.issue(.client(name: "ops"), as: "client")
        let material = try TLSMaterial.load(try files.settings())
        #expect(material.api != nil && material.peer != nil && material.peerCluster == "rampart")
        #expect(Set(material.expiries.keys) == ["api", "peer", "ca"])
        #expect(try TLSMaterial.load(try files.settings(["peer_tls": "off"])).peer == nil)
        #expect(
            refusal(try files.settings(["peer_cert_file": "\(files.folder)/second.pem", "peer_key_file": "\(files.folder)/second-key.pem"]))
                .contains("peer_cert_file \(files.folder)/second.pem: names replica 2 of cluster rampart, but this is replica 1"))
        #expect(
            refusal(try files.settings(["peer_cert_file": "\(files.folder)/client.pem", "peer_key_file": "\(files.folder)/client-key.pem"]))
                .contains("names no replica"))
        // Without a CA there is nothing to verify peers with: auto leaves the peers on HMAC, on refuses.
        var flags = ServerConfigurationTests.minimal
        flags["tls_cert_file"] = "\(files.folder)/replica.pem"
        flags["tls_key_file"] = "\(files.folder)/replica-key.pem"
        #expect(try TLSMaterial.load(try ServerConfiguration.load(file: nil, environment: [:], flags: flags)).peer == nil)
        flags["peer_tls"] = "on"
        #expect(throws: ConfigurationError.self) { try ServerConfiguration.load(file: nil, environment: [:], flags: flags) }
        flags["peer_tls"] = "off"
        flags["peer_ca_file"] = "\(files.folder)/ca.pem"
        #expect(throws: ConfigurationError.invalid("peer_ca_file", "is set but peer_tls is off")) {
            try ServerConfiguration.load(file: nil, environment: [:], flags: flags)
        }
        flags["peer_tls"] = "maybe"
        #expect(throws: ConfigurationError.self) { try ServerConfiguration.load(file: nil, environment: [:], flags: flags) }
    }

    @Test func theReloaderPutsRenewedFilesInUseAndKeepsTheOldOnesWhenTheNewAreBad() throws {
        let files = try Files()
        defer { files.remove() }
        try files.issue(.replica(id: 1, cluster: "rampart", hosts: ["127.0.0.1"]), as: "replica", days: 10)
        let settings = try files.settings()
        let material = try TLSMaterial.load(settings)
        let api = TLSServerContext(material.api!)
        let peers = PeerTLSContexts(server: material.peer!.server, client: material.peer!.client)
        let reloader = TLSReloader(settings: settings, material: material, api: api, peers: peers, logger: Logger(label: "test"))
        let first = (api.current, peers.server, peers.client)
        #expect(!reloader.reload(reason: "test", force: false), "unchanged files are not loaded again")
        #expect(reloader.metricsText().contains("rampart_tls_reloads_total 0"))

        // Renewed for longer: in use at once, and the expiry metric moves.
        try files.issue(.replica(id: 1, cluster: "rampart", hosts: ["127.0.0.1"]), as: "replica", days: 20)
        #expect(reloader.reload(reason: "test", force: false))
        #expect(api.current !== first.0 && peers.server !== first.1 && peers.client !== first.2)
        let expiry = Int(Date().addingTimeInterval(20 * 86_400).timeIntervalSince1970)
        let line = reloader.metricsText().split(separator: "\n").first { $0.hasPrefix("rampart_tls_certificate_expiry_timestamp_seconds{use=\"api\"}") }
        #expect(line.flatMap { Int($0.split(separator: " ").last ?? "") }.map { abs($0 - expiry) < 120 } == true, "\(line ?? "none")")

        // A key that does not match, then another replica's certificate: refused, the old stay.
        let second = (api.current, peers.server)
        try files.write("replica-key.pem", try ClusterCertificates.issue(.client(name: "x"), by: files.authority, days: 1).privateKeyPEM)
        #expect(!reloader.reload(reason: "test", force: false))
        try files.issue(.replica(id: 2, cluster: "rampart", hosts: ["127.0.0.1"]), as: "replica")
        #expect(!reloader.reload(reason: "test", force: true))
        #expect(api.current === second.0 && peers.server === second.1)
        #expect(reloader.metricsText().contains("rampart_tls_reloads_total 1") && reloader.metricsText().contains("rampart_tls_reload_failures_total 2"))
    }

    @Test func theLogsWarnOfACertificateNearItsExpiryAtMostHourly() throws {
        let files = try Files()
        defer { files.remove() }
        try files.issue(.replica(id: 1, cluster: "rampart", hosts: ["127.0.0.1"]), as: "replica", days: 10)
        // The replica's certificate lives 10 days, the CA 30: all three are within 31 days.
        let settings = try files.settings(["tls_expiry_warning_days": "31"])
        let material = try TLSMaterial.load(settings)
        let recorder = RecordingLogHandler()
        let reloader = TLSReloader(
            settings: settings, material: material, api: nil, peers: nil, logger: Logger(label: "test") { _ in recorder })
        let now = Date()
        reloader.warnOfExpiry(now: now)
        let warnings = recorder.messages.filter { $0.level == .warning }
        #expect(warnings.count == 3, "the API, peer and CA certificates all expire within 31 days: \(recorder.messages)")
        #expect(warnings.contains { $0.text.contains("expires soon") && $0.metadata.contains("use=api") && ($0.metadata.contains("days_left=9") || $0.metadata.contains("days_left=10")) })
        reloader.warnOfExpiry(now: now.addingTimeInterval(600))
        #expect(recorder.messages.filter { $0.level == .warning }.count == 3, "not again within the hour")
        reloader.warnOfExpiry(now: now.addingTimeInterval(3700))
        #expect(recorder.messages.filter { $0.level == .warning }.count == 6, "again after an hour")
        // Far from expiry: no warning.
        let quiet = RecordingLogHandler()
        let distant = TLSReloader(
            settings: try files.settings(["tls_expiry_warning_days": "1"]), material: material, api: nil, peers: nil,
            logger: Logger(label: "test") { _ in quiet })
        distant.warnOfExpiry(now: now)
        #expect(quiet.messages.isEmpty)
    }
}

/// Keeps what is logged, for tests.
final class RecordingLogHandler: LogHandler, @unchecked Sendable {
    struct Entry: Sendable {
        var level: Logger.Level
        var text: String
        var metadata: String
    }

    private let lock = NSLock()
    private var entries: [Entry] = []
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    var messages: [Entry] { lock.withLock { entries } }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let text = (event.metadata ?? [:]).map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " ")
        lock.withLock { entries.append(Entry(level: event.level, text: "\(event.message)", metadata: text)) }
    }
}
