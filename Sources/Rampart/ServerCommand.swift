import AdminAPI
import ArgumentParser
import ClusterService
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import PeerTransport
import PolicyStore
import RaftCore
import Replica
import ServiceLifecycle

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
    @Option(help: "Seconds a replaced root key keeps verifying before it is retired.") var keyOverlapSeconds: String?
    @Option(help: "trace, debug, info, notice, warning, error or critical.") var logLevel: String?
    @Option(help: "The most API connections open at once (default: what the descriptor limit allows, at most 4096).")
    var apiMaxConnections: String?
    @Option(help: "Seconds an API connection may stay silent before it is closed (default 120).") var apiIdleTimeoutSeconds: String?
    @Option(help: "Seconds a request's head may take to arrive once it began (default 10).") var apiHeaderTimeoutSeconds: String?

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
        try await ReplicaServer(settings: settings, logger: logger).run()
    }

    private func flags() -> [String: String] {
        let pairs: [(String, String?)] = [
            ("replica_id", replicaId), ("data_directory", dataDirectory), ("peer_listen", peerListen), ("api_listen", apiListen),
            ("peers", peers), ("initial_cluster", initialCluster), ("cluster_secret_file", clusterSecretFile),
            ("key_encryption_key_file", keyEncryptionKeyFile), ("tick_milliseconds", tickMilliseconds),
            ("election_timeout_ticks", electionTimeoutTicks), ("heartbeat_ticks", heartbeatTicks),
            ("snapshot_interval_entries", snapshotIntervalEntries), ("key_activation_seconds", keyActivationSeconds),
            ("key_overlap_seconds", keyOverlapSeconds), ("log_level", logLevel), ("api_max_connections", apiMaxConnections),
            ("api_idle_timeout_seconds", apiIdleTimeoutSeconds), ("api_header_timeout_seconds", apiHeaderTimeoutSeconds),
        ]
        return Dictionary(uniqueKeysWithValues: pairs.compactMap { name, value in value.map { (name, $0) } })
    }
}

/// Wires one replica: secrets, the peer network, the runtime, the HTTP API, and signals.
struct ReplicaServer {
    let settings: ServerConfiguration
    let logger: Logger

    func run() async throws {
        let budget: (connections: Int, descriptors: Int)
        do {
            budget = try DescriptorBudget.apiConnections(configured: settings.apiMaxConnections)
        } catch {
            throw ValidationError("configuration: \(error)")
        }
        let secret = try SecretFile.read(settings.clusterSecretFile, name: "cluster secret", minimumBytes: 32, logger: logger)
        let keyEncryptionKey = try SecretFile.read(settings.keyEncryptionKeyFile, name: "key-encryption key", minimumBytes: 32, logger: logger)
        let sealer: RootKeySealer
        do {
            // The file holds the 32-byte key as 64 hexadecimal digits, or as 32 raw bytes.
            let hexText = String(decoding: keyEncryptionKey, as: UTF8.self)
            let key = keyEncryptionKey.count == 64 ? (Hex.decode(hexText) ?? keyEncryptionKey) : keyEncryptionKey
            sealer = try RootKeySealer(keyEncryptionKey: key)
        } catch {
            throw ValidationError("the key-encryption key in \(settings.keyEncryptionKeyFile) cannot be used: \(error)")
        }
        let id = ReplicaID(rawValue: settings.replicaID)
        var options = ReplicaConfiguration(
            id: id, dataDirectory: settings.dataDirectory, initialVoters: settings.initialCluster.map { ReplicaID(rawValue: $0) },
            seed: UInt64.random(in: 1...UInt64.max))
        options.raft.electionTimeoutTicks = settings.electionTimeoutTicks
        options.raft.heartbeatIntervalTicks = settings.heartbeatTicks
        options.snapshotIntervalEntries = settings.snapshotIntervalEntries

        var networkOptions = PeerNetworkOptions(localID: id, clusterSecret: secret)
        networkOptions.logger = Logger(label: "rampart.peers-\(settings.replicaID)")
        // Connect from the peer listen address when it is a literal IP, so each replica has one
        // address on the wire (operators' firewall rules, and the partition tests, rely on it).
        if (try? SocketAddress(ipAddress: settings.peerListen.host, port: 0)) != nil {
            networkOptions.sourceHost = settings.peerListen.host
        }
        // One event loop for the replica's runtime and its peer connections: packets go between
        // them without changing threads (the HTTP API runs on the shared loops).
        let runtimeLoop = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { runtimeLoop.shutdownGracefully { _ in } }
        let network = PeerNetwork(options: networkOptions, group: runtimeLoop)
        for (peer, address) in settings.peers where peer != settings.replicaID {
            let resolved: SocketAddress
            do {
                resolved = try SocketAddress.makeAddressResolvingHost(address.host, port: address.port)
            } catch {
                throw ValidationError("cannot resolve the address of replica \(peer) (\(address)): \(error)")
            }
            network.setPeer(ReplicaID(rawValue: peer), address: resolved)
        }
        let replica: Replica
        do {
            replica = try Replica(configuration: options, transport: network, eventLoop: runtimeLoop.next(), logger: logger)
        } catch {
            await network.shutdown()
            throw ValidationError("cannot start the replica: \(error)")
        }
        network.onDelivery { delivery in replica.receive(delivery) }
        do {
            _ = try await network.listen(host: settings.peerListen.host, port: settings.peerListen.port)
        } catch {
            await network.shutdown()
            throw ValidationError("cannot listen for peers on \(settings.peerListen): \(error)")
        }
        replica.start()
        replica.startTicking(every: .milliseconds(settings.tickMilliseconds))
        let cluster = ReplicaCluster(replica: replica, network: network, clusterSecret: secret, sealer: sealer)
        let metrics = APIMetrics()
        let routes = AdminRoutes(cluster: cluster, metrics: metrics)
        let apiLogger = Logger(label: "rampart.api-\(settings.replicaID)")
        var connectionLimits = ConnectionLimits()
        connectionLimits.maxConnections = budget.connections
        connectionLimits.idleTimeout = .seconds(settings.apiIdleTimeoutSeconds)
        connectionLimits.headerTimeout = .seconds(settings.apiHeaderTimeoutSeconds)
        if let problem = connectionLimits.problem() { throw ValidationError("configuration: \(problem)") }
        // Each connection's requests are served on its own event loop (not on Swift's global
        // pool): a write crosses threads only to reach the runtime and to come back.
        let app = Application(
            router: routes.router(),
            server: .http1OnEventLoops(
                rawHTTPHandlers: { [FastPath(routes: routes, logger: apiLogger)] }, timeouts: (connectionLimits, metrics)),
            configuration: ApplicationConfiguration(
                address: .hostname(settings.apiListen.host, port: settings.apiListen.port),
                availableConnectionsDelegate: ConnectionCap(maxConnections: connectionLimits.maxConnections, metrics: metrics, logger: apiLogger)),
            logger: apiLogger)
        logger.info(
            "replica serving",
            metadata: [
                "api": "\(settings.apiListen)", "peers": "\(settings.peerListen)", "data": "\(settings.dataDirectory)",
                "api_max_connections": "\(budget.connections)", "open_files_limit": "\(budget.descriptors)",
            ])
        let replicaService = ReplicaService(
            replica: replica, network: network,
            keys: KeyMaintenance(
                replica: replica, activationSeconds: settings.keyActivationSeconds, overlapSeconds: settings.keyOverlapSeconds, logger: logger),
            denials: { await routes.denials.run(cluster: cluster, logger: apiLogger) })
        // When the replica stops by itself (removed, or its disk failed) the whole process shuts
        // down gracefully: the API stops accepting and finishes what it holds, then exits.
        var configuration = ServiceGroupConfiguration(
            services: [
                .init(service: app),
                .init(service: replicaService, successTerminationBehavior: .gracefullyShutdownGroup),
            ], logger: logger)
        configuration.gracefulShutdownSignals = [.sigterm, .sigint]
        let group = ServiceGroup(configuration: configuration)
        try await group.run()
        if let failure = replica.status.failure { throw ReplicaFailure(reason: failure) }
    }
}

/// The replica as a service of the group: on graceful shutdown (SIGTERM), or when the group is
/// cancelled because another service failed, stops it, handing leadership over first. It ends,
/// ending the process, when the replica stops on its own (removed from the cluster, or failed).
struct ReplicaService: Service {
    let replica: Replica
    let network: PeerNetwork
    let keys: KeyMaintenance
    /// Records refused requests in the audit log until cancelled (`DenialLog.run`).
    let denials: @Sendable () async -> Void

    func run() async throws {
        let replica = self.replica
        let keys = self.keys
        let maintenance = Task { await keys.run() }
        let denialRecording = Task(operation: denials)
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await replica.waitUntilStopped()
            } onGracefulShutdown: {
                Task { await replica.stop(transferLeadership: true) }
            }
        } onCancel: {
            // The group cancels this service when another one fails (the API could not listen,
            // say): the replica stops too, and the process ends with that failure, instead of
            // running on without its API.
            Task { await replica.stop(transferLeadership: true) }
        }
        if let failure = replica.status.failure {
            // A failed replica must not linger half alive: if the graceful shutdown of the API
            // does not end the process soon, end it.
            Self.exitAfter(.seconds(10), reason: failure)
        }
        maintenance.cancel()
        denialRecording.cancel()
        await network.shutdown()
    }
}

extension ReplicaService {
    /// Ends the process with status 1 after `delay`, unless it has ended by then.
    static func exitAfter(_ delay: Duration, reason: String) {
        Thread.detachNewThread {
            Thread.sleep(forTimeInterval: Double(delay.components.seconds))
            FileHandle.standardError.write(Data("rampart: the replica failed (\(reason)); exiting\n".utf8))
            exit(1)
        }
    }
}

/// The replica stopped because its storage failed.
struct ReplicaFailure: Error, CustomStringConvertible {
    let reason: String
    var description: String { "the replica failed: \(reason)" }
}

/// Reads a secret from a file, refusing short secrets and warning when others can read it.
enum SecretFile {
    static func read(_ path: String, name: String, minimumBytes: Int, logger: Logger) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("cannot read the \(name) file \(path)")
        }
        var bytes = Array(data)
        while let last = bytes.last, last == 0x0A || last == 0x0D { bytes.removeLast() }  // a trailing newline is not secret
        guard bytes.count >= minimumBytes else {
            throw ValidationError("the \(name) in \(path) has \(bytes.count) bytes; it needs at least \(minimumBytes)")
        }
        if let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            let permissions = attributes[.posixPermissions] as? Int, permissions & 0o077 != 0
        {
            logger.warning("secret file is readable by others; chmod 600 it", metadata: ["file": "\(path)"])
        }
        return bytes
    }
}
