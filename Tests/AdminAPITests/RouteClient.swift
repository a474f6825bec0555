import AdminAPI
import APIModels
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOEmbedded
import Testing

/// Sends requests straight to the router's responder, in process (no sockets).
struct RouteClient {
    let responder: Router<APIRequestContext>.Responder
    let logger: Logger

    /// The routes served, with their throttle and denial log.
    let routes: AdminRoutes

    init(cluster: FakeCluster, routes: AdminRoutes? = nil) {
        let routes = routes ?? AdminRoutes(cluster: cluster)
        self.routes = routes
        responder = routes.router().buildResponder()
        var logger = Logger(label: "route-tests")
        logger.logLevel = .critical
        self.logger = logger
    }

    struct Answer {
        var status: Int
        var body: String
        var headers: HTTPFields
        /// The body's bytes (for answers that are not text).
        var bytes: [UInt8] = []

        /// The body as a JSON object.
        var object: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:] }
        /// The problem code of an error answer.
        var code: String? { object["code"] as? String }
    }

    /// An `Authorization` header with a proof of the cluster secret for `purpose`, on a
    /// challenge this router handed out.
    func clusterProof(_ purpose: ClusterProof.Purpose, secret: [UInt8] = FakeCluster.secret) async throws -> String {
        let answer = try await send(.post, "/v1/cluster/bootstrap/challenge")
        let text = try #require(answer.object["challenge"] as? String)
        let challenge = try #require(Hex.decode(text))
        return ClusterProof.header(challenge: challenge, proof: ClusterProof.prove(purpose, challenge: challenge, secret: secret))
    }

    /// Sends a request; `from` is the client's IP address (none when nil).
    func send(
        _ method: HTTPRequest.Method, _ path: String, body: String? = nil, token: String? = nil, headers: [String: String] = [:],
        from address: String? = nil
    ) async throws -> Answer {
        var head = HTTPRequest(method: method, scheme: "http", authority: "localhost", path: path)
        if let token { head.headerFields[.authorization] = "Bearer \(token)" }
        for (name, value) in headers { head.headerFields[.init(name)!] = value }
        let request = Request(head: head, body: RequestBody(buffer: ByteBuffer(string: body ?? "")))
        let channel = EmbeddedChannel()
        if let address { try await channel.connect(to: SocketAddress(ipAddress: address, port: 40_000)).get() }
        let context = APIRequestContext(source: ApplicationRequestContextSource(channel: channel, logger: logger))
        let response = try await responder.respond(to: request, context: context)
        let collector = Collector()
        try await response.body.write(CollectingWriter(collector: collector))
        return Answer(
            status: Int(response.status.code), body: String(buffer: collector.buffer), headers: response.headers,
            bytes: Array(collector.buffer.readableBytesView))
    }

    /// Sends a request and answers its status and headers without reading its body: for a
    /// change stream, whose body does not end.
    func head(_ method: HTTPRequest.Method, _ path: String, token: String? = nil) async throws -> (status: Int, headers: HTTPFields) {
        var head = HTTPRequest(method: method, scheme: "http", authority: "localhost", path: path)
        if let token { head.headerFields[.authorization] = "Bearer \(token)" }
        let request = Request(head: head, body: RequestBody(buffer: ByteBuffer()))
        let context = APIRequestContext(source: ApplicationRequestContextSource(channel: EmbeddedChannel(), logger: logger))
        let response = try await responder.respond(to: request, context: context)
        return (Int(response.status.code), response.headers)
    }

    final class Collector: @unchecked Sendable {
        // `@unchecked Sendable`: written by one response body writer, read after it finished.
        var buffer = ByteBuffer()
    }

    struct CollectingWriter: ResponseBodyWriter {
        let collector: Collector

        mutating func write(_ buffer: ByteBuffer) async throws {
            var buffer = buffer
            collector.buffer.writeBuffer(&buffer)
        }

        consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
    }
}
