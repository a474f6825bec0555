public import HummingbirdCore
public import Logging
public import NIOCore
import NIOHTTP1
import Synchronization

/// The limits on a replica's API connections (outside review, finding 3: idle and trickling
/// connections were never closed, and at the descriptor limit the replica could neither accept
/// nor re-open its peer links).
///
/// - At most `maxConnections` are open at once; beyond it the replica stops accepting (new
///   connections wait in the kernel's backlog) until one closes, and says so in its log and its
///   metrics. The executable derives the maximum from the descriptor limit, leaving
///   descriptors for peer links, the log and the database.
/// - A connection on which nothing is read or written for `idleTimeout` is closed. Every wait
///   a request can cause is bounded by the longest `X-Timeout-Ms`, which is shorter, so a
///   connection waiting for its answer is never idle.
/// - A request whose head (request line and headers) is not complete `headerTimeout` after
///   its first byte arrived is closed (a client trickling its headers).
/// - A request body past `maxBodyBytes` is not read beyond `ConnectionWatch.lingerBytes` more
///   (whoever reads it sees it is too large): the connection is closed.
public struct ConnectionLimits: Sendable, Hashable {
    /// The most connections open at once.
    public var maxConnections = 4096
    /// How long a connection may stay silent in both directions.
    public var idleTimeout = Duration.seconds(120)
    /// How long a request's head may take to arrive once it began.
    public var headerTimeout = Duration.seconds(10)
    /// The longest request body read: a connection whose request sends more is closed, whether
    /// a route reads the body or not (the router has answered a declared length over the limit
    /// with 413 already; it would otherwise read the rest to discard it).
    public var maxBodyBytes = AdminRoutes.Limits().maxBodyBytes

    /// The default limits.
    public init() {}

    /// Why limits cannot be used.
    /// - Returns: nil when they can.
    public func problem() -> String? {
        if maxConnections < 1 { return "api_max_connections must be at least 1" }
        if idleTimeout <= .seconds(RequestLog.maxTimeoutMilliseconds / 1000) {
            return "api_idle_timeout_seconds must exceed the longest request wait (\(RequestLog.maxTimeoutMilliseconds / 1000) s)"
        }
        if headerTimeout <= .zero { return "api_header_timeout_seconds must be positive" }
        return nil
    }
}

/// Counters of the API's connections and refusals, shown in `/metrics`.
public final class APIMetrics: Sendable {
    /// Connections open now.
    let openConnections = Atomic<Int>(0)
    /// Times a new connection had to wait because `maxConnections` were open.
    let connectionLimitReached = Atomic<Int>(0)
    /// Connections closed for staying silent.
    let idleConnectionsClosed = Atomic<Int>(0)
    /// Connections closed for a request head that did not arrive in time.
    let slowHeadersClosed = Atomic<Int>(0)
    /// Connections closed for a request body over the limit.
    let oversizedBodiesClosed = Atomic<Int>(0)
    /// When the connection limit was last logged (nanoseconds of `ContinuousClock`), so a
    /// replica at its limit logs once per `logInterval`, not once per connection.
    private let limitLoggedAt = Atomic<Int64>(Int64.min)
    /// The shortest time between two log lines about the same limit.
    static let logInterval = Duration.seconds(10)

    /// Creates zeroed counters.
    public init() {}

    /// Whether a line about a limit may be logged now (at most one per `logInterval`).
    func mayLogLimit(now: ContinuousClock.Instant = .now) -> Bool {
        let nanoseconds = Self.nanoseconds(now)
        let last = limitLoggedAt.load(ordering: .relaxed)
        guard last == Int64.min || nanoseconds - last >= Self.nanoseconds(Self.logInterval) else { return false }
        return limitLoggedAt.compareExchange(expected: last, desired: nanoseconds, ordering: .relaxed).exchanged
    }

    /// The counters in the Prometheus text format.
    public func prometheusText() -> String {
        var lines: [String] = []
        func metric(_ name: String, _ type: String, _ help: String, _ value: Int) {
            lines += ["# HELP \(name) \(help)", "# TYPE \(name) \(type)", "\(name) \(value)"]
        }
        metric("rampart_api_connections", "gauge", "API connections open now.", openConnections.load(ordering: .relaxed))
        metric(
            "rampart_api_connection_limit_reached_total", "counter", "Times a new API connection waited: the most were open.",
            connectionLimitReached.load(ordering: .relaxed))
        metric(
            "rampart_api_idle_connections_closed_total", "counter", "API connections closed after staying silent.",
            idleConnectionsClosed.load(ordering: .relaxed))
        metric(
            "rampart_api_slow_headers_closed_total", "counter", "API connections closed: a request head took too long.",
            slowHeadersClosed.load(ordering: .relaxed))
        metric(
            "rampart_api_oversized_bodies_closed_total", "counter", "API connections closed: a request body over the limit.",
            oversizedBodiesClosed.load(ordering: .relaxed))
        return lines.joined(separator: "\n") + "\n"
    }

    private static func nanoseconds(_ instant: ContinuousClock.Instant) -> Int64 {
        nanoseconds(instant - ContinuousClock.Instant.processStart)
    }

    private static func nanoseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
    }
}

extension ContinuousClock.Instant {
    /// A fixed instant to measure from.
    static let processStart = ContinuousClock.now
}

/// Stops accepting API connections while `maxConnections` are open (Hummingbird's server
/// channel asks before each accept), logging it at most once per `APIMetrics.logInterval`.
public struct ConnectionCap: AvailableConnectionsDelegate {
    let maxConnections: Int
    let metrics: APIMetrics
    let logger: Logger

    /// A cap of `maxConnections`.
    public init(maxConnections: Int, metrics: APIMetrics, logger: Logger) {
        self.maxConnections = maxConnections
        self.metrics = metrics
        self.logger = logger
    }

    public mutating func connectionOpened() {
        metrics.openConnections.add(1, ordering: .relaxed)
    }

    public mutating func connectionClosed() {
        metrics.openConnections.subtract(1, ordering: .relaxed)
    }

    public func isAcceptingNewConnections() -> Bool {
        let open = metrics.openConnections.load(ordering: .relaxed)
        guard open >= maxConnections else { return true }
        metrics.connectionLimitReached.add(1, ordering: .relaxed)
        if metrics.mayLogLimit() {
            logger.warning(
                "API connection limit reached: new connections wait until one closes",
                metadata: ["open": "\(open)", "limit": "\(maxConnections)"])
        }
        return false
    }
}

/// When a connection's silence or a slow request head makes it due to close: the state of
/// one connection, a value with no I/O (`ConnectionWatch` carries it out).
struct ConnectionDeadlines {
    let limits: ConnectionLimits
    /// The last time anything was read or written.
    private(set) var lastActivity: NIODeadline
    /// When the first byte of a request whose head has not arrived was read; nil when no head
    /// is awaited or none of it has arrived.
    private(set) var headStarted: NIODeadline?
    /// Whether the next bytes read begin a request (between requests).
    private var betweenRequests = true

    /// Why a connection is closed.
    enum Expiry: Equatable {
        case idle
        case slowHeader
    }

    init(limits: ConnectionLimits, now: NIODeadline) {
        self.limits = limits
        lastActivity = now
    }

    mutating func read(now: NIODeadline) {
        lastActivity = now
        if betweenRequests, headStarted == nil { headStarted = now }
    }

    mutating func wrote(now: NIODeadline) {
        lastActivity = now
    }

    mutating func headReceived() {
        headStarted = nil
        betweenRequests = false
    }

    mutating func requestEnded() {
        betweenRequests = true
    }

    /// Whether the connection is due to close at `now`.
    func expiry(now: NIODeadline) -> Expiry? {
        if let headStarted, now - headStarted >= Self.amount(limits.headerTimeout) { return .slowHeader }
        if now - lastActivity >= Self.amount(limits.idleTimeout) { return .idle }
        return nil
    }

    /// When to look again: the earlier of the two deadlines.
    func nextCheck() -> NIODeadline {
        let idle = lastActivity + Self.amount(limits.idleTimeout)
        guard let headStarted else { return idle }
        return min(idle, headStarted + Self.amount(limits.headerTimeout))
    }

    static func amount(_ duration: Duration) -> TimeAmount {
        .nanoseconds(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }
}

/// Carries out `ConnectionDeadlines` for one connection. Two handlers share it: `bytes` at the
/// front of the pipeline sees every byte read and written (the fast path's answers too, which
/// skip the handlers behind the HTTP encoder), and `requests`, behind the HTTP decoder, sees
/// where request heads and ends fall. Both run on the connection's event loop only.
final class ConnectionWatch {
    private var deadlines: ConnectionDeadlines
    private let metrics: APIMetrics
    private var timer: Scheduled<Void>?
    /// When `timer` fires.
    private var scheduledAt: NIODeadline?
    /// The body bytes of the request being read.
    private var bodyBytes = 0
    private var context: ChannelHandlerContext?

    init(limits: ConnectionLimits, metrics: APIMetrics) {
        deadlines = ConnectionDeadlines(limits: limits, now: .now())
        self.metrics = metrics
    }


    /// The handler of raw bytes, for the front of the pipeline.
    var bytes: BytesHandler { BytesHandler(watch: self) }
    /// The handler of request parts, for right behind the HTTP decoder.
    var requests: RequestsHandler { RequestsHandler(watch: self) }

    fileprivate func start(_ context: ChannelHandlerContext) {
        guard self.context == nil else { return }
        self.context = context
        deadlines = ConnectionDeadlines(limits: deadlines.limits, now: context.eventLoop.now)
        schedule(at: deadlines.nextCheck(), on: context.eventLoop)
    }

    /// The loop's time: real on a real loop, the test's on an embedded one.
    private var now: NIODeadline { context?.eventLoop.now ?? .now() }

    fileprivate func stop() {
        timer?.cancel()
        timer = nil
        scheduledAt = nil
        context = nil
    }

    fileprivate func read() {
        deadlines.read(now: now)
        // A request head began: its deadline may come before the one the timer waits for.
        if let context, let scheduled = scheduledAt, deadlines.nextCheck() < scheduled {
            timer?.cancel()
            schedule(at: deadlines.nextCheck(), on: context.eventLoop)
        }
    }
    fileprivate func wrote() { deadlines.wrote(now: now) }
    fileprivate func headReceived() {
        deadlines.headReceived()
        bodyBytes = 0
    }

    fileprivate func requestEnded() { deadlines.requestEnded() }

    /// Counts a request's body bytes.
    /// - Returns: whether to hand the chunk on. The chunk that crosses the limit is handed on,
    ///   so whoever reads the body sees it is too large (never a body cut short); later ones
    ///   are read and dropped for `lingerBytes` more, so that a client that sends its whole
    ///   body before reading gets its 413 (closing with unread data would reset the connection
    ///   and lose the answer); past that, the connection is closed.
    fileprivate func bodyReceived(_ count: Int) -> Bool {
        let before = bodyBytes
        bodyBytes += count
        let limit = deadlines.limits.maxBodyBytes
        if bodyBytes <= limit { return true }
        if bodyBytes > limit + Self.lingerBytes {
            metrics.oversizedBodiesClosed.add(1, ordering: .relaxed)
            context?.close(promise: nil)
            return false
        }
        return before <= limit
    }

    /// How much of an oversized body is read and dropped before the connection is closed.
    static let lingerBytes = 1 << 20

    private func schedule(at deadline: NIODeadline, on loop: any EventLoop) {
        scheduledAt = deadline
        timer = loop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in check() }
    }

    private func check() {
        guard let context else { return }
        switch deadlines.expiry(now: now) {
        case .idle?:
            metrics.idleConnectionsClosed.add(1, ordering: .relaxed)
            context.close(promise: nil)
        case .slowHeader?:
            metrics.slowHeadersClosed.add(1, ordering: .relaxed)
            context.close(promise: nil)
        case nil:
            schedule(at: deadlines.nextCheck(), on: context.eventLoop)
        }
    }

    /// Sees every byte the connection reads and writes.
    final class BytesHandler: ChannelDuplexHandler, RemovableChannelHandler {
        typealias InboundIn = ByteBuffer
        typealias InboundOut = ByteBuffer
        typealias OutboundIn = IOData
        typealias OutboundOut = IOData

        private let watch: ConnectionWatch

        init(watch: ConnectionWatch) {
            self.watch = watch
        }

        func handlerAdded(context: ChannelHandlerContext) {
            if context.channel.isActive { watch.start(context) }
        }

        func channelActive(context: ChannelHandlerContext) {
            watch.start(context)
            context.fireChannelActive()
        }

        func handlerRemoved(context: ChannelHandlerContext) {
            watch.stop()
        }

        func channelInactive(context: ChannelHandlerContext) {
            watch.stop()
            context.fireChannelInactive()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            watch.read()
            context.fireChannelRead(data)
        }

        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            watch.wrote()
            context.write(data, promise: promise)
        }
    }

    /// Sees where request heads and ends fall.
    final class RequestsHandler: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias InboundOut = HTTPServerRequestPart

        private let watch: ConnectionWatch

        init(watch: ConnectionWatch) {
            self.watch = watch
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head: watch.headReceived()
            case .body(let chunk): guard watch.bodyReceived(chunk.readableBytes) else { return }
            case .end: watch.requestEnded()
            }
            context.fireChannelRead(data)
        }
    }
}
