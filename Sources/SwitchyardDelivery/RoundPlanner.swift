import SwitchyardConfig
import SwitchyardCore
import SwitchyardStore
import Synchronization

/// Plans a destination's next delivery round (SPEC §4, §9): what the worker sends next and what it parks,
/// drops or releases, read from the replay queue and the log after the destination's position.
///
/// Held events are released when the log reaches the message whose arrival merged their anonymous id, in
/// storage order, right before it: a round ends before such a message and the next starts with the holds
/// it releases. Each event's wire identity comes from ``EventRouter``. The planner records nothing; the
/// worker records a round once it settled.
struct RoundPlanner: Sendable {
    typealias Item = (event: DeliveryEvent, source: StoredEvent)

    var name: String
    var configuration: DestinationWorker.Configuration
    var router: EventRouter
    var store: any EventStore
    var clock: any WallClock
    /// The live view: route decisions go there while someone watches.
    var hub: LiveHub
    /// The highest log sequence whose `route` item the live view got: a round read again (a partial batch
    /// waiting for `max_wait`, a rewind) does not announce its decisions twice. Owned by the worker.
    var liveRoutedThrough: LiveRouteMark

    /// Progress handled but not yet recorded (the destination has not committed it yet).
    struct Pending: Sendable {
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

    enum Round: Sendable {
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
            if watched { hub.publishIngest(events, sequence: \.sequence, run: LiveItems.ingest) }
            // The decisions for `events`' first ones, in order (the loop may stop before the page's end).
            var decisions: [ShownRoute] = []
            defer { if watched { publishRoutes(events, decisions) } }
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
                if watched { decisions.append(routing.shownRoute) }
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

    /// Tells the live view what this destination decided for each event read from the log, once each:
    /// `decisions` are those of `events`' first ones. One run per call.
    func publishRoutes(_ events: [StoredEvent], _ decisions: [ShownRoute]) {
        let decided = min(decisions.count, events.count)
        guard decided > 0 else { return }
        let start: Int? = liveRoutedThrough.withLock { through in
            let shown = through
            guard events[decided - 1].sequence > shown else { return nil }
            through = events[decided - 1].sequence
            return events[..<decided].firstIndex { $0.sequence > shown }
        }
        guard let start else { return }
        let range = start..<decided
        hub.publish(
            run: LiveItems.RouteRun(
                events: events.liveKept(range), decisions: decisions.liveKept(range), destination: name,
                at: clock.now()))
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
}

/// The worker's ``RoundPlanner/liveRoutedThrough``: one per destination, shared by the rounds it plans.
final class LiveRouteMark: Sendable {
    private let sequence = Mutex<Int64>(0)

    func withLock<T>(_ body: (inout Int64) -> T) -> T { sequence.withLock { body(&$0) } }
}
