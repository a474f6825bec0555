import Foundation
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

@testable import AdminAPI

#if canImport(Glibc)
    import Glibc
#endif

/// Requests served by `.http1OnEventLoops` run on the event loop of their connection, also after
/// an await that another thread resumes; a server that serves them on the global pool (or on
/// any other loop) fails this.
@Suite struct EventLoopServingTests {
    /// A request context that remembers the event loop of the request's connection.
    struct ConnectionContext: RequestContext {
        var coreContext: CoreRequestContextStorage
        let connectionLoop: any EventLoop

        init(source: ApplicationRequestContextSource) {
            coreContext = .init(source: source)
            connectionLoop = source.channel.eventLoop
        }
    }

    /// Whether the handler ran on its connection's loop before and after an await resumed from
    /// a thread of no event loop.
    private static func router() -> Router<ConnectionContext> {
        let router = Router(context: ConnectionContext.self)
        router.get("/where") { _, context -> String in
            let before = MultiThreadedEventLoopGroup.currentEventLoop
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                Thread.detachNewThread { continuation.resume() }
            }
            let after = MultiThreadedEventLoopGroup.currentEventLoop
            func name(_ loop: (any EventLoop)?) -> String {
                guard let loop else { return "none" }
                return loop === context.connectionLoop ? "connection" : "other"
            }
            return "\(name(before)) \(name(after))"
        }
        return router
    }

    // Other suites may hold the cooperative pool's threads (two on this machine) for minutes:
    // this test keeps off the pool, and has no deadline of its own but the time limit.
    @Test(.timeLimit(.minutes(10))) func handlersRunOnTheirConnectionsEventLoop() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        // The test, the server's own tasks (accepting, starting each connection's task) and the
        // clients run off the cooperative pool: one of the loops runs the tasks, and the
        // connections are spread over both, so half of them are on the other one.
        try await withTaskExecutorPreference(EventLoopTaskExecutor(group.next())) {
            try await Self.serve(on: group)
        }
        try await group.shutdownGracefully()
    }

    private static func serve(on group: MultiThreadedEventLoopGroup) async throws {
        let port = NIOLockedValueBox<Int?>(nil)
        var logger = Logger(label: "event-loop-serving-tests")
        logger.logLevel = .critical  // the cancelled server reports its cancelled connections
        let app = Application(
            router: router(), server: .http1OnEventLoops(),
            configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in port.withLockedValue { $0 = channel.localAddress?.port } },
            eventLoopGroupProvider: .shared(group), logger: logger)
        let server = Task(executorPreference: EventLoopTaskExecutor(group.next())) { try await app.run() }
        defer { server.cancel() }
        var listening = port.withLockedValue { $0 }
        while listening == nil {
            try await Task.sleep(for: .milliseconds(10))
            listening = port.withLockedValue { $0 }
        }
        let serverPort = try #require(listening)
        // Two requests on one connection, then one on each of three more connections.
        var bodies = try await RawHTTP.exchangeOnAThread(port: serverPort, requests: 2)
        for _ in 0..<3 { bodies += try await RawHTTP.exchangeOnAThread(port: serverPort, requests: 1) }
        #expect(bodies.count == 5)
        for body in bodies { #expect(body == "connection connection") }
        server.cancel()
        _ = await server.result
    }
}

/// A blocking HTTP/1.1 client over one loopback socket: sends `GET /where` `requests` times on
/// one connection and returns each response's body.
private enum RawHTTP {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// `exchange` on a thread of its own: blocking a thread of Swift's cooperative pool (two
    /// on a two-core machine, shared by the tests running in parallel) could starve the server.
    static func exchangeOnAThread(port: Int, requests: Int) async throws -> [String] {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { continuation.resume(with: Result { try exchange(port: port, requests: requests) }) }
        }
    }

    static func exchange(port: Int, requests: Int) throws -> [String] {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw Failure(description: "socket: \(errno)") }
        defer { close(socket) }
        var timeout = timeval(tv_sec: 300, tv_usec: 0)  // the test's time limit ends it sooner
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw Failure(description: "connect: \(errno)") }
        var bodies: [String] = []
        var pending: [UInt8] = []
        for _ in 0..<requests {
            let request = Array("GET /where HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8)
            guard write(socket, request, request.count) == request.count else { throw Failure(description: "write: \(errno)") }
            while true {
                if let (body, rest) = response(in: pending) {
                    bodies.append(body)
                    pending = rest
                    break
                }
                var buffer = [UInt8](repeating: 0, count: 4096)
                let count = read(socket, &buffer, buffer.count)
                guard count > 0 else { throw Failure(description: "read: \(count) (\(errno))") }
                pending += buffer[0..<count]
            }
        }
        return bodies
    }

    /// The body of the first complete response in `bytes` (which must carry a Content-Length),
    /// and the bytes after it.
    private static func response(in bytes: [UInt8]) -> (String, [UInt8])? {
        let separator = Array("\r\n\r\n".utf8)
        guard let end = bytes.indices.first(where: { bytes[$0...].starts(with: separator) }) else { return nil }
        let head = String(decoding: bytes[..<end], as: UTF8.self).lowercased()
        guard let line = head.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
            let length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces))
        else { return nil }
        let start = end + separator.count
        guard bytes.count >= start + length else { return nil }
        return (String(decoding: bytes[start..<start + length], as: UTF8.self), Array(bytes[(start + length)...]))
    }
}
