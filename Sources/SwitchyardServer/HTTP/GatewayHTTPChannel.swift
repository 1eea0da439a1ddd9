import HummingbirdCore
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import SwitchyardConfig
import Synchronization

/// Hummingbird's HTTP/1.1 channel with the gateway's own limits (SPEC §2, "Hostile input"): the
/// deadlines of ``RequestDeadlineHandler`` and a cap on open connections (`server.max_connections`).
///
/// Past the cap a new connection is closed at once, before any byte of it is read: no `503`, because
/// answering costs the memory and time the cap is there to save, and a client that has not sent its
/// request yet could take an early answer for the answer to it. Established connections are untouched.
struct GatewayHTTPChannel: ServerChildChannel, HTTPChannelHandler {
    typealias Value = GatewayConnection

    let responder: HTTPChannelHandler.Responder
    let http1: HTTP1Channel
    let timeouts: ServerTimeouts
    let connections: OpenConnections
    let counters: HTTPLimitCounters

    init(
        responder: @escaping HTTPChannelHandler.Responder, timeouts: ServerTimeouts, connections: OpenConnections,
        counters: HTTPLimitCounters
    ) {
        self.responder = responder
        // Hummingbird's idle timeout stays off: it counts whole HTTP parts, so a head sent a byte at a
        // time would never trip it. RequestDeadlineHandler watches bytes instead.
        self.http1 = HTTP1Channel(responder: responder, configuration: .init(idleTimeout: nil))
        self.timeouts = timeouts
        self.connections = connections
        self.counters = counters
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<GatewayConnection> {
        guard connections.open() else {
            counters.connectionRefused.increment()
            logger.debug("connection refused: server.max_connections reached", metadata: ["switchyard.limit": "\(connections.limit)"])
            return channel.eventLoop.makeCompletedFuture {
                // No HTTP decoder: whatever the client sent first is dropped unread until `handle` closes.
                try channel.pipeline.syncOperations.addHandler(UnreadInputHandler())
                return GatewayConnection(http: try HTTP1Channel.Value(wrappingChannelSynchronously: channel), refused: true)
            }
        }
        channel.closeFuture.whenComplete { [connections] _ in connections.close() }
        return http1.setup(channel: channel, logger: logger).flatMapThrowing { http in
            let pipeline = channel.pipeline.syncOperations
            let deadlines = RequestDeadlineHandler(timeouts: timeouts, counters: counters)
            let decoder = try pipeline.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            try pipeline.addHandler(deadlines, position: .after(decoder))
            try pipeline.addHandler(RequestBytesObserver(deadlines: deadlines), position: .first)
            return GatewayConnection(http: http, refused: false)
        }
    }

    func handle(value: GatewayConnection, logger: Logger) async {
        guard !value.refused else {
            try? await value.http.channel.close()
            return
        }
        await handleHTTP(asyncChannel: value.http, logger: logger)
    }
}

/// An accepted connection: its HTTP parts, or refused past the connection cap.
struct GatewayConnection: ServerChildChannelValue {
    let http: HTTP1Channel.Value
    let refused: Bool

    var channel: any Channel { http.channel }
}

/// The count of open client connections against `server.max_connections`, shared by every event loop.
final class OpenConnections: Sendable {
    let limit: Int
    private let count = Atomic<Int>(0)

    init(limit: Int) {
        self.limit = limit
    }

    var current: Int { count.load(ordering: .relaxed) }

    /// Counts a new connection; false (and not counted) when the cap is reached.
    func open() -> Bool {
        let (_, now) = count.add(1, ordering: .relaxed)
        guard now <= limit else {
            count.subtract(1, ordering: .relaxed)
            return false
        }
        return true
    }

    func close() {
        count.subtract(1, ordering: .relaxed)
    }
}

/// Drops the bytes of a refused connection before they reach a handler that expects HTTP parts.
final class UnreadInputHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}

extension HTTPServerBuilder {
    /// HTTP/1.1 with `server.timeouts` and `server.max_connections` (see ``GatewayHTTPChannel``).
    static func gatewayHTTP1(timeouts: ServerTimeouts, maxConnections: Int, metrics: any MetricsFactory) -> HTTPServerBuilder {
        let counters = HTTPLimitCounters(factory: metrics)
        return HTTPServerBuilder { responder in
            GatewayHTTPChannel(
                responder: responder, timeouts: timeouts, connections: OpenConnections(limit: maxConnections),
                counters: counters)
        }
    }
}

/// How often the HTTP limits turned a client away, for `/metrics` as
/// `switchyard_http_limits_total{limit=...}`: a rising count is an attack or a client to fix. Idle
/// keep-alive closes are routine and not counted.
struct HTTPLimitCounters: Sendable {
    let headTimeout: Counter
    let bodyTimeout: Counter
    let headerTooLarge: Counter
    let badRequest: Counter
    let connectionRefused: Counter
    let responseUnread: Counter

    init(factory: any MetricsFactory) {
        func counter(_ limit: String) -> Counter {
            Counter(label: "switchyard_http_limits_total", dimensions: [("limit", limit)], factory: factory)
        }
        headTimeout = counter("head_timeout")
        bodyTimeout = counter("body_timeout")
        headerTooLarge = counter("header_too_large")
        badRequest = counter("bad_request")
        connectionRefused = counter("max_connections")
        responseUnread = counter("response_unread")
    }
}
