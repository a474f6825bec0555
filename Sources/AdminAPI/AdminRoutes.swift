import APIModels
import Crypto
import Foundation
import Synchronization
public import Hummingbird
import Logging
public import PolicyModel
import RampartAuthorizer

/// The HTTP API a replica serves: operations (health, readiness, metrics, cluster status and
/// membership), the bootstrap of the first administrator, and the IAM resources
/// (`AdminRoutes+Resources`). Every `/v1` route but the bootstrap and the public key set needs
/// a bearer API key and a permission.
public struct AdminRoutes: Sendable {
    /// Limits of the API.
    public struct Limits: Sendable {
        /// The largest request body.
        public var maxBodyBytes = 64 << 10
        /// How long a write or a linearizable read may wait.
        public var requestTimeout: Duration = .seconds(10)
        /// The longest life of a token `POST /v1/tokens` issues (and the default).
        public var tokenMaxTTL: Duration = .seconds(3600)
        /// The most verified tokens a replica keeps (`TokenCache`).
        public var tokenCacheCapacity = 10_000
        /// The root key schedule the leader follows, for the key set's planned retirements.
        public var keySchedule = RootKeySchedule(activationSeconds: 60, overlapSeconds: 86_400, rotationIntervalSeconds: 2_592_000)
        /// Whether a client certificate naming a principal authenticates a request without an
        /// `Authorization` header. Only with `ClientCertificateHandler` in every connection's
        /// pipeline: it alone sets the field this trusts.
        public var clientCertificates = false
        /// The most change streams (`GET /v1/watch`) a replica serves at once.
        public var maxWatches = 256
        /// How often a quiet change stream says how far it is (a `progress` line), which also
        /// keeps the connection from being closed as idle.
        public var watchProgressInterval: Duration = .seconds(10)

        /// The default limits.
        public init() {}
    }

    let cluster: any PolicyCluster
    let limits: Limits
    /// The API's own counters (connections, refusals), shown in `/metrics` after the replica's.
    public let metrics: APIMetrics
    /// The bootstrap challenges this replica handed out.
    let challenges = BootstrapChallenges()
    /// The tokens verified lately, by the SHA-256 of their text (`acceptedToken`).
    let tokens: TokenCache<AcceptedToken>
    /// The root keys tokens are verified with, made once each.
    let rootKeys = RootKeyCache()
    /// The change streams being served.
    let watches = WatchSlots()
    /// Failed authentication, per client address.
    let throttle: AuthenticationThrottle
    /// The requests refused to authenticated principals, recorded in the audit log by
    /// `DenialLog.run` (which the executable runs).
    public let denials: DenialLog
    /// Requests by route and status with latency histograms, both paths (router and fast path).
    public let requestMetrics = RequestMetrics()

    /// Creates the routes over `cluster`.
    public init(
        cluster: any PolicyCluster, limits: Limits = Limits(), metrics: APIMetrics = APIMetrics(),
        throttle: AuthenticationThrottle = AuthenticationThrottle(), denials: DenialLog = DenialLog()
    ) {
        self.cluster = cluster
        self.limits = limits
        self.metrics = metrics
        self.throttle = throttle
        self.denials = denials
        tokens = TokenCache(capacity: limits.tokenCacheCapacity)
    }

    /// A router with every route and the error mapping.
    public func router() -> Router<APIRequestContext> {
        let router = Router(context: APIRequestContext.self)
        router.middlewares.add(RequestLogMiddleware(metrics: requestMetrics))
        router.middlewares.add(ProblemMiddleware())
        router.middlewares.add(RequestShapeMiddleware(table: Self.routeTable, maxBodyBytes: limits.maxBodyBytes))
        router.middlewares.add(AuthenticationMiddleware(routes: self))
        for route in Self.declarations {
            router.on(RouterPath(route.endpoint.template), method: HTTPRequest.Method(route.endpoint.method)!) { request, context in
                try await serve(route, request, context)
            }
        }
        return router
    }

    // MARK: - Bootstrap and break-glass

    /// Gives `system/admin` a new API key, proved with the cluster secret (`ClusterProof`):
    /// for `.bootstrap`, the cluster's first administrator (with its binding and first root
    /// key), once per cluster; for `.breakGlass`, another key in a bootstrapped cluster, for an
    /// operator who lost every administrator key. The state machine decides both (`Command`),
    /// so two at once cannot both bootstrap.
    func administratorKey(_ purpose: ClusterProof.Purpose, _ request: Request, _ context: APIRequestContext) async throws
        -> Response
    {
        let source = context.clientAddress
        if let refusal = throttle.refusal(for: source) { throw refusal }
        guard let presented = ClusterProof.parse(request.headers[.authorization]) else {
            throttle.recordFailure(source, reason: "malformed cluster proof", logger: context.logger)
            throw APIError.unauthenticated(
                "needs `Authorization: Bootstrap <challenge>.<proof>`: a challenge from POST /v1/cluster/bootstrap/challenge on this "
                    + "replica and its HMAC-SHA256 under the cluster secret (`rampart bootstrap` does both)")
        }
        // The challenge is spent whether the proof is right or not: one guess per challenge.
        guard challenges.consume(presented.challenge),
            cluster.verifyClusterProof(presented.proof, of: ClusterProof.message(purpose, challenge: presented.challenge))
        else {
            throttle.recordFailure(source, reason: "wrong cluster proof", logger: context.logger)
            throw APIError.unauthenticated("unknown, used or expired challenge, or a wrong proof")
        }
        let bootstrapped = try await wrap { () throws(ClusterError) in try cluster.readNow { $0.isBootstrapped } }.value
        if purpose == .bootstrap && bootstrapped { throw APIError.alreadyBootstrapped }
        if purpose == .breakGlass && !bootstrapped {
            throw APIError.rejected(.invalidState("the cluster is not bootstrapped yet: bootstrap it instead"))
        }
        let secret = cluster.newSecret()
        let admin = AdministratorKey(keyID: cluster.newEntityID(), secretHash: SecretHasher.hash(secret), bindingID: cluster.newEntityID())
        let command: Command
        switch purpose {
        case .bootstrap:
            let rootKey = try await wrap { () throws(ClusterError) in try cluster.newRootKey() }
            command = .bootstrap(
                admin: admin, rootKey: RootKeyMaterial(id: rootKey.id, publicKey: rootKey.publicKey, sealedPrivateKey: rootKey.sealedPrivateKey))
        case .breakGlass:
            context.logger.warning("break-glass: a new system/admin key is being created with the cluster secret", metadata: [
                "key_id": "\(admin.keyID)", "request_id": "\(request.headers[requestIDHeader] ?? "-")",
            ])
            command = .breakGlass(admin: admin)
        }
        let outcome: CommandOutcome
        do {
            outcome = try await submit(command, actor: nil, request: request)
        } catch APIError.rejected(.invalidState) where purpose == .bootstrap {
            throw APIError.alreadyBootstrapped
        }
        let token = "\(admin.keyID).\(Hex.encode(secret))"
        return try json(
            BootstrapResponse(principal: "\(AdministratorKey.principal)", keyID: "\(admin.keyID)", token: token, revision: outcome.revision),
            status: .created)
    }

    /// The operation table as path templates.
    static let routeTable = RouteTable(operations)

    /// Whole seconds of `duration`, rounded up, at least 1 (for `Retry-After`).
    static func seconds(_ duration: Duration) -> Int {
        max(1, Int(duration.components.seconds) + (duration.components.attoseconds > 0 ? 1 : 0))
    }

    func parseName(_ text: String) throws(APIError) -> Name {
        try Self.parsedName(text)
    }

    /// A name from a request, refused as the state machine refuses it.
    static func parsedName(_ text: String) throws(APIError) -> Name {
        do {
            return try Name(text)
        } catch {
            throw .rejected(error)
        }
    }

    // MARK: - Helpers

    /// Proposes `command` as `actor` with the request's id, idempotency key and expected
    /// revision, and answers its outcome; a rejection is thrown. Unless the caller checked it
    /// already (`propose`), the escalation rule is checked first.
    /// - Parameter accompanying: a command the route adds to the one the request asks for
    ///   (recorded under the request's id): the request's idempotency key and If-Match belong
    ///   to the other, and are not given to it.
    func submit(
        _ command: Command, actor: PrincipalReference?, request: Request, escalationChecked: Bool = false, accompanying: Bool = false
    ) async throws -> CommandOutcome {
        let requestID = request.headers[requestIDHeader] ?? Hex.encode(cluster.newSecret().prefix(8))
        let key = accompanying ? nil : request.headers[.init("Idempotency-Key")!]
        var expected: UInt64?
        if !accompanying, let ifMatch = request.headers[.ifMatch] {
            guard let revision = UInt64(ifMatch.trimmingCharacters(in: CharacterSet(charactersIn: "\" W/"))) else {
                throw APIError.badRequest("If-Match must be a revision number")
            }
            expected = revision
        }
        if let actor, !escalationChecked { try await refuseEscalation(by: actor, command, request: request) }
        let envelope = CommandEnvelope(
            command: command, actor: actor, requestID: requestID, idempotencyKey: key, expectedRevision: expected, time: cluster.now())
        // What the state machine would refuse whatever the state is refused here: not proposed,
        // so it changes nothing, not even the audit log.
        if let rejection = envelope.staticRejection() { throw APIError.rejected(rejection) }
        let outcome = try await wrap { () async throws(ClusterError) in try await cluster.submit(envelope, timeout: deadline(request)) }
        if let rejection = outcome.rejection { throw APIError.rejected(rejection) }
        return outcome
    }

    /// Refuses, before anything is proposed, a command whose actor lacks a permission the
    /// command needs (`PolicyState.missingAccess`: the route's own permission, and for changes
    /// that widen what someone may do, every permission they make reachable). The state
    /// machine checks the same rule again at the revision it applies the command.
    func refuseEscalation(by actor: PrincipalReference, _ command: Command, request: Request) async throws {
        let missing = try await wrap { () throws(ClusterError) in try cluster.readNow { $0.missingAccess(of: actor, for: command) } }.value
        guard let missing else { return }
        denials.record(actor, missing.permission, on: missing.scope, .cannotGrant, requestID: request.headers[requestIDHeader] ?? "-")
        throw APIError.forbidden("\(actor) cannot grant \(missing.permission) on \(missing.scope): it does not hold it there")
    }

    /// Reads a JSON body within the size limit: an object with only the body's fields, of the
    /// right types.
    func decode<Body: APIRequestBody>(_ type: Body.Type, from request: Request) async throws -> Body {
        try await body(type, from: request).get()
    }

    /// `decode`, with its error as a value: for a route that must answer a missing target
    /// (404) before a bad body (400), and checks the target in the same read as the rest.
    func body<Body: APIRequestBody>(_ type: Body.Type, from request: Request) async -> Result<Body, APIError> {
        do {
            return .success(try await parseBody(type, from: request))
        } catch let error as APIError {
            return .failure(error)
        } catch {
            return .failure(.badRequest("invalid body"))
        }
    }

    /// `decode` for a route whose body may be absent: nil for an empty body.
    func optionalBody<Body: APIRequestBody>(_ type: Body.Type, from request: Request) async throws -> Body? {
        let buffer = try await collectBody(request)
        guard buffer.readableBytes > 0 else { return nil }
        return try parseBody(type, from: buffer)
    }

    private func collectBody(_ request: Request) async throws -> ByteBuffer {
        do {
            return try await request.body.collect(upTo: limits.maxBodyBytes)
        } catch {
            throw APIError.bodyTooLarge(limit: limits.maxBodyBytes)
        }
    }

    private func parseBody<Body: APIRequestBody>(_ type: Body.Type, from request: Request) async throws -> Body {
        try parseBody(type, from: try await collectBody(request))
    }

    private func parseBody<Body: APIRequestBody>(_ type: Body.Type, from buffer: ByteBuffer) throws -> Body {
        // Most bodies are flat objects of strings: read without the general decoder (a good part
        // of a write's cost in profiles). Anything else, errors included, goes to `JSONDecoder`.
        if let body = buffer.withUnsafeReadableBytes({ FlatJSON.decode(Body.self, from: $0) }) { return body }
        // JSON is UTF-8 (RFC 8259 §8.1): `JSONDecoder` would also read UTF-16 and UTF-32, and
        // text that starts with a byte order mark.
        guard buffer.withUnsafeReadableBytes({ bytes in !bytes.contains(0) && !bytes.starts(with: [0xEF, 0xBB, 0xBF])
            && String(validating: bytes, as: UTF8.self) != nil })
        else {
            throw APIError.badRequest("the body must be JSON in UTF-8, without a byte order mark")
        }
        // `JSONDecoder` would keep one of two values of a key silently.
        if let duplicate = buffer.withUnsafeReadableBytes({ JSONDuplicateKeys.first(in: $0) }) {
            throw APIError.badRequest("field \"\(duplicate)\" appears more than once")
        }
        let data = Data(buffer.readableBytesView)
        do {
            // One parse: `StrictBody` checks the keys and decodes the body from the same decoder.
            return try Self.decoder.decode(StrictBody<Body>.self, from: data).body
        } catch let error as StrictBodyError {
            switch error {
            case .notAnObject: throw APIError.badRequest("the body must be a JSON object")
            case .unknownField(let unknown):
                throw APIError.badRequest("unknown field \"\(unknown)\" (allowed: \(Body.fields.sorted().joined(separator: ", ")))")
            }
        } catch DecodingError.dataCorrupted(let context) where context.codingPath.isEmpty {
            throw APIError.badRequest("the body is not valid JSON")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            throw APIError.badRequest("field \"\(context.codingPath.map(\.stringValue).joined(separator: "."))\" has the wrong type")
        } catch let DecodingError.keyNotFound(key, _) {
            throw APIError.badRequest("missing field \"\(key.stringValue)\"")
        } catch {
            throw APIError.badRequest("invalid body")
        }
    }

    /// Shared coders: both are safe to use from many tasks at once, and making one per request
    /// showed in profiles.
    static let decoder = JSONDecoder()
    static let encoder = JSONEncoder()

    func wrap<Value>(_ body: () async throws(ClusterError) -> Value) async throws(APIError) -> Value {
        do {
            return try await body()
        } catch {
            throw .cluster(error)
        }
    }

    func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let body = try Self.jsonBytes(value)
        return Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// The JSON of an answer: flat objects by `FlatJSONWriter`, anything else by `JSONEncoder`.
    static func jsonBytes(_ value: some Encodable) throws -> [UInt8] {
        if let bytes = FlatJSONWriter.encode(value) { return bytes }
        return Array(try encoder.encode(value))
    }

    func health(_ ok: Bool) throws -> Response {
        guard ok else { throw APIError.cluster(.unavailable("not ready")) }
        return Response(status: .ok, headers: [.contentType: "text/plain"], body: ResponseBody(byteBuffer: ByteBuffer(string: "ok\n")))
    }
}

/// Authenticates every request but the public ones before its route runs, so that a request
/// without a valid credential is answered 401 before anything of it is validated (a malformed
/// name or parameter is a 400 only for a caller who may learn it) and before it can wait for
/// anything. The route checks the credential again with the permission it needs (and a
/// token's checks with the request's facts); a token verified here is cached for it.
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext
    let routes: AdminRoutes
    var throttle: AuthenticationThrottle { routes.throttle }

    /// The paths served without a credential: health, readiness and metrics for operators, the
    /// bootstrap and break-glass paths (proved with the cluster secret instead), and the public
    /// key set.
    static func isPublic(_ path: String) -> Bool {
        AdminRoutes.publicPaths.contains(path)
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if !Self.isPublic(request.uri.path) {
            // An address that failed too often is not even checked: guessing stays slow.
            let source = context.clientAddress
            if let refusal = throttle.refusal(for: source) { throw refusal }
            do throws(APIError) {
                let credential = try routes.resolvedCredential(request)
                if case .token(let token) = credential, let expiresAt = token.verified.expiresAt,
                    UInt64(max(0, routes.cluster.now().millisecondsSinceEpoch / 1000)) >= expiresAt
                {
                    routes.tokens.remove(token.cacheKey)
                    throw APIError.token(.expired(expiresAt: expiresAt))
                }
                let verified: Result<PrincipalReference, APIError>
                do throws(ClusterError) {
                    verified = try routes.cluster.readNow { state in AdminRoutes.verify(credential, nil, on: .cluster, in: state) }.value
                } catch {
                    throw APIError.cluster(error)
                }
                if case .failure(let refusal) = verified { routes.evictIfGone(refusal, credential) }
                _ = try verified.get()
            } catch {
                // A cluster that cannot answer is not the client's failure.
                if case .cluster = error { throw error }
                throttle.recordFailure(source, reason: error.detail, logger: context.logger)
                throw error
            }
        }
        return try await next(request, context)
    }
}

/// The header that carries a request's id (`RequestLogMiddleware`).
let requestIDHeader = HTTPFields.Element.Name("X-Request-ID")!

/// Compares two byte strings in time that depends only on their length.
func constantTimeEqual(_ left: [UInt8], _ right: [UInt8]) -> Bool {
    guard left.count == right.count else { return false }
    var difference: UInt8 = 0
    for index in left.indices { difference |= left[index] ^ right[index] }
    return difference == 0
}

/// Gives every request an id (the client's `X-Request-ID`, checked, or a new one), echoes it in
/// the response, and logs every request, allowed or refused, with its id, method, path, status
/// and duration. The same id is recorded in the audit log for the request's command.
struct RequestLogMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Where each request is counted by route and status.
    let metrics: RequestMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        var request = request
        let header = requestIDHeader
        let requestID: String
        if let given = request.headers[header] {
            guard RequestLog.isValidRequestID(given) else {
                var response = APIError.badRequest("X-Request-ID must be 1-\(RequestLog.maxRequestIDBytes) printable ASCII characters").response()
                response.headers[header] = nil
                log(request, response, started: started, requestID: "-", context: context)
                return response
            }
            requestID = given
        } else {
            requestID = RequestIDs.shared.next()
            var head = request.head
            head.headerFields[header] = requestID
            request = Request(head: head, body: request.body)
        }
        if let timeout = request.headers[.init(RequestLog.timeoutHeader)!],
            Int(timeout).map({ !(1...RequestLog.maxTimeoutMilliseconds).contains($0) }) ?? true
        {
            var response = APIError.badRequest("\(RequestLog.timeoutHeader) must be 1-\(RequestLog.maxTimeoutMilliseconds) milliseconds").response()
            response.headers[header] = requestID
            log(request, response, started: started, requestID: requestID, context: context)
            return response
        }
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as APIError {
            response = error.response()
        }
        response.headers[header] = requestID
        log(request, response, started: started, requestID: requestID, context: context)
        return response
    }

    private func log(_ request: Request, _ response: Response, started: ContinuousClock.Instant, requestID: String, context: Context) {
        let elapsed = ContinuousClock.now - started
        metrics.record(method: request.method.rawValue, path: request.uri.path, status: response.status.code, elapsed: elapsed)
        RequestLog.log(
            context.logger, requestID: requestID, method: "\(request.method)", path: request.uri.path, status: response.status.code,
            elapsed: elapsed)
    }
}

/// The request log line, written by `RequestLogMiddleware` for routed requests and by
/// `FastPath` for the ones it serves, and the rules for the request headers both read
/// (`X-Request-ID`, `X-Timeout-Ms`). The line is written at `debug` (every request is too
/// many lines, and costs too much, for the default level), at `info` when slow, at `warning`
/// when the server failed.
enum RequestLog {
    /// The longest request id (the state machine's limit).
    static let maxRequestIDBytes = 128
    /// The header a client sets to bound how long the request may wait, in milliseconds.
    static let timeoutHeader = "X-Timeout-Ms"
    /// The largest `X-Timeout-Ms`.
    static let maxTimeoutMilliseconds = 60_000

    /// Whether a client's `X-Request-ID` is acceptable: 1-128 printable ASCII characters.
    static func isValidRequestID(_ given: String) -> Bool {
        (1...maxRequestIDBytes).contains(given.utf8.count) && given.utf8.allSatisfy { (0x21...0x7E).contains($0) }
    }

    /// Requests that take longer than this are logged at `info`, so they show at the default level.
    static let slowRequest = Duration.seconds(1)

    /// Logs one request, formatting the line only when `logger` would write it.
    static func log(_ logger: Logger, requestID: String, method: String, path: String, status: Int, elapsed: Duration) {
        let level: Logger.Level = status >= 500 ? .warning : elapsed >= slowRequest ? .info : .debug
        guard logger.logLevel <= level else { return }
        logger.log(
            level: level, "request",
            metadata: [
                "request_id": "\(requestID)", "method": "\(method)", "path": "\(path)", "status": "\(status)",
                "duration_us": "\(elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000)",
            ])
    }
}

/// Why a body is not a JSON object of the expected fields.
enum StrictBodyError: Error {
    case notAnObject
    case unknownField(String)
}

/// A request body decoded strictly: the JSON must be an object whose keys are all among
/// `Body.fields`; then `Body` decodes itself from the same decoder (the text is parsed once).
struct StrictBody<Body: APIRequestBody>: Decodable {
    let body: Body

    private struct AnyKey: CodingKey {
        let stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        let keys: [AnyKey]
        do {
            keys = try decoder.container(keyedBy: AnyKey.self).allKeys
        } catch DecodingError.typeMismatch, DecodingError.valueNotFound {
            throw StrictBodyError.notAnObject
        }
        if let unknown = keys.map(\.stringValue).filter({ !Body.fields.contains($0) }).sorted().first {
            throw StrictBodyError.unknownField(unknown)
        }
        body = try Body(from: decoder)
    }
}

/// The request ids a replica gives requests that come without one: 16 hex digits of a 64-bit
/// counter that starts at the replica's start time in nanoseconds and counts up by one per id.
/// A replica's ids increase, so the audit log's index by request id grows at its end instead
/// of at random places (each commit then writes one page of it, not one per request); two
/// replicas started a second apart share no id for their first billion requests. A request id
/// names a request in the logs and the audit log; it is neither a secret nor a unique key.
final class RequestIDs: Sendable {
    /// The replica's ids.
    static let shared = RequestIDs(start: UInt64(max(0, Date().timeIntervalSince1970 * 1e9)))

    private let last: Atomic<UInt64>

    init(start: UInt64) {
        last = Atomic(start)
    }

    /// The next id.
    func next() -> String {
        let value = last.add(1, ordering: .relaxed).newValue
        let text = String(value, radix: 16)
        return text.count < 16 ? String(repeating: "0", count: 16 - text.count) + text : text
    }
}
