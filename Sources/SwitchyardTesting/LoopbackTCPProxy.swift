import NIOCore
import NIOPosix

/// A TCP forwarder on a free loopback port: what a reverse proxy on the gateway's host looks like to the
/// gateway — every connection comes from 127.0.0.1, whoever the client is. Bytes pass unchanged both ways.
public final class LoopbackTCPProxy: Sendable {
    /// The port clients connect to.
    public let port: Int
    private let task: Task<Void, Never>

    private init(port: Int, task: Task<Void, Never>) {
        self.port = port
        self.task = task
    }

    /// Starts forwarding every connection to `127.0.0.1:targetPort`.
    public static func start(forwardingTo targetPort: Int) async throws -> LoopbackTCPProxy {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                        wrappingChannelSynchronously: channel,
                        configuration: .init(isOutboundHalfClosureEnabled: true))
                }
            }
        let port = server.channel.localAddress?.port ?? 0
        let task = Task<Void, Never> {
            _ = try? await server.executeThenClose { clients in
                await withDiscardingTaskGroup { group in
                    do {
                        for try await client in clients {
                            group.addTask { try? await forward(client, to: targetPort) }
                        }
                    } catch {
                        // The listening socket closed: the proxy is stopping.
                    }
                }
            }
        }
        return LoopbackTCPProxy(port: port, task: task)
    }

    /// Stops accepting and drops the open connections.
    public func stop() async {
        task.cancel()
        await task.value
    }

    private static func forward(_ client: NIOAsyncChannel<ByteBuffer, ByteBuffer>, to port: Int) async throws {
        let upstream = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                        wrappingChannelSynchronously: channel,
                        configuration: .init(isOutboundHalfClosureEnabled: true))
                }
            }
        try await client.executeThenClose { fromClient, toClient in
            try await upstream.executeThenClose { fromUpstream, toUpstream in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for try await chunk in fromClient { try await toUpstream.write(chunk) }
                        toUpstream.finish()
                    }
                    group.addTask {
                        for try await chunk in fromUpstream { try await toClient.write(chunk) }
                        toClient.finish()
                    }
                    try await group.waitForAll()
                }
            }
        }
    }
}
