import APIModels
import Foundation
public import Logging
public import NIOCore
public import NIOHTTP1
import Hummingbird
import PolicyModel
import RampartAuthorizer

/// Serves the API's two hottest requests in the connection's channel pipeline, on its event
/// loop, without the router, a task per request or the general JSON coder:
///
/// - `POST /v1/authorize?consistency=stale`, the request every service makes on every call, is
///   answered at once: a decision is a lock-protected read of the replica's state (`readNow`).
/// - The create routes (`CreateRoute`: organizations, projects, principals) are checked the
///   same way and their command proposed (`PolicyCluster.submit(_:timeout:completion:)`); the
///   answer is written when the outcome comes back, rendered as the router renders it
///   (`AdminRoutes.createAnswer`).
///
/// It reads NIO's HTTP/1 parts, before they are converted to HTTP types for the router
/// (`EventLoopHTTP1Channel`'s raw HTTP handlers), so the requests it serves are never converted.
/// It only serves a request when everything about it is in order: HTTP/1.1, one
/// `Authorization` header with a valid API key allowed the route's permission, at most one
/// valid `X-Request-ID`, a well-formed body it can read (`FlatJSON`) with valid values.
/// Everything else — any other request, any error it would have to answer, any header it does
/// not handle (`Connection`, `Expect`, `X-Timeout-Ms`, and for a create `Idempotency-Key` and
/// `If-Match`), trailers, a body over the limit — is passed on unchanged to the router, which
/// answers it as it answers every request. So the checks and errors before a proposal have one
/// implementation; after one, the outcome is answered here (a rejection or a cluster error as
/// the router's problem answer), since proposing again is not an option.
///
/// Responses leave in request order: while a request passed on is unanswered, the requests
/// after it are passed on too (HTTP/1.1 pipelining); while a create proposed here waits for its
/// outcome, what arrives after it is held, and once something is held the connection is not
/// read further (its `read`s are held too), until the answer is written. While the connection is not writable (a client
/// that sends requests without reading the answers), requests are passed on as well: the
/// router's channel holds back reading, where answering here would pile answers up in memory.
///
/// The requests it serves never reach Hummingbird's connection state handler behind it: that
/// handler's idle timeout (not set here) would count a connection that only asks these as
/// idle, and a graceful shutdown does not wait for a request this handler is still reading or
/// a create it is waiting for: such a connection may close before the answer is written, and
/// its client then learns no more of the outcome than after a timeout. (A create sent with an
/// `Idempotency-Key`, so that it can be retried safely, is the router's.)
///
/// Its answers are written as bytes, whole, through the pipeline's `HTTPResponseEncoder`'s
/// context, so they go to the socket past the encoder and the HTTP types codec (which had cost
/// a tenth of a replica's CPU under `authorize`). A pipeline without that encoder gets no
/// answers from it: everything is passed on.
public final class FastPath: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPServerRequestPart
    public typealias InboundOut = HTTPServerRequestPart
    public typealias OutboundIn = HTTPServerResponsePart
    public typealias OutboundOut = HTTPServerResponsePart

    /// The authorize request target this handler answers.
    static let target = "/v1/authorize?consistency=stale"

    private let routes: AdminRoutes
    private let logger: Logger
    /// The connection's state and rules (`FastPathConnection`); this handler carries out its
    /// actions.
    private var connection: FastPathConnection
    private var date = HTTPDateCache()
    /// The context of the pipeline's `HTTPResponseEncoder`: bytes written there go to the socket.
    private var socket: ChannelHandlerContext?
    /// The last `Authorization` header of this connection, and its credential (see
    /// `credential(_:)`).
    private var lastCredential: (header: String, credential: Credential)?
    /// The last token an authorize body named on this connection, and its cache key.
    private var lastBodyToken: (text: String, key: TokenCache<AcceptedToken>.Key)?
    /// The client's address as `AuthenticationThrottle` keys it, once looked up.
    private var client: String??

    /// Creates the handler for one connection.
    /// - Parameters:
    ///   - routes: the routes whose checks, limits and cluster it shares.
    ///   - logger: where it logs each request, as the router's request log does.
    public init(routes: AdminRoutes, logger: Logger) {
        self.routes = routes
        self.logger = logger
        connection = FastPathConnection(maxBodyBytes: routes.limits.maxBodyBytes)
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        socket = try? context.pipeline.syncOperations.context(handlerType: HTTPResponseEncoder.self)
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        socket = nil
        connection.closed()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        handle(unwrapInboundIn(data), context: context)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        connection.closed()
        context.fireChannelInactive()
    }

    public func read(context: ChannelHandlerContext) {
        if connection.readRequested() { context.read() }
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // Only the router's responses come through here; this handler's own go past it.
        if case .end = unwrapOutboundIn(data) { connection.responseEndWritten() }
        context.write(data, promise: promise)
    }

    /// Carries out what the connection's state says of one request part.
    private func handle(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        let canAnswer: Bool
        if case .head = part { canAnswer = socket != nil && context.channel.isWritable } else { canAnswer = socket != nil }
        let action = connection.received(
            part, canAnswer: canAnswer, allocate: { context.channel.allocator.buffer(capacity: 256) }, classify: Self.servable)
        switch action {
        case .keep: return
        case .passOn(let parts): passOn(parts, context)
        case .serve(let request, let head, let body):
            guard let socket, serve(request, head, body, context: context, socket: socket, started: ContinuousClock.now) else {
                return passOn(connection.declined(), context)
            }
        }
    }

    private func passOn(_ parts: [HTTPServerRequestPart], _ context: ChannelHandlerContext) {
        for part in parts { context.fireChannelRead(wrapInboundOut(part)) }
    }

    /// The connection's client address, as the throttle keys it.
    private func clientAddress(_ context: ChannelHandlerContext) -> String? {
        if let client { return client }
        let address = AuthenticationThrottle.source(of: context.channel.remoteAddress)
        client = .some(address)
        return address
    }

    /// Answers an authorize request, or proposes a create, when everything about it is in order.
    /// - Returns: whether it did; if not, the request is the router's.
    private func serve(
        _ request: FastPathConnection.Request, _ head: HTTPRequestHead, _ body: ByteBuffer, context: ChannelHandlerContext, socket: ChannelHandlerContext,
        started: ContinuousClock.Instant
    ) -> Bool {
        let given = head.headers[Self.requestIDName]
        guard given.count <= 1 else { return false }
        if let given = given.first, !RequestLog.isValidRequestID(given) { return false }
        let authorizations = head.headers["authorization"]
        // A token not in the cache yet is the router's to verify (off the event loop's hot path).
        guard authorizations.count == 1, let presented = credential(authorizations[0]), let credential = routes.cachedCredential(presented)
        else { return false }
        // An address throttled for failed authentication is the router's to refuse (429),
        // whatever its key: a right guess must not be served here meanwhile.
        if let client = clientAddress(context), routes.throttle.retryAfter(client) != nil { return false }
        let requestID = given.first ?? RequestIDs.shared.next()
        guard case .create(let create) = request else {
            let decision = body.withUnsafeReadableBytes { bytes in
                routes.immediateAuthorization(credential: credential, body: bytes) { text in bodyTokenKey(text) }
            }
            guard let decision else { return false }
            connection.answered()
            write(.ok, contentType: "application/json", body: FastPathResponse.encode(decision), requestID: requestID, path: "/v1/authorize", to: socket, started: started)
            return true
        }
        let prepared = body.withUnsafeReadableBytes { bytes in
            routes.immediateCreate(create, credential: credential, body: bytes, requestID: requestID)
        }
        guard let prepared else { return false }
        connection.proposing()
        let handler = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        let path = head.uri
        routes.cluster.submit(prepared.envelope, timeout: routes.limits.requestTimeout) { result in
            eventLoop.execute {
                let (this, context) = handler.value
                this.proposed(AdminRoutes.createAnswer(result, prepared), requestID: requestID, path: path, context: context, started: started)
            }
        }
        return true
    }

    /// Writes a create's answer, then goes on with what arrived while it waited.
    private func proposed(_ answer: CreateAnswer, requestID: String, path: String, context: ChannelHandlerContext, started: ContinuousClock.Instant) {
        // Removed from the pipeline meanwhile: the connection is no longer this handler's.
        guard let socket, connection.proposalAnswered() else { return }
        var body = socket.channel.allocator.buffer(capacity: answer.body.count)
        body.writeBytes(answer.body)
        write(
            answer.status, contentType: answer.contentType, retryAfter: answer.retryAfter, body: body, requestID: requestID, path: path, to: socket,
            started: started)
        var replayed = false
        while let part = connection.nextHeld() {
            replayed = true
            handle(part, context: context)
        }
        if replayed { context.fireChannelReadComplete() }
        if connection.heldReadDue() { context.read() }
    }

    /// The request this handler may serve, judged by its head; nil when it is the router's.
    /// (Header names are compared without regard to case.)
    static func servable(_ head: HTTPRequestHead) -> FastPathConnection.Request? {
        guard head.method == .POST, head.version == .http1_1 else { return nil }
        guard !head.headers.contains(name: "connection"), !head.headers.contains(name: "expect"),
            !head.headers.contains(name: RequestLog.timeoutHeader)
        else { return nil }
        if head.uri == Self.target { return .authorize }
        // A create's idempotency key and expected revision are the router's to honour.
        guard !head.headers.contains(name: "idempotency-key"), !head.headers.contains(name: "if-match"),
            let create = AdminRoutes.createTarget(head.uri)
        else { return nil }
        return .create(create)
    }

    /// The credential of an `Authorization` header, remembered for the connection's next
    /// request: a client sends the same one on every request of a connection, and hashing it
    /// (an API key's secret, a token's text) is a good part of a decision's cost. (The
    /// remembered value is derived from what this connection presented, and it is checked
    /// against the state on every request.)
    private func credential(_ authorization: String) -> Credential? {
        if let last = lastCredential, last.header == authorization { return last.credential }
        guard let credential = Credential.parse(authorization) else { return nil }
        lastCredential = (authorization, credential)
        return credential
    }

    /// The cache key of a token an authorize body names, remembered for the next request.
    private func bodyTokenKey(_ text: String) -> TokenCache<AcceptedToken>.Key {
        if let last = lastBodyToken, last.text == text { return last.key }
        let key = TokenCache<AcceptedToken>.key(text)
        lastBodyToken = (text, key)
        return key
    }

    private static let requestIDName = requestIDHeader.rawName

    /// Writes a response as one buffer (`FastPathResponse`) past the encoders, and logs it. The
    /// request id is a client's only if `serve` found it valid (visible ASCII, no CR or LF).
    private func write(
        _ status: HTTPResponse.Status, contentType: String, retryAfter: String? = nil, body: ByteBuffer, requestID: String, path: String,
        to socket: ChannelHandlerContext, started: ContinuousClock.Instant
    ) {
        let response = FastPathResponse.bytes(
            status, contentType: contentType, retryAfter: retryAfter, body: body, requestID: requestID, date: date.now(),
            allocator: socket.channel.allocator)
        socket.writeAndFlush(NIOAny(response), promise: nil)
        let elapsed = ContinuousClock.now - started
        routes.requestMetrics.record(method: "POST", path: path, status: Int(status.code), elapsed: elapsed)
        RequestLog.log(logger, requestID: requestID, method: "POST", path: path, status: Int(status.code), elapsed: elapsed)
    }
}

@available(*, unavailable)
extension FastPath: Sendable {}

extension AdminRoutes {
    /// A credential the fast path can use now: an API key, or a token already verified
    /// (cached); nil for a token the router must verify first.
    func cachedCredential(_ credential: Credential) -> ResolvedCredential? {
        switch credential {
        case .apiKey(let key): return .apiKey(key)
        case .token(_, let key): return tokens.value(key).map(ResolvedCredential.token)
        }
    }

    /// The answer to an authorize request with `credential`, from this replica's state now,
    /// when everything about the request is in order; nil when anything is not (the route then
    /// answers, with the error). The same checks as the route's: a credential allowed
    /// `iam.decisions.check` on the resource (a token's checks holding for it), names and a
    /// permission that parse, and a token asked about that is cached, unexpired and stands.
    func immediateAuthorization(
        credential: ResolvedCredential, body: UnsafeRawBufferPointer, tokenKey: (String) -> TokenCache<AcceptedToken>.Key
    ) -> AuthorizeResponse? {
        guard let request = FlatJSON.decode(AuthorizeRequest.self, from: body) else { return nil }
        guard let resource = try? requestedResource(request), let question = try? authorizationQuestion(request, resource: resource) else {
            return nil
        }
        if case .token(let bearer) = credential {
            do {
                try checkToken(bearer, permission: Self.decisionsCheck, on: resource, operation: .read)
            } catch {
                return nil
            }
        }
        var asked: (token: AcceptedToken, checks: TokenRefusal?)?
        if let text = question.token {
            guard let token = tokens.value(tokenKey(text)) else { return nil }
            do {
                asked = (token, try tokenChecks(token, question.permission, on: resource))
            } catch {
                return nil
            }
        }
        let result = try? cluster.readNow { state -> AuthorizationDecision? in
            guard case .success(let caller) = Self.verify(credential, Self.decisionsCheck, on: resource, in: state) else { return nil }
            guard let asked else { return Self.decide((question.principal!, question.permission), on: resource, for: caller, in: state) }
            let decision = Self.decide(
                token: asked.token, checks: asked.checks, named: question.principal, question.permission, on: resource, for: caller, in: state)
            guard case .success(let decided) = decision else { return nil }
            return decided
        }
        guard let result, let decision = result.value else { return nil }
        return AuthorizeResponse(decision, revision: result.revision)
    }
}
