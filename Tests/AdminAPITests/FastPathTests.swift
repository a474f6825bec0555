import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import Testing

@testable import AdminAPI
import APIModels

/// The fast path in a channel of its own: what it answers (authorize decisions, created
/// resources) must be what the routes answer, and everything else must reach the router
/// unchanged and in order.
@Suite struct FastPathTests {
    static let question = #"{"principal":"alpha/dev","permission":"compute.instances.create","organization":"alpha","project":"web"}"#

    /// A fixture with organization `alpha`, project `web` and `alpha/dev` bound `project.admin` there.
    private func fixture() async throws -> Fixture {
        let fixture = try await Fixture()
        try await fixture.organization("alpha")
        #expect(try await fixture.client.send(.post, "/v1/orgs/alpha/projects", body: #"{"name":"web"}"#, token: fixture.admin).status == 201)
        _ = try await fixture.member("alpha", "dev", role: "project.admin", project: "web")
        return fixture
    }

    private func fastPath(_ fixture: Fixture, routes: AdminRoutes? = nil) -> FastPath {
        var logger = Logger(label: "fast-path-tests")
        logger.logLevel = .critical
        return FastPath(routes: routes ?? AdminRoutes(cluster: fixture.cluster), logger: logger)
    }

    /// A connection's pipeline as the server builds it (`HTTP1Channel`, then
    /// `EventLoopHTTP1Channel`'s raw handlers): NIO's HTTP/1 decoder and encoder, the fast path
    /// (unless `fastPath` is false), then the HTTP types codec the router reads from.
    private func channel(_ fixture: Fixture, fastPath: Bool = true, routes: AdminRoutes? = nil, from address: String? = nil) throws
        -> EmbeddedChannel
    {
        let channel = EmbeddedChannel()
        if let address { try channel.connect(to: SocketAddress(ipAddress: address, port: 40_000)).wait() }
        let pipeline = channel.pipeline.syncOperations
        try pipeline.configureHTTPServerPipeline(withPipeliningAssistance: false, withErrorHandling: false, withOutboundHeaderValidation: false)
        try pipeline.addHandler(HTTP1ToHTTPServerCodec(secure: false))
        try EventLoopHTTP1Channel.addRawHTTPHandlers(fastPath ? [self.fastPath(fixture, routes: routes)] : [], to: pipeline)
        return channel
    }

    /// An address throttled for failed authentication is the router's to refuse, whatever its
    /// key: a right guess is not served here meanwhile.
    @Test func passesOnRequestsFromAThrottledAddress() async throws {
        let fixture = try await fixture()
        let routes = AdminRoutes(cluster: fixture.cluster)
        for _ in 0..<Int(routes.throttle.limits.burst) { _ = routes.throttle.failed("192.0.2.9") }
        let throttled = try channel(fixture, routes: routes, from: "192.0.2.9")
        try send(throttled, head(fixture.admin), body: Self.question)
        #expect(try responses(throttled).isEmpty)
        #expect(try passedOn(throttled).head != nil)
        let other = try channel(fixture, routes: routes, from: "192.0.2.10")
        try send(other, head(fixture.admin), body: Self.question)
        #expect(try response(other)?.status == 200)
    }

    private func head(
        _ token: String?, method: HTTPRequest.Method = .post, path: String = FastPath.target, headers: [String: String] = [:]
    ) -> HTTPRequest {
        var head = HTTPRequest(method: method, scheme: "http", authority: "localhost", path: path)
        if let token { head.headerFields[.authorization] = "Bearer \(token)" }
        for (name, value) in headers { head.headerFields[.init(name)!] = value }
        return head
    }

    /// One request as a client sends it: with a `Content-Length`, or chunked when it has trailers.
    private func bytes(_ head: HTTPRequest, body: String, trailers: HTTPFields? = nil, version: String = "HTTP/1.1") -> [UInt8] {
        var text = "\(head.method.rawValue) \(head.path ?? "/") \(version)\r\nHost: localhost\r\n"
        for field in head.headerFields { text += "\(field.name.rawName): \(field.value)\r\n" }
        if let trailers {
            text += "Transfer-Encoding: chunked\r\n\r\n\(String(body.utf8.count, radix: 16))\r\n\(body)\r\n0\r\n"
            for field in trailers { text += "\(field.name.rawName): \(field.value)\r\n" }
            text += "\r\n"
        } else {
            text += "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
        }
        return Array(text.utf8)
    }

    /// Sends one request's bytes in `chunks` reads.
    private func send(
        _ channel: EmbeddedChannel, _ head: HTTPRequest, body: String, chunks: Int = 1, trailers: HTTPFields? = nil, version: String = "HTTP/1.1"
    ) throws {
        let bytes = bytes(head, body: body, trailers: trailers, version: version)
        let size = max(1, (bytes.count + chunks - 1) / chunks)
        for start in stride(from: 0, to: bytes.count, by: size) {
            try channel.writeInbound(ByteBuffer(bytes: bytes[start..<min(bytes.count, start + size)]))
        }
    }

    /// A response read from the socket's bytes.
    struct WrittenResponse {
        var status: Int
        var headers: [(name: String, value: String)]
        var body: String

        func header(_ name: String) -> String? { headers.first { $0.name.lowercased() == name.lowercased() }?.value }
    }

    /// The responses written to the socket so far, parsed (each must have a `Content-Length`).
    private func responses(_ channel: EmbeddedChannel) throws -> [WrittenResponse] {
        var bytes: [UInt8] = []
        while let buffer = try channel.readOutbound(as: IOData.self) {
            guard case .byteBuffer(let buffer) = buffer else {
                Issue.record("a file region was written")
                return []
            }
            bytes += buffer.readableBytesView
        }
        var parsed: [WrittenResponse] = []
        var offset = 0
        while offset < bytes.count {
            guard let headEnd = (offset..<max(offset, bytes.count - 3)).first(where: { bytes[$0..<$0 + 4].elementsEqual([13, 10, 13, 10]) })
            else {
                Issue.record("a response without the end of its head")
                return parsed
            }
            var lines = String(decoding: bytes[offset..<headEnd], as: UTF8.self).components(separatedBy: "\r\n")
            let statusLine = lines.removeFirst().split(separator: " ", maxSplits: 2)
            #expect(statusLine.first == "HTTP/1.1")
            let status = try #require(Int(statusLine.dropFirst().first ?? ""))
            let headers = try lines.map { line -> (name: String, value: String) in
                let colon = try #require(line.firstIndex(of: ":"), "a header line without a colon: \(line)")
                return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
            }
            var response = WrittenResponse(status: status, headers: headers, body: "")
            let length = try #require(Int(response.header("Content-Length") ?? ""), "a response without a length")
            let bodyStart = headEnd + 4
            try #require(bodyStart + length <= bytes.count, "a body shorter than its length")
            response.body = String(decoding: bytes[bodyStart..<bodyStart + length], as: UTF8.self)
            parsed.append(response)
            offset = bodyStart + length
        }
        return parsed
    }

    /// The one response written so far, if exactly one was.
    private func response(_ channel: EmbeddedChannel) throws -> WrittenResponse? {
        let all = try responses(channel)
        #expect(all.count <= 1, "more than one response")
        return all.first
    }

    /// The request parts that reached the end of the pipeline (the router), joined.
    private func passedOn(_ channel: EmbeddedChannel) throws -> (head: HTTPRequest?, body: String, trailers: HTTPFields?, ended: Bool) {
        var head: HTTPRequest?
        var body = ByteBuffer()
        var trailers: HTTPFields?
        var ended = false
        while let part = try channel.readInbound(as: HTTPRequestPart.self) {
            switch part {
            case .head(let request): head = request
            case .body(var chunk): body.writeBuffer(&chunk)
            case .end(let fields):
                trailers = fields
                ended = true
            }
        }
        return (head, String(buffer: body), trailers, ended)
    }

    /// What the router receives for these bytes without the fast path in the pipeline.
    private func unhandled(
        _ fixture: Fixture, _ head: HTTPRequest, body: String, version: String = "HTTP/1.1"
    ) throws -> (head: HTTPRequest?, body: String, trailers: HTTPFields?, ended: Bool) {
        let channel = try channel(fixture, fastPath: false)
        try send(channel, head, body: body, version: version)
        return try passedOn(channel)
    }

    @Test func answersAValidRequestAsTheRouteDoes() async throws {
        let fixture = try await fixture()
        let channel = try channel(fixture)
        try send(channel, head(fixture.admin), body: Self.question, chunks: 3)
        let answer = try #require(try response(channel))
        #expect(try passedOn(channel).head == nil)
        #expect(answer.status == 200)
        #expect(answer.headers.map(\.name) == ["Content-Type", "Content-Length", "X-Request-ID", "Date"])
        #expect(answer.header("Content-Type") == "application/json")
        #expect(answer.header("Date")?.hasSuffix(" GMT") == true)
        #expect(answer.header("X-Request-ID")?.isEmpty == false)
        let fast = try JSONDecoder().decode(AuthorizeResponse.self, from: Data(answer.body.utf8))
        let routed = try await fixture.client.send(.post, FastPath.target, body: Self.question, token: fixture.admin)
        #expect(routed.status == 200)
        #expect(fast == (try JSONDecoder().decode(AuthorizeResponse.self, from: Data(routed.body.utf8))))
        #expect(fast.allowed && fast.binding != nil && fast.revision == fixture.cluster.revision)
    }

    @Test func fastPathRequestsAreCountedByRouteAndStatus() async throws {
        let fixture = try await fixture()
        let routes = AdminRoutes(cluster: fixture.cluster)
        let channel = try channel(fixture, routes: routes)
        for _ in 0..<3 {
            try send(channel, head(fixture.admin), body: Self.question)
            #expect(try response(channel)?.status == 200)
        }
        let text = routes.requestMetrics.prometheusText()
        #expect(text.contains(#"rampart_http_requests_total{route="POST /v1/authorize",status="200"} 3"#), "\(text)")
        #expect(text.contains(#"rampart_http_request_duration_seconds_count{route="POST /v1/authorize",status="200"} 3"#))
    }

    @Test func answersDenialsAndEchoesTheRequestID() async throws {
        let fixture = try await fixture()
        let channel = try channel(fixture)
        let body = #"{"principal":"alpha/dev","permission":"compute.instances.create","organization":"alpha","project":null}"#
        try send(channel, head(fixture.admin, headers: ["X-Request-ID": "trace-7"]), body: body)
        let answer = try #require(try response(channel))
        #expect(answer.header("X-Request-ID") == "trace-7")
        let fast = try JSONDecoder().decode(AuthorizeResponse.self, from: Data(answer.body.utf8))
        #expect(fast == AuthorizeResponse(allowed: false, binding: nil, reason: "noMatchingBinding", revision: fixture.cluster.revision))
    }

    /// A service of one tenant asking about another tenant's principals learns nothing of
    /// whether they exist: a missing principal and an existing one without a binding answer
    /// alike, on the fast path and through the router. An administrator still sees why.
    @Test func decisionsDoNotRevealAnotherTenantsPrincipals() async throws {
        let fixture = try await fixture()
        try await fixture.organization("beta")
        _ = try await fixture.member("beta", "eve", role: "org.viewer")
        #expect(
            try await fixture.client.send(
                .post, "/v1/orgs/alpha/roles", body: #"{"name":"checker","permissions":["iam.decisions.check"]}"#, token: fixture.admin
            ).status == 201)
        let service = try await fixture.member("alpha", "service", role: "checker")
        let channel = try channel(fixture)
        var answers: [String: [AuthorizeResponse]] = [:]
        for asked in ["beta/eve", "beta/ghost", "gamma/nobody"] {
            let body = #"{"principal":"\#(asked)","permission":"compute.instances.create","organization":"alpha","project":null}"#
            try send(channel, head(service), body: body)
            let fast = try JSONDecoder().decode(AuthorizeResponse.self, from: Data(try #require(try response(channel)).body.utf8))
            let routed = try await fixture.client.send(.post, FastPath.target, body: body, token: service)
            let slow = try JSONDecoder().decode(AuthorizeResponse.self, from: Data(routed.body.utf8))
            answers[asked] = [fast, slow]
        }
        let expected = AuthorizeResponse(allowed: false, binding: nil, reason: "noMatchingBinding", revision: fixture.cluster.revision)
        for (asked, pair) in answers { #expect(pair == [expected, expected], "\(asked)") }
        let body = #"{"principal":"beta/ghost","permission":"compute.instances.create","organization":"alpha","project":null}"#
        let admin = try await fixture.client.send(.post, FastPath.target, body: body, token: fixture.admin)
        #expect(admin.object["reason"] as? String == "unknownPrincipal")
    }

    /// Every request it does not answer reaches the router as it came, and nothing is written.
    @Test func passesOnEverythingElseUnchanged() async throws {
        let fixture = try await fixture()
        let viewer = try await fixture.member("alpha", "viewer", role: "org.viewer")
        let wrongSecret = "\(fixture.admin.split(separator: ".")[0]).\(String(repeating: "0", count: 64))"
        let cases: [(String, HTTPRequest, String)] = [
            ("no key", head(nil), Self.question),
            ("malformed key", head("bad.key"), Self.question),
            ("wrong secret", head(wrongSecret), Self.question),
            ("not allowed to ask", head(viewer), Self.question),
            ("linearizable", head(fixture.admin, path: "/v1/authorize"), Self.question),
            ("another query", head(fixture.admin, path: "/v1/authorize?consistency=stale&min_revision=1"), Self.question),
            ("another route", head(fixture.admin, path: "/v1/orgs/alpha/bindings"), #"{"principal":"dev","role":"org.viewer"}"#),
            ("another method", head(fixture.admin, method: .put), Self.question),
            ("closing", head(fixture.admin, headers: ["Connection": "close"]), Self.question),
            ("expecting", head(fixture.admin, headers: ["Expect": "100-continue"]), Self.question),
            ("timeout", head(fixture.admin, headers: ["X-Timeout-Ms": "5"]), Self.question),
            ("bad request id", head(fixture.admin, headers: ["X-Request-ID": String(repeating: "x", count: 129)]), Self.question),
            ("unknown field", head(fixture.admin), #"{"principal":"alpha/dev","permission":"a.b.c","organization":"alpha","x":"y"}"#),
            ("missing field", head(fixture.admin), #"{"principal":"alpha/dev","organization":"alpha"}"#),
            ("wrong type", head(fixture.admin), #"{"principal":"alpha/dev","permission":true,"organization":"alpha"}"#),
            ("escaped", head(fixture.admin), #"{"principal":"alpha\/dev","permission":"a.b.c","organization":"alpha"}"#),
            ("not JSON", head(fixture.admin), "principal=alpha/dev"),
            ("bad principal", head(fixture.admin), #"{"principal":"dev","permission":"a.b.c","organization":"alpha"}"#),
            ("wildcard", head(fixture.admin), #"{"principal":"alpha/dev","permission":"compute.*","organization":"alpha"}"#),
            ("bad name", head(fixture.admin), #"{"principal":"alpha/dev","permission":"a.b.c","organization":"Alpha!"}"#),
            ("unknown organization", head(fixture.admin), #"{"principal":"alpha/dev","permission":"a.b.c","organization":"nope"}"#),
        ]
        for (label, request, body) in cases {
            let channel = try channel(fixture)
            try send(channel, request, body: body, chunks: 2)
            #expect(try responses(channel).isEmpty, "\(label)")
            let forwarded = try passedOn(channel)
            let expected = try unhandled(fixture, request, body: body)
            #expect(forwarded.head != nil && forwarded.head == expected.head, "\(label)")
            #expect(forwarded.body == body, "\(label)")
            #expect(forwarded.ended, "\(label)")
        }
    }

    /// HTTP/1.0 (whose connections close unless asked not to), and a repeated `Authorization`
    /// or `X-Request-ID` (which one would count?), are the router's.
    @Test func passesOnOlderHTTPAndRepeatedHeaders() async throws {
        let fixture = try await fixture()
        var twoKeys = head(fixture.admin)
        twoKeys.headerFields.append(HTTPFields.Element(name: .authorization, value: "Bearer \(fixture.admin)"))
        var twoIDs = head(fixture.admin, headers: ["X-Request-ID": "one"])
        twoIDs.headerFields.append(HTTPFields.Element(name: .init("X-Request-ID")!, value: "two"))
        let cases: [(String, HTTPRequest, String)] = [("HTTP/1.0", head(fixture.admin), "HTTP/1.0"), ("two keys", twoKeys, "HTTP/1.1"), ("two ids", twoIDs, "HTTP/1.1")]
        for (label, request, version) in cases {
            let channel = try channel(fixture)
            try send(channel, request, body: Self.question, version: version)
            #expect(try responses(channel).isEmpty, "\(label)")
            let forwarded = try passedOn(channel)
            let expected = try unhandled(fixture, request, body: Self.question, version: version)
            #expect(forwarded.head != nil && forwarded.head == expected.head && forwarded.body == Self.question, "\(label)")
        }
        // The same request in HTTP/1.1 with one key and one id is answered.
        let channel = try channel(fixture)
        try send(channel, head(fixture.admin, headers: ["X-Request-ID": "one"]), body: Self.question)
        #expect(try response(channel)?.header("X-Request-ID") == "one")
    }

    @Test func passesOnBodiesOverTheLimitAndTrailers() async throws {
        let fixture = try await fixture()
        let large = String(repeating: " ", count: AdminRoutes.Limits().maxBodyBytes) + Self.question
        let channel = try channel(fixture)
        try send(channel, head(fixture.admin), body: large, chunks: 4)
        #expect(try responses(channel).isEmpty)
        let forwarded = try passedOn(channel)
        #expect(forwarded.body == large && forwarded.ended)

        let withTrailers = try self.channel(fixture)
        try send(withTrailers, head(fixture.admin), body: Self.question, trailers: [.init("X-Check")!: "1"])
        #expect(try responses(withTrailers).isEmpty)
        let passed = try passedOn(withTrailers)
        #expect(passed.body == Self.question && passed.trailers?[.init("X-Check")!] == "1")
    }

    /// While the router owes a response, later requests go to the router too, so responses
    /// leave in request order; once it answered, the fast path answers again.
    @Test func keepsResponsesInRequestOrder() async throws {
        let fixture = try await fixture()
        let channel = try channel(fixture)
        try send(channel, head(fixture.admin, method: .get, path: "/healthz"), body: "")
        try send(channel, head(fixture.admin), body: Self.question)
        #expect(try responses(channel).isEmpty)
        var heads: [HTTPRequest] = []
        while let part = try channel.readInbound(as: HTTPRequestPart.self) {
            if case .head(let request) = part { heads.append(request) }
        }
        #expect(heads.map(\.path) == ["/healthz", FastPath.target])
        // The router answers both.
        for status in [HTTPResponse.Status.created, .accepted] {
            try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: status, headerFields: [.contentLength: "0"])))
            try channel.writeOutbound(HTTPResponsePart.end(nil))
        }
        #expect(try responses(channel).map(\.status) == [201, 202])
        try send(channel, head(fixture.admin), body: Self.question)
        #expect(try response(channel)?.status == 200)
        #expect(try passedOn(channel).head == nil)
    }

    /// Its answers go to the socket through the HTTP encoder's context: in a pipeline without
    /// one it answers nothing, and every request reaches the router.
    @Test func answersNothingWithoutTheEncoder() async throws {
        let fixture = try await fixture()
        let channel = EmbeddedChannel(handlers: [fastPath(fixture), HTTP1ToHTTPServerCodec(secure: false)])
        let head = HTTPRequestHead(
            version: .http1_1, method: .POST, uri: FastPath.target,
            headers: ["Host": "localhost", "Authorization": "Bearer \(fixture.admin)", "Content-Length": "\(Self.question.utf8.count)"])
        try channel.writeInbound(HTTPServerRequestPart.head(head))
        try channel.writeInbound(HTTPServerRequestPart.body(ByteBuffer(string: Self.question)))
        try channel.writeInbound(HTTPServerRequestPart.end(nil))
        #expect(try channel.readOutbound() == nil)
        let forwarded = try passedOn(channel)
        #expect(forwarded.head?.path == FastPath.target && forwarded.body == Self.question && forwarded.ended)
    }

    /// A client that does not read its answers makes the connection unwritable: its requests go
    /// to the router, whose channel stops reading, instead of answers piling up here.
    @Test func passesOnWhileTheConnectionIsNotWritable() async throws {
        let fixture = try await fixture()
        let channel = try channel(fixture)
        channel.isWritable = false
        try send(channel, head(fixture.admin), body: Self.question)
        #expect(try responses(channel).isEmpty)
        #expect(try passedOn(channel).head?.path == FastPath.target)
        // The router answers, and the client reads again.
        try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok, headerFields: [.contentLength: "0"])))
        try channel.writeOutbound(HTTPResponsePart.end(nil))
        #expect(try responses(channel).map(\.status) == [200])
        channel.isWritable = true
        try send(channel, head(fixture.admin), body: Self.question)
        #expect(try response(channel)?.body.contains("\"allowed\":true") == true)
        #expect(try passedOn(channel).head == nil)
    }

    // MARK: - Creates

    /// The three create routes, each proposed by the fast path and answered as the router
    /// answers the same request: status, media type, and the same JSON with the new revision.
    @Test func proposesCreatesAndAnswersAsTheRoutesDo() async throws {
        let fixture = try await fixture()
        let cases: [(path: String, fast: String, routed: String, expected: @Sendable (String, UInt64) -> String)] = [
            ("/v1/orgs", #"{"name":"beta"}"#, #"{"name":"gamma"}"#, { #"{"name":"\#($0)","revision":\#($1),"suspended":false}"# }),
            ("/v1/orgs/alpha/projects", #"{"name":"api"}"#, #"{"name":"db"}"#, { #"{"name":"\#($0)","organization":"alpha","revision":\#($1)}"# }),
            (
                "/v1/orgs/alpha/principals", #"{"name":"ci","kind":"service_account"}"#, #"{"name":"ops","kind":"service_account"}"#,
                { #"{"kind":"service_account","name":"\#($0)","organization":"alpha","revision":\#($1)}"# }
            ),
        ]
        for (path, fastBody, routedBody, expected) in cases {
            let channel = try channel(fixture)
            let before = fixture.cluster.revision
            try send(channel, head(fixture.admin, path: path, headers: ["X-Request-ID": "create-1"]), body: fastBody, chunks: 2)
            try channel.embeddedEventLoop.run()
            let answer = try #require(try response(channel), "\(path)")
            #expect(try passedOn(channel).head == nil, "\(path)")
            #expect(fixture.cluster.revision == before + 1, "\(path)")
            #expect(answer.status == 201, "\(path): \(answer.body)")
            #expect(answer.headers.map(\.name) == ["Content-Type", "Content-Length", "X-Request-ID", "Date"], "\(path)")
            #expect(answer.header("Content-Type") == "application/json" && answer.header("X-Request-ID") == "create-1", "\(path)")
            let name = try #require(try JSONSerialization.jsonObject(with: Data(fastBody.utf8)) as? [String: Any])["name"] as? String
            #expect(try sortedJSON(answer.body) == expected(name ?? "", before + 1), "\(path)")
            // The router answers the same request for another name with the same fields.
            let routed = try await fixture.client.send(.post, path, body: routedBody, token: fixture.admin)
            let routedName = try #require(try JSONSerialization.jsonObject(with: Data(routedBody.utf8)) as? [String: Any])["name"] as? String
            #expect(routed.status == 201 && routed.headers[.contentType] == "application/json", "\(path)")
            #expect(try sortedJSON(routed.body) == expected(routedName ?? "", before + 2), "\(path)")
        }
        // The audit log names the request and the caller, as for a routed write.
        let records = try await fixture.cluster.auditRecords(after: nil, limit: 1000, filter: AuditQuery(), consistency: .stale, timeout: .seconds(1))
        let proposed = records.records.filter { $0.requestID == "create-1" }
        #expect(proposed.map(\.action) == ["organization.create", "project.create", "principal.create"])
        #expect(proposed.allSatisfy { $0.actor == "system/admin" && $0.outcome == "ok" }, "\(proposed)")
    }

    /// A create the state machine refuses, or the cluster cannot carry out, is answered after its
    /// proposal with the router's problem (it cannot be passed on: it was already proposed).
    @Test func answersRejectionsAndClusterErrorsAsTheRouterDoes() async throws {
        let fixture = try await fixture()
        let duplicate = #"{"name":"web"}"#
        let channel = try channel(fixture)
        try send(channel, head(fixture.admin, path: "/v1/orgs/alpha/projects"), body: duplicate)
        try channel.embeddedEventLoop.run()
        let refused = try #require(try response(channel))
        #expect(try passedOn(channel).head == nil)
        let routed = try await fixture.client.send(.post, "/v1/orgs/alpha/projects", body: duplicate, token: fixture.admin)
        #expect(refused.status == 409 && routed.status == 409)
        #expect(refused.header("Content-Type") == "application/problem+json" && routed.headers[.contentType] == "application/problem+json")
        #expect(try sortedJSON(refused.body) == sortedJSON(routed.body) && refused.body.contains("already_exists"))

        // A new channel after the suspension above: an embedded channel stays on its thread.
        fixture.cluster.setUnavailable(true)
        let second = try self.channel(fixture)
        try send(second, head(fixture.admin, path: "/v1/orgs/alpha/projects"), body: #"{"name":"api"}"#)
        try second.embeddedEventLoop.run()
        let unavailable = try #require(try response(second))
        #expect(unavailable.status == 503)
        #expect(unavailable.headers.map(\.name) == ["Content-Type", "Retry-After", "Content-Length", "X-Request-ID", "Date"])
        #expect(unavailable.header("Retry-After") == "1")
        let problem = try #require(try JSONSerialization.jsonObject(with: Data(unavailable.body.utf8)) as? [String: Any])
        #expect(problem["code"] as? String == "unavailable" && problem["status"] as? Int == 503)
    }

    /// Every create it cannot serve whole goes to the router as it came, before anything is
    /// proposed: nothing is written, nothing changes.
    @Test func passesOnCreatesItCannotServe() async throws {
        let fixture = try await fixture()
        let viewer = try await fixture.member("alpha", "viewer", role: "org.viewer")
        let principal = #"{"name":"ci","kind":"user"}"#
        let cases: [(String, HTTPRequest, String)] = [
            ("no key", head(nil, path: "/v1/orgs/alpha/principals"), principal),
            ("not allowed", head(viewer, path: "/v1/orgs/alpha/principals"), principal),
            ("unknown organization", head(fixture.admin, path: "/v1/orgs/nope/principals"), principal),
            ("invalid name in the path", head(fixture.admin, path: "/v1/orgs/Alpha/principals"), principal),
            ("encoded name", head(fixture.admin, path: "/v1/orgs/al%70ha/principals"), principal),
            ("trailing slash", head(fixture.admin, path: "/v1/orgs/alpha/principals/"), principal),
            ("query", head(fixture.admin, path: "/v1/orgs/alpha/principals?x=1"), principal),
            ("invalid name in the body", head(fixture.admin, path: "/v1/orgs/alpha/principals"), #"{"name":"CI","kind":"user"}"#),
            ("unknown kind", head(fixture.admin, path: "/v1/orgs/alpha/principals"), #"{"name":"ci","kind":"robot"}"#),
            ("missing field", head(fixture.admin, path: "/v1/orgs/alpha/principals"), #"{"name":"ci"}"#),
            ("unknown field", head(fixture.admin, path: "/v1/orgs"), #"{"name":"beta","x":"y"}"#),
            ("wrong type", head(fixture.admin, path: "/v1/orgs"), #"{"name":true}"#),
            ("idempotency key", head(fixture.admin, path: "/v1/orgs", headers: ["Idempotency-Key": "k1"]), #"{"name":"beta"}"#),
            ("expected revision", head(fixture.admin, path: "/v1/orgs", headers: ["If-Match": "3"]), #"{"name":"beta"}"#),
            ("timeout", head(fixture.admin, path: "/v1/orgs", headers: ["X-Timeout-Ms": "50"]), #"{"name":"beta"}"#),
            ("another method", head(fixture.admin, method: .put, path: "/v1/orgs"), #"{"name":"beta"}"#),
        ]
        let before = fixture.cluster.revision
        for (label, request, body) in cases {
            let channel = try channel(fixture)
            try send(channel, request, body: body)
            try channel.embeddedEventLoop.run()
            #expect(try responses(channel).isEmpty, "\(label)")
            let forwarded = try passedOn(channel)
            let expected = try unhandled(fixture, request, body: body)
            #expect(forwarded.head != nil && forwarded.head == expected.head, "\(label)")
            #expect(forwarded.body == body && forwarded.ended, "\(label)")
        }
        #expect(fixture.cluster.revision == before)
    }

    /// While a create waits for its outcome, what the connection sends next is held and the
    /// socket is not read; once the answer is written, the held requests go on in order.
    @Test func holdsWhatArrivesWhileACreateWaits() async throws {
        let fixture = try await fixture()
        let channel = try channel(fixture)
        let socket = EventCounter()
        try channel.pipeline.syncOperations.addHandler(socket, position: .first)
        let router = EventCounter()
        try channel.pipeline.syncOperations.addHandler(router)
        fixture.cluster.holdSubmissions()
        try send(channel, head(fixture.admin, path: "/v1/orgs/alpha/principals"), body: #"{"name":"ci","kind":"user"}"#)
        // Nothing held yet: the socket may be read (a client that waits for its answer costs no
        // change of read interest).
        channel.read()
        #expect(socket.reads == 1)
        try send(channel, head(fixture.admin), body: Self.question)
        try send(channel, head(fixture.admin, method: .get, path: "/healthz"), body: "")
        channel.read()
        try channel.embeddedEventLoop.run()
        #expect(try responses(channel).isEmpty)
        #expect(try passedOn(channel).head == nil)
        #expect(socket.reads == 1)

        let completed = router.readCompletions
        #expect(fixture.cluster.releaseSubmissions() == 1)
        try channel.embeddedEventLoop.run()
        // The router's channel hands on what it read at a read's completion: one follows the replay.
        #expect(router.readCompletions == completed + 1)
        let answers = try responses(channel)
        #expect(answers.map(\.status) == [201, 200])
        #expect(answers.first?.body.contains(#""name":"ci""#) == true && answers.last?.body.contains(#""allowed":true"#) == true)
        #expect(try passedOn(channel).head?.path == "/healthz")
        #expect(socket.reads == 2)
    }

    /// A create route's path matches exactly: its literals, one valid name per parameter,
    /// nothing before, after or between.
    @Test func createPathsMatchExactly() {
        let principal = CreatePrincipalRoute.self
        #expect(principal.names(in: "/v1/orgs/alpha/principals")?.map(\.value) == ["alpha"])
        #expect(CreateOrganizationRoute.names(in: "/v1/orgs")?.isEmpty == true)
        for target in [
            "/v1/orgs/alpha/principals/", "/v1/orgs/alpha/principals/x", "/v1/orgs/alpha", "/v1/orgs//principals", "//v1/orgs/alpha/principals",
            "v1/orgs/alpha/principals", "/v1/orgz/alpha/principals", "/v1/orgs/alpha/principalz", "/v1/orgs/alpha/projects",
            "/v1/orgs/Alpha/principals", "/v1/orgs/al%70ha/principals", "/v1/orgs/alpha/principals?x=1", "", "/",
        ] {
            #expect(principal.names(in: target[...]) == nil, "\(target)")
        }
        for target in ["/v1/orgs/", "/v1/orgs?x=1", "/v1/org", "/v1/orgs/alpha"] {
            #expect(CreateOrganizationRoute.names(in: target[...]) == nil, "\(target)")
        }
        #expect(AdminRoutes.createTarget("/v1/orgs/alpha/projects")?.route == CreateProjectRoute.self)
        #expect(AdminRoutes.createTarget("/v1/authorize?consistency=stale") == nil)
    }

    /// The JSON text of an object with its keys sorted, to compare answers field by field.
    private func sortedJSON(_ text: String) throws -> String {
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8))
        return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self)
    }

    @Test func encodesDecisionsAsJSONDecoderReadsThem() throws {
        let samples = [
            AuthorizeResponse(allowed: true, binding: "00ff", reason: nil, revision: 12),
            AuthorizeResponse(allowed: false, binding: nil, reason: "unknownPrincipal", revision: 0),
            AuthorizeResponse(allowed: false, binding: nil, reason: nil, revision: .max),
        ]
        for sample in samples {
            let buffer = FastPathResponse.encode(sample)
            #expect(try JSONDecoder().decode(AuthorizeResponse.self, from: Data(buffer.readableBytesView)) == sample)
        }
    }

    @Test func formatsTheDateHeader() {
        var parts = tm()
        var seconds: time_t = 784_111_777  // Sun, 06 Nov 1994 08:49:37 GMT (RFC 9110's example)
        gmtime_r(&seconds, &parts)
        #expect(HTTPDateCache.format(parts) == "Sun, 06 Nov 1994 08:49:37 GMT")
    }

    /// Generated ids increase as text, so the audit log's index by request id grows at its end.
    @Test func requestIDsIncreaseAsText() {
        let source = RequestIDs(start: 0xFFF)
        let ids = (0..<1000).map { _ in source.next() }
        #expect(ids.first == "0000000000001000")
        #expect(ids.allSatisfy { $0.utf8.count == 16 && $0.utf8.allSatisfy { Array("0123456789abcdef".utf8).contains($0) } })
        #expect(zip(ids, ids.dropFirst()).allSatisfy { $0 < $1 })
        #expect(RequestIDs.shared.next() < RequestIDs.shared.next())
    }
}

/// Counts the reads that pass it on their way to the socket and the read completions that pass
/// it on their way to the router: at the front of the pipeline it sees what reaches the socket,
/// at the end what reaches the router.
private final class EventCounter: ChannelDuplexHandler {
    typealias InboundIn = Any
    typealias OutboundIn = Any
    private(set) var reads = 0
    private(set) var readCompletions = 0

    func read(context: ChannelHandlerContext) {
        reads += 1
        context.read()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        readCompletions += 1
        context.fireChannelReadComplete()
    }
}
