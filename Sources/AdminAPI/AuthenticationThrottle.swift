import Logging
import NIOCore
import Synchronization

/// Counts failed authentication per client address, and throttles an address that fails too
/// often (outside review, finding 11: 6,000 wrong keys were answered at 1,200/s each, without
/// a delay, a log line or a metric).
///
/// Each address has a bucket of `burst` failures that refills at `refillPerSecond`; an
/// address with an empty bucket is answered 429 with `Retry-After` before its credential is
/// even checked, so guessing stays slow whatever the guesses. Addresses that never fail cost
/// nothing; the table holds at most `maxSources` addresses (when full, addresses whose bucket
/// refilled are forgotten first, then the least recently failed). A failure is logged once per
/// address per `logInterval` (with the count since the last line), and at most `maxLogLines`
/// lines per `logInterval` in all, so a flood from many addresses stays a few lines.
public final class AuthenticationThrottle: Sendable {
    /// The limits of the throttle.
    public struct Limits: Sendable, Hashable {
        /// Failures an address may make in a burst.
        public var burst = 20.0
        /// Failures per second an address may make after its burst.
        public var refillPerSecond = 1.0
        /// The most addresses remembered.
        public var maxSources = 4096
        /// How often one address's failures are logged.
        public var logInterval = Duration.seconds(60)
        /// The most failure lines logged per `logInterval`, over every address.
        public var maxLogLines = 20

        /// The default limits.
        public init() {}
    }

    private struct Source {
        var tokens: Double
        var refilled: ContinuousClock.Instant
        /// The last failure, for forgetting the least recent first.
        var failed: ContinuousClock.Instant
        var failuresSinceLogged = 0
        var logged: ContinuousClock.Instant?
    }

    private struct State {
        var sources: [String: Source] = [:]
        var linesInWindow = 0
        var windowStarted: ContinuousClock.Instant?
    }

    let limits: Limits
    private let state = Mutex(State())
    /// How many remembered addresses had an empty bucket when last seen (an over-estimate until
    /// they next ask): zero lets `retryAfter` skip its lookup, the common case on the fast path.
    private let throttledSources = Atomic<Int>(0)
    /// Failed authentications.
    let failures = Atomic<Int>(0)
    /// Requests answered 429.
    let throttled = Atomic<Int>(0)

    /// A throttle with `limits`.
    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// The throttling key of a client address: its IP address; nil for a connection without
    /// one (in-process tests), which is not throttled.
    static func source(of address: SocketAddress?) -> String? {
        address?.ipAddress
    }

    /// The refusal for a request from `source` while it is throttled (counted); nil when its
    /// credential may be checked.
    func refusal(for source: String?, now: ContinuousClock.Instant = .now) -> APIError? {
        guard let source, let wait = retryAfter(source, now: now) else { return nil }
        throttled.add(1, ordering: .relaxed)
        return .throttled(retryAfterSeconds: AdminRoutes.seconds(wait))
    }

    /// How long `source` must wait before its credentials are checked again; nil when it need
    /// not.
    func retryAfter(_ source: String, now: ContinuousClock.Instant = .now) -> Duration? {
        guard throttledSources.load(ordering: .relaxed) > 0 else { return nil }
        return state.withLock { state -> Duration? in
            guard var entry = state.sources[source] else { return nil }
            refill(&entry, now: now)
            state.sources[source] = entry
            guard entry.tokens < 1 else { return nil }
            return .milliseconds(Int64(((1 - entry.tokens) / limits.refillPerSecond * 1000).rounded(.up)))
        }
    }

    /// Records a failed authentication from `source`.
    /// - Returns: the number of failures to log in one line now (since the last line for this
    ///   address), or nil when this one is not logged.
    func failed(_ source: String, now: ContinuousClock.Instant = .now) -> Int? {
        failures.add(1, ordering: .relaxed)
        return state.withLock { state -> Int? in
            if state.sources[source] == nil, state.sources.count >= limits.maxSources { evict(&state, now: now) }
            var entry = state.sources[source] ?? Source(tokens: limits.burst, refilled: now, failed: now)
            refill(&entry, now: now)
            entry.failed = now
            let hadRoom = entry.tokens >= 1
            entry.tokens = max(entry.tokens - 1, 0)
            // Invariant: throttledSources counts the remembered addresses whose bucket is empty.
            if hadRoom && entry.tokens < 1 { throttledSources.add(1, ordering: .relaxed) }
            entry.failuresSinceLogged += 1
            var logged: Int?
            if entry.logged.map({ now - $0 >= limits.logInterval }) ?? true, takeLogLine(&state, now: now) {
                logged = entry.failuresSinceLogged
                entry.failuresSinceLogged = 0
                entry.logged = now
            }
            state.sources[source] = entry
            return logged
        }
    }

    /// Logs a failure of `source` when `failed` says so.
    func recordFailure(_ source: String?, reason: String, logger: Logger) {
        guard let source else {
            failures.add(1, ordering: .relaxed)
            return
        }
        guard let count = failed(source) else { return }
        logger.warning(
            "authentication failed", metadata: ["source": "\(source)", "reason": "\(reason)", "failures_since_last_line": "\(count)"])
    }

    /// The counters in the Prometheus text format.
    func prometheusText() -> String {
        """
        # HELP rampart_authentication_failures_total Requests refused for a missing, malformed or unknown credential.
        # TYPE rampart_authentication_failures_total counter
        rampart_authentication_failures_total \(failures.load(ordering: .relaxed))
        # HELP rampart_authentication_throttled_total Requests answered 429: their address failed authentication too often.
        # TYPE rampart_authentication_throttled_total counter
        rampart_authentication_throttled_total \(throttled.load(ordering: .relaxed))

        """
    }

    private func refill(_ entry: inout Source, now: ContinuousClock.Instant) {
        let elapsed = now - entry.refilled
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let wasEmpty = entry.tokens < 1
        entry.tokens = min(limits.burst, entry.tokens + seconds * limits.refillPerSecond)
        entry.refilled = now
        if wasEmpty && entry.tokens >= 1 { throttledSources.subtract(1, ordering: .relaxed) }
    }

    /// Whether one more failure line may be logged now.
    private func takeLogLine(_ state: inout State, now: ContinuousClock.Instant) -> Bool {
        if state.windowStarted.map({ now - $0 >= limits.logInterval }) ?? true {
            state.windowStarted = now
            state.linesInWindow = 0
        }
        guard state.linesInWindow < limits.maxLogLines else { return false }
        state.linesInWindow += 1
        return true
    }

    /// Makes room for one address: forgets those whose bucket refilled, or else the one that
    /// failed least recently.
    private func evict(_ state: inout State, now: ContinuousClock.Instant) {
        for (source, var entry) in state.sources {
            refill(&entry, now: now)
            if entry.tokens >= limits.burst { state.sources[source] = nil } else { state.sources[source] = entry }
        }
        guard state.sources.count >= limits.maxSources, let oldest = state.sources.min(by: { $0.value.failed < $1.value.failed }) else {
            return
        }
        if oldest.value.tokens < 1 { throttledSources.subtract(1, ordering: .relaxed) }
        state.sources[oldest.key] = nil
    }
}
