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
        /// The highest log sequence whose `route` item the live view got: a round read again (a partial
        /// batch waiting for `max_wait`, a rewind) does not announce its decisions twice.
        var liveRoutedThrough: Int64 = 0
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

    /// Progress handled but not yet recorded (the destination has not committed it yet).
    struct Pending {
        var position: Int64?
        var delivered = 0
        var deadLetters: [NewDeadLetter] = []
        var replayedIds: [Int64] = []
        var held: [StoredEvent] = []
        var releasedHoldIds: [Int64] = []
        /// Per anonymous id, the last sequence of its recorded holds released since the last record: the next
        /// page of a large release starts after it.
        var releasedThrough: [String: Int64] = [:]
        /// Sequences of `held` events released before they were recorded: they are never recorded as held.
        var releasedPending: Set<Int64> = []
        var dropped = 0
        var deferred: [DeferredEvent] = []

        var isEmpty: Bool {
            position == nil && delivered == 0 && deadLetters.isEmpty && replayedIds.isEmpty && held.isEmpty
                && releasedHoldIds.isEmpty && dropped == 0 && releasedPending.isEmpty && deferred.isEmpty
        }

        mutating func absorb(_ other: Pending) {
            if let position = other.position { self.position = max(self.position ?? position, position) }
            delivered += other.delivered
            deadLetters += other.deadLetters
            replayedIds += other.replayedIds
            held += other.held
            if !other.releasedPending.isEmpty {
                held.removeAll { other.releasedPending.contains($0.sequence) }
                releasedPending.formUnion(other.releasedPending)
            }
            releasedHoldIds += other.releasedHoldIds
            releasedThrough.merge(other.releasedThrough) { max($0, $1) }
            dropped += other.dropped
            deferred += other.deferred
        }
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
                round = try await collectRound(after: readPosition, pending: pending)
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

    enum Round {
        case idle(Duration)
        /// The log moved on with nothing to send (filtered out, held or dropped).
        case skip(Int64, Pending)
        /// Batches to send; `endPosition` nil for replay and release rounds, which are outside the log
        /// order. `Pending` carries the round's queue ids and the events it held or dropped.
        case batches(
            [[(event: DeliveryEvent, source: StoredEvent)]], endPosition: Int64?, Pending,
            starts: [(firstAttempt: Timestamp, attempts: Int)?] = [])
        /// Replay-queue entries with nothing to send (held again, dropped, filtered out).
        case skipQueued(Pending)
    }

    /// Reads what to send next: the replay queue, then the log after `position`.
    ///
    /// Held events are released when the log reaches the message whose arrival merged their anonymous id,
    /// right before it (SPEC §9): a round ends before such a message, and the next starts with the holds it
    /// releases — those recorded in the store, then those this node parked but has not recorded yet
    /// (`pending`) — in log order, in pages of one round.
    func collectRound(after position: Int64, pending: Pending) async throws(StoreError) -> Round {
        if let replay = try await replayRound() { return replay }
        let capacity = configuration.roundCapacity
        let router = self.router
        var routedEvents: [(event: DeliveryEvent, source: StoredEvent)] = []
        var parked = Pending()
        var scanned = position
        var exhausted = false
        var endsBeforeMerge = false
        // Read what one round can send; when the filter skips much of it, read further ahead each time
        // (a database on the network makes every page cost a round trip and its rows).
        var page = capacity
        reading: while routedEvents.count < capacity {
            defer { page = min(page * 4, 2000) }
            let events = try await store.events(after: scanned, limit: page)
            let watched = hub.isObserved
            if watched { hub.publishIngest(events, sequence: \.sequence, make: LiveItems.ingest) }
            var routes: [(StoredEvent, EventRouter.Routing)] = []
            defer { if watched { publishRoutes(routes) } }
            for stored in events {
                if configuration.anonymous == .hold, let anonymousId = stored.mergedAnonymousId {
                    if !routedEvents.isEmpty || !parked.isEmpty {
                        endsBeforeMerge = true
                        break reading
                    }
                    let releasing = try await releaseRound(
                        anonymousId: anonymousId, trigger: stored, pending: pending, router: router)
                    if let pageOnly = releasing.pageOnly { return pageOnly }
                    routedEvents += releasing.events
                    parked.absorb(releasing.parked)
                }
                let routing = router.route(stored)
                switch routing {
                case .deliver(let event, let source): routedEvents.append((event, source))
                case .skip: break
                case .hold: parked.held.append(stored)
                case .drop: parked.dropped += 1
                }
                if watched { routes.append((stored, routing)) }
                scanned = stored.sequence
                if routedEvents.count >= capacity { break }
            }
            if events.count < page {
                exhausted = true
                break
            }
        }
        if routedEvents.isEmpty {
            return scanned > position ? .skip(scanned, parked) : .idle(configuration.idlePoll)
        }
        // A partial batch waits for more events until its oldest event is max_wait old (not one that ends
        // before a merge: the release after it must not wait for it).
        if exhausted, !endsBeforeMerge, routedEvents.count < configuration.maxEvents,
            let oldest = routedEvents.first?.event.receivedAt
        {
            let age = clock.now() - oldest
            if age < configuration.maxWait {
                return .idle(configuration.maxWait - age)
            }
        }
        return .batches(cut(routedEvents), endPosition: scanned, parked)
    }

    /// Re-queued dead letters, time-range replays and throttled events whose pause is over, which go before
    /// the log. Throttled events keep their first attempt and attempt count (`starts`).
    func replayRound() async throws(StoreError) -> Round? {
        let now = clock.now()
        let queued = try await store.replayQueue(of: name, limit: configuration.roundCapacity, readyBy: now)
        guard !queued.isEmpty else { return nil }
        let router = self.router
        var parked = Pending()
        parked.replayedIds = queued.map(\.id)
        var entries: [(event: DeliveryEvent, source: StoredEvent)] = []
        var deferred: [(event: DeliveryEvent, source: StoredEvent)] = []
        var deferredStarts: [(firstAttempt: Timestamp, attempts: Int)] = []
        for entry in queued {
            switch router.route(entry.stored, origin: .replay(now: now)) {
            case .deliver(let event, let source):
                // A replayed held event honours `hold_ttl` / `hold_max_age` as a release does.
                if event.heldFor != nil, event.receivedAt < releaseCutoff(now: now) {
                    parked.dropped += 1
                } else if let firstAttempt = entry.firstAttempt {
                    deferred.append((event, source))
                    deferredStarts.append((firstAttempt, entry.attempts))
                } else {
                    entries.append((event, source))
                }
            case .skip: break
            // Never merged: parked again, not sent anonymously (SPEC §4). A copy whose event left the log
            // cannot be held (a hold points into the log) and is dropped.
            case .hold: if entry.stored.sequence > 0 { parked.held.append(entry.stored) } else { parked.dropped += 1 }
            case .drop: parked.dropped += 1
            }
        }
        if entries.isEmpty && deferred.isEmpty { return .skipQueued(parked) }
        // Deferred events go in batches of their own, each counting from its events' earliest first attempt.
        let deferredBatches = cut(deferred)
        var starts: [(firstAttempt: Timestamp, attempts: Int)?] = []
        var offset = 0
        for batch in deferredBatches {
            let mine = deferredStarts[offset..<(offset + batch.count)]
            offset += batch.count
            starts.append((mine.map(\.firstAttempt).min() ?? now, mine.map(\.attempts).max() ?? 0))
        }
        return .batches(deferredBatches + cut(entries), endPosition: nil, parked, starts: starts)
    }

    /// Holds received before this are not released (`hold_ttl`, and `hold_max_age` when set).
    func releaseCutoff(now: Timestamp) -> Timestamp {
        now - min(configuration.holdTTL, configuration.holdMaxAge ?? configuration.holdTTL)
    }

    /// The held events `trigger` releases (it merged `anonymousId`), in log order: a page of those recorded
    /// in the store after the ones already released this round of pending work, then — once the store has
    /// no more — those parked but not yet recorded. `pageOnly` is a round of store holds alone, when there
    /// may be more of them than one round takes.
    func releaseRound(
        anonymousId: String, trigger: StoredEvent, pending: Pending, router: EventRouter
    ) async throws(StoreError) -> (pageOnly: Round?, events: [(event: DeliveryEvent, source: StoredEvent)], parked: Pending) {
        guard let userId = trigger.storedUserId ?? trigger.resolvedUserId else { return (nil, [], Pending()) }
        let capacity = configuration.roundCapacity
        let cutoff = releaseCutoff(now: clock.now())
        let origin = EventRouter.Origin.release(userId: userId, mergedAt: trigger.event.receivedAt)
        let recorded = try await store.releasableHolds(
            of: name, anonymousId: anonymousId, after: pending.releasedThrough[anonymousId] ?? 0, limit: capacity,
            receivedSince: cutoff)
        var parked = Pending()
        var events: [(event: DeliveryEvent, source: StoredEvent)] = []
        for hold in recorded {
            parked.releasedHoldIds.append(hold.id)
            if case .deliver(let event, let source) = router.route(hold.stored, origin: origin) {
                events.append((event, source))
            }
        }
        if let last = recorded.last { parked.releasedThrough[anonymousId] = last.stored.sequence }
        if recorded.count >= capacity {
            return (.batches(cut(events), endPosition: nil, parked), [], Pending())
        }
        for held in pending.held where held.event.anonymousId == anonymousId && held.sequence < trigger.sequence {
            parked.releasedPending.insert(held.sequence)
            guard held.event.receivedAt >= cutoff else {
                parked.dropped += 1
                continue
            }
            if case .deliver(let event, let source) = router.route(held, origin: origin) {
                events.append((event, source))
            }
        }
        return (nil, events, parked)
    }

    /// How this destination routes events.
    var router: EventRouter {
        EventRouter(
            destination: configuration.name, type: configuration.type, filter: configuration.filter,
            anonymous: configuration.anonymous, recordsMerges: destination.recordsMerges)
    }

    /// Tells the live view what this destination decided for each event read from the log, once each.
    func publishRoutes(_ routes: [(StoredEvent, EventRouter.Routing)]) {
        let fresh: [(StoredEvent, EventRouter.Routing)] = live.withLock { live in
            let through = live.liveRoutedThrough
            guard let last = routes.last?.0.sequence, last > through else { return [] }
            live.liveRoutedThrough = last
            return routes.filter { $0.0.sequence > through }
        }
        let now = clock.now()
        for (stored, routing) in fresh {
            let (decision, reason) = routing.shown
            hub.publish(LiveItems.route(stored, destination: name, decision: decision, reason: reason, at: now))
        }
    }

    /// Cuts events into batches of at most `max_events` and `max_bytes` (a single larger event goes alone).
    func cut(_ events: [(event: DeliveryEvent, source: StoredEvent)]) -> [[(event: DeliveryEvent, source: StoredEvent)]] {
        var batches: [[(event: DeliveryEvent, source: StoredEvent)]] = []
        var current: [(event: DeliveryEvent, source: StoredEvent)] = []
        var bytes = 0
        for item in events {
            let size = item.event.body.count
            if !current.isEmpty, current.count >= configuration.maxEvents || bytes + size > configuration.maxBytes {
                batches.append(current)
                current = []
                bytes = 0
            }
            current.append(item)
            bytes += size
        }
        if !current.isEmpty { batches.append(current) }
        return batches
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
