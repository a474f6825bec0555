public import NIOCore
public import Logging
public import RaftCore
import NIOConcurrencyHelpers
import NIOPosix
import NIOSSL

/// The limits and timings of a replica's peer network.
public struct PeerNetworkOptions: Sendable {
    /// This replica.
    public var localID: ReplicaID
    /// The cluster secret every replica reads from a file (at least 32 bytes).
    public var clusterSecret: [UInt8]
    /// Frame limits.
    public var limits = PeerTransportLimits()
    /// The most packets waiting for one peer's connection; more are dropped and counted (Raft
    /// retransmits, so dropping costs only time, never safety).
    public var maxQueuedMessagesPerPeer = 1024
    /// How long one connection attempt may take.
    public var connectTimeout: TimeAmount = .seconds(2)
    /// The first delay before reconnecting; it doubles on each failure up to the maximum.
    public var minimumReconnectDelay: TimeAmount = .milliseconds(20)
    /// The longest delay between connection attempts.
    public var maximumReconnectDelay: TimeAmount = .seconds(2)
    /// The most connections peers may hold open to this replica at once, authenticated or not
    /// (a cluster's members need one each; the rest is room for reconnects). More are closed
    /// at once and counted, so that a flood of connections to the peer port cannot take the
    /// descriptors the replica needs.
    public var maxInboundConnections = 64
    /// The address outbound peer connections are made from (the replica's peer listen host),
    /// so that peers, and firewall rules, see one address per replica; the system's choice
    /// when nil.
    public var sourceHost: String?
    /// Mutual TLS under the peer protocol (`PeerTLS`); plain TCP when nil.
    public var tls: PeerTLS?
    /// Where refused and failed connections are logged.
    public var logger = Logger(label: "rampart.peers")

    /// Creates options with the default limits.
    public init(localID: ReplicaID, clusterSecret: [UInt8]) {
        self.localID = localID
        self.clusterSecret = clusterSecret
    }
}

/// Counters of a peer network, for metrics and tests.
public struct PeerNetworkStatistics: Sendable, Hashable {
    /// Packets written to a peer connection.
    public var sent = 0
    /// Packets dropped: queue full, peer unknown, or the runtime not keeping up.
    public var dropped = 0
    /// Packets received from authenticated peers.
    public var received = 0
    /// Connections closed because the handshake failed (wrong secret, wrong replica…).
    public var handshakeFailures = 0
    /// Inbound connections refused after the handshake: the peer names a replica id this
    /// replica has no address for (`setPeer`), and unknown peers are not admitted
    /// (`admitUnknownPeers`).
    public var unknownPeers = 0
    /// Inbound connections from a peer with no address admitted while `admitUnknownPeers` said
    /// so (a joining replica hearing from the leader); packets to that peer go back over them.
    public var admittedUnknownPeers = 0
    /// Outbound connections that authenticated.
    public var connections = 0
    /// Outbound connection attempts (bounded by the backoff, whatever the send rate).
    public var connectionAttempts = 0
    /// Inbound connections closed at once: `maxInboundConnections` were open.
    public var inboundRefused = 0
    /// Connections refused after the handshake because the peer's TLS certificate does not
    /// name the replica it proved to be (`PeerTLS.checkIdentity`).
    public var identityRefused = 0
}

/// A replica's connections to its peers: one outbound connection per peer, reconnected with
/// capped exponential backoff, and a listener for the peers' connections. Received messages from
/// authenticated peers go to the `onDelivery` handler; `send` never blocks.
public final class PeerNetwork: Sendable {
    /// The options in force.
    public let options: PeerNetworkOptions
    /// Takes a packet received from an authenticated peer, in arrival order per connection.
    /// It is called on the connection's event loop, so it must not block: the replica queues
    /// the packet for its runtime at once. It returns false when it dropped the packet.
    public typealias DeliveryHandler = @Sendable (PeerDelivery) -> Bool

    /// Says whether an authenticated peer with no address may be heard; see `admitUnknownPeers`.
    public typealias UnknownPeerPolicy = @Sendable () -> Bool

    private let deliveryTarget = DeliveryTarget()
    private let unknownPeerPolicy = NIOLockedValueBox<UnknownPeerPolicy?>(nil)
    let group: any EventLoopGroup
    private let counters = NIOLockedValueBox(PeerNetworkStatistics())
    private let state = NIOLockedValueBox(State())
    /// When the inbound connection limit was last logged (at most once per 10 s).
    private let inboundRefusalLog = NIOLockedValueBox<NIODeadline?>(nil)

    private struct State {
        var links: [ReplicaID: PeerLink] = [:]
        var server: (any Channel)?
        /// Connections peers opened to this replica, closed on shutdown.
        var accepted: [ObjectIdentifier: any Channel] = [:]
        /// Admitted connections from peers with no address (`admitUnknownPeers`): the way back to
        /// each, the newest per peer, until it closes or the peer gets an address.
        var returnRoutes: [ReplicaID: any Channel] = [:]
        var stopped = false
    }

    /// Creates a network; nothing is opened until `listen` and `setPeer`.
    public init(options: PeerNetworkOptions, group: any EventLoopGroup) {
        precondition(options.clusterSecret.count >= 32, "the cluster secret must be at least 32 bytes")
        self.options = options
        self.group = group
    }

    /// Sets where received packets go (see `DeliveryHandler`): straight from the connection's
    /// event loop to the replica, with no task or stream in between (each would cost a thread
    /// wake-up per message). Packets received before it is set are dropped and counted.
    public func onDelivery(_ handler: @escaping DeliveryHandler) {
        deliveryTarget.set(handler)
    }

    /// Sets when an authenticated peer this replica has no address for is heard rather than
    /// refused: while `policy` returns true (asked at each such peer's authentication). A
    /// replica joining a cluster sets it to "while I belong to no membership": the leader that
    /// adds it connects first, and its packets back go over that same connection, so the new
    /// replica needs no address for the leader (it learns every member's from the replicated
    /// address book it receives). Without a policy such peers are refused.
    public func admitUnknownPeers(while policy: @escaping UnknownPeerPolicy) {
        unknownPeerPolicy.withLockedValue { $0 = policy }
    }

    /// Whether an authenticated peer with no address is heard now (`admitUnknownPeers`).
    func admitsUnknownPeer() -> Bool {
        unknownPeerPolicy.withLockedValue { $0 }?() ?? false
    }

    /// The counters so far.
    public var statistics: PeerNetworkStatistics { counters.withLockedValue { $0 } }

    /// Starts accepting peer connections.
    /// - Returns: the address bound (useful with port 0).
    public func listen(host: String, port: Int) async throws -> SocketAddress {
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers(self.handlers(expectedPeer: nil, link: nil))
                }
            }
            .bind(host: host, port: port).get()
        let stopped = state.withLockedValue { state -> Bool in
            if !state.stopped { state.server = server }
            return state.stopped
        }
        if stopped {
            try? await server.close()
            throw PeerProtocolError.handshakeFailed("the network was shut down")
        }
        guard let address = server.localAddress else { throw PeerProtocolError.handshakeFailed("listener has no address") }
        return address
    }

    /// Adds or replaces the address of a peer; its connection is opened on the first send.
    public func setPeer(_ peer: ReplicaID, address: SocketAddress) {
        let link = PeerLink(peer: peer, address: address, eventLoop: group.next(), network: self)
        let previous = state.withLockedValue { state -> PeerLink? in
            guard !state.stopped else { return nil }
            defer { state.links[peer] = link }
            return state.links[peer]
        }
        _ = previous?.close()
    }

    /// Whether `peer` is in this replica's address book (`setPeer`). Only such peers may
    /// deliver packets over connections they open.
    public func knowsPeer(_ peer: ReplicaID) -> Bool {
        state.withLockedValue { $0.links[peer] != nil }
    }

    /// Forgets a peer and closes its connection.
    public func removePeer(_ peer: ReplicaID) {
        _ = state.withLockedValue { $0.links.removeValue(forKey: peer) }?.close()
    }

    /// Queues a Raft message for its recipient; drops it (and counts) when the recipient is
    /// unknown or its queue is full.
    public func send(_ message: Message) {
        send(.raft(message), to: message.to, promise: nil)
    }

    /// Queues a packet for `peer`; drops it (and counts) when the peer is unknown or its queue
    /// is full.
    /// - Parameter promise: completed when the packet is written to the connection, failed
    ///   when it is dropped (`PeerNetworkError.dropped`) or its connection closes first.
    public func send(_ packet: PeerPacket, to peer: ReplicaID, promise: EventLoopPromise<Void>?) {
        let (link, returnRoute) = state.withLockedValue { state -> (PeerLink?, (any Channel)?) in
            state.stopped ? (nil, nil) : (state.links[peer], state.returnRoutes[peer])
        }
        if let link {
            link.send(packet, promise: promise)
        } else if let returnRoute, returnRoute.isWritable {
            // No queue of its own: a connection that cannot take more drops, as a full queue
            // does, and Raft sends again.
            count { $0.sent += 1 }
            returnRoute.writeAndFlush(packet, promise: promise)
        } else {
            count { $0.dropped += 1 }
            promise?.fail(PeerNetworkError.dropped(peer))
        }
    }

    /// Queues a packet for `peer` and calls `onDropped` if it is dropped before it is written to
    /// the peer's connection: the caller then knows for certain that the peer never saw it.
    public func send(_ packet: PeerPacket, to peer: ReplicaID, onDropped: @escaping @Sendable () -> Void) {
        let promise = group.next().makePromise(of: Void.self)
        promise.futureResult.whenFailure { _ in onDropped() }
        send(packet, to: peer, promise: promise)
    }

    /// Sends a packet and waits until it is written to the peer's connection: the sender of a
    /// large transfer (a snapshot) paces itself on this instead of overflowing the queue.
    /// - Throws: `PeerNetworkError.dropped` when the packet could not be queued or written.
    public func sendAndWait(_ packet: PeerPacket, to peer: ReplicaID) async throws {
        let promise = group.next().makePromise(of: Void.self)
        send(packet, to: peer, promise: promise)
        try await promise.futureResult.get()
    }

    /// Closes the listener and every connection; nothing is delivered afterwards.
    public func shutdown() async {
        let (server, links, accepted) = state.withLockedValue { state -> ((any Channel)?, [PeerLink], [any Channel]) in
            state.stopped = true
            defer {
                state.links = [:]
                state.accepted = [:]
                state.returnRoutes = [:]
            }
            return (state.server, Array(state.links.values), Array(state.accepted.values))
        }
        for link in links { try? await link.close().get() }
        try? await server?.close()
        for channel in accepted { try? await channel.close() }
        deliveryTarget.set(nil)
    }

    // MARK: - Internals shared with links

    /// Tracks a connection a peer opened to this replica; refuses it after shutdown, and when
    /// `maxInboundConnections` are open.
    func accepted(_ channel: any Channel, active: Bool) {
        let refuse = state.withLockedValue { state -> (stopped: Bool, full: Bool) in
            guard active else {
                state.accepted[ObjectIdentifier(channel)] = nil
                return (false, false)
            }
            if state.stopped { return (true, false) }
            if state.accepted.count >= options.maxInboundConnections { return (false, true) }
            state.accepted[ObjectIdentifier(channel)] = channel
            return (false, false)
        }
        if refuse.full {
            count { $0.inboundRefused += 1 }
            if inboundRefusalLog.withLockedValue({ last in
                let now = NIODeadline.now()
                guard last.map({ now - $0 >= .seconds(10) }) ?? true else { return false }
                last = now
                return true
            }) {
                options.logger.warning(
                    "peer connection limit reached: refusing connections to the peer port",
                    metadata: ["limit": "\(options.maxInboundConnections)", "remote": "\(channel.remoteAddress.map(\.description) ?? "?")"])
            }
        }
        if refuse.stopped || refuse.full { channel.close(promise: nil) }
    }

    /// Packets to `peer`, which has no address, go back over `channel` (an admitted inbound
    /// connection) until it closes.
    func addReturnRoute(_ channel: any Channel, to peer: ReplicaID) {
        state.withLockedValue { state in
            if !state.stopped { state.returnRoutes[peer] = channel }
        }
    }

    /// `channel` closed: it is no longer a way back to any peer.
    func removeReturnRoute(_ channel: any Channel) {
        state.withLockedValue { state in
            for (peer, route) in state.returnRoutes where route === channel { state.returnRoutes[peer] = nil }
        }
    }

    func count(_ update: (inout PeerNetworkStatistics) -> Void) {
        counters.withLockedValue(update)
    }

    func deliver(_ delivery: PeerDelivery) {
        if deliveryTarget.deliver(delivery) {
            count { $0.received += 1 }
        } else {
            count { $0.dropped += 1 }
        }
    }

    func handlers(expectedPeer: ReplicaID?, link: PeerLink?) throws -> [any ChannelHandler] {
        var generator = SystemRandomNumberGenerator()
        let nonce = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let handshake = PeerHandshake(localID: options.localID, secret: options.clusterSecret, nonce: nonce, expectedPeer: expectedPeer)
        var tlsHandlers: [any ChannelHandler] = []
        if let tls = options.tls {
            // TLS first: every byte of the peer protocol, the handshake included, is encrypted.
            tlsHandlers.append(
                link == nil
                    ? NIOSSLServerHandler(context: tls.contexts.server)
                    : try NIOSSLClientHandler(context: tls.contexts.client, serverHostname: nil))
        }
        return tlsHandlers + PeerPipeline.handlers(handshake: handshake, limits: options.limits)
            + [PeerEndpointHandler(network: self, link: link)]
    }

    /// A client bootstrap on `eventLoop` that connects from the replica's peer address
    /// (`PeerNetworkOptions.sourceHost`) when one is set.
    func clientBootstrap(on eventLoop: any EventLoop) -> ClientBootstrap {
        let bootstrap = ClientBootstrap(group: eventLoop)
        if let sourceHost = options.sourceHost, let source = try? SocketAddress(ipAddress: sourceHost, port: 0) {
            return bootstrap.bind(to: source)
        }
        return bootstrap
    }

    func connect(to address: SocketAddress, peer: ReplicaID, link: PeerLink, on eventLoop: any EventLoop) -> EventLoopFuture<any Channel> {
        clientBootstrap(on: eventLoop)
            .connectTimeout(options.connectTimeout)
            .channelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
            .channelOption(ChannelOptions.socketOption(.so_keepalive), value: 1)
            .channelOption(ChannelOptions.writeBufferWaterMark, value: ChannelOptions.Types.WriteBufferWaterMark(low: 1 << 20, high: 4 << 20))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers(self.handlers(expectedPeer: peer, link: link))
                }
            }
            .connect(to: address)
    }
}

/// Why the network could not carry a packet.
public enum PeerNetworkError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The packet for this peer was dropped: peer unknown, queue full, or link closed.
    case dropped(ReplicaID)

    public var description: String {
        switch self {
        case .dropped(let peer): return "a packet for replica \(peer) was dropped"
        }
    }
}

/// Where received packets go; set once the replica exists (it needs the network first).
///
/// `@unchecked Sendable`: `handler` is read and written only while holding `lock`.
private final class DeliveryTarget: @unchecked Sendable {
    private let lock = NIOLock()
    private var handler: PeerNetwork.DeliveryHandler?

    func set(_ handler: PeerNetwork.DeliveryHandler?) {
        lock.withLock { self.handler = handler }
    }

    /// Hands `delivery` to the handler; false when there is none or it dropped the packet.
    func deliver(_ delivery: PeerDelivery) -> Bool {
        guard let handler = lock.withLock({ self.handler }) else { return false }
        return handler(delivery)
    }
}

/// The end of every peer pipeline: hands received messages to the network, tells an outbound
/// link when its connection is authenticated or gone, and counts failed handshakes.
final class PeerEndpointHandler: ChannelInboundHandler {
    typealias InboundIn = PeerDelivery

    private let network: PeerNetwork
    private let link: PeerLink?
    private var authenticated = false
    /// Set when an authenticated peer is refused; its packets are never delivered.
    private var refused = false

    init(network: PeerNetwork, link: PeerLink?) {
        self.network = network
        self.link = link
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }
        network.deliver(unwrapInboundIn(data))
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? PeerAuthenticated {
            authenticated = true
            if let tls = network.options.tls, let reason = Self.identityProblem(context: context, tls: tls, claimed: event.peer) {
                refused = true
                network.count { $0.identityRefused += 1 }
                let remote = context.channel.remoteAddress.map { "\($0)" } ?? "unknown"
                network.options.logger.warning(
                    "refused a peer connection: its certificate does not name the replica it claims to be",
                    metadata: ["remote": "\(remote)", "claimed": "\(event.peer)", "reason": "\(reason)", "outbound": "\(link != nil)"])
                context.close(promise: nil)
                return
            }
            // A peer that proved the cluster secret but names a replica this one has no address
            // for is not a member it knows: nothing it sends is delivered (the outside review
            // saw a made-up id's messages stepped by every replica) — unless this replica admits
            // such peers now (a joining replica, which the leader contacts first).
            if link == nil, !network.knowsPeer(event.peer), network.admitsUnknownPeer() {
                network.count { $0.admittedUnknownPeers += 1 }
                network.addReturnRoute(context.channel, to: event.peer)
                let remote = context.channel.remoteAddress.map { "\($0)" } ?? "unknown"
                network.options.logger.info(
                    "heard a peer with no address (this replica belongs to no membership yet); answering over its connection",
                    metadata: ["remote": "\(remote)", "peer": "\(event.peer)"])
            } else if link == nil, !network.knowsPeer(event.peer) {
                refused = true
                network.count { $0.unknownPeers += 1 }
                let remote = context.channel.remoteAddress.map { "\($0)" } ?? "unknown"
                network.options.logger.warning(
                    "refused a peer connection from a replica id with no address", metadata: ["remote": "\(remote)", "claimed": "\(event.peer)"])
                context.close(promise: nil)
                return
            }
            link?.authenticated(context.channel)
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// Why the peer's TLS certificate does not stand for `claimed`, or nil when it does.
    private static func identityProblem(context: ChannelHandlerContext, tls: PeerTLS, claimed: ReplicaID) -> String? {
        let certificate: NIOSSLCertificate
        do {
            guard let presented = try context.pipeline.syncOperations.nioSSL_peerCertificate() else { return "no certificate was presented" }
            certificate = presented
        } catch {
            return "the connection has no TLS handler: \(error)"
        }
        do {
            return tls.checkIdentity(try certificate.toDERBytes(), claimed)
        } catch {
            return "the certificate cannot be encoded: \(error)"
        }
    }

    func channelActive(context: ChannelHandlerContext) {
        if link == nil { network.accepted(context.channel, active: true) }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let link {
            link.disconnected(context.channel)
        } else {
            network.accepted(context.channel, active: false)
            network.removeReturnRoute(context.channel)
        }
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { link?.writable() }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let remote = context.channel.remoteAddress.map { "\($0)" } ?? "unknown"
        if !authenticated {
            // Before authentication every error is a refused peer (bad frames included).
            network.count { $0.handshakeFailures += 1 }
            network.options.logger.warning(
                "refused a peer connection", metadata: ["remote": "\(remote)", "reason": "\(error)", "outbound": "\(link != nil)"])
        } else {
            network.options.logger.notice("closed a peer connection", metadata: ["remote": "\(remote)", "reason": "\(error)"])
        }
        authenticated = true  // count and log a connection once
        context.close(promise: nil)
    }
}

/// The outbound side of one peer: its connection, its bounded queue, and reconnection.
///
/// `@unchecked Sendable`: every mutable field is read and written only on `eventLoop` (each
/// entry point hops there first), which serializes all access.
final class PeerLink: @unchecked Sendable {
    let peer: ReplicaID
    let address: SocketAddress
    let eventLoop: any EventLoop
    private let network: PeerNetwork
    private var channel: (any Channel)?
    /// A connection opened but not yet authenticated.
    private var pending: (any Channel)?
    private var connecting = false
    private var reconnectScheduled = false
    private var closed = false
    private var failures = 0
    private var queue: [(packet: PeerPacket, promise: EventLoopPromise<Void>?)] = []

    init(peer: ReplicaID, address: SocketAddress, eventLoop: any EventLoop, network: PeerNetwork) {
        self.peer = peer
        self.address = address
        self.eventLoop = eventLoop
        self.network = network
    }

    /// Queues a packet and writes it at once when connected. On the link's event loop (the
    /// replica's runtime shares it) this happens before returning; from elsewhere it hops there.
    func send(_ packet: PeerPacket, promise: EventLoopPromise<Void>?) {
        if eventLoop.inEventLoop {
            enqueue(packet, promise: promise)
        } else {
            eventLoop.execute { self.enqueue(packet, promise: promise) }
        }
    }

    private func enqueue(_ packet: PeerPacket, promise: EventLoopPromise<Void>?) {
        guard !closed, queue.count < network.options.maxQueuedMessagesPerPeer else {
            network.count { $0.dropped += 1 }
            promise?.fail(PeerNetworkError.dropped(peer))
            return
        }
        queue.append((packet, promise))
        if channel != nil {
            flush()
        } else if !reconnectScheduled {
            connectIfNeeded()
        }
    }

    /// Closes the link and its connections.
    func close() -> EventLoopFuture<Void> {
        eventLoop.submit {
            self.closed = true
            self.network.count { $0.dropped += self.queue.count }
            for item in self.queue { item.promise?.fail(PeerNetworkError.dropped(self.peer)) }
            self.queue = []
            self.channel?.close(promise: nil)
            self.pending?.close(promise: nil)
            self.channel = nil
            self.pending = nil
        }
    }

    func authenticated(_ channel: any Channel) {
        eventLoop.execute {
            guard !self.closed else {
                channel.close(promise: nil)
                return
            }
            self.channel = channel
            self.pending = nil
            self.connecting = false
            self.failures = 0
            self.network.count { $0.connections += 1 }
            self.flush()
        }
    }

    func disconnected(_ channel: any Channel) {
        eventLoop.execute {
            if self.channel === channel { self.channel = nil }
            if self.pending === channel { self.pending = nil }
            self.connecting = false
            self.scheduleReconnect()
        }
    }

    /// The connection can take more writes again.
    func writable() {
        eventLoop.execute { self.flush() }
    }

    /// Writes queued messages while the connection accepts more; the rest wait, bounded by the
    /// queue, for `writable()`.
    private func flush() {
        guard let channel, !queue.isEmpty else { return }
        var written = 0
        while written < queue.count && channel.isWritable {
            channel.write(queue[written].packet, promise: queue[written].promise)
            written += 1
        }
        queue.removeFirst(written)
        channel.flush()
        network.count { $0.sent += written }
    }

    private func connectIfNeeded() {
        guard !closed, !connecting, channel == nil else { return }
        connecting = true
        network.count { $0.connectionAttempts += 1 }
        network.connect(to: address, peer: peer, link: self, on: eventLoop).whenComplete { result in
            self.eventLoop.execute {
                switch result {
                case .success(let channel):
                    // Authenticated or closed later; kept so that close() can end it meanwhile.
                    if self.closed {
                        channel.close(promise: nil)
                    } else if self.channel == nil {
                        self.pending = channel
                    }
                case .failure:
                    self.connecting = false
                    self.scheduleReconnect()
                }
            }
        }
    }

    /// Capped exponential backoff: the first retry after the minimum delay, doubling up to the
    /// maximum; a connection that authenticates resets it.
    private func scheduleReconnect() {
        guard !closed, channel == nil, !connecting, !reconnectScheduled else { return }
        // The peer is unreachable: what is queued is stale by the time it returns (Raft and the
        // runtime retransmit from their own state), and holding it would cost memory.
        network.count { $0.dropped += self.queue.count }
        for item in queue { item.promise?.fail(PeerNetworkError.dropped(peer)) }
        queue = []
        failures += 1
        let options = network.options
        let doubled = options.minimumReconnectDelay.nanoseconds.multipliedReportingOverflow(by: 1 << Int64(min(failures - 1, 20)))
        let delay = TimeAmount.nanoseconds(
            doubled.overflow ? options.maximumReconnectDelay.nanoseconds : min(doubled.partialValue, options.maximumReconnectDelay.nanoseconds))
        reconnectScheduled = true
        eventLoop.scheduleTask(in: delay) {
            self.reconnectScheduled = false
            self.connectIfNeeded()
        }
    }
}
