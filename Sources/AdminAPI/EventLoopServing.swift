public import HummingbirdCore
public import Logging
public import NIOCore
import NIOHTTPTypesHTTP1
public import NIOSSL
import Synchronization

/// The TLS context new API connections are served with, replaceable while the server runs (a
/// renewed certificate takes effect for the next connection; open ones keep theirs).
public final class TLSServerContext: Sendable {
    private let context: Mutex<NIOSSLContext>

    /// Serves with `context` until `replace(with:)`.
    public init(_ context: NIOSSLContext) {
        self.context = Mutex(context)
    }

    /// The context for a new connection.
    public var current: NIOSSLContext { context.withLock { $0 } }

    /// Serves new connections with `context` from now on.
    public func replace(with context: NIOSSLContext) {
        self.context.withLock { $0 = context }
    }
}

/// A task executor that runs its jobs on one NIO event loop.
///
/// A task that prefers it (`withTaskExecutorPreference`) runs its nonisolated code on that
/// loop's thread: when the loop's channel hands it a request, and when a continuation it
/// awaits is resumed from another thread, the task continues on the loop without passing
/// through Swift's global pool.
public final class EventLoopTaskExecutor: TaskExecutor {
    /// The loop the jobs run on.
    public let eventLoop: any EventLoop

    /// Creates an executor for `eventLoop`.
    public init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    /// Runs `job` on the loop, after what the loop already has queued.
    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

/// HTTP/1 connections whose requests are served on the connection's own event loop.
///
/// Hummingbird serves each connection in a task on Swift's global pool; every request then
/// crosses threads twice in the API alone (the loop hands the request to the pool, the pool
/// hands the response back), and a write crosses twice more on its way to the replica's
/// runtime and back. Here the connection's task prefers an `EventLoopTaskExecutor` for the
/// connection's loop, so the router, the middleware and the routes run on the thread that
/// reads and writes the socket, and a write crosses threads only to reach the runtime and
/// to come back.
///
/// What runs on a connection's loop must not block it: the routes only read shared state
/// under short locks and await the replica; database work runs in the runtime's turns.
///
/// Raw HTTP handlers (`FastPath`) go into each connection's pipeline right after NIO's
/// HTTP/1 decoder and encoder, before the conversion to HTTP types that `HTTP1Channel`'s own
/// additional handlers come after: they read NIO's request parts, and what they answer
/// themselves is never converted.
public struct EventLoopHTTP1Channel: ServerChildChannel {
    public typealias Value = HTTP1Channel.Value

    /// The HTTP/1 channel whose pipeline and request handling are used unchanged.
    public let http1: HTTP1Channel
    /// Makes each connection's raw HTTP handlers, in pipeline order.
    public let rawHTTPHandlers: @Sendable () -> [any ChannelHandler]
    /// The idle and header timeouts each connection is held to (`ConnectionWatch`), and the
    /// counters of what they close; none when nil.
    public let timeouts: (limits: ConnectionLimits, metrics: APIMetrics)?
    /// TLS, when the API serves HTTPS: the handler goes first in each connection's pipeline,
    /// so everything behind it, the fast path included, reads and writes plain HTTP.
    public let tls: TLSServerContext?

    /// Wraps `http1`, adding `rawHTTPHandlers` to each connection's pipeline.
    public init(
        _ http1: HTTP1Channel, rawHTTPHandlers: @escaping @Sendable () -> [any ChannelHandler] = { [] },
        timeouts: (limits: ConnectionLimits, metrics: APIMetrics)? = nil, tls: TLSServerContext? = nil
    ) {
        self.http1 = http1
        self.rawHTTPHandlers = rawHTTPHandlers
        self.timeouts = timeouts
        self.tls = tls
    }

    /// Sets the connection's pipeline up as `HTTP1Channel` does, with TLS first when it is on,
    /// the raw HTTP handlers in front of its HTTP types codec, and the connection's timeouts.
    public func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        if let tls {
            do {
                try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls.current))
            } catch {
                return channel.eventLoop.makeFailedFuture(error)
            }
        }
        return http1.setup(channel: channel, logger: logger).flatMapThrowing { value in
            var handlers = rawHTTPHandlers()
            if let timeouts {
                let watch = ConnectionWatch(limits: timeouts.limits, metrics: timeouts.metrics)
                try channel.pipeline.syncOperations.addHandler(watch.bytes, position: .first)
                handlers.insert(watch.requests, at: 0)
            }
            try Self.addRawHTTPHandlers(handlers, to: channel.pipeline.syncOperations)
            return value
        }
    }

    /// Puts `handlers` in front of the pipeline's HTTP types codec, where they read NIO's
    /// HTTP/1 parts. Call on the channel's event loop, after the HTTP/1 pipeline is set up.
    /// - Throws: when the pipeline has no `HTTP1ToHTTPServerCodec`.
    static func addRawHTTPHandlers(_ handlers: [any ChannelHandler], to pipeline: ChannelPipeline.SynchronousOperations) throws {
        guard !handlers.isEmpty else { return }
        try pipeline.addHandlers(handlers, position: .before(try pipeline.handler(type: HTTP1ToHTTPServerCodec.self)))
    }

    /// Serves the connection's requests on its event loop.
    public func handle(value: Value, logger: Logger) async {
        await withTaskExecutorPreference(EventLoopTaskExecutor(value.channel.eventLoop)) {
            await http1.handle(value: value, logger: logger)
        }
    }
}

extension HTTPServerBuilder {
    /// An HTTP/1 server whose connections serve their requests on their own event loops (see
    /// `EventLoopHTTP1Channel`).
    /// - Parameters:
    ///   - configuration: the HTTP/1 channel's configuration.
    ///   - rawHTTPHandlers: makes each connection's handlers of NIO's HTTP/1 parts.
    ///   - timeouts: the idle and header timeouts of each connection, and their counters.
    ///   - tls: the TLS context, when the API serves HTTPS.
    public static func http1OnEventLoops(
        configuration: HTTP1Channel.Configuration = .init(), rawHTTPHandlers: @escaping @Sendable () -> [any ChannelHandler] = { [] },
        timeouts: (limits: ConnectionLimits, metrics: APIMetrics)? = nil, tls: TLSServerContext? = nil
    ) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            EventLoopHTTP1Channel(
                HTTP1Channel(responder: responder, configuration: configuration), rawHTTPHandlers: rawHTTPHandlers, timeouts: timeouts,
                tls: tls)
        }
    }
}
