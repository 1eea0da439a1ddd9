import Logging
import Metrics
import ServiceLifecycle
import SwitchyardCore
import Synchronization

/// Shares one transaction and one disk sync among every request that arrives while a commit is running.
///
/// One transaction per request caps durable ingest at a few thousand events a second (an fsync each);
/// queueing requests behind the running commit and committing them together gets 25–35× that
/// (`perf-notes.md`). `append` returns only after the commit that holds its events is on disk.
///
/// Memory is bounded: when more than `maxPendingEvents` events or `maxPendingBytes` bytes of event bodies
/// are queued or being committed, or the store has grown past `maxDiskBytes`, `append` fails at once with
/// `.backpressure` (ingest answers `429`). Counting bytes matters because events differ in size by
/// three orders of magnitude: 50,000 events of 32 KB would be 1.6 GB.
///
/// Run it as a `Service`; on graceful shutdown it commits what is queued, refuses new work with
/// `.shuttingDown` and returns.
public final class GroupCommitter: Service, Sendable {
    /// Why an append was not stored.
    public enum Failure: Error, Sendable {
        /// The queue or the disk budget is full; try again after a moment.
        case backpressure(reason: String)
        /// The gateway is stopping.
        case shuttingDown
        /// The store failed; nothing of this commit was stored.
        case storage(StoreError)
    }

    struct Pending {
        var events: [NewEvent]
        var continuation: CheckedContinuation<[AppendResult], any Error>
    }

    struct State {
        var queue: [Pending] = []
        /// Events queued or inside the running commit.
        var inFlightEvents = 0
        /// Their bodies' bytes.
        var inFlightBytes = 0
        var writer: CheckedContinuation<Void, Never>?
        var accepting = true
        var overDiskBudget = false
    }

    let store: any EventLogAppending
    let dedupeWindow: Duration
    let maxPendingEvents: Int
    let maxPendingBytes: Int
    let maxDiskBytes: Int64
    let logger: Logger
    let state = Mutex(State())
    let batchSize: Recorder
    let commitTimer: Timer
    let onCommit: @Sendable (Int64) -> Void

    /// - Parameter onCommit: called after each successful commit with the highest sequence it stored, so
    ///   delivery wakes without polling.
    public init(
        store: any EventLogAppending, dedupeWindow: Duration, maxPendingEvents: Int, maxPendingBytes: Int = 64 << 20,
        maxDiskBytes: Int64, logger: Logger, metrics: any MetricsFactory,
        onCommit: @escaping @Sendable (Int64) -> Void = { _ in }
    ) {
        self.onCommit = onCommit
        self.store = store
        self.dedupeWindow = dedupeWindow
        self.maxPendingEvents = maxPendingEvents
        self.maxPendingBytes = maxPendingBytes
        self.maxDiskBytes = maxDiskBytes
        self.logger = logger
        batchSize = Recorder(label: "switchyard_commit_batch_events", factory: metrics)
        commitTimer = Timer(label: "switchyard_commit_duration_seconds", factory: metrics)
    }

    /// Stores `events` durably, sharing the commit with concurrent callers.
    public func append(_ events: [NewEvent]) async throws(Failure) -> [AppendResult] {
        if events.isEmpty { return [] }
        let bytes = events.reduce(0) { $0 + $1.body.count }
        if state.withLock({ $0.overDiskBudget }) {
            // Only commits refresh the flag; while refusing, look again so freed space reopens ingest.
            let usage = await store.diskUsage()
            state.withLock { $0.overDiskBudget = usage > maxDiskBytes }
        }
        do {
            return try await withCheckedThrowingContinuation { continuation in
                enum Action {
                    case fail(Failure)
                    case wake(CheckedContinuation<Void, Never>)
                    case none
                }
                let action: Action = state.withLock { state in
                    guard state.accepting else { return .fail(.shuttingDown) }
                    if state.overDiskBudget {
                        return .fail(.backpressure(reason: "the store has reached its disk budget (storage.max_backlog)"))
                    }
                    // A request larger than the whole queue still goes through when the queue is empty.
                    guard state.inFlightEvents == 0 || state.inFlightEvents + events.count <= maxPendingEvents else {
                        return .fail(.backpressure(reason: "the commit queue is full"))
                    }
                    guard state.inFlightBytes == 0 || state.inFlightBytes + bytes <= maxPendingBytes else {
                        return .fail(.backpressure(reason: "the commit queue is full (server.max_pending_bytes)"))
                    }
                    state.queue.append(Pending(events: events, continuation: continuation))
                    state.inFlightEvents += events.count
                    state.inFlightBytes += bytes
                    if let writer = state.writer {
                        state.writer = nil
                        return .wake(writer)
                    }
                    return .none
                }
                switch action {
                case .fail(let failure): continuation.resume(throwing: failure)
                case .wake(let writer): writer.resume()
                case .none: break
                }
            }
        } catch let failure as Failure {
            throw failure
        } catch {
            fatalError("internal inconsistency: the commit continuation resumed with \(error)")
        }
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            while let batch = await nextBatch() {
                await commit(batch)
            }
        } onGracefulShutdown: {
            self.stopAccepting()
        }
        logger.info("group committer stopped")
    }

    /// Events queued or inside the running commit.
    public var queuedEvents: Int { state.withLock { $0.inFlightEvents } }

    /// Stops taking new appends; what is queued is still committed.
    public func stopAccepting() {
        let writer = state.withLock { state in
            state.accepting = false
            defer { state.writer = nil }
            return state.writer
        }
        writer?.resume()
    }

    /// Waits for queued work; nil once shut down and drained.
    func nextBatch() async -> [Pending]? {
        while true {
            enum Next {
                case batch([Pending])
                case finished
                case wait
            }
            let next: Next = state.withLock { state in
                if !state.queue.isEmpty {
                    defer { state.queue = [] }
                    return .batch(state.queue)
                }
                return state.accepting ? .wait : .finished
            }
            switch next {
            case .batch(let batch): return batch
            case .finished: return nil
            case .wait:
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let resumeNow = state.withLock { state in
                        if !state.queue.isEmpty || !state.accepting { return true }
                        state.writer = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            }
        }
    }

    func commit(_ batch: [Pending]) async {
        let events = batch.flatMap(\.events)
        let started = ContinuousClock.now
        let outcome: Result<[AppendResult], StoreError>
        do {
            outcome = .success(try await store.append(events, dedupeWindow: dedupeWindow))
        } catch {
            outcome = .failure(error)
        }
        commitTimer.recordNanoseconds((ContinuousClock.now - started).wholeNanoseconds)
        batchSize.record(events.count)
        let usage = await store.diskUsage()
        state.withLock { state in
            state.inFlightEvents -= events.count
            state.inFlightBytes -= events.reduce(0) { $0 + $1.body.count }
            state.overDiskBudget = usage > maxDiskBytes
        }
        switch outcome {
        case .success(let results):
            let head = results.reduce(Int64(0)) { head, result in
                if case .stored(let sequence) = result { return max(head, sequence) }
                return head
            }
            if head > 0 { onCommit(head) }
            var offset = 0
            for pending in batch {
                pending.continuation.resume(returning: Array(results[offset..<offset + pending.events.count]))
                offset += pending.events.count
            }
        case .failure(let error):
            logger.error(
                "commit failed; the requests were answered with an error",
                metadata: ["switchyard.error": "\(error)", "switchyard.events": "\(events.count)"])
            for pending in batch { pending.continuation.resume(throwing: Failure.storage(error)) }
        }
    }
}

