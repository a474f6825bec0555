import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTPTypes
import Testing

@testable import AdminAPI

/// The authorize fast path in a channel of its own: what it answers must be what the route
/// answers, and everything else must reach the router unchanged and in order.
@Suite struct AuthorizeFastPathTests {
    static let question = #"{"principal":"alpha/dev","permission":"compute.instances.create","organization":"alpha","project":"web"}"#

    /// A fixture with organization `alpha`, project `web` and `alpha/dev` bound `project.admin` there.
    private func fixture() async throws -> Fixture {
        let fixture = try await Fixture()
        try await fixture.organization("alpha")
        #expect(try await fixture.client.send(.post, "/v1/orgs/alpha/projects", body: #"{"name":"web"}"#, token: fixture.admin).status == 201)
        _ = try await fixture.member("alpha", "dev", role: "project.admin", project: "web")
        return fixture
    }

    private func channel(_ fixture: Fixture) -> EmbeddedChannel {
        var logger = Logger(label: "fast-path-tests")
        logger.logLevel = .critical
        return EmbeddedChannel(handler: AuthorizeFastPath(routes: AdminRoutes(cluster: fixture.cluster), logger: logger))
    }

    private func head(
        _ token: String?, method: HTTPRequest.Method = .post, path: String = AuthorizeFastPath.target, headers: [String: String] = [:]
    ) -> HTTPRequest {
        var head = HTTPRequest(method: method, scheme: "http", authority: "localhost", path: path)
        if let token { head.headerFields[.authorization] = "Bearer \(token)" }
        for (name, value) in headers { head.headerFields[.init(name)!] = value }
        return head
    }

    /// Sends one request in parts (the body in `chunks` pieces).
    private func send(_ channel: EmbeddedChannel, _ head: HTTPRequest, body: String, chunks: Int = 1, trailers: HTTPFields? = nil) throws {
        try channel.writeInbound(HTTPRequestPart.head(head))
        let bytes = Array(body.utf8)
        let size = max(1, (bytes.count + chunks - 1) / chunks)
        for start in stride(from: 0, to: bytes.count, by: size) {
            try channel.writeInbound(HTTPRequestPart.body(ByteBuffer(bytes: bytes[start..<min(bytes.count, start + size)])))
        }
        try channel.writeInbound(HTTPRequestPart.end(trailers))
    }

    /// The response the handler wrote, if any.
    private func response(_ channel: EmbeddedChannel) throws -> (head: HTTPResponse, body: String)? {
        guard case .head(let head) = try channel.readOutbound(as: HTTPResponsePart.self) else { return nil }
        var body = ByteBuffer()
        while let part = try channel.readOutbound(as: HTTPResponsePart.self) {
            switch part {
            case .body(var chunk): body.writeBuffer(&chunk)
            case .end: return (head, String(buffer: body))
            case .head: Issue.record("a second head")
            }
        }
        Issue.record("no end")
        return nil
    }

    /// The request parts the handler passed on, joined: the head, the body, whether it ended.
    private func passedOn(_ channel: EmbeddedChannel) throws -> (head: HTTPRequest?, body: String, ended: Bool) {
        var head: HTTPRequest?
        var body = ByteBuffer()
        var ended = false
        while let part = try channel.readInbound(as: HTTPRequestPart.self) {
            switch part {
            case .head(let request): head = request
            case .body(var chunk): body.writeBuffer(&chunk)
            case .end: ended = true
            }
        }
        return (head, String(buffer: body), ended)
    }

    @Test func answersAValidRequestAsTheRouteDoes() async throws {
        let fixture = try await fixture()
        let channel = channel(fixture)
        try send(channel, head(fixture.admin), body: Self.question, chunks: 3)
        let answer = try #require(try response(channel))
        #expect(try passedOn(channel).head == nil)
        #expect(answer.head.status == .ok)
        #expect(answer.head.headerFields[.contentType] == "application/json")
        #expect(answer.head.headerFields[.contentLength] == String(answer.body.utf8.count))
        #expect(answer.head.headerFields[.date]?.hasSuffix(" GMT") == true)
        #expect(answer.head.headerFields[.init("X-Request-ID")!]?.isEmpty == false)
        let fast = try JSONDecoder().decode(AuthorizeResponse.self, from: Data(answer.body.utf8))
        let routed = try await fixture.client.send(.post, AuthorizeFastPath.target, body: Self.question, token: fixture.admin)
        #expect(routed.status == 200)
        #expect(fast == (try JSONDecoder().decode(AuthorizeResponse.self, from: Data(routed.body.utf8))))
        #expect(fast.allowed && fast.binding != nil && fast.revision == fixture.cluster.revision)
    }

    @Test func answersDenialsAndEchoesTheRequestID() async throws {
        let fixture = try await fixture()
        let channel = channel(fixture)
        let body = #"{"principal":"alpha/dev","permission":"compute.instances.create","organization":"alpha","project":null}"#
        try send(channel, head(fixture.admin, headers: ["X-Request-ID": "trace-7"]), body: body)
        let answer = try #require(try response(channel))
        #expect(answer.head.headerFields[.init("X-Request-ID")!] == "trace-7")
        let fast = try JSONDecoder().decode(AuthorizeResponse.self, from: Data(answer.body.utf8))
        #expect(fast == AuthorizeResponse(allowed: false, binding: nil, reason: "noMatchingBinding", revision: fixture.cluster.revision))
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
            ("another route", head(fixture.admin, path: "/v1/orgs"), #"{"name":"beta"}"#),
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
            let channel = channel(fixture)
            try send(channel, request, body: body, chunks: 2)
            #expect(try channel.readOutbound(as: HTTPResponsePart.self) == nil, "\(label)")
            let forwarded = try passedOn(channel)
            #expect(forwarded.head == request, "\(label)")
            #expect(forwarded.body == body, "\(label)")
            #expect(forwarded.ended, "\(label)")
        }
    }

    @Test func passesOnBodiesOverTheLimitAndTrailers() async throws {
        let fixture = try await fixture()
        let large = String(repeating: " ", count: AdminRoutes.Limits().maxBodyBytes) + Self.question
        let channel = channel(fixture)
        try send(channel, head(fixture.admin), body: large, chunks: 4)
        #expect(try channel.readOutbound(as: HTTPResponsePart.self) == nil)
        let forwarded = try passedOn(channel)
        #expect(forwarded.body == large && forwarded.ended)

        let withTrailers = self.channel(fixture)
        try send(withTrailers, head(fixture.admin), body: Self.question, trailers: [.init("X-Check")!: "1"])
        #expect(try withTrailers.readOutbound(as: HTTPResponsePart.self) == nil)
        #expect(try passedOn(withTrailers).body == Self.question)
    }

    /// While the router owes a response, later requests go to the router too, so responses
    /// leave in request order; once it answered, the fast path answers again.
    @Test func keepsResponsesInRequestOrder() async throws {
        let fixture = try await fixture()
        let channel = channel(fixture)
        try send(channel, head(fixture.admin, method: .get, path: "/healthz"), body: "")
        try send(channel, head(fixture.admin), body: Self.question)
        #expect(try channel.readOutbound(as: HTTPResponsePart.self) == nil)
        var heads: [HTTPRequest] = []
        while let part = try channel.readInbound(as: HTTPRequestPart.self) {
            if case .head(let request) = part { heads.append(request) }
        }
        #expect(heads.map(\.path) == ["/healthz", AuthorizeFastPath.target])
        // The router answers both.
        for _ in 0..<2 {
            try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
            try channel.writeOutbound(HTTPResponsePart.end(nil))
        }
        while try channel.readOutbound(as: HTTPResponsePart.self) != nil {}
        try send(channel, head(fixture.admin), body: Self.question)
        #expect(try response(channel)?.head.status == .ok)
        #expect(try passedOn(channel).head == nil)
    }

    @Test func encodesDecisionsAsJSONDecoderReadsThem() throws {
        let samples = [
            AuthorizeResponse(allowed: true, binding: "00ff", reason: nil, revision: 12),
            AuthorizeResponse(allowed: false, binding: nil, reason: "unknownPrincipal", revision: 0),
            AuthorizeResponse(allowed: false, binding: nil, reason: nil, revision: .max),
        ]
        for sample in samples {
            let buffer = AuthorizeFastPath.encode(sample)
            #expect(try JSONDecoder().decode(AuthorizeResponse.self, from: Data(buffer.readableBytesView)) == sample)
        }
    }

    @Test func formatsTheDateHeader() {
        var parts = tm()
        var seconds: time_t = 784_111_777  // Sun, 06 Nov 1994 08:49:37 GMT (RFC 9110's example)
        gmtime_r(&seconds, &parts)
        #expect(HTTPDateCache.format(parts) == "Sun, 06 Nov 1994 08:49:37 GMT")
    }

    @Test func requestIDsDiffer() {
        var generator = RequestIDGenerator(seed: 1)
        let ids = (0..<1000).map { _ in generator.next() }
        #expect(Set(ids).count == ids.count)
    }
}
