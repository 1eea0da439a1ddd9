import Synchronization

/// One subscriber of the ``LiveHub``: a bounded buffer the hub fills and one reader drains.
///
/// When the buffer holds `capacity` items, a new item is dropped and counted; the reader then gets one
/// `gap` item (`{"missed":N}`) in the place of everything dropped in a row, so the buffer never holds more
/// than `capacity + 1` entries and a stalled reader never holds up the hub.
public final class LiveSubscription: Sendable {
    let key: Int
    let filter: LiveFilter
    let capacity: Int
    /// Unowned in spirit: the hub holds its subscriptions, a subscription only tells the hub it left.
    let hub: LiveHub

    enum Entry {
        case item(LiveItem)
        case gap(missed: UInt64, lastSkippedId: UInt64)
    }

    struct State {
        var entries: [Entry] = []
        var head = 0
        var waiter: CheckedContinuation<Void, Never>?
        var finished = false
        /// Set when a wait ran past its deadline: the next `next(waitingAtMost:)` returns `.idle`.
        var idleWake = false
        /// Items dropped because the buffer was full.
        var dropped: UInt64 = 0

        var count: Int { entries.count - head }
    }

    let state = Mutex(State())

    init(hub: LiveHub, key: Int, filter: LiveFilter, capacity: Int) {
        self.hub = hub
        self.key = key
        self.filter = filter
        self.capacity = capacity
    }

    /// Entries waiting to be read (items and gaps); at most `capacity + 1`.
    public var bufferedCount: Int { state.withLock { $0.count } }

    /// Items this subscriber lost because it read too slowly.
    public var droppedCount: UInt64 { state.withLock { $0.dropped } }

    /// Called by the hub, under its lock: never waits.
    func offer(_ item: LiveItem) {
        offer(.item(item))
    }

    func offer(_ entry: Entry) {
        let waiter: CheckedContinuation<Void, Never>? = state.withLock { state in
            guard !state.finished else { return nil }
            if case .item(let item) = entry, state.count >= capacity {
                state.dropped += 1
                if state.count > 0, case .gap(let missed, _) = state.entries[state.entries.count - 1] {
                    // Extend the gap already waiting at the end.
                    state.entries[state.entries.count - 1] = .gap(missed: missed + 1, lastSkippedId: item.id)
                } else {
                    state.entries.append(.gap(missed: 1, lastSkippedId: item.id))
                }
            } else {
                state.entries.append(entry)
            }
            // Drop what was read now and then, so the array does not grow with it.
            if state.head >= 256, state.head * 2 >= state.entries.count {
                state.entries.removeFirst(state.head)
                state.head = 0
            }
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// What a wait for the next item ended with.
    public enum Wait: Sendable {
        case item(LiveItem)
        /// Nothing came within the deadline (time to send a keep-alive).
        case idle
        /// The subscription was cancelled, the hub closed, or the task cancelled.
        case finished
    }

    /// The next item, waiting for one at most `timeout`. One reader at a time.
    public func next(waitingAtMost timeout: Duration) async -> Wait {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                try? await Task.sleep(for: timeout)
                // Cancelled: an item came first, and no idle wake is due.
                if !Task.isCancelled { self.wakeIdle() }
            }
            let wait = await nextEntry()
            group.cancelAll()
            return wait
        }
    }

    /// The next item, waiting as long as it takes; nil once finished.
    public func next() async -> LiveItem? {
        while true {
            switch await nextEntry() {
            case .item(let item): return item
            case .finished: return nil
            case .idle: continue
            }
        }
    }

    func wakeIdle() {
        let waiter: CheckedContinuation<Void, Never>? = state.withLock { state in
            state.idleWake = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    func nextEntry() async -> Wait {
        while true {
            let next: Wait? = state.withLock { state in
                if state.head < state.entries.count {
                    defer { state.head += 1 }
                    switch state.entries[state.head] {
                    case .item(let item): return .item(item)
                    case .gap(let missed, let lastSkippedId):
                        return .item(.gap(missed: missed, lastSkippedId: lastSkippedId))
                    }
                }
                if state.finished { return .finished }
                if state.idleWake {
                    state.idleWake = false
                    return .idle
                }
                return nil
            }
            if let next { return next }
            if Task.isCancelled {
                cancel()
                return .finished
            }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let resumeNow = state.withLock { state in
                        if state.head < state.entries.count || state.finished || state.idleWake { return true }
                        state.waiter = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            } onCancel: {
                self.cancel()
            }
        }
    }

    /// Ends the subscription: the hub stops filling it and a waiting `next()` returns nil.
    public func cancel() {
        finish()
        hub.remove(key)
    }

    /// Stops the subscription without telling the hub (the hub itself is closing it).
    func finish() {
        let waiter: CheckedContinuation<Void, Never>? = state.withLock { state in
            state.finished = true
            state.entries = []
            state.head = 0
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }
}
