import NIOCore
import NIOHTTP1

/// The fast path's state for one connection, as a value with no I/O: each event the handler
/// sees (a request part, the outcome of serving one, a read asked for, a response written, the
/// connection closing) changes it and says what the handler must do. `FastPath` is the thin
/// handler that carries the actions out on the channel; the rules live here, and are tested
/// here without a channel.
///
/// The rules (see `FastPath` for why):
/// - A request is considered only from its head: HTTP/1.1 and servable by its method, target
///   and headers (`classify`), with nothing unanswered before it and a connection that can take
///   an answer now. Anything else is passed on to the router, part by part, as it arrives.
/// - Its body is collected up to `maxBodyBytes`; past that, or with trailers, or when a new
///   head arrives before its end, what was collected is passed on and the rest follows it.
/// - A whole request is served (`Action.serve`); the handler then reports `answered()`,
///   `proposing()` (a create waiting for its outcome) or `declined()` (passed on after all).
/// - While a create waits for its outcome, the parts that arrive are held, in order, and once
///   something is held a read asked for is held too; when the outcome is written the held
///   parts are handed back one at a time (`nextHeld`), stopping at the next proposal.
/// - Requests passed on are counted until their response's end is written, so that answers
///   leave in request order (HTTP/1.1 pipelining).
struct FastPathConnection {
    /// A request the fast path may serve, as its head says.
    enum Request {
        /// `POST /v1/authorize?consistency=stale`.
        case authorize
        /// A create route's path.
        case create(CreateTarget)
    }

    /// Where the connection is.
    enum Phase {
        /// Between requests.
        case idle
        /// Reading the body of a request the fast path may serve.
        case collecting(HTTPRequestHead, ByteBuffer, Request)
        /// The whole request was handed to the handler to serve; waiting for its report.
        case deciding(HTTPRequestHead, ByteBuffer)
        /// Passing the rest of a request on to the router.
        case passing
        /// A create proposed here waits for its outcome; what arrives meanwhile is held.
        case proposing
    }

    /// What the handler does with a part it received.
    enum Action {
        /// Hand these parts to the router, in order.
        case passOn([HTTPServerRequestPart])
        /// Nothing now: the part was kept (a body being collected, or held during a proposal).
        case keep
        /// Serve this whole request, then report `answered()`, `proposing()` or `declined()`.
        case serve(Request, HTTPRequestHead, ByteBuffer)
    }

    /// The largest body collected; a larger one is the router's (which answers 413).
    let maxBodyBytes: Int
    private(set) var phase = Phase.idle
    /// Requests passed on whose response has not been written completely yet.
    private(set) var unanswered = 0
    /// Request parts that arrived while a create waited for its outcome, in order.
    private var held = CircularBuffer<HTTPServerRequestPart>()
    /// Whether a read was asked for while parts were held.
    private var readHeld = false

    init(maxBodyBytes: Int) {
        self.maxBodyBytes = maxBodyBytes
    }

    /// Whether a create waits for its outcome.
    var isProposing: Bool {
        if case .proposing = phase { return true }
        return false
    }

    /// How many parts are held.
    var heldCount: Int { held.count }

    /// A request part arrived.
    /// - Parameters:
    ///   - canAnswer: whether an answer could be written now (for a head: the connection is
    ///     writable and the response encoder was found; for an end: the encoder was found).
    ///   - allocate: a buffer for a body to collect.
    ///   - classify: the request a head asks for, if the fast path may serve it.
    mutating func received(
        _ part: HTTPServerRequestPart, canAnswer: Bool, allocate: () -> ByteBuffer, classify: (HTTPRequestHead) -> Request?
    ) -> Action {
        switch (phase, part) {
        case (.proposing, _):
            held.append(part)
            return .keep
        case (.idle, .head(let head)):
            if unanswered == 0, canAnswer, let request = classify(head) {
                phase = .collecting(head, allocate(), request)
                return .keep
            }
            unanswered += 1
            phase = .passing
            return .passOn([part])
        case (.collecting(let head, var body, let request), .body(var chunk)):
            guard body.readableBytes + chunk.readableBytes <= maxBodyBytes else {
                return .passOn(passOn(head: head, body: body) + [part])
            }
            phase = .idle  // Drops the phase's reference to the buffer, so appending does not copy.
            body.writeBuffer(&chunk)
            phase = .collecting(head, body, request)
            return .keep
        case (.collecting(let head, let body, let request), .end(let trailers)):
            if trailers == nil, canAnswer {
                phase = .deciding(head, body)
                return .serve(request, head, body)
            }
            let parts = passOn(head: head, body: body) + [part]
            phase = .idle
            return .passOn(parts)
        case (.passing, .end):
            phase = .idle
            return .passOn([part])
        case (.collecting(let head, let body, _), .head):
            // A new head before the end: not HTTP the fast path understands; the router decides.
            return .passOn(passOn(head: head, body: body) + [part])
        default:
            return .passOn([part])
        }
    }

    /// The request being decided was answered at once.
    mutating func answered() {
        precondition(isDeciding, "answered() without a request to serve")
        phase = .idle
    }

    /// The request being decided was proposed; its answer comes with `proposalAnswered()`.
    mutating func proposing() {
        precondition(isDeciding, "proposing() without a request to serve")
        phase = .proposing
    }

    /// The request being decided is the router's after all.
    /// - Returns: the parts to pass on, its end included.
    mutating func declined() -> [HTTPServerRequestPart] {
        guard case .deciding(let head, let body) = phase else { preconditionFailure("declined() without a request to serve") }
        let parts = passOn(head: head, body: body) + [.end(nil)]
        phase = .idle
        return parts
    }

    /// The proposal's answer is being written: the connection takes requests again.
    /// - Returns: false when no proposal was waiting (the handler was removed meanwhile).
    mutating func proposalAnswered() -> Bool {
        guard isProposing else { return false }
        phase = .idle
        return true
    }

    /// The next held part to handle again; nil when none is left or a proposal waits again.
    mutating func nextHeld() -> HTTPServerRequestPart? {
        guard !isProposing, !held.isEmpty else { return nil }
        return held.removeFirst()
    }

    /// Whether a read held during a proposal is due now (then it is no longer held).
    mutating func heldReadDue() -> Bool {
        guard readHeld, !isProposing else { return false }
        readHeld = false
        return true
    }

    /// The pipeline asked to read.
    /// - Returns: whether to read now; false holds the read until the proposal is answered.
    mutating func readRequested() -> Bool {
        // Held only once something waits in `held`: a client that sends nothing before its
        // answer (most) costs no change of the socket's read interest per request, and one
        // that does has at most one more read's worth of bytes held.
        if isProposing, !held.isEmpty {
            readHeld = true
            return false
        }
        return true
    }

    /// The end of a response from the router was written.
    mutating func responseEndWritten() {
        unanswered = max(0, unanswered - 1)
    }

    /// The connection closed, or the handler left the pipeline: nothing held can be answered.
    mutating func closed() {
        held.removeAll()
    }

    private var isDeciding: Bool {
        if case .deciding = phase { return true }
        return false
    }

    /// The parts that hand a request read so far on to the router; it then owns the rest.
    private mutating func passOn(head: HTTPRequestHead, body: ByteBuffer) -> [HTTPServerRequestPart] {
        unanswered += 1
        phase = .passing
        return body.readableBytes > 0 ? [.head(head), .body(body)] : [.head(head)]
    }
}
