public import HummingbirdCore
public import HummingbirdHTTP2
public import Logging
public import NIOCore
import NIOSSL
import NIOTLS

/// HTTPS connections that speak HTTP/2 or HTTP/1.1, as the client chooses by ALPN (`api_http2`).
///
/// After the TLS handshake, a connection that negotiated `h2` is served by Hummingbird's HTTP/2
/// channel: each stream is a request to the router, in a task of Swift's pool. Any other
/// connection is an `EventLoopHTTP1Channel` connection, with the fast path, the raw handlers
/// and the timeouts. HTTP/2 streams do not go through the fast path (it reads HTTP/1 parts),
/// so `authorize` and creates over HTTP/2 are served by the router: the benchmarks give the
/// cost.
public struct NegotiatingHTTPChannel: ServerChildChannel {
    /// What a connection negotiated.
    public enum Negotiated: Sendable {
        case http1(EventLoopHTTP1Channel.Value)
        case http2(HTTP2Channel.Value)
    }

    /// A connection, once its protocol is known.
    public struct Value: ServerChildChannelValue {
        let negotiated: EventLoopFuture<Negotiated>
        public let channel: any Channel
    }

    /// HTTP/1.1 connections (its `tls` must be nil: this channel adds TLS itself).
    public let http1: EventLoopHTTP1Channel
    /// HTTP/2 connections.
    public let http2: HTTP2Channel
    /// The TLS context; its configuration must offer `h2` and `http/1.1` by ALPN.
    public let tls: TLSServerContext

    public func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls.current))
            let negotiation = NIOTypedApplicationProtocolNegotiationHandler<Negotiated> { result, channel in
                switch result {
                case .negotiated("h2"):
                    return http2.setup(channel: channel, logger: logger).map { .http2($0) }
                case .negotiated("http/1.1"), .fallback:
                    return http1.setup(channel: channel, logger: logger).map { .http1($0) }
                case .negotiated(let other):
                    return channel.close().flatMapThrowing { throw NegotiationError(protocolName: other) }
                }
            }
            try channel.pipeline.syncOperations.addHandler(negotiation)
            return Value(negotiated: negotiation.protocolNegotiationResult, channel: channel)
        }
    }

    public func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.negotiated.get() {
            case .http1(let connection): await http1.handle(value: connection, logger: logger)
            case .http2(let connection): await http2.handle(value: connection, logger: logger)
            }
        } catch {
            logger.debug("a connection ended before its protocol was negotiated", metadata: ["error": "\(error)"])
        }
    }

    /// The client negotiated a protocol this server did not offer.
    struct NegotiationError: Error {
        let protocolName: String
    }
}

extension HTTPServerBuilder {
    /// HTTPS with HTTP/2 and HTTP/1.1 by ALPN (`NegotiatingHTTPChannel`).
    /// - Parameters:
    ///   - rawHTTPHandlers: makes each HTTP/1.1 connection's handlers of NIO's HTTP/1 parts.
    ///   - streamHandlers: makes each HTTP/2 stream's handlers of HTTP types parts.
    ///   - timeouts: the idle and header timeouts of each HTTP/1.1 connection; an HTTP/2
    ///     connection with no open stream is closed after the same idle time.
    ///   - tls: the TLS context, offering `h2` and `http/1.1`.
    public static func negotiatingHTTP(
        rawHTTPHandlers: @escaping @Sendable () -> [any ChannelHandler], streamHandlers: @escaping @Sendable () -> [any RemovableChannelHandler],
        timeouts: (limits: ConnectionLimits, metrics: APIMetrics), tls: TLSServerContext
    ) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            let idle = timeouts.limits.idleTimeout
            // `additionalChannelHandlers` is an autoclosure: each stream gets its own handlers.
            return NegotiatingHTTPChannel(
                http1: EventLoopHTTP1Channel(HTTP1Channel(responder: responder), rawHTTPHandlers: rawHTTPHandlers, timeouts: timeouts, tls: nil),
                http2: HTTP2Channel(
                    responder: responder,
                    configuration: HTTP2ChannelConfiguration(
                        idleTimeout: idle, gracefulCloseTimeout: .seconds(5),
                        streamConfiguration: HTTP1Channel.Configuration(
                            additionalChannelHandlers: streamHandlers(), idleTimeout: TimeAmount(idle)))),
                tls: tls)
        }
    }
}
