import Foundation
import Logging
import Metrics
import ServiceLifecycle
import SwitchyardCore
import SwitchyardStore
import SwitchyardTesting
import Synchronization
import Testing

/// A real SQLite store whose appends wait until the test opens a gate, so the test controls when a
/// commit finishes without sleeping. It counts the transactions it was asked for.
final class GatedStore: EventLogAppending {
    let inner: SQLiteEventStore
    let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>], appends: [Int])>((true, [], []))
    let (appendStarted, appendStartedContinuation) = AsyncStream.makeStream(of: Int.self)

    init(path: String) throws { inner = try SQLiteEventStore(path: path) }

    func close(gate: Bool) { state.withLock { $0.open = !gate } }

    func openGate() {
        let waiters = state.withLock { state in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    var appendSizes: [Int] { state.withLock { $0.appends } }

    func append(_ events: [NewEvent], dedupeWindow: Duration) async throws(StoreError) -> [AppendResult] {
        state.withLock { $0.appends.append(events.count) }
        appendStartedContinuation.yield(events.count)
        await withCheckedContinuation { continuation in
            let proceed = state.withLock { state in
                if state.open { return true }
                state.waiters.append(continuation)
                return false
            }
            if proceed { continuation.resume() }
        }
        return try await inner.append(events, dedupeWindow: dedupeWindow)
    }

    func eventCount() async throws(StoreError) -> Int { try await inner.eventCount() }
    func diskUsage() async -> Int64 { await inner.diskUsage() }
}

@Suite("Group commit")
struct GroupCommitterTests {
    func event(_ id: String) -> NewEvent {
        NewEvent(
            source: "web", messageId: id, type: .track, userId: "u", anonymousId: nil, eventName: "e",
            timestamp: Timestamp(milliseconds: 0), receivedAt: Timestamp(milliseconds: 0), body: Array("{}".utf8))
    }

    func makeStore() throws -> GatedStore {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("gc-\(UUID().uuidString).db").path
        return try GatedStore(path: path)
    }

    func committer(
        _ store: any EventLogAppending, maxPending: Int = 1000, maxPendingBytes: Int = 64 << 20, maxDisk: Int64 = .max
    ) -> GroupCommitter {
        GroupCommitter(
            store: store, dedupeWindow: .seconds(60), maxPendingEvents: maxPending, maxPendingBytes: maxPendingBytes,
            maxDiskBytes: maxDisk, logger: Logger(label: "test"), metrics: NOOPMetricsHandler.instance)
    }

    @Test func requestsThatArriveDuringACommitShareTheNextOne() async throws {
        let store = try makeStore()
        let committer = committer(store)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await committer.run() }
            store.close(gate: true)
            var started = store.appendStarted.makeAsyncIterator()
            // The first request starts a commit that the gate holds open…
            group.addTask { _ = try await committer.append([self.event("first")]) }
            #expect(await started.next() == 1)
            // …while 20 more arrive; they must all go into one second commit.
            let results = Locked<[[AppendResult]]>([])
            try await withThrowingTaskGroup(of: Void.self) { senders in
                for index in 0..<20 {
                    senders.addTask {
                        let result = try await committer.append([self.event("m\(index)"), self.event("n\(index)")])
                        results.withLock { $0.append(result) }
                    }
                }
                // Let the senders queue up, then release the first commit.
                while committer.queuedEvents < 40 { await Task.yield() }
                store.openGate()
                try await senders.waitForAll()
            }
            #expect(store.appendSizes == [1, 40])
            #expect(results.value.count == 20)
            #expect(results.value.allSatisfy { $0.count == 2 && $0.allSatisfy { if case .stored = $0 { true } else { false } } })
            committer.stopAccepting()
            try await group.waitForAll()
        }
        #expect(try await store.eventCount() == 41)
    }

    @Test func aFullQueueAnswersBackpressureAndStoresNothingOfIt() async throws {
        let store = try makeStore()
        let committer = committer(store, maxPending: 10)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await committer.run() }
            store.close(gate: true)
            var started = store.appendStarted.makeAsyncIterator()
            group.addTask { _ = try await committer.append((0..<8).map { self.event("a\($0)") }) }
            _ = await started.next()
            await #expect {
                _ = try await committer.append((0..<3).map { self.event("b\($0)") })
            } throws: { error in
                if case .backpressure = error as? GroupCommitter.Failure { return true }
                return false
            }
            store.openGate()
            // Once the queue drains, the same request goes through.
            while committer.queuedEvents > 0 { await Task.yield() }
            #expect(try await committer.append((0..<3).map { self.event("b\($0)") }).count == 3)
            committer.stopAccepting()
            try await group.waitForAll()
        }
        #expect(try await store.eventCount() == 11)
    }

    /// Few events can still be many bytes: the queue is bounded in bytes too (server.max_pending_bytes).
    @Test func aQueueFullOfBytesAnswersBackpressure() async throws {
        let store = try makeStore()
        let committer = committer(store, maxPendingBytes: 20_000)
        func big(_ id: String) -> NewEvent {
            var event = event(id)
            event.body = Array(("{\"p\":\"" + String(repeating: "x", count: 8_000) + "\"}").utf8)
            return event
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await committer.run() }
            store.close(gate: true)
            var started = store.appendStarted.makeAsyncIterator()
            group.addTask { _ = try await committer.append([big("a0"), big("a1")]) }
            _ = await started.next()
            await #expect {
                _ = try await committer.append([big("b0")])
            } throws: { error in
                if case .backpressure(let reason) = error as? GroupCommitter.Failure { return reason.contains("max_pending_bytes") }
                return false
            }
            // A small event still fits; it commits once the gate opens.
            group.addTask {
                let results = try await committer.append([self.event("small")])
                #expect(results.count == 1)
            }
            while committer.queuedEvents < 3 { await Task.yield() }
            store.openGate()
            while committer.queuedEvents > 0 { await Task.yield() }
            committer.stopAccepting()
            try await group.waitForAll()
        }
        #expect(try await store.eventCount() == 3)
    }

    @Test func overTheDiskBudgetIngestIsRefused() async throws {
        let store = try makeStore()
        let committer = committer(store, maxDisk: 1)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await committer.run() }
            // The first commit is accepted (the budget is only known after it) and pushes usage over it.
            _ = try await committer.append([self.event("first")])
            await #expect {
                _ = try await committer.append([self.event("second")])
            } throws: { error in
                if case .backpressure(let reason) = error as? GroupCommitter.Failure { return reason.contains("max_backlog") }
                return false
            }
            committer.stopAccepting()
            try await group.waitForAll()
        }
        #expect(try await store.eventCount() == 1)
    }

    @Test func afterShutdownStartsAppendsAreRefusedButQueuedOnesCommit() async throws {
        let store = try makeStore()
        let committer = committer(store)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await committer.run() }
            store.close(gate: true)
            var started = store.appendStarted.makeAsyncIterator()
            group.addTask { _ = try await committer.append([self.event("held")]) }
            _ = await started.next()
            let queued = Task { try await committer.append([self.event("queued")]) }
            while committer.queuedEvents < 2 { await Task.yield() }
            committer.stopAccepting()
            await #expect {
                _ = try await committer.append([self.event("late")])
            } throws: { error in
                if case .shuttingDown = error as? GroupCommitter.Failure { return true }
                return false
            }
            store.openGate()
            #expect(try await queued.value.count == 1)
            try await group.waitForAll()
        }
        #expect(try await store.eventCount() == 2)
    }
}
