import DequeModule
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
        case segment(LiveSegment)
        case gap(missed: UInt64, lastSkippedId: UInt64)
    }

    struct State {
        /// Unread, oldest first: what was read is removed at once (a segment can keep a page of events).
        var entries = Deque<Entry>()
        /// Items in the segments plus gap entries: what the reader has yet to get.
        var buffered = 0
        var waiter: CheckedContinuation<Void, Never>?
        var finished = false
        /// Set when a wait ran past its deadline: the next `next(waitingAtMost:)` returns `.idle`.
        var idleWake = false
        /// Items dropped because the buffer was full.
        var dropped: UInt64 = 0
    }

    let state = Mutex(State())

    init(hub: LiveHub, key: Int, filter: LiveFilter, capacity: Int) {
        self.hub = hub
        self.key = key
        self.filter = filter
        self.capacity = capacity
    }

    /// Entries waiting to be read (items and gaps); at most `capacity + 1`.
    public var bufferedCount: Int { state.withLock { $0.buffered } }

    /// Items this subscriber lost because it read too slowly.
    public var droppedCount: UInt64 { state.withLock { $0.dropped } }

    /// Called by the hub, under its lock: never waits. Items the filter leaves out are not buffered and not
    /// counted as missed. Without a filter the segment is kept as it is (its items are made when read);
    /// with one, each item is made to be matched.
    func offer(_ segment: LiveSegment) {
        if filter.matchesEverything {
            offerAll(segment)
            return
        }
        for index in segment.range {
            let item = segment.item(at: index)
            if filter.matches(item) {
                offerAll(LiveSegment(run: LiveItemArray([item]), range: 0..<1, firstId: item.id))
            }
        }
    }

    func offerAll(_ segment: LiveSegment) {
        let waiter: CheckedContinuation<Void, Never>? = state.withLock { state in
            guard !state.finished else { return nil }
            let room = max(0, capacity - state.buffered)
            if room > 0 {
                state.entries.append(.segment(room >= segment.count ? segment : segment.prefix(room)))
                state.buffered += min(room, segment.count)
            }
            if room < segment.count {
                let lost = UInt64(segment.count - room)
                state.dropped += lost
                if case .gap(let missed, _) = state.entries.last {
                    // Extend the gap already waiting at the end.
                    state.entries[state.entries.index(before: state.entries.endIndex)] = .gap(
                        missed: missed + lost, lastSkippedId: segment.lastId)
                } else {
                    state.entries.append(.gap(missed: lost, lastSkippedId: segment.lastId))
                    state.buffered += 1
                }
            }
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// A gap the hub found on resume (items that fell out of its replay buffer or were never recorded).
    func offerGap(missed: UInt64, lastSkippedId: UInt64) {
        state.withLock { state in
            guard !state.finished else { return }
            state.entries.append(.gap(missed: missed, lastSkippedId: lastSkippedId))
            state.buffered += 1
        }
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
                if let first = state.entries.first {
                    state.buffered -= 1
                    switch first {
                    case .segment(let segment):
                        if segment.count > 1 {
                            state.entries[state.entries.startIndex] = .segment(segment.dropFirst(1))
                        } else {
                            state.entries.removeFirst()
                        }
                        return .item(segment.item(at: segment.range.lowerBound))
                    case .gap(let missed, let lastSkippedId):
                        state.entries.removeFirst()
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
                        if !state.entries.isEmpty || state.finished || state.idleWake { return true }
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
            state.buffered = 0
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }
}
