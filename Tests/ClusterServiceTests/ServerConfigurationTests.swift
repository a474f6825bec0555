@testable import ClusterService
import Foundation
import Logging
import Testing

/// `rampart server`'s settings: a JSON file, then `RAMPART_*` variables, then flags, each
/// overriding the one before, validated together; every refusal names the setting and where it
/// came from.
@Suite struct ServerConfigurationTests {
    /// A folder of its own, removed at the end of the test.
    final class Folder {
        let path: String
        init() throws {
            path = NSTemporaryDirectory() + "rampart-config-\(UInt64.random(in: 0...UInt64.max))"
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        deinit { try? FileManager.default.removeItem(atPath: path) }

        func write(_ name: String, _ text: String, mode: Int = 0o600) throws -> String {
            let file = path + "/" + name
            try #require(FileManager.default.createFile(atPath: file, contents: Data(text.utf8), attributes: [.posixPermissions: mode]))
            return file
        }
    }

    /// The smallest complete set of flags.
    static let minimal: [String: String] = [
        "replica_id": "1", "data_directory": "/var/lib/rampart", "peers": "1=127.0.0.1:7001,2=127.0.0.2:7001",
        "cluster_secret_file": "/etc/rampart/secret", "key_encryption_key_file": "/etc/rampart/kek",
    ]

    @Test func theFileThenTheEnvironmentThenTheFlagsEachWin() throws {
        let folder = try Folder()
        let file = try folder.write(
            "replica.json",
            """
            {"replica_id": 1, "data_directory": "data", "cluster_secret_file": "secret", "key_encryption_key_file": "/abs/kek",
             "peers": {"1": "127.0.0.1:7001", "2": "127.0.0.2:7001", "3": "127.0.0.3:7001"}, "initial_cluster": [1, 2, 3],
             "tick_milliseconds": 20, "log_level": "debug"}
            """)
        let environment = ["RAMPART_TICK_MILLISECONDS": "30", "RAMPART_HEARTBEAT_TICKS": "2", "HOME": "/root", "RAMPART_UNRELATED": "x"]
        let settings = try ServerConfiguration.load(file: file, environment: environment, flags: ["heartbeat_ticks": "3"])
        #expect(settings.replicaID == 1)
        #expect(settings.dataDirectory == folder.path + "/data", "a relative path in the file is relative to the file")
        #expect(settings.clusterSecretFile == folder.path + "/secret")
        #expect(settings.keyEncryptionKeyFile == "/abs/kek")
        #expect(settings.peers.count == 3 && settings.peers[3]?.description == "127.0.0.3:7001")
        #expect(settings.initialCluster == [1, 2, 3])
        #expect(settings.tickMilliseconds == 30, "the environment overrides the file")
        #expect(settings.heartbeatTicks == 3, "a flag overrides the environment")
        #expect(settings.logLevel == "debug")
        #expect(settings.apiIdleTimeoutSeconds == 120 && settings.keyOverlapSeconds == 86_400, "defaults stand when nothing is said")
    }

    @Test func aMinimalSetOfFlagsIsEnough() throws {
        let settings = try ServerConfiguration.load(file: nil, environment: [:], flags: Self.minimal)
        #expect(settings.peerListen.description == "127.0.0.1:7001" && settings.apiListen.description == "127.0.0.1:8001")
        #expect(settings.initialCluster.isEmpty, "without initial_cluster the replica joins an existing cluster")
        #expect(settings.dataDirectory == "/var/lib/rampart", "flags are taken as given")
    }

    static let refusals: [(flags: [String: String], error: ConfigurationError)] = [
        (["replica_id": nil], .missing("replica_id")),
        (["data_directory": nil], .missing("data_directory")),
        (["cluster_secret_file": nil], .missing("cluster_secret_file")),
        (["key_encryption_key_file": nil], .missing("key_encryption_key_file")),
        (["replica_id": "0"], .invalid("replica_id (flag --replica-id)", "expected an integer in 1...2147483647, got \"0\"")),
        (["replica_id": "one"], .invalid("replica_id (flag --replica-id)", "expected an integer in 1...2147483647, got \"one\"")),
        (["replica_id": "3"], .invalid("peers", "replica 3 must list its own peer address")),
        (["peer_listen": "127.0.0.1:7009"], .invalid("peers", "replica 1's entry 127.0.0.1:7001 does not match peer_listen 127.0.0.1:7009")),
        (["api_listen": "127.0.0.1:7001"], .invalid("api_listen", "the API and the peers cannot share 127.0.0.1:7001")),
        (["api_listen": "127.0.0.1"], .invalid("api_listen (flag --api-listen)", "expected host:port, got \"127.0.0.1\"")),
        (["api_listen": ":8001"], .invalid("api_listen (flag --api-listen)", "the host is empty")),
        (["peers": "1=127.0.0.1:7001,1=127.0.0.2:7001"], .invalid("peers (flag --peers)", "replica 1 is listed twice")),
        (["peers": "1:127.0.0.1:7001"], .invalid("peers (flag --peers)", "expected id=host:port pairs separated by commas, got \"1:127.0.0.1:7001\"")),
        (["initial_cluster": "2,3"], .invalid("initial_cluster", "replica 1 founds a cluster it is not part of")),
        (["initial_cluster": "1,3"], .invalid("initial_cluster", "replica 3 has no peer address")),
        (["initial_cluster": "1,x"], .invalid("initial_cluster (flag --initial-cluster)", "expected replica ids separated by commas, got \"1,x\"")),
        (["heartbeat_ticks": "10"], .invalid("heartbeat_ticks", "must be smaller than election_timeout_ticks (10)")),
        (["api_idle_timeout_seconds": "60"], .invalid("api_idle_timeout_seconds (flag --api-idle-timeout-seconds)", "expected an integer in 61...86400, got \"60\"")),
        (["log_level": "verbose"], .invalid("log_level (flag --log-level)", "expected trace, debug, info, notice, warning, error or critical")),
        (["colour": "blue"], .invalid("colour (flag --colour)", "unknown setting")),
        (["api_http2": "maybe"], .invalid("api_http2 (flag --api-http2)", "expected true or false, got \"maybe\"")),
        (["api_http2": "true"], .invalid("api_http2", "HTTP/2 is offered over HTTPS only: needs tls_cert_file")),
        (["api_client_certificates": "sometimes"], .invalid(
            "api_client_certificates (flag --api-client-certificates)", "expected off, optional or required, got \"sometimes\"")),
        (["api_client_certificates": "optional"], .invalid(
            "api_client_certificates", "needs tls_ca_file (and tls_cert_file), the CA client certificates are verified with")),
        (["tls_reload_interval_seconds": "-1"], .invalid(
            "tls_reload_interval_seconds (flag --tls-reload-interval-seconds)", "expected an integer in 0...86400, got \"-1\"")),
        (["tls_expiry_warning_days": "99999"], .invalid(
            "tls_expiry_warning_days (flag --tls-expiry-warning-days)", "expected an integer in 0...3650, got \"99999\"")),
        (["peer_cert_file": "/etc/rampart/peer.pem"], .invalid("peer_key_file", "peer_cert_file and peer_key_file go together")),
        (
            ["key_overlap_seconds": "3599"],
            .invalid(
                "key_overlap_seconds",
                "3599 is shorter than token_max_ttl_seconds (3600): a replaced root key would leave the key set while tokens it signed are still valid")
        ),
        (["token_max_ttl_seconds": "90000"], .invalid(
            "key_overlap_seconds",
            "86400 is shorter than token_max_ttl_seconds (90000): a replaced root key would leave the key set while tokens it signed are still valid")),
        (["key_rotation_interval_seconds": "60"], .invalid(
            "key_rotation_interval_seconds", "must be 0 (no scheduled rotation) or longer than key_activation_seconds (60)")),
        (["key_rotation_interval_seconds": "-1"], .invalid(
            "key_rotation_interval_seconds (flag --key-rotation-interval-seconds)", "expected an integer in 0...31536000, got \"-1\"")),
    ].map { change, error in
        var flags = minimal
        for (name, value) in change { flags[name] = value }
        return (flags, error)
    }

    @Test(arguments: refusals)
    func aBadSettingIsRefusedNamingItsSource(_ flags: [String: String], _ error: ConfigurationError) {
        #expect(throws: error) { try ServerConfiguration.load(file: nil, environment: [:], flags: flags) }
    }

    @Test func aBadFileIsRefusedNamingTheFile() throws {
        let folder = try Folder()
        let notAnObject = try folder.write("list.json", "[1, 2]")
        #expect(throws: ConfigurationError.invalid("config file \(notAnObject)", "not a JSON object")) {
            try ServerConfiguration.load(file: notAnObject, environment: [:], flags: Self.minimal)
        }
        let unknown = try folder.write("unknown.json", #"{"replica_idd": 1}"#)
        #expect(throws: ConfigurationError.invalid("config file \(unknown)", "unknown setting \"replica_idd\"")) {
            try ServerConfiguration.load(file: unknown, environment: [:], flags: Self.minimal)
        }
        let wrongType = try folder.write("type.json", #"{"replica_id": true}"#)
        #expect(throws: ConfigurationError.self) { try ServerConfiguration.load(file: wrongType, environment: [:], flags: [:]) }
        let missing = folder.path + "/absent.json"
        #expect {
            try ServerConfiguration.load(file: missing, environment: [:], flags: Self.minimal)
        } throws: { error in
            guard case .unreadable(let path, _) = error as? ConfigurationError else { return false }
            return path == missing
        }
        // An environment variable is named as the source of its bad value.
        #expect(throws: ConfigurationError.invalid("tick_milliseconds (environment variable RAMPART_TICK_MILLISECONDS)",
            "expected an integer in 1...10000, got \"0\"")) {
            try ServerConfiguration.load(file: nil, environment: ["RAMPART_TICK_MILLISECONDS": "0"], flags: Self.minimal)
        }
    }

    @Test func secretsAreReadWithoutTheirNewlineAndShortOnesAreRefused() throws {
        let folder = try Folder()
        let logger = Logger(label: "test")
        let secret = String(repeating: "s", count: 32)
        let good = try folder.write("secret", secret + "\n")
        #expect(try SecretFile.read(good, name: "cluster secret", minimumBytes: 32, logger: logger) == Array(secret.utf8))
        let short = try folder.write("short", String(repeating: "s", count: 31) + "\r\n")
        #expect(throws: ServerStartError.self) { try SecretFile.read(short, name: "cluster secret", minimumBytes: 32, logger: logger) }
        #expect(throws: ServerStartError.self) {
            try SecretFile.read(folder.path + "/absent", name: "cluster secret", minimumBytes: 32, logger: logger)
        }
    }
}
