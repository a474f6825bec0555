import ArgumentParser
import ClusterService
import Foundation
import Logging

/// `rampart server`: runs one replica until SIGTERM or SIGINT (then hands leadership over and
/// stops cleanly), until it is removed from the cluster, or until its disk fails.
struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server", abstract: "Run a replica.",
        discussion: """
            Settings come from --config (JSON), then RAMPART_* environment variables, then flags.
            See cluster/README.md for every setting.
            """)

    @Option(help: "A JSON configuration file.") var config: String?
    @Option(help: "This replica's id.") var replicaId: String?
    @Option(help: "The data directory.") var dataDirectory: String?
    @Option(help: "host:port peers connect to.") var peerListen: String?
    @Option(help: "host:port of the HTTP API.") var apiListen: String?
    @Option(help: "Every replica's peer address: 1=host:port,2=host:port,...") var peers: String?
    @Option(help: "Founding voters of a new cluster: 1,2,3 (omit to join an existing one).") var initialCluster: String?
    @Option(help: "File holding the cluster secret.") var clusterSecretFile: String?
    @Option(help: "File holding the key-encryption key.") var keyEncryptionKeyFile: String?
    @Option(help: "Milliseconds per Raft tick.") var tickMilliseconds: String?
    @Option(help: "Election timeout in ticks.") var electionTimeoutTicks: String?
    @Option(help: "Heartbeat interval in ticks.") var heartbeatTicks: String?
    @Option(help: "Entries applied between snapshots.") var snapshotIntervalEntries: String?
    @Option(help: "Seconds a new root key stays pending before it is activated.") var keyActivationSeconds: String?
    @Option(help: "Seconds a replaced root key keeps verifying before it is retired (at least the token max TTL).") var keyOverlapSeconds: String?
    @Option(help: "Seconds a root key signs before the leader publishes its successor (0: rotate only on request).")
    var keyRotationIntervalSeconds: String?
    @Option(help: "The longest life of an issued token, in seconds (default 3600).") var tokenMaxTtlSeconds: String?
    @Option(help: "Seconds a learner added by address must stay caught up before the leader promotes it (0: never; default 10).")
    var autoPromoteSeconds: String?
    @Option(help: "trace, debug, info, notice, warning, error or critical.") var logLevel: String?
    @Option(help: "The most API connections open at once (default: what the descriptor limit allows, at most 4096).")
    var apiMaxConnections: String?
    @Option(help: "Seconds an API connection may stay silent before it is closed (default 120).") var apiIdleTimeoutSeconds: String?
    @Option(help: "Seconds a request's head may take to arrive once it began (default 10).") var apiHeaderTimeoutSeconds: String?
    @Option(help: "The API's TLS certificate (PEM); with --tls-key-file the API serves HTTPS only.") var tlsCertFile: String?
    @Option(help: "The private key of --tls-cert-file (PEM).") var tlsKeyFile: String?
    @Option(help: "The cluster CA (PEM) the certificate must be signed by (checked at start).") var tlsCaFile: String?
    @Option(help: "Offer HTTP/2 by ALPN next to HTTP/1.1 (true or false; HTTPS only; default false).") var apiHttp2: String?
    @Option(help: "Client certificates on the API: off, optional (one naming a principal authenticates) or required.")
    var apiClientCertificates: String?
    @Option(help: "Mutual TLS between replicas: auto (on when a certificate and a CA are known), on or off.") var peerTls: String?
    @Option(help: "The certificate presented to peers; it must name this replica (default: --tls-cert-file).") var peerCertFile: String?
    @Option(help: "The private key of --peer-cert-file (default: --tls-key-file).") var peerKeyFile: String?
    @Option(help: "The CA the peers' certificates must be signed by (default: --tls-ca-file).") var peerCaFile: String?
    @Option(help: "Seconds between reads of the certificate files for renewed ones (default 10; 0: on SIGHUP only).")
    var tlsReloadIntervalSeconds: String?
    @Option(help: "Days ahead of a certificate's expiry the logs warn of it (default 30).") var tlsExpiryWarningDays: String?

    func run() async throws {
        let settings: ServerConfiguration
        do {
            settings = try ServerConfiguration.load(file: config, environment: ProcessInfo.processInfo.environment, flags: flags())
        } catch {
            throw ValidationError("configuration: \(error)")
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = Logger.Level(rawValue: settings.logLevel) ?? .info
            return handler
        }
        let logger = Logger(label: "rampart.replica-\(settings.replicaID)")
        do {
            try await ReplicaServer(settings: settings, logger: logger).run()
        } catch let error as ServerStartError {
            throw ValidationError(error.description)
        }
    }

    private func flags() -> [String: String] {
        let pairs: [(String, String?)] = [
            ("replica_id", replicaId), ("data_directory", dataDirectory), ("peer_listen", peerListen), ("api_listen", apiListen),
            ("peers", peers), ("initial_cluster", initialCluster), ("cluster_secret_file", clusterSecretFile),
            ("key_encryption_key_file", keyEncryptionKeyFile), ("tick_milliseconds", tickMilliseconds),
            ("election_timeout_ticks", electionTimeoutTicks), ("heartbeat_ticks", heartbeatTicks),
            ("snapshot_interval_entries", snapshotIntervalEntries), ("key_activation_seconds", keyActivationSeconds),
            ("key_overlap_seconds", keyOverlapSeconds), ("key_rotation_interval_seconds", keyRotationIntervalSeconds), ("token_max_ttl_seconds", tokenMaxTtlSeconds),
            ("auto_promote_seconds", autoPromoteSeconds), ("log_level", logLevel),
            ("api_max_connections", apiMaxConnections),
            ("api_idle_timeout_seconds", apiIdleTimeoutSeconds), ("api_header_timeout_seconds", apiHeaderTimeoutSeconds),
            ("tls_cert_file", tlsCertFile), ("tls_key_file", tlsKeyFile), ("tls_ca_file", tlsCaFile), ("peer_tls", peerTls),
            ("peer_cert_file", peerCertFile), ("peer_key_file", peerKeyFile), ("peer_ca_file", peerCaFile),
            ("tls_reload_interval_seconds", tlsReloadIntervalSeconds), ("tls_expiry_warning_days", tlsExpiryWarningDays),
            ("api_client_certificates", apiClientCertificates), ("api_http2", apiHttp2),
        ]
        return Dictionary(uniqueKeysWithValues: pairs.compactMap { name, value in value.map { (name, $0) } })
    }
}
