import ArgumentParser
import Foundation
import Hummingbird
import RampartAuthorizer
import RampartHTTPClient

/// An example of a service that authorizes with Rampart's tokens in process
/// (`RampartAuthorizer.ServiceAuthorizer`): it follows the cluster's key set and revocation feed,
/// and decides each request with the caller's token, without a network hop.
///
/// It serves a pretend compute API:
/// - `GET /orgs/{org}/projects/{project}/instances` needs `compute.instances.list` there;
/// - `POST /orgs/{org}/projects/{project}/instances` needs `compute.instances.create` there;
/// - `GET /healthz` needs nothing.
///
/// A refused token is answered 401 with the refusal's code (`token_expired`, `token_revoked`,
/// ...); a token whose checks or rights do not cover the request, 403.
@main
struct ExampleService: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rampart-example-service", abstract: "A pretend compute API that authorizes requests with Rampart tokens in process.")

    @Option(help: "Comma-separated Rampart API endpoints to follow.") var endpoints = "http://127.0.0.1:8001"
    @Option(help: "A file holding the service's own API key or token (to read the revocation feed).") var credentialFile: String
    @Option(help: "host:port to listen on.") var listen = "127.0.0.1:9100"
    @Option(help: "A PEM file of the CA(s) to trust for https:// endpoints: the cluster's CA (default: $RAMPART_CACERT, else the system's).")
    var cacert: String?
    @Option(help: "A client certificate (PEM) to present to the replicas (default: $RAMPART_CERT).") var cert: String?
    @Option(help: "The client certificate's key (PEM) (default: $RAMPART_KEY).") var key: String?

    func run() async throws {
        guard let data = FileManager.default.contents(atPath: credentialFile) else {
            throw ValidationError("cannot read the credential file \(credentialFile)")
        }
        let credential = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let urls = try endpoints.split(separator: ",").map { text in
            guard let url = URL(string: String(text)), url.scheme != nil else { throw ValidationError("invalid endpoint \(text)") }
            return url
        }
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]) else {
            throw ValidationError("--listen must be host:port")
        }
        // The replicas are reached over SwiftNIO, which trusts the cluster's CA (Foundation's URL
        // loading on Linux trusts the system's CAs only).
        let environment = ProcessInfo.processInfo.environment
        let transport: HTTPTransport
        do {
            transport = try HTTPTransport(
                tls: .init(
                    caFile: cacert ?? environment["RAMPART_CACERT"], certificateFile: cert ?? environment["RAMPART_CERT"],
                    keyFile: key ?? environment["RAMPART_KEY"]))
        } catch {
            throw ValidationError("\(error)")
        }
        let authorizer = ServiceAuthorizer(endpoints: urls, credential: credential, transport: transport)
        try await authorizer.refresh()
        let router = Router()
        router.get("healthz") { _, _ in "ok\n" }
        router.get("orgs/:org/projects/:project/instances") { request, context in
            try Self.decide(authorizer, request, context, permission: "compute.instances.list", operation: .read)
        }
        router.post("orgs/:org/projects/:project/instances") { request, context in
            try Self.decide(authorizer, request, context, permission: "compute.instances.create", operation: .write)
        }
        let app = Application(router: router, configuration: .init(address: .hostname(String(listen[..<colon]), port: port)))
        let following = Task { await authorizer.follow() }
        defer { following.cancel() }
        print("rampart-example-service listening on \(listen), following \(endpoints)")
        try await app.runService()
    }

    /// The answer to a request needing `permission` in the path's project.
    static func decide(
        _ authorizer: ServiceAuthorizer, _ request: Request, _ context: BasicRequestContext, permission: String, operation: TokenRequest.Operation
    ) throws -> Response {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            return answer(.unauthorized, #"{"code":"unauthenticated"}"#)
        }
        let organization = try context.parameters.require("org")
        let project = try context.parameters.require("project")
        let asked = TokenRequest(
            time: UInt64(Date().timeIntervalSince1970), organization: organization, project: project, permission: permission, operation: operation)
        do {
            let holder = try authorizer.authorize(String(header.dropFirst("Bearer ".count)), asked)
            return answer(.ok, #"{"holder":"\#(holder.principal)","instances":[]}"#)
        } catch {
            if case .checksFailed = error { return answer(.forbidden, #"{"code":"\#(error.code)"}"#) }
            return answer(.unauthorized, #"{"code":"\#(error.code)"}"#)
        }
    }

    static func answer(_ status: HTTPResponse.Status, _ json: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: json + "\n")))
    }
}
