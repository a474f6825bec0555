public import NIOCore
public import RaftCore
import NIOConcurrencyHelpers
import NIOPosix

/// The limits and timings of a replica's peer network.
public struct PeerNetworkOptions: Sendable {
    /// This replica.
    public var localID: ReplicaID
    /// The cluster secret every replica reads from a file (at least 32 bytes).
    public var clusterSecret: [UInt8]
    /// Frame limits.
    public var limits = PeerTransportLimits()
    /// The most messages waiting for one peer's connection; more are dropped and counted (Raft
    /// retransmits, so dropping costs only time, never safety).
    public var maxQueuedMessagesPerPeer = 1024
    /// The most received messages waiting for the runtime; more are dropped and counted.
    public var maxInboundMessages = 8192
    /// How long one connection attempt may take.
    public var connectTimeout: TimeAmount = .seconds(2)
    /// The first delay before reconnecting; it doubles on each failure up to the maximum.
    public var minimumReconnectDelay: TimeAmount = .milliseconds(20)
    /// The longest delay between connection attempts.
    public var maximumReconnectDelay: TimeAmount = .seconds(2)

    /// Creates options with the default limits.
    public init(localID: ReplicaID, clusterSecret: [UInt8]) {
        self.localID = localID
        self.clusterSecret = clusterSecret
    }
}

/// Counters of a peer network, for metrics and tests.
public struct PeerNetworkStatistics: Sendable, Hashable {
    /// Messages written to a peer connection.
    public var sent = 0
    /// Messages dropped: queue full, peer unknown, or the runtime not keeping up.
    public var dropped = 0
    /// Messages received from authenticated peers.
    public var received = 0
    /// Connections closed because the handshake failed (wrong secret, wrong replica…).
    public var handshakeFailures = 0
    /// Outbound connections that authenticated.
    public var connections = 0
}

/// A replica's connections to its peers: one outbound connection per peer, reconnected with
/// capped exponential backoff, and a listener for the peers' connections. Received messages from
/// authenticated peers arrive on `inbound`; `send` never blocks.
public final class PeerNetwork: Sendable {
    /// The options in force.
    public let options: PeerNetworkOptions
    /// Messages received from authenticated peers, in arrival order per connection.
    public let inbound: AsyncStream<Message>

    private let continuation: AsyncStream<Message>.Continuation
    private let group: any EventLoopGroup
    private let counters = NIOLockedValueBox(PeerNetworkStatistics())
    private let state = NIOLockedValueBox(State())

    private struct State {
        var links: [ReplicaID: PeerLink] = [:]
        var server: (any Channel)?
        /// Connections peers opened to this replica, closed on shutdown.
        var accepted: [ObjectIdentifier: any Channel] = [:]
        var stopped = false
    }

    /// Creates a network; nothing is opened until `listen` and `setPeer`.
    public init(options: PeerNetworkOptions, group: any EventLoopGroup) {
        precondition(options.clusterSecret.count >= 32, "the cluster secret must be at least 32 bytes")
        self.options = options
        self.group = group
        (inbound, continuation) = AsyncStream.makeStream(of: Message.self, bufferingPolicy: .bufferingNewest(options.maxInboundMessages))
    }

    /// The counters so far.
    public var statistics: PeerNetworkStatistics { counters.withLockedValue { $0 } }

    /// Starts accepting peer connections.
    /// - Returns: the address bound (useful with port 0).
    public func listen(host: String, port: Int) async throws -> SocketAddress {
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers(self.handlers(expectedPeer: nil, link: nil))
                }
            }
            .bind(host: host, port: port).get()
        state.withLockedValue { $0.server = server }
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
        previous?.close()
    }

    /// Forgets a peer and closes its connection.
    public func removePeer(_ peer: ReplicaID) {
        state.withLockedValue { $0.links.removeValue(forKey: peer) }?.close()
    }

    /// Queues a message for its recipient; drops it (and counts) when the recipient is unknown
    /// or its queue is full.
    public func send(_ message: Message) {
        guard let link = state.withLockedValue({ $0.stopped ? nil : $0.links[message.to] }) else {
            count { $0.dropped += 1 }
            return
        }
        link.send(message)
    }

    /// Closes the listener and every connection, and ends `inbound`.
    public func shutdown() async {
        let (server, links, accepted) = state.withLockedValue { state -> ((any Channel)?, [PeerLink], [any Channel]) in
            state.stopped = true
            defer {
                state.links = [:]
                state.accepted = [:]
            }
            return (state.server, Array(state.links.values), Array(state.accepted.values))
        }
        for link in links { link.close() }
        try? await server?.close()
        for channel in accepted { try? await channel.close() }
        continuation.finish()
    }

    // MARK: - Internals shared with links

    /// Tracks a connection a peer opened to this replica; refuses it after shutdown.
    func accepted(_ channel: any Channel, active: Bool) {
        let refuse = state.withLockedValue { state -> Bool in
            if active && !state.stopped { state.accepted[ObjectIdentifier(channel)] = channel }
            if !active { state.accepted[ObjectIdentifier(channel)] = nil }
            return active && state.stopped
        }
        if refuse { channel.close(promise: nil) }
    }

    func count(_ update: (inout PeerNetworkStatistics) -> Void) {
        counters.withLockedValue(update)
    }

    func deliver(_ message: Message) {
        if case .dropped = continuation.yield(message) {
            count { $0.dropped += 1 }
        } else {
            count { $0.received += 1 }
        }
    }

    func handlers(expectedPeer: ReplicaID?, link: PeerLink?) -> [any ChannelHandler] {
        var generator = SystemRandomNumberGenerator()
        let nonce = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let handshake = PeerHandshake(localID: options.localID, secret: options.clusterSecret, nonce: nonce, expectedPeer: expectedPeer)
        return PeerPipeline.handlers(handshake: handshake, limits: options.limits) + [PeerEndpointHandler(network: self, link: link)]
    }

    func connect(to address: SocketAddress, peer: ReplicaID, link: PeerLink, on eventLoop: any EventLoop) -> EventLoopFuture<any Channel> {
        ClientBootstrap(group: eventLoop)
            .connectTimeout(options.connectTimeout)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers(self.handlers(expectedPeer: peer, link: link))
                }
            }
            .connect(to: address)
    }
}

/// The end of every peer pipeline: hands received messages to the network, tells an outbound
/// link when its connection is authenticated or gone, and counts failed handshakes.
final class PeerEndpointHandler: ChannelInboundHandler {
    typealias InboundIn = Message

    private let network: PeerNetwork
    private let link: PeerLink?

    init(network: PeerNetwork, link: PeerLink?) {
        self.network = network
        self.link = link
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        network.deliver(unwrapInboundIn(data))
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is PeerAuthenticated { link?.authenticated(context.channel) }
        context.fireUserInboundEventTriggered(event)
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
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if case PeerProtocolError.handshakeFailed = error { network.count { $0.handshakeFailures += 1 } }
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
    private var connecting = false
    private var closed = false
    private var failures = 0
    private var queue: [Message] = []

    init(peer: ReplicaID, address: SocketAddress, eventLoop: any EventLoop, network: PeerNetwork) {
        self.peer = peer
        self.address = address
        self.eventLoop = eventLoop
        self.network = network
    }

    func send(_ message: Message) {
        eventLoop.execute {
            guard !self.closed else {
                self.network.count { $0.dropped += 1 }
                return
            }
            guard self.queue.count < self.network.options.maxQueuedMessagesPerPeer else {
                self.network.count { $0.dropped += 1 }
                return
            }
            self.queue.append(message)
            if self.channel != nil { self.flush() } else { self.connectIfNeeded() }
        }
    }

    func close() {
        eventLoop.execute {
            self.closed = true
            self.network.count { $0.dropped += self.queue.count }
            self.queue = []
            self.channel?.close(promise: nil)
            self.channel = nil
        }
    }

    func authenticated(_ channel: any Channel) {
        eventLoop.execute {
            guard !self.closed else {
                channel.close(promise: nil)
                return
            }
            self.channel = channel
            self.connecting = false
            self.failures = 0
            self.network.count { $0.connections += 1 }
            self.flush()
        }
    }

    func disconnected(_ channel: any Channel) {
        eventLoop.execute {
            if self.channel === channel { self.channel = nil }
            self.connecting = false
            self.scheduleReconnect()
        }
    }

    private func flush() {
        guard let channel, !queue.isEmpty else { return }
        let batch = queue
        queue = []
        for message in batch { channel.write(message, promise: nil) }
        channel.flush()
        network.count { $0.sent += batch.count }
    }

    private func connectIfNeeded() {
        guard !closed, !connecting, channel == nil else { return }
        connecting = true
        network.connect(to: address, peer: peer, link: self, on: eventLoop).whenFailure { _ in
            self.eventLoop.execute {
                self.connecting = false
                self.scheduleReconnect()
            }
        }
    }

    /// Capped exponential backoff: the first retry after the minimum delay, doubling up to the
    /// maximum; a connection that authenticates resets it.
    private func scheduleReconnect() {
        guard !closed, channel == nil, !connecting else { return }
        failures += 1
        let options = network.options
        let doubled = options.minimumReconnectDelay.nanoseconds << Int64(min(failures - 1, 20))
        let delay = TimeAmount.nanoseconds(min(doubled, options.maximumReconnectDelay.nanoseconds))
        eventLoop.scheduleTask(in: delay) { self.connectIfNeeded() }
    }
}
