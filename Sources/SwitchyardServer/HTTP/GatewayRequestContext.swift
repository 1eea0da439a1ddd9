import Hummingbird
import NIOCore

/// The request context of every route: Hummingbird's core storage plus the peer address, which ingest
/// records as `context.ip` when the sender gave none.
public struct GatewayRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// Ingest reads bodies itself with its own limits; this only bounds the admin API's JSON bodies.
    public var maxUploadSize: Int { 1_000_000 }
}
