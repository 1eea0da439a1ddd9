import Synchronization

/// The live view's fan-out (SPEC §6 "Live view"): ingest, delivery and identity publish items here; each
/// `GET /api/live` subscriber reads them from its own bounded buffer.
///
/// Contract:
/// - **Free when nobody watches.** Publishers check ``isObserved`` (one relaxed atomic load) before they
///   build an item. The hub keeps recording for ``linger`` after the last subscriber leaves, so a client
///   that reconnects with `Last-Event-ID` gets what it missed; then it stops until the next subscriber.
/// - **Never blocks a publisher.** Publishing appends under a short lock; a subscriber whose buffer
///   (``subscriberCapacity`` items) is full loses the item, which is counted and reported to it as one
///   `gap` item before the next item it does get. Memory is bounded by the replay buffer plus the
///   subscribers' buffers, whatever the load.
/// - **Resume.** The last ``replayCapacity`` items (at least 1,000) are kept; a subscriber that gives the
///   id of the last item it saw gets the later ones, with a `gap` for what fell out of the buffer or was
///   never recorded (nobody watched). An id this process never gave (the gateway restarted) replays the
///   whole buffer.
public final class LiveHub: Sendable {
    public let replayCapacity: Int
    public let subscriberCapacity: Int
    public let linger: Duration

    struct State {
        var nextId: UInt64 = 1
        /// The replay ring: `ring[(start + i) % capacity]`, oldest first.
        var ring: [LiveItem] = []
        var ringStart = 0
        var subscribers: [Int: LiveSubscription] = [:]
        var nextSubscriber = 0
        var lastLeft: ContinuousClock.Instant?
        /// The highest log sequence whose `ingest` item was published (or skipped as published).
        var ingestCursor: Int64?
        /// Closed for shutdown: subscriptions end and new ones end at once.
        var closed = false
    }

    let state: Mutex<State>
    let observed = Atomic<Bool>(false)

    /// - Parameters:
    ///   - replayCapacity: items kept for `Last-Event-ID` resume; at least 1,000 (SPEC §6).
    ///   - subscriberCapacity: items one subscriber may have unread before it loses them (and gets `gap`).
    ///   - linger: how long items are still recorded after the last subscriber left.
    public init(replayCapacity: Int = 2_000, subscriberCapacity: Int = 2_000, linger: Duration = .seconds(60)) {
        precondition(replayCapacity >= 1, "the replay buffer holds at least one item")
        precondition(subscriberCapacity >= 1, "a subscriber buffer holds at least one item")
        self.replayCapacity = replayCapacity
        self.subscriberCapacity = subscriberCapacity
        self.linger = linger
        state = Mutex(State())
    }

    /// Whether publishing is worth building an item for: a subscriber is connected, or left less than
    /// ``linger`` ago. One relaxed atomic load.
    public var isObserved: Bool { observed.load(ordering: .relaxed) }

    /// Subscribers connected now.
    public var subscriberCount: Int { state.withLock { $0.subscribers.count } }

    /// Publishes an item built by `make`, which runs only while ``isObserved``.
    public func publish(_ make: () -> LiveItem?) {
        guard isObserved, let item = make() else { return }
        publish(item)
    }

    /// Publishes a built item (its `id` is assigned here).
    public func publish(_ item: LiveItem) {
        publish(CollectionOfOne(item))
    }

    /// Publishes built items in order under one lock (a round's route items: one per event).
    public func publish(_ items: some Collection<LiveItem>) {
        guard !items.isEmpty else { return }
        state.withLock { state in
            if state.closed { return }
            if state.subscribers.isEmpty, let left = state.lastLeft, ContinuousClock.now - left >= linger {
                // Nobody came back: stop recording. The id left unused marks the hole for later resumes.
                observed.store(false, ordering: .relaxed)
                state.nextId += 1
                state.ingestCursor = nil
                return
            }
            for var item in items {
                item.id = state.nextId
                state.nextId += 1
                if state.ring.count < replayCapacity {
                    state.ring.append(item)
                } else {
                    state.ring[state.ringStart] = item
                    state.ringStart = (state.ringStart + 1) % replayCapacity
                }
                for subscriber in state.subscribers.values where subscriber.filter.matches(item) {
                    subscriber.offer(item)
                }
            }
        }
    }

    /// The log sequence up to which `ingest` items were published; nil before the first since watching began.
    public var ingestPublishedThrough: Int64? { state.withLock { $0.ingestCursor } }

    /// Publishes `ingest` items for log events not published yet, in log order. Both the log follower and
    /// the destination workers call it with what they read, so an event's `ingest` item always comes
    /// before its `route` items, whoever reads the log first.
    public func publishIngest<Event>(
        _ events: [Event], sequence: (Event) -> Int64, make: (Event) -> LiveItem
    ) {
        guard isObserved, let first = events.first.map(sequence), let last = events.last.map(sequence) else { return }
        // Only the cursor crosses the lock; the events stay with the caller.
        let cursor: Int64? = state.withLock { state in
            let cursor = state.ingestCursor ?? (first - 1)
            guard last > cursor else { return nil }
            state.ingestCursor = last
            return cursor
        }
        guard let cursor else { return }
        let fresh = events.filter { sequence($0) > cursor }
        // Built outside the lock; another caller with later events waits on the cursor, not on this.
        publish(fresh.map(make))
    }

    /// Starts a subscription. `lastEventId` is the `Last-Event-ID` of a reconnecting client: the items
    /// after it that are still buffered come first (after a `gap` for the ones that are not).
    public func subscribe(filter: LiveFilter, lastEventId: UInt64? = nil) -> LiveSubscription {
        state.withLock { state in
            let subscription = LiveSubscription(
                hub: self, key: state.nextSubscriber, filter: filter, capacity: subscriberCapacity)
            state.nextSubscriber += 1
            if let lastEventId {
                var expected = lastEventId < state.nextId ? lastEventId + 1 : nil
                for index in 0..<state.ring.count {
                    let item = state.ring[(state.ringStart + index) % state.ring.count]
                    if let wanted = expected {
                        guard item.id >= wanted else { continue }
                        if item.id > wanted {
                            subscription.offer(.gap(missed: item.id - wanted, lastSkippedId: item.id - 1) as LiveSubscription.Entry)
                        }
                    }
                    expected = item.id + 1
                    if filter.matches(item) { subscription.offer(item) }
                }
                // Ids after the buffer's last item that it does not hold: the hub stopped recording (nobody
                // watched for `linger`), each stop leaving one unused id.
                if let wanted = expected, wanted < state.nextId {
                    subscription.offer(.gap(missed: state.nextId - wanted, lastSkippedId: state.nextId - 1) as LiveSubscription.Entry)
                }
            }
            if state.closed {
                subscription.finish()
                return subscription
            }
            state.subscribers[subscription.key] = subscription
            state.lastLeft = nil
            observed.store(true, ordering: .relaxed)
            return subscription
        }
    }

    /// Ends every subscription and refuses new ones: streaming responses finish, so the HTTP server's
    /// graceful shutdown does not wait for clients that would watch forever.
    public func close() {
        let subscriptions: [LiveSubscription] = state.withLock { state in
            state.closed = true
            defer { state.subscribers = [:] }
            return Array(state.subscribers.values)
        }
        for subscription in subscriptions { subscription.finish() }
        observed.store(false, ordering: .relaxed)
    }

    func remove(_ key: Int) {
        state.withLock { state in
            guard state.subscribers.removeValue(forKey: key) != nil else { return }
            if state.subscribers.isEmpty { state.lastLeft = .now }
        }
    }
}
