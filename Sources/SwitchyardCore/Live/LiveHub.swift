import DequeModule
import Synchronization

/// The live view's fan-out (SPEC §6 "Live view"): ingest, delivery and identity publish items here; each
/// `GET /api/live` subscriber reads them from its own bounded buffer.
///
/// Contract:
/// - **Free when nobody watches.** Publishers check ``isObserved`` (one relaxed atomic load) before they
///   build an item. The hub keeps recording for ``linger`` after the last subscriber leaves, so a client
///   that reconnects with `Last-Event-ID` gets what it missed; then it stops until the next subscriber.
/// - **Never blocks a publisher.** Publishing appends under a short lock, a run of items at once
///   (``publish(run:)``: buffers hold runs and ranges of them, so the lock's work does not grow with the
///   run); a subscriber whose buffer (``subscriberCapacity`` items) is full loses the items, which are
///   counted and reported to it as one `gap` item before the next item it does get. Memory is bounded by
///   the replay buffer plus the subscribers' buffers, whatever the load: a buffer that keeps a small part of
///   a run keeps a copy of that part (``LiveItemRun/compacted(_:)``), so it keeps at most about twice what it
///   holds, plus the one or two runs at its ends (the one being read or dropped, a resume's first).
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
        /// The replay buffer, oldest first: segments of runs, `ringItems` items in all.
        var ring = Deque<LiveSegment>()
        var ringItems = 0
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
        publish(run: LiveItemArray([item]))
    }

    /// Publishes built items in order under one lock.
    public func publish(_ items: some Collection<LiveItem>) {
        guard !items.isEmpty else { return }
        publish(run: LiveItemArray(Array(items)))
    }

    /// Publishes a run's items in order under one lock; they get consecutive ids. The cost does not grow
    /// with the run's length unless a subscriber filters (its items are then made to be matched).
    public func publish(run: any LiveItemRun) {
        guard run.count > 0 else { return }
        state.withLock { state in
            if state.closed { return }
            if state.subscribers.isEmpty, let left = state.lastLeft, ContinuousClock.now - left >= linger {
                // Nobody came back: stop recording. The id left unused marks the hole for later resumes.
                observed.store(false, ordering: .relaxed)
                state.nextId += 1
                state.ingestCursor = nil
                return
            }
            let segment = LiveSegment(run: run, range: 0..<run.count, firstId: state.nextId)
            state.nextId += UInt64(run.count)
            state.record(segment, capacity: replayCapacity)
            for subscriber in state.subscribers.values {
                subscriber.offer(segment)
            }
        }
    }

    /// The log sequence up to which `ingest` items were published; nil before the first since watching began.
    public var ingestPublishedThrough: Int64? { state.withLock { $0.ingestCursor } }

    /// Publishes `ingest` items for log events not published yet, in log order. Both the log follower and
    /// the destination workers call it with what they read, so an event's `ingest` item always comes
    /// before its `route` items, whoever reads the log first. `events` are in log order (ascending
    /// sequences); `run` makes the run of those in the range it is given.
    public func publishIngest<Event>(
        _ events: [Event], sequence: (Event) -> Int64, run: ([Event], Range<Int>) -> any LiveItemRun
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
        // The first event after the cursor (a binary search: the events are in log order).
        var low = 0
        var high = events.count
        while low < high {
            let middle = low + (high - low) / 2
            if sequence(events[middle]) > cursor { high = middle } else { low = middle + 1 }
        }
        // Made outside the lock; another caller with later events waits on the cursor, not on this.
        publish(run: run(events, low..<events.count))
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
                for var segment in state.ring {
                    if let wanted = expected {
                        guard segment.lastId >= wanted else { continue }
                        if segment.firstId < wanted {
                            segment = segment.dropFirst(Int(wanted - segment.firstId))  // < segment.count
                        } else if segment.firstId > wanted {
                            subscription.offerGap(missed: segment.firstId - wanted, lastSkippedId: segment.firstId - 1)
                        }
                    }
                    expected = segment.lastId + 1
                    subscription.offer(segment)
                }
                // Ids after the buffer's last item that it does not hold: the hub stopped recording (nobody
                // watched for `linger`), each stop leaving one unused id.
                if let wanted = expected, wanted < state.nextId {
                    subscription.offerGap(missed: state.nextId - wanted, lastSkippedId: state.nextId - 1)
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

extension LiveHub.State {
    /// Adds a segment to the replay buffer and drops the oldest items past `capacity`.
    mutating func record(_ segment: LiveSegment, capacity: Int) {
        ring.append(segment)
        ringItems += segment.count
        while ringItems > capacity, let oldest = ring.first {
            let excess = ringItems - capacity
            if oldest.count <= excess {
                ring.removeFirst()
                ringItems -= oldest.count
            } else {
                ring[ring.startIndex] = oldest.dropFirst(excess)
                ringItems -= excess
            }
        }
    }
}
