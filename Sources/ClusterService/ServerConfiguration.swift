import Foundation

/// The settings of `rampart server`, merged from a JSON file, then `RAMPART_*` environment
/// variables, then command-line flags (each overriding the one before), and validated before
/// anything starts. Paths given in the file are relative to the file's directory.
public struct ServerConfiguration: Equatable, Sendable {
    /// This replica's id (1 or more).
    public var replicaID: UInt64 = 0
    /// Where the log, the database and snapshots live.
    var dataDirectory = ""
    /// The address peers connect to.
    var peerListen = Address(host: "127.0.0.1", port: 7001)
    /// The address the HTTP API listens on.
    var apiListen = Address(host: "127.0.0.1", port: 8001)
    /// Every replica's peer address, this one included.
    var peers: [UInt64: Address] = [:]
    /// The founding voters, for the first start of a new cluster; empty to join one.
    var initialCluster: [UInt64] = []
    /// A file holding the cluster secret (at least 32 bytes) every replica shares.
    var clusterSecretFile = ""
    /// A file holding the 32-byte key that encrypts root private keys.
    var keyEncryptionKeyFile = ""
    /// The length of one Raft tick.
    var tickMilliseconds = 50
    /// The election timeout, in ticks (randomized between it and twice it).
    var electionTimeoutTicks = 10
    /// The heartbeat interval, in ticks.
    var heartbeatTicks = 1
    /// Entries applied between two snapshots.
    var snapshotIntervalEntries = 100_000
    /// How long a new root key is published as pending before the leader activates it.
    var keyActivationSeconds = 60
    /// How long a replaced root key keeps verifying (retiring) before the leader retires it.
    var keyOverlapSeconds = 86_400
    /// How long a root key signs before the leader publishes its successor (30 days); 0 rotates
    /// only on request (`POST /v1/keys/rotate`).
    var keyRotationIntervalSeconds = 2_592_000
    /// The longest life of a token `POST /v1/tokens` issues.
    var tokenMaxTTLSeconds = 3600
    /// How long a learner added by address (`PeerAddress.autoPromote`) must have stayed caught
    /// up before the leader promotes it to a voter; 0 never promotes on its own.
    var autoPromoteSeconds = 10
    /// The log level: trace, debug, info, notice, warning, error or critical.
    public var logLevel = "info"
    /// The most API connections open at once; nil for the most the descriptor limit allows
    /// (`DescriptorBudget`).
    var apiMaxConnections: Int?
    /// How long an API connection may stay silent before it is closed.
    var apiIdleTimeoutSeconds = 120
    /// How long a request's head may take to arrive once it began.
    var apiHeaderTimeoutSeconds = 10
    /// The API's TLS certificate (PEM, the chain after it if any); with `tlsKeyFile`, the API
    /// serves HTTPS only. Empty: plain HTTP.
    var tlsCertFile = ""
    /// The private key of `tlsCertFile` (PEM).
    var tlsKeyFile = ""
    /// The cluster CA (PEM) `tlsCertFile` must be signed by; checked at start when given.
    var tlsCAFile = ""
    /// Mutual TLS between replicas: `auto` (on when a certificate, its key and a CA are known
    /// for the peers), `on` (refuse to start without them) or `off` (the HMAC handshake only).
    var peerTLS = PeerTLSMode.auto
    /// The certificate this replica presents to its peers (it must name this replica:
    /// `rampart certs issue --replica`); `tlsCertFile` when empty.
    var peerCertFile = ""
    /// The private key of the peer certificate; `tlsKeyFile` when empty.
    var peerKeyFile = ""
    /// The CA the peers' certificates must be signed by; `tlsCAFile` when empty.
    var peerCAFile = ""
    /// How often the certificate files are read again to pick up renewed ones (SIGHUP reloads
    /// at once); 0 reloads on SIGHUP only.
    var tlsReloadIntervalSeconds = 10
    /// How far ahead of a certificate's expiry the logs warn of it, in days.
    var tlsExpiryWarningDays = 30

    /// Client certificates on the API: `off`, `optional` (a client may present one from the
    /// CA; one that names a principal authenticates requests without an `Authorization`
    /// header) or `required` (every connection must present one from the CA).
    var apiClientCertificates = ClientCertificateMode.off

    /// Whether the API offers HTTP/2 (by ALPN, next to HTTP/1.1); HTTPS only.
    var apiHTTP2 = false

    /// Whether the API asks clients for certificates.
    enum ClientCertificateMode: String, Equatable, Sendable {
        case off, optional, required
    }

    /// Whether the replicas speak mutual TLS to each other.
    enum PeerTLSMode: String, Equatable, Sendable {
        case auto, on, off
    }

    /// The files of the peers' mutual TLS, each falling back on its `tls_` counterpart; nil
    /// when peer TLS is off (`peer_tls`).
    var peerTLSFiles: (certificate: String, key: String, authority: String)? {
        let certificate = peerCertFile.isEmpty ? tlsCertFile : peerCertFile
        let key = peerKeyFile.isEmpty ? tlsKeyFile : peerKeyFile
        let authority = peerCAFile.isEmpty ? tlsCAFile : peerCAFile
        switch peerTLS {
        case .off: return nil
        case .on: return (certificate, key, authority)
        case .auto: return certificate.isEmpty || key.isEmpty || authority.isEmpty ? nil : (certificate, key, authority)
        }
    }

    /// A host and port.
    struct Address: Equatable, CustomStringConvertible {
        var host: String
        var port: Int

        /// Parses `host:port`.
        init(parsing text: String, field: String) throws(ConfigurationError) {
            guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port)
            else { throw .invalid(field, "expected host:port, got \"\(text)\"") }
            let host = String(text[..<colon])
            guard !host.isEmpty else { throw .invalid(field, "the host is empty") }
            self.init(host: host, port: port)
        }

        init(host: String, port: Int) {
            self.host = host
            self.port = port
        }

        var description: String { "\(host):\(port)" }
    }

    /// Loads the file (if any), then applies the environment and the flags.
    public static func load(file: String?, environment: [String: String], flags: [String: String]) throws(ConfigurationError)
        -> ServerConfiguration
    {
        var configuration = ServerConfiguration()
        if let file {
            try configuration.apply(file: file)
        }
        for (key, value) in environment where key.hasPrefix("RAMPART_") {
            let name = key.dropFirst("RAMPART_".count).lowercased()
            guard Self.settingNames.contains(name) else { continue }
            try configuration.set(name, value, source: "environment variable \(key)")
        }
        for (name, value) in flags { try configuration.set(name, value, source: "flag --\(name.replacingOccurrences(of: "_", with: "-"))") }
        try configuration.validate()
        return configuration
    }

    /// The setting names, as in the file (snake_case), the environment (upper case, prefixed
    /// `RAMPART_`) and the flags (kebab-case).
    static let settingNames: Set<String> = [
        "replica_id", "data_directory", "peer_listen", "api_listen", "peers", "initial_cluster", "cluster_secret_file",
        "key_encryption_key_file", "tick_milliseconds", "election_timeout_ticks", "heartbeat_ticks", "snapshot_interval_entries",
        "key_activation_seconds", "key_overlap_seconds", "key_rotation_interval_seconds", "token_max_ttl_seconds", "auto_promote_seconds", "log_level", "api_max_connections", "api_idle_timeout_seconds",
        "api_header_timeout_seconds", "tls_cert_file", "tls_key_file", "tls_ca_file", "peer_tls", "peer_cert_file", "peer_key_file",
        "peer_ca_file", "tls_reload_interval_seconds", "tls_expiry_warning_days", "api_client_certificates", "api_http2",
    ]

    private mutating func apply(file: String) throws(ConfigurationError) {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: file))
        } catch {
            throw .unreadable(file, error.localizedDescription)
        }
        guard let object = try? JSONSerialization.jsonObject(with: data), let settings = object as? [String: Any] else {
            throw .invalid("config file \(file)", "not a JSON object")
        }
        let directory = URL(fileURLWithPath: file).deletingLastPathComponent().path
        for (name, value) in settings {
            guard Self.settingNames.contains(name) else { throw .invalid("config file \(file)", "unknown setting \"\(name)\"") }
            let text: String
            switch value {
            case let string as String: text = string
            case let number as NSNumber: text = number.stringValue
            case let list as [Any]: text = list.map { "\($0)" }.joined(separator: ",")
            case let map as [String: Any]: text = map.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: ",")
            default: throw .invalid(name, "unsupported value in \(file)")
            }
            try set(name, text, source: "config file \(file)")
            if name.hasSuffix("_file") || name == "data_directory" { resolve(name, relativeTo: directory) }
        }
    }

    private mutating func resolve(_ name: String, relativeTo directory: String) {
        func absolute(_ path: String) -> String { path.hasPrefix("/") || path.isEmpty ? path : directory + "/" + path }
        switch name {
        case "data_directory": dataDirectory = absolute(dataDirectory)
        case "cluster_secret_file": clusterSecretFile = absolute(clusterSecretFile)
        case "key_encryption_key_file": keyEncryptionKeyFile = absolute(keyEncryptionKeyFile)
        case "tls_cert_file": tlsCertFile = absolute(tlsCertFile)
        case "tls_key_file": tlsKeyFile = absolute(tlsKeyFile)
        case "tls_ca_file": tlsCAFile = absolute(tlsCAFile)
        case "peer_cert_file": peerCertFile = absolute(peerCertFile)
        case "peer_key_file": peerKeyFile = absolute(peerKeyFile)
        case "peer_ca_file": peerCAFile = absolute(peerCAFile)
        default: break
        }
    }

    private mutating func set(_ name: String, _ value: String, source: String) throws(ConfigurationError) {
        let field = "\(name) (\(source))"
        func integer(_ range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
            guard let number = Int(value.trimmingCharacters(in: .whitespaces)), range.contains(number) else {
                throw .invalid(field, "expected an integer in \(range.lowerBound)...\(range.upperBound), got \"\(value)\"")
            }
            return number
        }
        switch name {
        case "replica_id": replicaID = UInt64(try integer(1...Int(Int32.max)))
        case "data_directory": dataDirectory = value
        case "peer_listen": peerListen = try Address(parsing: value, field: field)
        case "api_listen": apiListen = try Address(parsing: value, field: field)
        case "peers": peers = try Self.parsePeers(value, field: field)
        case "initial_cluster":
            var ids: [UInt64] = []
            for part in value.split(separator: ",") {
                guard let id = UInt64(part.trimmingCharacters(in: .whitespaces)), id > 0 else {
                    throw .invalid(field, "expected replica ids separated by commas, got \"\(value)\"")
                }
                ids.append(id)
            }
            initialCluster = ids
        case "cluster_secret_file": clusterSecretFile = value
        case "key_encryption_key_file": keyEncryptionKeyFile = value
        case "tick_milliseconds": tickMilliseconds = try integer(1...10_000)
        case "election_timeout_ticks": electionTimeoutTicks = try integer(2...10_000)
        case "heartbeat_ticks": heartbeatTicks = try integer(1...10_000)
        case "snapshot_interval_entries": snapshotIntervalEntries = try integer(1...100_000_000)
        case "key_activation_seconds": keyActivationSeconds = try integer(0...31_536_000)
        case "key_overlap_seconds": keyOverlapSeconds = try integer(0...31_536_000)
        case "key_rotation_interval_seconds": keyRotationIntervalSeconds = try integer(0...31_536_000)
        case "token_max_ttl_seconds": tokenMaxTTLSeconds = try integer(1...2_592_000)
        case "auto_promote_seconds": autoPromoteSeconds = try integer(0...86_400)
        case "api_max_connections": apiMaxConnections = try integer(1...1_000_000)
        case "api_idle_timeout_seconds": apiIdleTimeoutSeconds = try integer(61...86_400)
        case "api_header_timeout_seconds": apiHeaderTimeoutSeconds = try integer(1...600)
        case "tls_cert_file": tlsCertFile = value
        case "tls_key_file": tlsKeyFile = value
        case "tls_ca_file": tlsCAFile = value
        case "peer_tls":
            guard let mode = PeerTLSMode(rawValue: value) else { throw .invalid(field, "expected auto, on or off, got \"\(value)\"") }
            peerTLS = mode
        case "api_http2":
            switch value {
            case "true", "1", "on": apiHTTP2 = true
            case "false", "0", "off": apiHTTP2 = false
            default: throw .invalid(field, "expected true or false, got \"\(value)\"")
            }
        case "api_client_certificates":
            guard let mode = ClientCertificateMode(rawValue: value) else {
                throw .invalid(field, "expected off, optional or required, got \"\(value)\"")
            }
            apiClientCertificates = mode
        case "peer_cert_file": peerCertFile = value
        case "peer_key_file": peerKeyFile = value
        case "peer_ca_file": peerCAFile = value
        case "tls_reload_interval_seconds": tlsReloadIntervalSeconds = try integer(0...86_400)
        case "tls_expiry_warning_days": tlsExpiryWarningDays = try integer(0...3650)
        case "log_level":
            guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(value) else {
                throw .invalid(field, "expected trace, debug, info, notice, warning, error or critical")
            }
            logLevel = value
        default: throw .invalid(field, "unknown setting")
        }
    }

    private static func parsePeers(_ value: String, field: String) throws(ConfigurationError) -> [UInt64: Address] {
        var peers: [UInt64: Address] = [:]
        for part in value.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1)
            guard pair.count == 2, let id = UInt64(pair[0].trimmingCharacters(in: .whitespaces)), id > 0 else {
                throw .invalid(field, "expected id=host:port pairs separated by commas, got \"\(part)\"")
            }
            guard peers[id] == nil else { throw .invalid(field, "replica \(id) is listed twice") }
            peers[id] = try Address(parsing: pair[1].trimmingCharacters(in: .whitespaces), field: field)
        }
        return peers
    }

    /// Checks the merged settings together.
    func validate() throws(ConfigurationError) {
        guard replicaID > 0 else { throw .missing("replica_id") }
        guard !dataDirectory.isEmpty else { throw .missing("data_directory") }
        guard !clusterSecretFile.isEmpty else { throw .missing("cluster_secret_file") }
        guard !keyEncryptionKeyFile.isEmpty else { throw .missing("key_encryption_key_file") }
        guard let own = peers[replicaID] else { throw .invalid("peers", "replica \(replicaID) must list its own peer address") }
        guard own.port == peerListen.port else {
            throw .invalid("peers", "replica \(replicaID)'s entry \(own) does not match peer_listen \(peerListen)")
        }
        guard peerListen != apiListen else { throw .invalid("api_listen", "the API and the peers cannot share \(apiListen)") }
        if !initialCluster.isEmpty {
            guard initialCluster.contains(replicaID) else {
                throw .invalid("initial_cluster", "replica \(replicaID) founds a cluster it is not part of")
            }
            for id in initialCluster where peers[id] == nil { throw .invalid("initial_cluster", "replica \(id) has no peer address") }
        }
        guard tlsCertFile.isEmpty == tlsKeyFile.isEmpty else {
            throw .invalid(tlsCertFile.isEmpty ? "tls_cert_file" : "tls_key_file", "tls_cert_file and tls_key_file go together")
        }
        guard tlsCAFile.isEmpty || !tlsCertFile.isEmpty else { throw .invalid("tls_ca_file", "needs tls_cert_file and tls_key_file") }
        guard !apiHTTP2 || !tlsCertFile.isEmpty else { throw .invalid("api_http2", "HTTP/2 is offered over HTTPS only: needs tls_cert_file") }
        guard apiClientCertificates == .off || !tlsCAFile.isEmpty else {
            throw .invalid("api_client_certificates", "needs tls_ca_file (and tls_cert_file), the CA client certificates are verified with")
        }
        guard peerCertFile.isEmpty == peerKeyFile.isEmpty else {
            throw .invalid(peerCertFile.isEmpty ? "peer_cert_file" : "peer_key_file", "peer_cert_file and peer_key_file go together")
        }
        if peerTLS == .off {
            for (name, value) in [("peer_cert_file", peerCertFile), ("peer_ca_file", peerCAFile)] where !value.isEmpty {
                throw .invalid(name, "is set but peer_tls is off")
            }
        }
        if peerTLS == .on, let files = peerTLSFiles {
            guard !files.certificate.isEmpty else { throw .invalid("peer_tls", "on needs peer_cert_file and peer_key_file (or tls_cert_file and tls_key_file)") }
            guard !files.authority.isEmpty else { throw .invalid("peer_tls", "on needs peer_ca_file (or tls_ca_file) to verify the peers' certificates") }
        }
        guard keyOverlapSeconds >= tokenMaxTTLSeconds else {
            throw .invalid(
                "key_overlap_seconds",
                "\(keyOverlapSeconds) is shorter than token_max_ttl_seconds (\(tokenMaxTTLSeconds)): a replaced root key would leave the "
                    + "key set while tokens it signed are still valid")
        }
        guard keyRotationIntervalSeconds == 0 || keyRotationIntervalSeconds > keyActivationSeconds else {
            throw .invalid(
                "key_rotation_interval_seconds",
                "must be 0 (no scheduled rotation) or longer than key_activation_seconds (\(keyActivationSeconds))")
        }
        guard heartbeatTicks < electionTimeoutTicks else {
            throw .invalid("heartbeat_ticks", "must be smaller than election_timeout_ticks (\(electionTimeoutTicks))")
        }
    }
}

/// A configuration problem, named precisely enough to fix.
public enum ConfigurationError: Error, Equatable, CustomStringConvertible {
    case missing(String)
    case invalid(String, String)
    case unreadable(String, String)

    public var description: String {
        switch self {
        case .missing(let name): return "missing setting \(name) (file key \(name), variable RAMPART_\(name.uppercased()))"
        case .invalid(let name, let reason): return "invalid \(name): \(reason)"
        case .unreadable(let path, let reason): return "cannot read \(path): \(reason)"
        }
    }
}
