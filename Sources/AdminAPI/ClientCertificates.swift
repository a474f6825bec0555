import APIModels
public import HTTPTypes
public import NIOHTTPTypes
import ClusterCertificates
import Foundation
public import NIOCore
public import NIOHTTP1
import NIOSSL
import PolicyModel

/// Client certificates as credentials: a certificate from the cluster's CA that names a
/// principal (`rampart certs issue --client NAME --principal ORG/NAME`) authenticates its
/// holder as that principal, on replicas that accept client certificates
/// (`api_client_certificates`), when the request carries no `Authorization` header.
///
/// TLS verifies the certificate against the CA (and its validity dates) during the handshake.
/// `ClientCertificateHandler` then reads the principal it names, once per connection, and
/// passes it to the routes in the request's `rampart-client-certificate` field, which it
/// removes from every request first: a client cannot set it. The routes check the principal
/// against the state on every request (it must exist, and the certificate must not be revoked:
/// `POST /v1/tokens/revoke` with `certificate`).
public final class ClientCertificateHandler: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPServerRequestPart
    public typealias InboundOut = HTTPServerRequestPart

    /// The request field the routes read the connection's certificate identity from.
    static let fieldName = "rampart-client-certificate"

    private let cluster: String
    /// The connection's identity: the field's value once looked up; nil before the first
    /// request; an empty string when the connection presented no certificate.
    private var field: String?

    /// Reads certificates naming principals of `cluster` (the name in the replicas' certificates).
    public init(cluster: String) {
        self.cluster = cluster
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(var head) = unwrapInboundIn(data) else {
            context.fireChannelRead(data)
            return
        }
        head.headers.remove(name: Self.fieldName)
        if field == nil { field = Self.field(of: context.pipeline, cluster: cluster) }
        if let field, !field.isEmpty { head.headers.add(name: Self.fieldName, value: field) }
        context.fireChannelRead(wrapInboundOut(.head(head)))
    }

    /// The field for the certificate of the connection `pipeline` belongs to: `ok <principal>
    /// <not before, Unix seconds> <SHA-256 fingerprint, hex>`, or `refused <reason>`; empty
    /// without a certificate. Call on the pipeline's event loop.
    static func field(of pipeline: ChannelPipeline, cluster: String) -> String {
        guard let certificate = try? pipeline.syncOperations.nioSSL_peerCertificate() else { return "" }
        guard let der = try? certificate.toDERBytes() else { return "refused the client certificate cannot be encoded" }
        switch ClusterCertificates.clientIdentity(certificateDER: der, cluster: cluster) {
        case .success(let identity):
            return "ok \(identity.principal) \(Int64(identity.notValidBefore.timeIntervalSince1970)) \(Hex.encode(identity.fingerprint))"
        case .failure(let reason):
            return "refused \(reason)"
        }
    }
}

/// `ClientCertificateHandler` for the streams of an HTTP/2 connection: it removes the field
/// from every request a stream carries and sets it from the certificate of the stream's
/// connection (its parent channel, where TLS is).
public final class ClientCertificateStreamHandler: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPRequestPart
    public typealias InboundOut = HTTPRequestPart

    private let cluster: String

    /// Reads certificates naming principals of `cluster`.
    public init(cluster: String) {
        self.cluster = cluster
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(var request) = unwrapInboundIn(data) else {
            context.fireChannelRead(data)
            return
        }
        let name = HTTPField.Name(ClientCertificateHandler.fieldName)!
        request.headerFields[name] = nil
        // A stream shares its connection's event loop, so the parent's pipeline may be read here.
        if let parent = context.channel.parent {
            let field = ClientCertificateHandler.field(of: parent.pipeline, cluster: cluster)
            if !field.isEmpty { request.headerFields[name] = field }
        }
        context.fireChannelRead(wrapInboundOut(.head(request)))
    }
}

/// A client certificate's identity as the routes read it from `ClientCertificateHandler`'s field.
struct CertificateCredential: Sendable, Equatable {
    /// The principal it names.
    let principal: PrincipalReference
    /// Its SHA-256 fingerprint, which revoking it names.
    let fingerprint: [UInt8]

    /// Parses the handler's field.
    /// - Throws: `APIError.unauthenticated` when the certificate was refused or names no
    ///   principal that could exist.
    init(field: String) throws(APIError) {
        if field.hasPrefix("refused ") { throw .unauthenticated(String(field.dropFirst("refused ".count))) }
        let parts = field.split(separator: " ")
        guard parts.count == 4, parts[0] == "ok", let fingerprint = Hex.decode(String(parts[3])) else {
            throw .unauthenticated("unreadable client certificate identity")
        }
        let names = parts[1].split(separator: "/", omittingEmptySubsequences: false)
        guard names.count == 2, let organization = try? Name(String(names[0])), let name = try? Name(String(names[1])) else {
            throw .unauthenticated("the client certificate names \(parts[1]), which is not organization/name")
        }
        principal = PrincipalReference(organization: organization, name: name)
        self.fingerprint = fingerprint
    }
}
