import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import AdminAPI

/// Outside review, finding 3: idle and trickling connections were never closed. A connection
/// silent for the idle timeout, and a request head not complete within the header timeout of
/// its first byte, are closed; one waiting for its answer or sending requests is not.
@Suite struct ConnectionLimitsTests {
    static var limits: ConnectionLimits {
        var limits = ConnectionLimits()
        limits.idleTimeout = .seconds(120)
        limits.headerTimeout = .seconds(10)
        return limits
    }

    static let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    @Test func aSilentConnectionExpiresAfterTheIdleTimeout() {
        var deadlines = ConnectionDeadlines(limits: Self.limits, now: Self.start)
        #expect(deadlines.expiry(now: Self.start + .seconds(119)) == nil)
        #expect(deadlines.expiry(now: Self.start + .seconds(120)) == .idle)
        deadlines.wrote(now: Self.start + .seconds(100))  // an answer counts as activity
        #expect(deadlines.expiry(now: Self.start + .seconds(200)) == nil)
        #expect(deadlines.nextCheck() == Self.start + .seconds(220))
    }

    @Test func aRequestHeadMustArriveWithinTheHeaderTimeout() {
        var deadlines = ConnectionDeadlines(limits: Self.limits, now: Self.start)
        deadlines.read(now: Self.start + .seconds(1))
        // Trickling more bytes does not move the header deadline.
        deadlines.read(now: Self.start + .seconds(9))
        #expect(deadlines.nextCheck() == Self.start + .seconds(11))
        #expect(deadlines.expiry(now: Self.start + .seconds(11)) == .slowHeader)
        // A head that arrived in time stops the clock; body bytes do not start it again.
        deadlines.headReceived()
        deadlines.read(now: Self.start + .seconds(12))
        #expect(deadlines.expiry(now: Self.start + .seconds(30)) == nil)
        // The next request's first bytes start it again.
        deadlines.requestEnded()
        deadlines.read(now: Self.start + .seconds(40))
        #expect(deadlines.expiry(now: Self.start + .seconds(50)) == .slowHeader)
    }

    @Test func limitsAreValidated() {
        var limits = ConnectionLimits()
        #expect(limits.problem() == nil)
        limits.idleTimeout = .seconds(60)
        #expect(limits.problem()?.contains("longest request wait") == true, "an idle timeout must outlast every wait")
        limits = ConnectionLimits()
        limits.maxConnections = 0
        #expect(limits.problem() != nil)
    }

    /// The watch on a real pipeline shape (embedded): bytes at the front, request parts behind
    /// the decoder; the loop's clock is the test's.
    private func watchedChannel(metrics: APIMetrics) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        let watch = ConnectionWatch(limits: Self.limits, metrics: metrics)
        try channel.pipeline.syncOperations.addHandler(watch.bytes)
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPRequestDecoder()))
        try channel.pipeline.syncOperations.addHandler(watch.requests)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    @Test func theWatchClosesASlowHeadAndCountsIt() throws {
        let metrics = APIMetrics()
        let channel = try watchedChannel(metrics: metrics)
        try channel.writeInbound(ByteBuffer(string: "GET /v1/orgs HTTP/1.1\r\nHost: x\r\n"))
        channel.embeddedEventLoop.advanceTime(by: .seconds(9))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!channel.isActive, "closed: the head took more than 10 s")
        #expect(metrics.slowHeadersClosed.load(ordering: .relaxed) == 1)
    }

    @Test func theWatchClosesAnIdleConnectionButNotABusyOne() throws {
        let metrics = APIMetrics()
        let channel = try watchedChannel(metrics: metrics)
        for _ in 0..<5 {
            try channel.writeInbound(ByteBuffer(string: "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"))
            while try channel.readInbound(as: HTTPServerRequestPart.self) != nil {}
            channel.embeddedEventLoop.advanceTime(by: .seconds(100))
            #expect(channel.isActive, "a request every 100 s keeps it open")
        }
        channel.embeddedEventLoop.advanceTime(by: .seconds(21))
        #expect(!channel.isActive)
        #expect(metrics.idleConnectionsClosed.load(ordering: .relaxed) == 1)
        #expect(metrics.slowHeadersClosed.load(ordering: .relaxed) == 0)
    }

    /// A body past the limit: the crossing chunk is handed on (the reader sees it is too large,
    /// never a body cut short), later ones are dropped for a while, then the connection closes.
    @Test func theWatchCutsAnOversizedBodyOff() throws {
        let metrics = APIMetrics()
        let channel = try watchedChannel(metrics: metrics)
        let limit = Self.limits.maxBodyBytes
        try channel.writeInbound(ByteBuffer(string: "POST /v1/orgs HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n"))
        var handedOn = 0
        func drain() throws {
            while let part = try channel.readInbound(as: HTTPServerRequestPart.self) {
                if case .body(let chunk) = part { handedOn += chunk.readableBytes }
            }
        }
        let chunk = ByteBuffer(repeating: 0x78, count: 16 << 10)
        while channel.isActive, handedOn <= limit * 4 {
            do {
                try channel.writeInbound(chunk)
                try drain()
            } catch {
                // The decoder complains of the request cut short when the connection closes.
                break
            }
        }
        #expect(!channel.isActive, "closed")
        #expect(handedOn > limit && handedOn <= limit + chunk.readableBytes, "the crossing chunk and nothing after it")
        #expect(metrics.oversizedBodiesClosed.load(ordering: .relaxed) == 1)
    }
}
