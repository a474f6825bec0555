public import Logging
import AdminAPI
import APIModels
import Foundation
import Hummingbird
import HummingbirdCore
import NIOCore
import NIOPosix
import PeerTransport
import PolicyModel
import PolicyStore
import RaftCore
import Replica
import ServiceLifecycle
import ClusterCertificates
import NIOSSL

/// Wires one replica: secrets, the peer network, the runtime, the HTTP API, and signals.
public struct ReplicaServer {
    let settings: ServerConfiguration
    let logger: Logger

    /// A server for `settings`, logging to `logger`.
    public init(settings: ServerConfiguration, logger: Logger) {
        self.settings = settings
        self.logger = logger
    }

    /// Runs the replica until it stops (SIGTERM or SIGINT, removal, or a failed disk).
    /// - Throws: `ServerStartError` when it cannot start (a setting that does not fit this
    ///   machine, an unreadable secret, an address it cannot listen on); `ReplicaFailure` when
    ///   its storage failed.
    public func run() async throws {
        // Checked before anything starts: a bad certificate stops the replica at once.
        let material = try TLSMaterial.load(settings)
        let tls = material.api.map(TLSServerContext.init)
        let peerContexts = material.peer.map { PeerTLSContexts(server: $0.server, client: $0.client) }
        let budget: (connections: Int, descriptors: Int)
        do {
            budget = try DescriptorBudget.apiConnections(configured: settings.apiMaxConnections)
        } catch {
            throw ServerStartError("configuration: \(error)")
        }
        let secret = try SecretFile.read(settings.clusterSecretFile, name: "cluster secret", minimumBytes: 32, logger: logger)
        let sealer = try SecretFile.sealer(settings.keyEncryptionKeyFile, logger: logger)
        let id = ReplicaID(rawValue: settings.replicaID)
        var options = ReplicaConfiguration(
            id: id, dataDirectory: settings.dataDirectory, initialVoters: settings.initialCluster.map { ReplicaID(rawValue: $0) },
            seed: UInt64.random(in: 1...UInt64.max))
        options.raft.electionTimeoutTicks = settings.electionTimeoutTicks
        options.raft.heartbeatIntervalTicks = settings.heartbeatTicks
        options.snapshotIntervalEntries = settings.snapshotIntervalEntries

        var networkOptions = PeerNetworkOptions(localID: id, clusterSecret: secret)
        networkOptions.logger = Logger(label: "rampart.peers-\(settings.replicaID)")
        if let peerContexts, let cluster = material.peerCluster {
            networkOptions.tls = PeerTLS(contexts: peerContexts) { certificate, claimed in
                ClusterCertificates.replicaIdentityProblem(certificateDER: certificate, cluster: cluster, id: claimed.rawValue)
            }
        }
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
        var configuredPeers: [ReplicaID: SocketAddress] = [:]
        for (peer, address) in settings.peers where peer != settings.replicaID {
            let resolved: SocketAddress
            do {
                resolved = try SocketAddress.makeAddressResolvingHost(address.host, port: address.port)
            } catch {
                // Not fatal: the replicated address book may hold the member's address now (it
                // moved), and a name that does not resolve today may tomorrow. Unreachable
                // until then, as a member that is down.
                logger.warning(
                    "cannot resolve a configured peer address; its address book entry, if any, will be used",
                    metadata: ["replica": "\(peer)", "address": "\(address)", "error": "\(error)"])
                continue
            }
            network.setPeer(ReplicaID(rawValue: peer), address: resolved)
            configuredPeers[ReplicaID(rawValue: peer)] = resolved
        }
        let replica: Replica
        do {
            replica = try Replica(configuration: options, transport: network, eventLoop: runtimeLoop.next(), logger: logger)
        } catch {
            await network.shutdown()
            throw ServerStartError("cannot start the replica: \(error)")
        }
        network.onDelivery { delivery in replica.receive(delivery) }
        // A replica started to join (no membership yet) hears the leader that adds it, though it
        // has no address for it, and answers over the leader's connection; it learns every
        // member's address from the address book it receives.
        network.admitUnknownPeers { replica.status.membership == .empty }
        do {
            _ = try await network.listen(host: settings.peerListen.host, port: settings.peerListen.port)
        } catch {
            await network.shutdown()
            throw ServerStartError("cannot listen for peers on \(settings.peerListen): \(error)")
        }
        replica.start()
        replica.startTicking(every: .milliseconds(settings.tickMilliseconds))
        var replicaCluster = ReplicaCluster(replica: replica, network: network, clusterSecret: secret, sealer: sealer)
        replicaCluster.configuredPeers = settings.peers.mapValues(\.description)
        let reloader =
            tls == nil && peerContexts == nil
            ? nil
            : TLSReloader(
                settings: settings, material: material, api: tls, peers: peerContexts, logger: Logger(label: "rampart.tls-\(settings.replicaID)"))
        replicaCluster.certificates = reloader
        let cluster = replicaCluster
        let metrics = APIMetrics()
        var limits = AdminRoutes.Limits()
        limits.tokenMaxTTL = .seconds(settings.tokenMaxTTLSeconds)
        let schedule = RootKeySchedule(
            activationSeconds: settings.keyActivationSeconds, overlapSeconds: settings.keyOverlapSeconds,
            rotationIntervalSeconds: settings.keyRotationIntervalSeconds)
        limits.keySchedule = schedule
        let clientCertificateCluster = settings.apiClientCertificates == .off ? nil : material.apiCluster
        limits.clientCertificates = clientCertificateCluster != nil
        let routes = AdminRoutes(cluster: cluster, limits: limits, metrics: metrics)
        let apiLogger = Logger(label: "rampart.api-\(settings.replicaID)")
        var connectionLimits = ConnectionLimits()
        connectionLimits.maxConnections = budget.connections
        connectionLimits.idleTimeout = .seconds(settings.apiIdleTimeoutSeconds)
        connectionLimits.headerTimeout = .seconds(settings.apiHeaderTimeoutSeconds)
        if let problem = connectionLimits.problem() { throw ServerStartError("configuration: \(problem)") }
        // Each connection's requests are served on its own event loop (not on Swift's global
        // pool): a write crosses threads only to reach the runtime and to come back.
        // The client-certificate handlers first: they alone set the field the routes trust,
        // removing what a client sent in its name.
        let rawHTTPHandlers: @Sendable () -> [any ChannelHandler] = {
            (clientCertificateCluster.map { [ClientCertificateHandler(cluster: $0)] } ?? []) + [FastPath(routes: routes, logger: apiLogger)]
        }
        let server: HTTPServerBuilder
        if settings.apiHTTP2, let tls {
            server = .negotiatingHTTP(
                rawHTTPHandlers: rawHTTPHandlers,
                streamHandlers: { clientCertificateCluster.map { [ClientCertificateStreamHandler(cluster: $0)] } ?? [] },
                timeouts: (connectionLimits, metrics), tls: tls)
        } else {
            server = .http1OnEventLoops(rawHTTPHandlers: rawHTTPHandlers, timeouts: (connectionLimits, metrics), tls: tls)
        }
        let app = Application(
            router: routes.router(),
            server: server,
            configuration: ApplicationConfiguration(
                address: .hostname(settings.apiListen.host, port: settings.apiListen.port),
                availableConnectionsDelegate: ConnectionCap(maxConnections: connectionLimits.maxConnections, metrics: metrics, logger: apiLogger)),
            logger: apiLogger)
        logger.info(
            "replica serving",
            metadata: [
                "api": "\(tls == nil ? "http" : "https")://\(settings.apiListen)\(settings.apiHTTP2 ? " (HTTP/2 and HTTP/1.1)" : "")", "peers": "\(settings.peerListen)",
                "peer_tls": "\(peerContexts == nil ? "off" : "mutual")", "data": "\(settings.dataDirectory)",
                "api_max_connections": "\(budget.connections)", "open_files_limit": "\(budget.descriptors)",
            ])
        let replicaService = ReplicaService(
            replica: replica, network: network,
            keys: KeyMaintenance(replica: replica, cluster: cluster, schedule: schedule, logger: logger),
            peers: PeerMaintenance(
                replica: replica, network: network, configured: configuredPeers,
                autoPromoteAfter: settings.autoPromoteSeconds == 0 ? nil : .seconds(settings.autoPromoteSeconds),
                logger: Logger(label: "rampart.peers-\(settings.replicaID)")),
            denials: { await routes.denials.run(cluster: cluster, logger: apiLogger) })
        // When the replica stops by itself (removed, or its disk failed) the whole process shuts
        // down gracefully: the API stops accepting and finishes what it holds, then exits.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: app),
            .init(service: replicaService, successTerminationBehavior: .gracefullyShutdownGroup),
        ]
        if let reloader {
            services.append(.init(service: reloader))
        } else {
            // Nothing to reload without TLS: SIGHUP (`systemctl reload`) must not end the replica.
            signal(SIGHUP, SIG_IGN)
        }
        var configuration = ServiceGroupConfiguration(services: services, logger: logger)
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
    /// Applies the replicated peer address book and promotes learners (`PeerMaintenance`).
    let peers: PeerMaintenance
    /// Records refused requests in the audit log until cancelled (`DenialLog.run`).
    let denials: @Sendable () async -> Void

    func run() async throws {
        let replica = self.replica
        let keys = self.keys
        let maintenance = Task { await keys.run() }
        let peers = self.peers
        let peerMaintenance = Task { await peers.run() }
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
        peerMaintenance.cancel()
        denialRecording.cancel()
        await network.shutdown()
    }
}

extension ReplicaService: CustomStringConvertible, CustomReflectable {
    /// What ServiceLifecycle logs of the service: never its parts (they hold the secrets).
    var description: String { "ReplicaService(replica \(replica.status.id))" }
    var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
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
public struct ReplicaFailure: Error, CustomStringConvertible {
    /// What failed.
    public let reason: String
    public var description: String { "the replica failed: \(reason)" }
}

/// The replica could not start: what is wrong, said for the operator.
public struct ServerStartError: Error, CustomStringConvertible {
    /// The reason, naming the setting, file or address.
    public let description: String

    init(_ description: String) {
        self.description = description
    }
}

/// Reads a secret from a file, refusing short secrets and warning when others can read it.
enum SecretFile {
    static func read(_ path: String, name: String, minimumBytes: Int, logger: Logger) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ServerStartError("cannot read the \(name) file \(path)")
        }
        var bytes = Array(data)
        while let last = bytes.last, last == 0x0A || last == 0x0D { bytes.removeLast() }  // a trailing newline is not secret
        guard bytes.count >= minimumBytes else {
            throw ServerStartError("the \(name) in \(path) has \(bytes.count) bytes; it needs at least \(minimumBytes)")
        }
        if let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            let permissions = attributes[.posixPermissions] as? Int, permissions & 0o077 != 0
        {
            logger.warning("secret file is readable by others; chmod 600 it", metadata: ["file": "\(path)"])
        }
        return bytes
    }

    /// The root-key sealer of the key-encryption key in the file at `path`: the 32-byte key as
    /// 64 hexadecimal digits, or as 32 raw bytes.
    static func sealer(_ path: String, logger: Logger) throws -> RootKeySealer {
        let keyEncryptionKey = try read(path, name: "key-encryption key", minimumBytes: 32, logger: logger)
        do {
            let hexText = String(decoding: keyEncryptionKey, as: UTF8.self)
            let key = keyEncryptionKey.count == 64 ? (Hex.decode(hexText) ?? keyEncryptionKey) : keyEncryptionKey
            return try RootKeySealer(keyEncryptionKey: key)
        } catch {
            throw ServerStartError("the key-encryption key in \(path) cannot be used: \(error)")
        }
    }
}
