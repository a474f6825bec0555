public import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
public import RampartAuthorizer

/// One HTTP/1.1 request over its own connection, plain or TLS, on SwiftNIO: what the CLI sends
/// to a replica, and how a service's `ServiceAuthorizer` can follow a cluster served over HTTPS
/// (it is a `RampartTransport`). Foundation's URL loading on Linux trusts only the system's CA
/// bundle and sends no client certificate; this client trusts the cluster's CA (`--cacert`)
/// and can present one (`--cert`, `--key`).
public struct HTTPTransport: Sendable {
    /// The TLS settings for `https://` endpoints.
    public struct TLS: Sendable {
        /// A PEM file of CAs to trust instead of the system's.
        public var caFile: String?
        /// A client certificate and its key (PEM), for mutual TLS.
        public var certificateFile: String?
        public var keyFile: String?

        /// TLS trusting `caFile` (the system's CAs when nil), presenting `certificateFile` with
        /// `keyFile` when given.
        public init(caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil) {
            self.caFile = caFile
            self.certificateFile = certificateFile
            self.keyFile = keyFile
        }
    }

    /// A request that failed before a byte of it was sent (so it is safe to send elsewhere).
    public struct NotSent: Error, CustomStringConvertible {
        public let description: String
    }

    /// A request that may have reached the server (its outcome is unknown).
    public struct Failed: Error, CustomStringConvertible {
        public let description: String
    }

    /// The largest answer read.
    public static let maxResponseBytes = 64 << 20

    /// The TLS settings in force.
    public let tls: TLS
    /// The TLS context for https:// endpoints, or why there is none: without `caFile` it trusts
    /// the system's CAs, and a system with none (a minimal container image) can still reach
    /// http:// endpoints.
    private let context: Result<NIOSSLContext, NotSent>

    /// A transport; the TLS files are read now.
    /// - Throws: `NotSent` naming a file that cannot be used.
    public init(tls: TLS = TLS()) throws {
        self.tls = tls
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        do {
            if let caFile = tls.caFile { configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile)) }
        } catch {
            throw NotSent(description: "--cacert \(tls.caFile ?? ""): not a PEM certificate file: \(error)")
        }
        switch (tls.certificateFile, tls.keyFile) {
        case (let certificate?, let key?):
            do {
                configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
                configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
            } catch {
                throw NotSent(description: "--cert \(certificate) / --key \(key): \(error)")
            }
        case (nil, nil): break
        default: throw NotSent(description: "--cert and --key go together")
        }
        do {
            context = .success(try NIOSSLContext(configuration: configuration))
        } catch {
            let refusal = NotSent(description: "the TLS settings cannot be used: \(error)")
            // The system's trust store alone may be missing; anything the caller gave must work.
            guard tls.caFile == nil, tls.certificateFile == nil else { throw refusal }
            context = .failure(
                NotSent(description: "no CA to verify an https:// endpoint with: this system has no trust store (\(error)); give --cacert"))
        }
    }

    /// Sends one request and reads the whole answer.
    /// - Throws: `NotSent` when the connection (or the TLS handshake) never opened, `Failed`
    ///   when it broke or timed out after the request may have been sent.
    public func send(_ url: URL, method: String, headers: [(String, String)], body: Data?, timeout: Double) async throws
        -> (status: Int, body: Data)
    {
        let group = MultiThreadedEventLoopGroup.singleton
        let collector = ResponseCollector(promise: group.any().makePromise(), limit: Self.maxResponseBytes)
        let deadline = NIODeadline.now() + .milliseconds(Int64(timeout * 1000))
        return try await exchange(url, method: method, headers: headers, body: body, timeout: timeout, receiver: collector) { now in
            now > deadline ? "no answer from \(url.host ?? "") in \(timeout) s" : nil
        }
    }

    /// Sends a GET and writes a successful answer's body to a new file at `path` as it arrives,
    /// for answers too large to hold (a snapshot). `progress` is called on an event loop with
    /// the bytes written so far and the announced length, if any.
    /// - Parameter idleTimeout: the longest wait for the next bytes (not for the whole answer).
    /// - Returns: the status; the body when the status is not 200 (nothing is written then).
    public func download(
        _ url: URL, headers: [(String, String)], to path: String, idleTimeout: Double,
        progress: @escaping @Sendable (_ written: UInt64, _ total: UInt64?) -> Void
    ) async throws -> (status: Int, body: Data) {
        // Used on the channel's loop only.
        final class File: @unchecked Sendable { var descriptor: Int32 = -1 }
        let file = File()
        let consumer = StreamingSink.Consumer(
            begin: {
                file.descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
                return file.descriptor < 0 ? "cannot create \(path): errno \(errno)" : nil
            },
            consume: { buffer in
                var offset = 0
                while offset < buffer.readableBytes {
                    let result = buffer.withUnsafeReadableBytes { write(file.descriptor, $0.baseAddress! + offset, $0.count - offset) }
                    if result < 0 && errno == EINTR { continue }
                    guard result > 0 else { return "cannot write \(path): errno \(errno)" }
                    offset += result
                }
                return nil
            },
            end: { whole in
                defer { close(file.descriptor) }
                return whole && fsync(file.descriptor) != 0 ? "cannot sync \(path): errno \(errno)" : nil
            })
        return try await streaming(url, headers: headers, idleTimeout: idleTimeout, consumer: consumer, progress: progress)
    }

    /// Sends a GET and hands each line of a 200 answer's body (without its newline) to `line`
    /// as it arrives, on an event loop: for a change stream, whose answer does not end. It
    /// returns once the server ends the answer or the connection breaks (`Failed`).
    /// - Parameter idleTimeout: the longest wait for the next bytes.
    /// - Returns: the status; the body when the status is not 200.
    public func lines(
        _ url: URL, headers: [(String, String)], idleTimeout: Double, maxLineBytes: Int = 1 << 20, line: @escaping @Sendable (Data) -> Void
    ) async throws -> (status: Int, body: Data) {
        // Used on the channel's loop only.
        final class Pending: @unchecked Sendable { var bytes = Data() }
        let pending = Pending()
        let consumer = StreamingSink.Consumer(
            begin: { nil },
            consume: { buffer in
                pending.bytes.append(contentsOf: buffer.readableBytesView)
                while let newline = pending.bytes.firstIndex(of: UInt8(ascii: "\n")) {
                    line(pending.bytes[pending.bytes.startIndex..<newline])
                    pending.bytes.removeSubrange(pending.bytes.startIndex...newline)
                }
                return pending.bytes.count > maxLineBytes ? "a line of the answer is longer than \(maxLineBytes) bytes" : nil
            },
            end: { _ in nil })
        return try await streaming(url, headers: headers, idleTimeout: idleTimeout, consumer: consumer) { _, _ in }
    }

    private func streaming(
        _ url: URL, headers: [(String, String)], idleTimeout: Double, consumer: StreamingSink.Consumer,
        progress: @escaping @Sendable (UInt64, UInt64?) -> Void
    ) async throws -> (status: Int, body: Data) {
        let group = MultiThreadedEventLoopGroup.singleton
        let sink = StreamingSink(promise: group.any().makePromise(), consumer: consumer, progress: progress)
        return try await exchange(url, method: "GET", headers: headers, body: nil, timeout: idleTimeout, receiver: sink) { now in
            now - sink.lastActivity > .milliseconds(Int64(idleTimeout * 1000)) ? "\(url.host ?? "") sent nothing for \(idleTimeout) s" : nil
        }
    }

    /// Connects, sends one request and waits for `receiver` to complete its promise, checking
    /// `expired` every 100 ms: a non-nil reason ends the exchange with that reason.
    private func exchange(
        _ url: URL, method: String, headers: [(String, String)], body: Data?, timeout: Double, receiver: some ResponseReceiver,
        expired: @escaping @Sendable (NIODeadline) -> String?
    ) async throws -> (status: Int, body: Data) {
        guard let scheme = url.scheme, scheme == "http" || scheme == "https", let host = url.host else {
            receiver.finish(.failure(NotSent(description: "\(url) is not an http:// or https:// URL")))
            throw NotSent(description: "\(url) is not an http:// or https:// URL")
        }
        let secure = scheme == "https"
        let port = url.port ?? (secure ? 443 : 80)
        let group = MultiThreadedEventLoopGroup.singleton
        let context: NIOSSLContext?
        do {
            context = secure ? try self.context.get() : nil
        } catch {
            receiver.finish(.failure(error))
            throw error
        }
        // In the pipeline from the start, so a failed TLS handshake reaches it.
        let answer = receiver.promise.futureResult
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(.milliseconds(Int64(min(timeout, 10) * 1000)))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if secure, let context {
                            try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: host.isIPAddress ? nil : host))
                        }
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(receiver)
                    }
                }
                .connect(host: host, port: port).get()
        } catch {
            // Never in a pipeline: complete its promise here (an unfulfilled promise is a bug).
            receiver.finish(.failure(error))
            throw NotSent(description: "cannot connect to \(host):\(port): \(error)")
        }
        do {
            var head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method), uri: url.path.isEmpty ? "/" : url.path + (url.query.map { "?" + $0 } ?? ""))
            head.headers.add(name: "Host", value: url.port.map { "\(host):\($0)" } ?? host)
            head.headers.add(name: "Connection", value: "close")
            for (name, value) in headers { head.headers.add(name: name, value: value) }
            if let body { head.headers.add(name: "Content-Length", value: String(body.count)) }
            channel.write(HTTPClientRequestPart.head(head), promise: nil)
            if let body { channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil) }
            try await channel.writeAndFlush(HTTPClientRequestPart.end(nil)).get()
        } catch {
            channel.close(promise: nil)
            // The connection's own error (a failed TLS handshake: nothing was delivered) says
            // more than the write's.
            let reason = await Self.failure(of: answer) ?? error
            if reason is NIOSSLError || reason is BoringSSLError { throw NotSent(description: "TLS with \(host):\(port) failed: \(reason)") }
            throw Failed(description: "\(host):\(port): \(reason)")
        }
        let timer = channel.eventLoop.scheduleRepeatedTask(initialDelay: .milliseconds(100), delay: .milliseconds(100)) { _ in
            if let reason = expired(.now()) { receiver.finish(.failure(Failed(description: reason))) }
        }
        defer {
            timer.cancel()
            channel.close(promise: nil)
        }
        do {
            return try await answer.get()
        } catch let error as Failed {
            throw error
        } catch let error as NIOSSLError {
            throw NotSent(description: "TLS with \(host):\(port) failed: \(error)")
        } catch let error as BoringSSLError {
            throw NotSent(description: "TLS with \(host):\(port) failed: \(error)")
        } catch {
            throw Failed(description: "\(host):\(port): \(error)")
        }
    }
}

extension HTTPTransport {
    /// The error `answer` failed with, once it is complete; nil when it succeeded.
    static func failure(of answer: EventLoopFuture<(status: Int, body: Data)>) async -> (any Error)? {
        do {
            _ = try await answer.get()
            return nil
        } catch {
            return error
        }
    }
}

/// Gathers one response; fails on a closed connection, an error, or an answer over the limit.
/// A handler that completes `promise` once with the answer (`finish` may be called from any
/// thread: it hops to the promise's loop).
private protocol ResponseReceiver: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    var promise: EventLoopPromise<(status: Int, body: Data)> { get }
    func finish(_ result: Result<(status: Int, body: Data), any Error>)
}

extension ResponseReceiver {
    /// Whether this runs on the promise's loop; if not, `again` is run there instead.
    func onPromiseLoop(_ again: @escaping @Sendable () -> Void) -> Bool {
        let loop = promise.futureResult.eventLoop
        if loop.inEventLoop { return true }
        loop.execute(again)
        return false
    }
}

private final class ResponseCollector: ResponseReceiver, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart

    let promise: EventLoopPromise<(status: Int, body: Data)>
    let limit: Int
    private var status = 0
    private var body = Data()
    /// Whether the promise was completed (it is completed once; on the channel's loop).
    private var finished = false

    /// Completes the promise, once (on the promise's loop).
    func finish(_ result: Result<(status: Int, body: Data), any Error>) {
        guard onPromiseLoop({ self.finish(result) }), !finished else { return }
        finished = true
        promise.completeWith(result)
    }

    init(promise: EventLoopPromise<(status: Int, body: Data)>, limit: Int) {
        self.promise = promise
        self.limit = limit
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): status = Int(head.status.code)
        case .body(var buffer):
            guard body.count + buffer.readableBytes <= limit else {
                finish(.failure(HTTPTransport.Failed(description: "the answer exceeds \(limit) bytes")))
                context.close(promise: nil)
                return
            }
            body.append(contentsOf: buffer.readBytes(length: buffer.readableBytes) ?? [])
        case .end: finish(.success((status, body)))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(.failure(error))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(.failure(HTTPTransport.Failed(description: "the connection closed before the answer ended")))
        context.fireChannelInactive()
    }
}

/// Hands a 200 answer's body to a consumer as it arrives; gathers any other answer's body (a
/// problem) up to 64 KiB.
private final class StreamingSink: ResponseReceiver, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart

    /// What takes the body of a 200 answer. Each returns nil, or why the exchange must end.
    struct Consumer {
        /// The answer is a 200; the body follows.
        var begin: () -> String?
        /// The next bytes of the body.
        var consume: (ByteBuffer) -> String?
        /// The exchange ended, whole (true) or not.
        var end: (Bool) -> String?
    }

    let promise: EventLoopPromise<(status: Int, body: Data)>
    private let consumer: Consumer
    let progress: @Sendable (UInt64, UInt64?) -> Void
    /// When bytes last arrived (read by the idle timer, on the channel's loop).
    private(set) var lastActivity = NIODeadline.now()
    private var status = 0
    private var begun = false
    private var received: UInt64 = 0
    private var total: UInt64?
    private var problem = Data()
    private var finished = false

    init(promise: EventLoopPromise<(status: Int, body: Data)>, consumer: Consumer, progress: @escaping @Sendable (UInt64, UInt64?) -> Void) {
        self.promise = promise
        self.consumer = consumer
        self.progress = progress
    }

    func finish(_ result: Result<(status: Int, body: Data), any Error>) {
        guard onPromiseLoop({ self.finish(result) }), !finished else { return }
        finished = true
        if begun, let reason = consumer.end({ if case .success = result { return true } else { return false } }()) {
            if case .success = result {
                promise.fail(HTTPTransport.Failed(description: reason))
                return
            }
        }
        promise.completeWith(result)
    }

    private func fail(_ reason: String, _ context: ChannelHandlerContext) {
        finish(.failure(HTTPTransport.Failed(description: reason)))
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastActivity = .now()
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = Int(head.status.code)
            total = head.headers.first(name: "Content-Length").flatMap { UInt64($0) }
            guard status == 200 else { return }
            begun = true
            if let reason = consumer.begin() { fail(reason, context) }
        case .body(let buffer):
            guard !finished else { return }
            guard status == 200 else {
                if problem.count < 64 << 10 { problem.append(contentsOf: buffer.readableBytesView.prefix((64 << 10) - problem.count)) }
                return
            }
            if let reason = consumer.consume(buffer) { return fail(reason, context) }
            received += UInt64(buffer.readableBytes)
            progress(received, total)
        case .end:
            if status == 200, let total, received != total {
                finish(.failure(HTTPTransport.Failed(description: "the answer ended after \(received) of its \(total) bytes")))
                return
            }
            finish(.success((status, problem)))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(.failure(error))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        let announced = total.map { " (\(received) of \($0) bytes)" } ?? ""
        finish(.failure(HTTPTransport.Failed(description: "the connection closed before the answer ended\(announced)")))
        context.fireChannelInactive()
    }
}

extension String {
    /// Whether this is a literal IPv4 or IPv6 address (no server name is sent for those).
    fileprivate var isIPAddress: Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, self, &v4) == 1 || inet_pton(AF_INET6, self, &v6) == 1
    }
}

extension HTTPTransport: RampartTransport {
    /// GETs `url` for a `ServiceAuthorizer` (the key set, the revocation feed).
    public func get(_ url: URL, bearer: String?, timeout: Duration) async throws -> (status: Int, body: Data) {
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        return try await send(url, method: "GET", headers: bearer.map { [("Authorization", "Bearer \($0)")] } ?? [], body: nil, timeout: seconds + 1)
    }
}
