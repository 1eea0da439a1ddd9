import ServiceLifecycle
import Synchronization

/// Closes ingest with `503 shutting_down` as soon as a graceful shutdown starts, before the HTTP server
/// stops accepting connections, so keep-alive clients learn to go elsewhere instead of timing out.
///
/// It is the last service of the group, so it is the first told to shut down.
public final class ShutdownGate: Service, Sendable {
    let open = Atomic<Bool>(true)

    public init() {}

    public var isOpen: Bool { open.load(ordering: .relaxed) }

    public func run() async throws {
        try? await gracefulShutdown()  // returns on shutdown or cancellation; either way, close
        open.store(false, ordering: .relaxed)
    }
}
