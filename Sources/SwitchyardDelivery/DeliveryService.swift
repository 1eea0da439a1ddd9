import Foundation
import Logging
import Metrics
import ServiceLifecycle
import SwitchyardConfig
import SwitchyardCore
import SwitchyardDestinations
import SwitchyardStore
import Synchronization

/// Runs one `DestinationWorker` per enabled destination and answers the admin API's questions about them.
///
/// On graceful shutdown every worker stops after its current request, commits what its destination
/// delivered and records it; batches waiting for a retry are sent again after the restart. A request
/// still in flight after `server.shutdown_grace` is cancelled, its batch left queued (``ShutdownGrace``).
public final class DeliveryService: Service, Sendable {
    let workers: [String: DestinationWorker]
    let leases: DeliveryLeases
    let configured: [DestinationSettings]
    public let store: any EventStore
    let sender: HTTPSender
    let shutdownGrace: ShutdownGrace
    let clock: any WallClock
    let logger: Logger

    /// Builds workers for the config's enabled destinations.
    /// - Throws: when a destination cannot be built (an unwritable warehouse path, a type that cannot
    ///   deliver yet); the message names the destination.
    /// - Parameter leaseTTL: how long a node's claim on a destination lasts without a heartbeat
    ///   (`storage.lease_ttl`); a dead node's destinations are taken over after about that long.
    /// - Parameter shutdownGrace: how long sends in flight may go on after graceful shutdown starts
    ///   (`server.shutdown_grace`); then they are cancelled and their batches stay queued.
    public init(
        destinations: [DestinationSettings], store: any EventStore, signal: EventLogSignal, nodeId: String,
        leaseTTL: Duration = .seconds(10), shutdownGrace: Duration = .seconds(10), isDefunctNode: @escaping @Sendable (String) -> Bool = { _ in false },
        clock: any WallClock, logger: Logger, metrics: any MetricsFactory, hub: LiveHub = LiveHub()
    ) throws {
        let sender = HTTPSender()
        let grace = ShutdownGrace(grace: shutdownGrace)
        let leases = DeliveryLeases(
            node: nodeId, ttl: leaseTTL, destinations: destinations.filter(\.enabled).count, isDefunct: isDefunctNode)
        var workers: [String: DestinationWorker] = [:]
        for settings in destinations where settings.enabled {
            let context = DestinationContext(
                name: settings.name, nodeId: nodeId, sender: sender, clock: clock, logger: logger,
                timeout: settings.timeout, maxBatchEvents: settings.batch.maxEvents)
            let destination: any Destination
            do {
                destination = try DestinationRegistry.makeDestination(settings: settings.typeSettings, context: context)
            } catch {
                throw DeliveryError("destination \(settings.name) (line \(settings.line)): \(error)")
            }
            let configuration = DestinationWorker.Configuration(
                name: settings.name, type: settings.type, filter: settings.filter.eventFilter,
                maxEvents: settings.batch.maxEvents, maxBytes: settings.batch.maxBytes.bytes, maxWait: settings.batch.maxWait,
                concurrency: settings.concurrency, rateLimit: settings.rateLimit,
                retry: RetryPolicy(
                    initialBackoff: settings.retry.initialBackoff, maxBackoff: settings.retry.maxBackoff,
                    maxAge: settings.retry.maxAge, maxAttempts: settings.retry.maxAttempts),
                anonymous: settings.anonymous, holdTTL: settings.holdTTL, holdMaxAge: settings.holdMaxAge, secrets: settings.typeSettings.secretValues)
            workers[settings.name] = DestinationWorker(
                configuration: configuration, leases: leases, destination: destination, store: store, signal: signal, clock: clock,
                logger: logger, metrics: DeliveryMetrics(factory: metrics), shutdownGrace: grace, hub: hub)
        }
        self.workers = workers
        self.leases = leases
        configured = destinations
        self.store = store
        self.sender = sender
        self.shutdownGrace = grace
        self.clock = clock
        self.logger = logger
    }

    public func run() async throws {
        // A service that returns early stops the whole gateway, so with nothing to deliver it just waits.
        if workers.isEmpty { try? await gracefulShutdown() }
        await withTaskGroup(of: Void.self) { outer in
            outer.addTask { await self.shutdownGrace.expireAfterShutdownAndGrace() }
            await withTaskGroup(of: Void.self) { group in
                let all = Array(workers.values)
                group.addTask { await self.leases.heartbeat(store: self.store, workers: all, logger: self.logger) }
                for worker in all {
                    group.addTask { await worker.run() }
                }
            }
            outer.cancelAll()  // every worker stopped: the grace timer has nothing left to cut off
        }
        await sender.shutdown()
    }

    /// Run as the group's last service (the first to stop): it notes when the gateway starts stopping, so
    /// `server.shutdown_grace` counts from SIGTERM rather than from delivery's own turn to stop.
    public var shutdownGraceClock: any Service { ShutdownGrace.Clock(grace: shutdownGrace) }

    // MARK: Admin

    /// Status of every configured destination, in config order (disabled-in-config ones included).
    public func statuses() async throws(StoreError) -> [DestinationStatus] {
        let head = try await store.headSequence()
        var result: [DestinationStatus] = []
        for settings in configured {
            let progress = try await store.progress(of: settings.name)
            let counts = try await store.queueCounts(of: settings.name)
            var status = DestinationStatus(name: settings.name, type: settings.type)
            status.delivered = progress.deliveredTotal
            status.deadLettered = counts.deadLetters
            status.held = try await store.holdCount(of: settings.name)
            status.dropped = progress.droppedTotal
            status.holdExpired = progress.holdExpiredTotal
            status.lagEvents = max(0, head - progress.position) + Int64(counts.replay)
            if let oldest = try await store.receivedAt(ofFirstEventAfter: progress.position) {
                status.lagSeconds = max(0, Double((clock.now() - oldest).milliseconds) / 1000)
            }
            if let worker = workers[settings.name] {
                let live = worker.liveState
                let sending = worker.sending.snapshot
                status.failed = sending.failed
                status.retrying = sending.retrying
                status.lastError = sending.lastError
                status.state = live.disabledReason == nil && progress.disabledReason == nil ? .active : .disabled
                status.deliveredBy = try await store.leaseHolder(of: settings.name)
                if let reason = live.disabledReason ?? progress.disabledReason { status.lastError = reason }
            } else {
                status.state = .disabled
                status.lastError = settings.enabled ? progress.disabledReason : "enabled: false in the config"
            }
            result.append(status)
        }
        return result
    }

    public func isConfigured(_ name: String) -> Bool { configured.contains { $0.name == name } }

    /// What to replay (SPEC §6).
    public enum ReplayRequest: Sendable, Equatable {
        /// Every dead letter, or those ids.
        case deadLetters(ids: [Int64]?)
        /// Stored events received in this range.
        case range(from: Timestamp, to: Timestamp)
    }

    /// Queues a replay and wakes the destination (re-enabling it when it was disabled). Returns how many
    /// events were queued.
    public func replay(_ request: ReplayRequest, to name: String) async throws(StoreError) -> Int {
        let count: Int
        switch request {
        case .deadLetters(let ids): count = try await store.requeueDeadLetters(of: name, ids: ids)
        case .range(let from, let to): count = try await store.enqueueReplay(for: name, receivedFrom: from, to: to)
        }
        try await enable(name)
        return count
    }

    /// Re-enables a destination that a 410 (or similar) disabled.
    public func enable(_ name: String) async throws(StoreError) {
        try await store.setDisabled(name, reason: nil)
        if let worker = workers[name] {
            worker.live.withLock { $0.disabledReason = nil }
            worker.poke()
        }
    }
}

/// A destination could not be set up.
public struct DeliveryError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

extension EventFilterSettings {
    /// The routing filter these settings describe.
    var eventFilter: EventFilter {
        EventFilter(
            types: types.isEmpty ? nil : Set(types.compactMap(EventType.init(rawValue:))),
            events: events.map(Glob.init), excludeEvents: excludeEvents.map(Glob.init), paths: paths.map(Glob.init),
            identified: identified)
    }
}
