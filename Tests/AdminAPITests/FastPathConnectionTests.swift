import NIOCore
import NIOHTTP1
import Testing

@testable import AdminAPI

/// The fast path's rules as a value: events in, actions out, no channel. (`FastPathTests`
/// checks the handler that carries the actions out, in a pipeline.)
@Suite struct FastPathConnectionTests {
    static let authorize = HTTPRequestHead(version: .http1_1, method: .POST, uri: FastPath.target)
    static let create = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/v1/orgs")
    static let other = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/v1/orgs")

    /// Classifies as the handler does.
    static func classify(_ head: HTTPRequestHead) -> FastPathConnection.Request? { FastPath.servable(head) }

    static func buffer(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    /// Holds a connection's state so that expectations can drive it (a macro's expression
    /// cannot mutate a value).
    final class Driver {
        var connection: FastPathConnection

        init(maxBodyBytes: Int) {
            connection = FastPathConnection(maxBodyBytes: maxBodyBytes)
        }

        /// Feeds one part, the connection able to answer unless told otherwise.
        func feed(_ part: HTTPServerRequestPart, canAnswer: Bool = true) -> FastPathConnection.Action {
            connection.received(part, canAnswer: canAnswer, allocate: { ByteBuffer() }, classify: FastPathConnectionTests.classify)
        }

        /// Feeds one part and describes the action.
        func step(_ part: HTTPServerRequestPart, canAnswer: Bool = true) -> String {
            FastPathConnectionTests.describe(feed(part, canAnswer: canAnswer))
        }

        func answered() { connection.answered() }
        func proposing() { connection.proposing() }
        func declined() -> [String] { connection.declined().map(FastPathConnectionTests.describe) }
        func proposalAnswered() -> Bool { connection.proposalAnswered() }
        func nextHeld() -> HTTPServerRequestPart? { connection.nextHeld() }
        func heldReadDue() -> Bool { connection.heldReadDue() }
        func readRequested() -> Bool { connection.readRequested() }
        func responseEndWritten() { connection.responseEndWritten() }
        func closed() { connection.closed() }
        var unanswered: Int { connection.unanswered }
        var heldCount: Int { connection.heldCount }
        var phase: FastPathConnection.Phase { connection.phase }
    }

    /// A short description of an action, to compare.
    static func describe(_ action: FastPathConnection.Action) -> String {
        switch action {
        case .keep: return "keep"
        case .serve(let request, let head, let body):
            let kind: String
            switch request {
            case .authorize: kind = "authorize"
            case .create: kind = "create"
            }
            return "serve \(kind) \(head.uri) \(String(buffer: body))"
        case .passOn(let parts): return "pass " + parts.map(describe).joined(separator: " ")
        }
    }

    static func describe(_ part: HTTPServerRequestPart) -> String {
        switch part {
        case .head(let head): return "head(\(head.method) \(head.uri))"
        case .body(let body): return "body(\(String(buffer: body)))"
        case .end(let trailers): return trailers == nil ? "end" : "end+trailers"
        }
    }

    @Test func aServableRequestIsCollectedThenServed() {
        let connection = Driver(maxBodyBytes: 64)
        #expect(connection.step(.head(Self.authorize)) == "keep")
        #expect(connection.step(.body(Self.buffer("{\"a\":"))) == "keep")
        #expect(connection.step(.body(Self.buffer("1}"))) == "keep")
        #expect(connection.step(.end(nil)) == "serve authorize \(FastPath.target) {\"a\":1}")
        connection.answered()
        #expect(connection.unanswered == 0)
        guard case .idle = connection.phase else { Issue.record("not idle after an answer: \(connection.phase)"); return }
    }

    @Test func whatTheFastPathCannotServeGoesToTheRouterPartByPart() {
        let connection = Driver(maxBodyBytes: 64)
        #expect(connection.step(.head(Self.other)) == "pass head(GET /v1/orgs)")
        #expect(connection.step(.end(nil)) == "pass end")
        #expect(connection.unanswered == 1)
        // While the router's answer is pending, a servable request is the router's too (order).
        #expect(connection.step(.head(Self.authorize)) == "pass head(POST \(FastPath.target))")
        #expect(connection.step(.end(nil)) == "pass end")
        #expect(connection.unanswered == 2)
        connection.responseEndWritten()
        connection.responseEndWritten()
        connection.responseEndWritten()
        #expect(connection.unanswered == 0, "never below zero")
        #expect(connection.step(.head(Self.authorize)) == "keep", "once answered, the fast path serves again")
        // A connection that cannot take an answer now (not writable) is the router's.
        let blocked = Driver(maxBodyBytes: 64)
        #expect(blocked.step(.head(Self.authorize), canAnswer: false) == "pass head(POST \(FastPath.target))")
    }

    @Test func aBodyPastTheLimitTrailersOrAnEarlyHeadHandTheRequestOver() {
        let large = Driver(maxBodyBytes: 4)
        _ = large.feed(.head(Self.authorize))
        #expect(large.step(.body(Self.buffer("abc"))) == "keep")
        #expect(large.step(.body(Self.buffer("de"))) == "pass head(POST \(FastPath.target)) body(abc) body(de)")
        #expect(large.step(.end(nil)) == "pass end")
        #expect(large.unanswered == 1)

        let trailed = Driver(maxBodyBytes: 64)
        _ = trailed.feed(.head(Self.authorize))
        var trailers = HTTPHeaders()
        trailers.add(name: "x-sum", value: "1")
        #expect(trailed.step(.end(trailers)) == "pass head(POST \(FastPath.target)) end+trailers")
        guard case .idle = trailed.phase else { Issue.record("not idle: \(trailed.phase)"); return }

        let early = Driver(maxBodyBytes: 64)
        _ = early.feed(.head(Self.authorize))
        #expect(early.step(.head(Self.other)) == "pass head(POST \(FastPath.target)) head(GET /v1/orgs)")
    }

    @Test func aDeclinedRequestIsPassedOnWhole() {
        let connection = Driver(maxBodyBytes: 64)
        _ = connection.feed(.head(Self.authorize))
        _ = connection.feed(.body(Self.buffer("{}")))
        _ = connection.feed(.end(nil))
        #expect(connection.declined() == ["head(POST \(FastPath.target))", "body({})", "end"])
        #expect(connection.unanswered == 1)
        // Without a body, no empty body part.
        let empty = Driver(maxBodyBytes: 64)
        _ = empty.feed(.head(Self.authorize))
        _ = empty.feed(.end(nil))
        #expect(empty.declined() == ["head(POST \(FastPath.target))", "end"])
    }

    @Test func whatArrivesDuringAProposalIsHeldAndReplayedInOrder() {
        let connection = Driver(maxBodyBytes: 64)
        _ = connection.feed(.head(Self.create))
        _ = connection.feed(.body(Self.buffer("{\"name\":\"a\"}")))
        #expect(connection.step(.end(nil)) == "serve create /v1/orgs {\"name\":\"a\"}")
        connection.proposing()
        #expect(connection.readRequested(), "nothing held yet: reading goes on")
        for part: HTTPServerRequestPart in [.head(Self.create), .body(Self.buffer("{\"name\":\"b\"}")), .end(nil), .head(Self.other), .end(nil)] {
            #expect(connection.step(part) == "keep")
        }
        #expect(connection.heldCount == 5)
        #expect(!connection.readRequested(), "with parts held, a read waits for the answer")
        #expect(connection.nextHeld() == nil, "nothing is replayed while the proposal waits")
        #expect(connection.proposalAnswered())
        #expect(!connection.proposalAnswered(), "one answer per proposal")

        // Replayed: the second create is served and proposed, which stops the replay there.
        var actions: [String] = []
        while let part = connection.nextHeld() {
            let action = connection.feed(part)
            actions.append(Self.describe(action))
            if case .serve = action { connection.proposing() }
        }
        #expect(actions == ["keep", "keep", "serve create /v1/orgs {\"name\":\"b\"}"])
        #expect(connection.heldCount == 2 && !connection.heldReadDue(), "the read stays held during the next proposal")
        #expect(connection.proposalAnswered())
        actions = []
        while let part = connection.nextHeld() { actions.append(connection.step(part)) }
        #expect(actions == ["pass head(GET /v1/orgs)", "pass end"])
        #expect(connection.heldReadDue(), "the held read is due once nothing waits")
        #expect(!connection.heldReadDue(), "and only once")
    }

    @Test func closingDropsWhatIsHeld() {
        let connection = Driver(maxBodyBytes: 64)
        _ = connection.feed(.head(Self.create))
        _ = connection.feed(.end(nil))
        connection.proposing()
        _ = connection.feed(.head(Self.other))
        connection.closed()
        #expect(connection.heldCount == 0)
        #expect(connection.proposalAnswered())
        #expect(connection.nextHeld() == nil)
    }

    @Test func onlyHTTP11PostsWithoutHeadersTheRouterOwnsAreServable() {
        var headers = HTTPHeaders()
        headers.add(name: "Idempotency-Key", value: "k")
        let cases: [(HTTPRequestHead, Bool)] = [
            (Self.authorize, true),
            (Self.create, true),
            (HTTPRequestHead(version: .http1_0, method: .POST, uri: FastPath.target), false),
            (HTTPRequestHead(version: .http1_1, method: .POST, uri: "/v1/authorize"), false),
            (HTTPRequestHead(version: .http1_1, method: .POST, uri: "/v1/orgs", headers: headers), false),
            (HTTPRequestHead(version: .http1_1, method: .POST, uri: FastPath.target, headers: ["Expect": "100-continue"]), false),
            (HTTPRequestHead(version: .http1_1, method: .POST, uri: FastPath.target, headers: ["Connection": "close"]), false),
            (HTTPRequestHead(version: .http1_1, method: .POST, uri: FastPath.target, headers: ["X-Timeout-Ms": "10"]), false),
            (Self.other, false),
        ]
        for (head, servable) in cases {
            #expect((Self.classify(head) != nil) == servable, "\(head.method) \(head.uri) \(head.headers)")
        }
    }
}
