import Logging
import ServiceLifecycle
import SwitchyardCore

/// Deletes what outlived its retention, every `interval` (SPEC §3): never-merged anonymous events after
/// `identity.anonymous_ttl`, identified events after `retention.events`, held events after their
/// destination's `hold_ttl` (counted), and dedupe keys after the dedupe window. The store works in small
/// transactions, so ingest is never held up for long.
public struct RetentionPurge: Service {
    public struct Rules: Sendable {
        public var anonymousTTL: Duration
        public var identifiedTTL: Duration
        public var dedupeWindow: Duration
        /// `hold_ttl` of each destination with `anonymous: hold`.
        public var holdTTLs: [String: Duration]

        public init(anonymousTTL: Duration, identifiedTTL: Duration, dedupeWindow: Duration, holdTTLs: [String: Duration]) {
            self.anonymousTTL = anonymousTTL
            self.identifiedTTL = identifiedTTL
            self.dedupeWindow = dedupeWindow
            self.holdTTLs = holdTTLs
        }
    }

    let store: any EventStore
    let rules: Rules
    let interval: Duration
    let clock: any WallClock
    let logger: Logger

    public init(store: any EventStore, rules: Rules, interval: Duration = .seconds(600), clock: any WallClock, logger: Logger) {
        self.store = store
        self.rules = rules
        self.interval = interval
        self.clock = clock
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                let report = try await runOnce()
                logger.debug(
                    "retention purge done",
                    metadata: [
                        "switchyard.anonymous_events": "\(report.anonymousEvents)",
                        "switchyard.identified_events": "\(report.identifiedEvents)",
                    ])
            } catch {
                logger.warning("retention purge failed; it runs again later", metadata: ["switchyard.error": "\(error)"])
            }
            _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }  // woken early by shutdown
        }
    }

    /// One purge pass.
    @discardableResult
    public func runOnce() async throws(StoreError) -> PurgeReport {
        let now = clock.now()
        _ = try await store.purgeDedupe(olderThan: now - rules.dedupeWindow)
        return try await store.purge(
            now: now, anonymousTTL: rules.anonymousTTL, identifiedTTL: rules.identifiedTTL, holdTTLs: rules.holdTTLs)
    }
}
