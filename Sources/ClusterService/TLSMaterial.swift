import AdminAPI
import ClusterCertificates
import Crypto
import Foundation
import Logging
import NIOSSL
import PeerTransport
import RaftCore
import ServiceLifecycle
import Synchronization
import UnixSignals

/// A replica's TLS as loaded from its files: the API's server context, the peers' contexts, and
/// when each certificate expires. Every file is checked before it is used
/// (`ClusterCertificates.check`): readable, the key the certificate's, valid now, signed by the
/// CA; a peer certificate must also name this replica. The same loading serves the start
/// (where a problem stops the replica) and every reload (where it keeps the certificates in
/// use).
struct TLSMaterial {
    /// The API's context; nil when the API serves plain HTTP.
    var api: NIOSSLContext?
    /// The peer links' contexts; nil when peer TLS is off.
    var peer: (server: NIOSSLContext, client: NIOSSLContext)?
    /// The cluster the peer certificate names (`rampart://<cluster>/replicas/<id>`): peers must
    /// present certificates of the same cluster.
    var peerCluster: String?
    /// The cluster the API certificate names: client certificates must name principals of it.
    var apiCluster: String?
    /// When each certificate in use expires, by what it is used for (`api`, `peer`, `ca`).
    var expiries: [String: Date] = [:]

    /// Loads and checks the files `settings` name, as of `now`.
    /// - Throws: `ServerStartError` naming the setting, the file and what is wrong with it.
    static func load(_ settings: ServerConfiguration, now: Date = Date()) throws(ServerStartError) -> TLSMaterial {
        var material = TLSMaterial()
        // The API's files, once read and checked: the peers use the same files by default.
        var apiLoaded: (files: [String], loaded: Loaded)?
        if !settings.tlsCertFile.isEmpty {
            let loaded = try checked(
                certificate: ("tls_cert_file", settings.tlsCertFile), key: ("tls_key_file", settings.tlsKeyFile),
                authority: settings.tlsCAFile.isEmpty ? nil : ("tls_ca_file", settings.tlsCAFile), now: now)
            apiLoaded = ([settings.tlsCertFile, settings.tlsKeyFile, settings.tlsCAFile], loaded)
            material.expiries["api"] = loaded.checked.notValidAfter
            if let authority = loaded.authorityExpiry { material.expiries["ca"] = authority }
            material.apiCluster = ClusterCertificates.replicaIdentity(certificatePEM: loaded.certificatePEM)?.cluster
            if settings.apiClientCertificates != .off && material.apiCluster == nil {
                throw ServerStartError(
                    "tls_cert_file \(settings.tlsCertFile): names no replica of a cluster, so client certificates (api_client_certificates) "
                        + "cannot be matched to it; use a replica certificate (rampart certs issue --replica)")
            }
            do {
                var configuration = TLSConfiguration.makeServerConfiguration(
                    certificateChain: loaded.chain.map { .certificate($0) }, privateKey: .privateKey(loaded.key))
                configuration.minimumTLSVersion = .tlsv12
                // HTTP/2 when the client asks for it by ALPN (api_http2); HTTP/1.1 otherwise.
                if settings.apiHTTP2 { configuration.applicationProtocols = ["h2", "http/1.1"] }
                switch settings.apiClientCertificates {
                case .off: break
                case .optional:
                    configuration.trustRoots = .certificates(loaded.authorityChain)
                    configuration.certificateVerification = .optionalVerification
                case .required:
                    configuration.trustRoots = .certificates(loaded.authorityChain)
                    configuration.certificateVerification = .noHostnameVerification
                }
                material.api = try NIOSSLContext(configuration: configuration)
            } catch {
                throw ServerStartError("tls_cert_file \(settings.tlsCertFile): cannot be served: \(error)")
            }
        }
        if let files = settings.peerTLSFiles {
            let names = (
                certificate: settings.peerCertFile.isEmpty ? "tls_cert_file" : "peer_cert_file",
                key: settings.peerKeyFile.isEmpty ? "tls_key_file" : "peer_key_file",
                authority: settings.peerCAFile.isEmpty ? "tls_ca_file" : "peer_ca_file")
            let loaded: Loaded
            if let apiLoaded, apiLoaded.files == [files.certificate, files.key, files.authority] {
                loaded = apiLoaded.loaded
            } else {
                loaded = try checked(
                    certificate: (names.certificate, files.certificate), key: (names.key, files.key),
                    authority: (names.authority, files.authority), now: now)
            }
            guard let identity = ClusterCertificates.replicaIdentity(certificatePEM: loaded.certificatePEM) else {
                throw ServerStartError(
                    "\(names.certificate) \(files.certificate): names no replica (rampart://<cluster>/replicas/<id>); "
                        + "peers need a replica certificate (rampart certs issue --replica \(settings.replicaID))")
            }
            guard identity.id == settings.replicaID else {
                throw ServerStartError(
                    "\(names.certificate) \(files.certificate): names replica \(identity.id) of cluster \(identity.cluster), but this is replica \(settings.replicaID)")
            }
            material.peerCluster = identity.cluster
            material.expiries["peer"] = loaded.checked.notValidAfter
            if let authority = loaded.authorityExpiry { material.expiries["ca"] = min(authority, material.expiries["ca"] ?? authority) }
            do {
                let configurations = PeerTLSContexts.configurations(
                    certificateChain: loaded.chain, privateKey: loaded.key, authority: loaded.authorityChain)
                material.peer = (try NIOSSLContext(configuration: configurations.server), try NIOSSLContext(configuration: configurations.client))
            } catch {
                throw ServerStartError("\(names.certificate) \(files.certificate): cannot be used for peers: \(error)")
            }
        }
        return material
    }

    /// A digest of every TLS file's contents (a missing file counts as empty): when it changes,
    /// the files are worth loading again.
    static func fingerprint(_ settings: ServerConfiguration) -> [UInt8] {
        var hash = SHA256()
        var paths = [settings.tlsCertFile, settings.tlsKeyFile, settings.tlsCAFile]
        if let files = settings.peerTLSFiles {
            // Usually the same files as the API's: each is read once.
            paths += [files.certificate, files.key, files.authority].filter { !paths.contains($0) }
        }
        for path in paths where !path.isEmpty {
            hash.update(data: Data(path.utf8))
            hash.update(data: FileManager.default.contents(atPath: path) ?? Data())
        }
        return Array(hash.finalize())
    }

    private struct Loaded {
        var certificatePEM: String
        var chain: [NIOSSLCertificate]
        var key: NIOSSLPrivateKey
        var authorityChain: [NIOSSLCertificate]
        var authorityExpiry: Date?
        var checked: ClusterCertificates.Checked
    }

    private static func checked(
        certificate: (setting: String, path: String), key: (setting: String, path: String), authority: (setting: String, path: String)?, now: Date
    ) throws(ServerStartError) -> Loaded {
        func read(_ file: (setting: String, path: String)) throws(ServerStartError) -> String {
            guard let data = FileManager.default.contents(atPath: file.path) else { throw ServerStartError("\(file.setting) \(file.path): cannot read it") }
            return String(decoding: data, as: UTF8.self)
        }
        let certificatePEM = try read(certificate)
        let keyPEM = try read(key)
        let authorityPEM = try authority.map { file throws(ServerStartError) in try read(file) }
        let checked: ClusterCertificates.Checked
        do {
            checked = try ClusterCertificates.check(certificatePEM: certificatePEM, privateKeyPEM: keyPEM, authorityPEM: authorityPEM, now: now)
        } catch {
            let file: String
            switch error {
            case .keyMismatch: file = "\(key.setting) \(key.path)"
            case .notSignedByAuthority: file = "\(certificate.setting) \(certificate.path) (CA \(authority?.path ?? "?"))"
            default: file = "\(certificate.setting) \(certificate.path)"
            }
            throw ServerStartError("\(file): \(error)")
        }
        do {
            let authorityChain = try authorityPEM.map { try NIOSSLCertificate.fromPEMBytes(Array($0.utf8)) } ?? []
            return Loaded(
                certificatePEM: certificatePEM, chain: try NIOSSLCertificate.fromPEMBytes(Array(certificatePEM.utf8)),
                key: try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem), authorityChain: authorityChain,
                authorityExpiry: authorityChain.first.map { Date(timeIntervalSince1970: TimeInterval($0.notValidAfter)) }, checked: checked)
        } catch {
            throw ServerStartError("\(certificate.setting) \(certificate.path): cannot be loaded for TLS: \(error)")
        }
    }
}

/// Keeps a replica's TLS current without a restart: on SIGHUP, and whenever the files' contents
/// change (read every `tls_reload_interval_seconds`), it loads them again (`TLSMaterial.load`)
/// and, if they pass every check, serves new connections with them; open connections keep
/// theirs. A file that fails a check is logged with the reason and the certificates in use
/// stay. It also warns in the logs, hourly, of a certificate that expires within
/// `tls_expiry_warning_days`, and exports each expiry as a metric.
final class TLSReloader: Service, Sendable {
    private let settings: ServerConfiguration
    private let api: TLSServerContext?
    private let peers: PeerTLSContexts?
    private let logger: Logger
    private let state: Mutex<State>

    private struct State {
        var fingerprint: [UInt8]
        var expiries: [String: Date]
        var peerCluster: String?
        var lastWarning: Date?
        var reloads = 0
        var failures = 0
    }

    /// Watches the files `settings` name, which gave `material` at start.
    init(settings: ServerConfiguration, material: TLSMaterial, api: TLSServerContext?, peers: PeerTLSContexts?, logger: Logger) {
        self.settings = settings
        self.api = api
        self.peers = peers
        self.logger = logger
        state = Mutex(State(fingerprint: TLSMaterial.fingerprint(settings), expiries: material.expiries, peerCluster: material.peerCluster))
    }

    func run() async throws {
        warnOfExpiry(now: Date())
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await _ in await UnixSignalsSequence(trapping: .sighup) {
                        self.reload(reason: "SIGHUP", force: true)
                    }
                }
                if self.settings.tlsReloadIntervalSeconds > 0 {
                    group.addTask {
                        while !Task.isCancelled {
                            try? await Task.sleep(for: .seconds(self.settings.tlsReloadIntervalSeconds))
                            guard !Task.isCancelled else { return }
                            self.reload(reason: "the files changed", force: false)
                            self.warnOfExpiry(now: Date())
                        }
                    }
                }
                await group.waitForAll()
            }
        }
    }

    /// Loads the files again when forced or when their contents changed, and serves new
    /// connections with them if they pass every check.
    /// - Returns: whether new certificates were put in use.
    @discardableResult
    func reload(reason: String, force: Bool) -> Bool {
        let fingerprint = TLSMaterial.fingerprint(settings)
        let (unchanged, cluster) = state.withLock { ($0.fingerprint == fingerprint, $0.peerCluster) }
        if unchanged && !force { return false }
        do {
            let material = try TLSMaterial.load(settings)
            if let cluster, material.peerCluster != cluster {
                throw ServerStartError("the peer certificate names cluster \(material.peerCluster ?? "none"), not \(cluster)")
            }
            if let context = material.api { api?.replace(with: context) }
            if let contexts = material.peer { peers?.replace(server: contexts.server, client: contexts.client) }
            state.withLock {
                $0.fingerprint = fingerprint
                $0.expiries = material.expiries
                $0.reloads += 1
            }
            logger.info(
                "reloaded the TLS certificates", metadata: ["reason": "\(reason)", "expires": "\(material.expiries.mapValues { "\($0)" })"])
            return true
        } catch {
            // Remembered, so that the same broken files are not reported every interval; a
            // further change (or SIGHUP) tries again.
            state.withLock {
                $0.fingerprint = fingerprint
                $0.failures += 1
            }
            logger.error("kept the TLS certificates in use: the new files were refused", metadata: ["reason": "\(reason)", "error": "\(error)"])
            return false
        }
    }

    /// Logs a warning for each certificate expiring within `tls_expiry_warning_days` of `now`, at
    /// most once an hour.
    func warnOfExpiry(now: Date) {
        let window = TimeInterval(settings.tlsExpiryWarningDays) * 86_400
        let expiring = state.withLock { state -> [String: Date] in
            let soon = state.expiries.filter { $0.value.timeIntervalSince(now) < window }
            guard !soon.isEmpty, state.lastWarning.map({ now.timeIntervalSince($0) >= 3600 }) ?? true else { return [:] }
            state.lastWarning = now
            return soon
        }
        for (use, expiry) in expiring.sorted(by: { $0.key < $1.key }) {
            let days = Int(expiry.timeIntervalSince(now) / 86_400)
            logger.warning(
                "a TLS certificate expires soon: renew it (the replica reloads renewed files by itself)",
                metadata: ["use": "\(use)", "expires": "\(expiry)", "days_left": "\(days)"])
        }
    }

    /// The metrics of the certificates in use, in the Prometheus text format.
    func metricsText() -> String {
        let (expiries, reloads, failures) = state.withLock { ($0.expiries, $0.reloads, $0.failures) }
        var lines = [
            "# HELP rampart_tls_certificate_expiry_timestamp_seconds When each certificate in use expires (Unix time), by use.",
            "# TYPE rampart_tls_certificate_expiry_timestamp_seconds gauge",
        ]
        for (use, expiry) in expiries.sorted(by: { $0.key < $1.key }) {
            lines.append("rampart_tls_certificate_expiry_timestamp_seconds{use=\"\(use)\"} \(Int(expiry.timeIntervalSince1970))")
        }
        lines += [
            "# HELP rampart_tls_reloads_total Certificate reloads put in use.", "# TYPE rampart_tls_reloads_total counter",
            "rampart_tls_reloads_total \(reloads)",
            "# HELP rampart_tls_reload_failures_total Certificate reloads refused (the certificates in use stayed).",
            "# TYPE rampart_tls_reload_failures_total counter", "rampart_tls_reload_failures_total \(failures)",
        ]
        return lines.joined(separator: "\n") + "\n"
    }
}
