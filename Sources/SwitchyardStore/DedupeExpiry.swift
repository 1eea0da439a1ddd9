import Logging
import ServiceLifecycle
import SwitchyardCore

/// Forgets dedupe keys once they are older than the dedupe window, every `interval`, so the dedupe
/// index stays the size of one window of traffic.
public struct DedupeExpiry: Service {
    let store: any EventStore
    let window: Duration
    let interval: Duration
    let clock: any WallClock
    let logger: Logger

    public init(store: any EventStore, window: Duration, interval: Duration = .seconds(600), clock: any WallClock, logger: Logger) {
        self.store = store
        self.window = window
        self.interval = interval
        self.clock = clock
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                let removed = try await store.purgeDedupe(olderThan: clock.now() - window)
                logger.debug("expired dedupe keys", metadata: ["switchyard.removed": "\(removed)"])
            } catch {
                logger.warning("expiring dedupe keys failed", metadata: ["switchyard.error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
