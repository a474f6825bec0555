public import Hummingbird
public import NIOCore

/// The context of a request to the admin API: Hummingbird's core context and the address of
/// the client, which failed authentication is counted against (`AuthenticationThrottle`).
public struct APIRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The client's address; nil when the connection has none (in-process tests).
    public let remoteAddress: SocketAddress?

    /// The context of a request on `source`'s connection.
    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// The client's address as a throttling key: its IP address, without the port.
    var clientAddress: String? { AuthenticationThrottle.source(of: remoteAddress) }
}
