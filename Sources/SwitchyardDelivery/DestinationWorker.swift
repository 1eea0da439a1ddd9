import Logging
import Metrics
import ServiceLifecycle
import SwitchyardConfig
import SwitchyardCore
import SwitchyardDestinations
import SwitchyardStore
import Synchronization

/// Delivers the log to one destination, at its own pace (SPEC §4, §9).
///
/// The destination's progress is a position over the event log, kept in the store. Each round the worker
/// takes the replay queue first (re-queued dead letters, replays), else reads the log after its position,
/// routes each event through the destination's filter, cuts batches (`max_events`, `max_bytes`), sends up
/// to `concurrency` of them at once and waits for every one to settle — delivered, dead-lettered after
/// retries, or split — before it records the new position, its counters and dead letters in one
/// transaction. Its backlog is the log itself, so memory holds at most one round, whatever the backlog.
///
/// Order: batches of a round settle before the next round starts, so with `concurrency: 1` a destination
/// sees events in log order; a batch being retried holds back the ones after it.
///
/// Several nodes (SPEC §8): the worker delivers only while its node holds the destination's lease in the
/// store (`DeliveryLeases` renews it). It reads the position afresh after each claim, stops sending as soon
/// as the lease may have lapsed, and its settlements name the node, so a node that lost the lease cannot
/// record over the new holder's work: a dead node's last round is sent again by the next holder
/// (at-least-once, same idempotency keys).
final class DestinationWorker: Sendable {
    struct Configuration: Sendable {
        var name: String
        var type: String
        var filter: EventFilter
        var maxEvents: Int
        var maxBytes: Int
        var maxWait: Duration
        var concurrency: Int
        var rateLimit: Double?
        var retry: RetryPolicy
        /// What to do with events of people not known yet (SPEC §4 `anonymous:`).
        var anonymous: AnonymousPolicy = .forward
        /// Held events older than this are never released (`hold_ttl`), whether or not the purge ran yet.
        var holdTTL: Duration = .seconds(30 * 86_400)
        /// Held events older than this when their anonymous id merges are dropped, not sent (`hold_max_age`).
        var holdMaxAge: Duration?
        /// How long an idle worker sleeps before looking at the replay queue again (it wakes at once for
        /// new log events).
        var idlePoll: Duration = .seconds(1)
        /// The destination's secret values, masked wherever the live view shows its requests.
        var secrets: [String] = []

        /// Events one round reads: `max_events × concurrency`, saturating (the config bounds both).
        var roundCapacity: Int {
            let (product, overflow) = maxEvents.multipliedReportingOverflow(by: concurrency)
            return overflow ? .max : product
        }
    }

    struct Live: Sendable {
        var disabledReason: String?
        /// Set while `commit` has not yet made delivered events durable.
        var uncommittedSince: ContinuousClock.Instant?
        /// Until when this node may send for the destination: the last claim or renewal plus the lease's ttl,
        /// less a margin, by this node's clock. nil while another node (or nobody) holds the lease.
        var leaseValidUntil: ContinuousClock.Instant?
        /// When the call that granted or last renewed the lease started.
        var leaseGrantedAt: ContinuousClock.Instant?
        /// Asked to hand the destination to a node with fewer (`DeliveryLeases` balances them).
        var handOver = false
    }

    let configuration: Configuration
    let leases: DeliveryLeases
    let destination: any Destination
    let store: any EventStore
    let signal: EventLogSignal
    let clock: any WallClock
    let logger: Logger
    let metrics: DeliveryMetrics
    /// Cuts off sends still in flight once shutdown has taken `server.shutdown_grace`.
    let shutdownGrace: ShutdownGrace
    let live: Mutex<Live>
    /// Resumes a disabled worker when an operator re-enables it or queues a replay.
    let wake = EventLogSignal()
    /// The live view: route decisions and delivery exchanges go there while someone watches.
    let hub: LiveHub
    /// See ``RoundPlanner/liveRoutedThrough``.
    let liveRoutedThrough = LiveRouteMark()
    /// Failed attempts, events waiting for a retry and the last error, for the status API.
    let sending = SendingStatus()
    /// `rate_limit`, shared by the batches in flight.
    let rateLimit: DeliveryRateLimit?
    /// What retries and pauses wait on: `clock` itself when it is a ``DeliveryClock`` (a test's manual
    /// one), else real time with `clock`'s wall time.
    let deliveryClock: any DeliveryClock

    init(
        configuration: Configuration, leases: DeliveryLeases, destination: any Destination, store: any EventStore,
        signal: EventLogSignal, clock: any WallClock, logger: Logger, metrics: DeliveryMetrics,
        shutdownGrace: ShutdownGrace = ShutdownGrace(grace: .seconds(10)), hub: LiveHub = LiveHub()
    ) {
        self.hub = hub
        self.configuration = configuration
        self.leases = leases
        self.destination = destination
        self.store = store
        self.signal = signal
        self.clock = clock
        var logger = logger
        logger[metadataKey: "switchyard.destination"] = "\(configuration.name)"
        self.logger = logger
        self.metrics = metrics
        self.shutdownGrace = shutdownGrace
        live = Mutex(Live())
        rateLimit = configuration.rateLimit.map { DeliveryRateLimit(eventsPerSecond: $0) }
        deliveryClock = clock as? any DeliveryClock ?? SystemDeliveryClock(wall: clock)
    }

    var name: String { configuration.name }

    var liveState: Live { live.withLock { $0 } }

    /// Wakes the worker (re-enabled, or replay queued).
    func poke() { wake.advance(to: wake.head + 1) }

    // MARK: The loop

    typealias Pending = RoundPlanner.Pending
    typealias Round = RoundPlanner.Round

    /// Plans each round (``RoundPlanner``); cheap to make, its state lives in the worker.
    var planner: RoundPlanner {
        RoundPlanner(
            name: name, configuration: configuration,
            router: EventRouter(
                destination: configuration.name, type: configuration.type, filter: configuration.filter,
                anonymous: configuration.anonymous, recordsMerges: destination.recordsMerges),
            store: store, clock: clock, hub: hub, liveRoutedThrough: liveRoutedThrough)
    }

    var isStopping: Bool { Task.isShuttingDownGracefully || Task.isCancelled }

    /// Whether this node may send for the destination now.
    var holdsLease: Bool { live.withLock { $0.leaseValidUntil.map { ContinuousClock.now < $0 } ?? false } }

    func run() async {
        while !isStopping {
            guard await claimLease() else { break }
            let handedOver = await deliverWhileLeased()
            if handedOver {
                // Stay away long enough for a less busy node to take it.
                await pause(leases.ttl * 2)
            }
        }
        await destination.shutdown()
    }

    /// Waits until this node holds the destination's lease; false when the gateway stops first.
    func claimLease() async -> Bool {
        while !isStopping {
            let started = ContinuousClock.now
            do {
                let holder = try await store.leaseHolder(of: name)
                let defunct = holder.flatMap { $0 != leases.node && leases.isDefunct($0) ? $0 : nil }
                if try await store.claimLease(
                    of: name, by: leases.node, ttl: leases.ttl, fairShare: defunct == nil ? leases.fairShare : nil,
                    replacing: defunct)
                {
                    if let defunct { logger.info("took over from a node that is gone", metadata: ["switchyard.previous": "\(defunct)"]) }
                    leaseRenewed(at: started)
                    logger.info("delivering for this destination", metadata: ["switchyard.node": "\(leases.node)"])
                    return true
                }
            } catch {
                logger.warning("claiming the delivery lease failed; retrying", metadata: ["switchyard.error": "\(error)"])
            }
            let wakeMark = wake.head
            await cancelWhenGracefulShutdownQuietly { await self.wake.wait(beyond: wakeMark, timeout: self.leases.claimInterval) }
        }
        return false
    }

    /// The store renewed (or granted) the lease in a call that started at `started`.
    func leaseRenewed(at started: ContinuousClock.Instant) {
        metrics.leaseHeld(name, true)
        live.withLock {
            $0.leaseValidUntil = started + leases.ttl - leases.margin
            $0.leaseGrantedAt = started
        }
    }

    /// The store says another node holds the lease, or nobody does — as of a call that started at `asOf`
    /// (a claim granted after that call started stands).
    func leaseLost(asOf: ContinuousClock.Instant = .now) {
        let held = live.withLock { live in
            guard let granted = live.leaseGrantedAt, granted <= asOf else { return false }
            defer {
                live.leaseValidUntil = nil
                live.leaseGrantedAt = nil
            }
            return live.leaseValidUntil != nil
        }
        if held {
            metrics.leaseHeld(name, false)
            logger.warning("the delivery lease was lost; another node delivers this destination now")
        }
    }

    func requestHandOver() {
        live.withLock { $0.handOver = true }
        poke()
    }

    /// Delivers while the lease is held. Returns true when it handed the destination over on request.
    func deliverWhileLeased() async -> Bool {
        var readPosition: Int64 = 0
        while !isStopping && holdsLease {
            do {
                let progress = try await store.progress(of: name)
                readPosition = progress.position
                live.withLock { $0.disabledReason = progress.disabledReason }
                break
            } catch {
                logger.warning("reading delivery progress failed; retrying", metadata: ["switchyard.error": "\(error)"])
                await pause(.seconds(1))
            }
        }
        var pending = Pending()
        // The lag gauges cost two queries; a round can take a millisecond, so refresh them once a second.
        var lastLagUpdate = ContinuousClock.now - .seconds(1)
        while !isStopping && holdsLease && !live.withLock({ $0.handOver }) {
            if let reason = live.withLock({ $0.disabledReason }) {
                metrics.disabled(name, true)
                logger.debug("destination is disabled", metadata: ["switchyard.reason": "\(reason)"])
                let mark = wake.head
                await cancelWhenGracefulShutdownQuietly { await self.wake.wait(beyond: mark, timeout: .seconds(5)) }
                // Another process (`switchyard replay`, another node) may have re-enabled it.
                if let progress = try? await store.progress(of: name), progress.disabledReason == nil {  // unreadable: look again later
                    live.withLock { $0.disabledReason = nil }
                }
                continue
            }
            metrics.disabled(name, false)
            let round: Round
            do {
                round = try await planner.collectRound(after: readPosition, pending: pending)
            } catch {
                logger.warning("reading events for delivery failed; retrying", metadata: ["switchyard.error": "\(error)"])
                await pause(.seconds(1))
                continue
            }
            switch round {
            case .idle(let waitAtMost):
                switch await commitIfDue(&pending, force: false) {
                case .done: break
                case .rewind:
                    readPosition = await recordedPosition(fallback: readPosition)
                    continue
                case .lost: continue
                }
                let mark = readPosition
                let wakeMark = wake.head
                let interval = min(waitAtMost, destination.commitInterval ?? configuration.idlePoll, configuration.idlePoll)
                await cancelWhenGracefulShutdownQuietly {
                    await withTaskGroup(of: Void.self) { group in
                        group.addTask { await self.signal.wait(beyond: mark, timeout: interval) }
                        group.addTask { await self.wake.wait(beyond: wakeMark, timeout: interval) }
                        await group.next()
                        group.cancelAll()
                    }
                }
            case .skip(let position, let parked):
                readPosition = position
                var result = parked
                result.position = position
                pending.absorb(result)
                if await commitIfDue(&pending, force: false) == .rewind {
                    readPosition = await recordedPosition(fallback: readPosition)
                }
            case .skipQueued(let parked):
                pending.absorb(parked)
                if await commitIfDue(&pending, force: false) == .rewind {
                    readPosition = await recordedPosition(fallback: readPosition)
                }
            case .batches(let batches, let endPosition, let parked, let starts):
                let released = !parked.releasedHoldIds.isEmpty || !parked.releasedPending.isEmpty
                guard let settled = await settler.deliver(batches, released: released, starts: starts) else {
                    // Disabled or shutting down mid-round: nothing of this round is recorded; it is sent again.
                    continue
                }
                var result = parked
                result.delivered = settled.delivered
                result.deadLetters = settled.deadLetters
                result.deferred = settled.deferred
                result.position = endPosition
                if let endPosition { readPosition = endPosition }  // nil: a replay or release round
                pending.absorb(result)
                if await commitIfDue(&pending, force: false) == .rewind {
                    readPosition = await recordedPosition(fallback: readPosition)
                }
            }
            if ContinuousClock.now - lastLagUpdate >= .seconds(1) {
                lastLagUpdate = .now
                await updateLag(position: readPosition)
            }
        }
        let handOver = live.withLock { live in
            defer { live.handOver = false }
            return live.handOver
        }
        guard holdsLease else {
            // Lost: what this round delivered is not recorded; the new holder sends it again.
            return false
        }
        // Shutdown or hand-over: make what was delivered durable, record it, and let another node take over
        // at once instead of after the lease's ttl. What is in flight is sent again later.
        await commitIfDue(&pending, force: true)
        do {
            try await store.releaseLease(of: name, by: leases.node)
        } catch {
            logger.warning("releasing the delivery lease failed; it expires by itself", metadata: ["switchyard.error": "\(error)"])
        }
        live.withLock {
            $0.leaseValidUntil = nil
            $0.leaseGrantedAt = nil
        }
        metrics.leaseHeld(name, false)
        logger.info(handOver ? "handed the destination over to a less busy node" : "released the delivery lease")
        return handOver
    }

    // MARK: Sending

    /// Sends a round's batches and sees each through its retries (``BatchSettler``); cheap to make, its
    /// state (status, rate limit) lives in the worker.
    var settler: BatchSettler {
        BatchSettler(
            name: name, destination: destination, retry: configuration.retry, clock: deliveryClock, rateLimit: rateLimit,
            sending: sending, metrics: metrics, hub: hub, secrets: configuration.secrets, shutdownGrace: shutdownGrace,
            logger: logger,
            // A throttled user or device waits in the replay queue, not in the round: the rest goes on.
            defersThrottled: true,
            owner: BatchSettler.Owner(
                holdsLease: { [self] in holdsLease },
                // Unanswered: nil, and the batch is sent again as it was.
                storedSequences: { [store] in try? await store.storedSequences(among: $0) },
                disable: { [self] reason in await disable(reason: reason) }))
    }

    /// Stops sending until an operator re-enables the destination (a 410), in this node and in the store.
    func disable(reason: String) async {
        live.withLock { $0.disabledReason = reason }
        do {
            try await store.setDisabled(name, reason: reason)
        } catch {
            logger.error("recording the disabled state failed", metadata: ["switchyard.error": "\(error)"])
        }
    }

    // MARK: Recording

    /// Asks the destination to make delivered events durable and, when it has, records them.
    enum CommitResult {
        case done
        /// The destination lost uncommitted work: read the log again from the recorded position.
        case rewind
        /// Another node holds the lease now: nothing of this was recorded.
        case lost
    }

    @discardableResult
    func commitIfDue(_ pending: inout Pending, force: Bool) async -> CommitResult {
        guard !pending.isEmpty else { return .done }
        let committed: Bool
        do {
            committed = try await destination.commit(force: force)
        } catch {
            // Everything delivered since the last recorded commit is lost with the failed commit: forget it
            // and read the log again from the recorded position.
            logger.error("the destination could not make delivered events durable; they will be sent again", metadata: ["switchyard.error": "\(error)"])
            sending.record(error: "\(error)")
            pending = Pending()
            return .rewind
        }
        guard committed else { return .done }
        let settlement = DeliverySettlement(
            position: pending.position, delivered: pending.delivered, deadLetters: pending.deadLetters,
            replayedIds: pending.replayedIds, held: pending.held, releasedHoldIds: pending.releasedHoldIds,
            dropped: pending.dropped, deferred: pending.deferred, at: clock.now(), leaseHolder: leases.node)
        do {
            try await store.settle(settlement, for: name)
            metrics.held(name, settlement.held.count, released: settlement.releasedHoldIds.count)
            pending = Pending()
        } catch where error.code == .leaseLost {
            pending = Pending()
            leaseLost()
            return .lost
        } catch {
            // Kept pending: the next round tries to record it again; a crash now means re-delivery (at-least-once).
            logger.error("recording delivery progress failed", metadata: ["switchyard.error": "\(error)"])
        }
        return .done
    }

    /// The position the store has recorded, to read again from after a lost commit.
    func recordedPosition(fallback: Int64) async -> Int64 {
        // Moving on from `fallback` would skip the lost events, so insist until shutdown.
        while !isStopping && holdsLease {
            do {
                return try await store.progress(of: name).position
            } catch {
                logger.error("reading the recorded position failed; retrying", metadata: ["switchyard.error": "\(error)"])
                await pause(.seconds(1))
            }
        }
        return fallback
    }

    func updateLag(position: Int64) async {
        guard let head = try? await store.headSequence() else { return }  // lag is advisory; the next round retries
        let oldest = try? await store.receivedAt(ofFirstEventAfter: position)  // same
        let seconds = oldest.map { max(0, Double((clock.now() - $0).milliseconds) / 1000) } ?? 0
        metrics.lag(name, events: max(0, head - position), seconds: seconds)
    }

    /// Sleeps, returning early on graceful shutdown or cancellation.
    func pause(_ duration: Duration) async {
        await deliveryClock.sleep(for: duration)
    }
}

/// Runs `body`, cancelling it when graceful shutdown starts; never throws.
func cancelWhenGracefulShutdownQuietly(_ body: @escaping @Sendable () async -> Void) async {
    await cancelWhenGracefulShutdown { await body() }
}
