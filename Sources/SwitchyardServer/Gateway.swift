import Hummingbird
import Logging
import Metrics
import NIOCore
import Prometheus
import ServiceLifecycle
import UnixSignals
import SwitchyardConfig
import SwitchyardCore
import SwitchyardDelivery
import SwitchyardStore

/// The whole gateway, composed from a config: the store, group commit, the HTTP application and the
/// background services. `main` and the integration tests both build it here, so tests run what
/// production runs.
///
/// Service order is dependency order: on shutdown the last is stopped first — the shutdown gate closes
/// ingest, then HTTP stops accepting and finishes requests, then pending commits are written.
public struct Gateway: Sendable {
    public let config: SwitchyardConfig
    public let store: any EventStore
    public let registry: PrometheusCollectorRegistry
    public let delivery: DeliveryService
    /// The retention purge, also runnable on demand (`runOnce`).
    public let retention: RetentionPurge
    /// The live view's hub (`GET /api/live`).
    public let live: LiveHub
    public let services: [any Service]
    let logger: Logger

    /// Builds the gateway.
    /// - Parameters:
    ///   - clock: the wall clock for `receivedAt` and expiry; tests inject a manual one.
    ///   - live: the live view's hub; tests pass one with small buffers.
    ///   - onServerRunning: called with the bound port once the server accepts connections (useful with
    ///     `server.listen: 127.0.0.1:0`).
    public static func build(
        config: SwitchyardConfig, clock: any WallClock = SystemWallClock(), logger: Logger,
        nodeId: String = NodeIdentity.current, live: LiveHub = LiveHub(),
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws -> Gateway {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets["switchyard_ingest_ack_seconds"] = [
            .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
            .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(1000),
        ]
        factory.durationHistogramBuckets["switchyard_commit_duration_seconds"] =
            factory.durationHistogramBuckets["switchyard_ingest_ack_seconds"]
        factory.valueHistogramBuckets["switchyard_commit_batch_events"] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000]

        // Before the store: a data folder that cannot hold the token should stop the start with nothing opened.
        let adminToken = try AdminToken.resolve(config: config)
        let access = AdminAccess(token: adminToken.value, listen: config.server.listen)
        let store = try await openStore(config: config, logger: logger, metrics: factory)

        let signal = EventLogSignal()
        let committer = GroupCommitter(
            store: store, dedupeWindow: config.server.dedupeWindow, maxPendingEvents: config.server.commitQueue,
            maxPendingBytes: config.server.maxPendingBytes, maxDiskBytes: Int64(config.storage.maxBacklog.bytes), logger: logger, metrics: factory,
            onCommit: { signal.advance(to: $0) })
        let delivery: DeliveryService
        do {
            delivery = try DeliveryService(
                destinations: config.destinations, store: store, signal: signal, nodeId: nodeId,
                leaseTTL: config.storage.leaseTTL, shutdownGrace: config.server.shutdownGrace,
                isDefunctNode: NodeIdentity.isDefunct, clock: clock,
                logger: logger, metrics: factory, hub: live)
        } catch {
            throw GatewayStartError("\(config.file): \(error)")
        }
        let gate = ShutdownGate()
        let limits = config.server.limits
        let parser = IngestParser(
            rules: IngestRules(
                maxEventBytes: limits.maxEventSize.bytes, maxRequestBytes: limits.maxRequestSize.bytes,
                maxBatchEvents: limits.maxBatchEvents, blockedIds: config.identity.blockedIDs))
        let sources = IngestSources(config.sources.map { ($0.name, $0.writeKey, $0.rateLimit) })

        let router = Router(context: GatewayRequestContext.self)
        router.add(middleware: ErrorBodyMiddleware())
        router.add(middleware: CORSPolicyMiddleware(origins: config.server.corsOrigins))
        IngestController(
            parser: parser, sources: sources, committer: committer, clock: clock, shutdownGate: gate,
            metrics: GatewayMetrics(factory: factory, sources: config.sources.map(\.name))
        ).addRoutes(to: router)
        OperationsController(store: store, registry: registry, access: access).addRoutes(to: router)
        try AnalyticsScriptController().addRoutes(to: router)
        let admin = router.group("api")
            .add(middleware: AdminAuthMiddleware(access: access))
            .add(middleware: AdminJSONBodyMiddleware())
        AdminDestinationsController(delivery: delivery).addRoutes(to: admin)
        AdminIdentityController(store: store, clock: clock).addRoutes(to: admin)
        LiveController(
            stream: LiveStream(hub: live), delivery: delivery, parser: parser, clock: clock,
            previewSource: config.sources.first?.name ?? "preview"
        ).addRoutes(to: admin)
        try WebUI(
            store: store, delivery: delivery, clock: clock, access: access, live: live,
            destinationNames: config.destinations.map(\.name)
        ).addRoutes(to: router)

        let application = Application(
            router: router,
            server: .gatewayHTTP1(
                timeouts: config.server.timeouts, maxConnections: config.server.maxConnections, metrics: factory),
            configuration: ApplicationConfiguration(
                address: .hostname(config.server.listen.host, port: config.server.listen.port),
                serverName: "switchyard"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                adminToken.logSignIn(listen: config.server.listen, port: port, logger: logger)
                await onServerRunning(port)
            },
            logger: logger)

        let retention = RetentionPurge(
            store: store,
            rules: RetentionPurge.Rules(
                anonymousTTL: config.identity.anonymousTTL, identifiedTTL: config.retention.events,
                dedupeWindow: config.server.dedupeWindow,
                holdTTLs: Dictionary(
                    config.destinations.filter { $0.anonymous == .hold }.map { ($0.name, $0.holdTTL) },
                    uniquingKeysWith: { first, _ in first })),
            clock: clock, logger: logger)

        let services: [any Service] = [
            StoreCloser(store: store, logger: logger),
            committer,
            delivery,
            retention,
            application,
            // Stopped before the HTTP server: it ends the live streams, which would otherwise never finish.
            LiveLogFollower(hub: live, store: store, signal: signal, clock: clock, logger: logger),
            gate,
            // Last, so the first to hear of SIGTERM: delivery's shutdown grace counts from then.
            delivery.shutdownGraceClock,
        ]
        return Gateway(
            config: config, store: store, registry: registry, delivery: delivery, retention: retention, live: live,
            services: services, logger: logger)
    }

    /// A service group running every part; `run()` it, and trigger its graceful shutdown to stop.
    public func serviceGroup(signals: [UnixSignal] = [.sigterm, .sigint]) -> ServiceGroup {
        ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
                gracefulShutdownSignals: signals,
                cancellationSignals: [],
                logger: logger))
    }
}

extension Gateway {
    /// Opens the store the config names: SQLite (created on first start) or PostgreSQL (migrated on start).
    public static func openStore(
        config: SwitchyardConfig, logger: Logger, metrics: any MetricsFactory = NOOPMetricsHandler.instance
    ) async throws -> any EventStore {
        let traitsDrops = IdentityTraitsDrops(metrics: metrics, logger: logger)
        if case .sqlite(let path) = config.storage.backend {
            // Owner-only from the first byte; SQLite gives its -wal and -shm files the database's mode.
            do {
                try OwnerOnlyFiles.makeDirectories(config.dataDirectory)
                try OwnerOnlyFiles.createIfMissing(path)
            } catch {
                throw GatewayStartError("\(config.file): storage.sqlite: \(error)")
            }
        }
        do {
            switch config.storage.backend {
            case .sqlite(let path):
                return try SQLiteEventStore(
                    path: path, synchronous: config.storage.synchronous == .full ? .full : .normal,
                    identity: config.identity.policy, traitsDrops: traitsDrops)
            case .postgres(let url):
                return try await PostgresEventStore(
                    url: url, identity: config.identity.policy, maxConnections: config.storage.maxConnections,
                    connectionWait: config.storage.connectionWait, traitsDrops: traitsDrops, logger: logger)
            }
        } catch {
            throw GatewayStartError("\(config.file): storage: \(error.message)")
        }
    }
}

extension IdentitySettings {
    /// The rules the store applies while appending.
    var policy: IdentityPolicy {
        IdentityPolicy(
            enabled: enabled, lateWindow: lateWindow, anonymousTTL: anonymousTTL, allowUserMerge: allowUserMerge,
            mergeOnAnyEvent: mergeOnAnyEvent, maxAnonymousIds: maxAnonymousIDs, maxTraits: maxTraits)
    }
}

/// Why the gateway could not be built from a config that parsed.
public struct GatewayStartError: Error, CustomStringConvertible {
    public var description: String

    init(_ description: String) { self.description = description }
}

/// Closes the store after every other service has stopped (it is the first service, so the last stopped).
struct StoreCloser: Service {
    let store: any EventStore
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        do {
            try await store.close()
        } catch {
            logger.error("closing the store failed", metadata: ["switchyard.error": "\(error)"])
        }
    }
}
