import Foundation
import SwitchyardCore
import SwitchyardStore
import Testing

/// The delivery half of the storage contract, run against every back end.
@Suite("Delivery store contract")
struct DeliveryStoreContractTests {
    typealias Backend = StoreContractTests.Backend

    func withStore(_ backend: Backend, _ body: (any EventStore) async throws -> Void) async throws {
        try await StoreContractTests().withStore(backend, body)
    }

    func stored(_ store: any EventStore, _ count: Int, from: Int = 0, at time: Timestamp = StoreContractTests.t0) async throws -> [StoredEvent] {
        _ = try await store.append((from..<from + count).map { StoreContractTests.event("m\($0)", at: time) }, dedupeWindow: .seconds(1))
        return try await store.events(after: 0, limit: 100_000).filter { $0.event.messageId.hasPrefix("m") }
    }

    @Test(arguments: StoreContractTests.backends)
    func aNewDestinationStartsAtZero(_ backend: Backend) async throws {
        try await withStore(backend) { (store) async throws in
            #expect(try await store.progress(of: "hook") == DestinationProgress())
            #expect(try await store.headSequence() == 0)
        }
    }

    @Test(arguments: StoreContractTests.backends)
    func settlingMovesThePositionAndCounts(_ backend: Backend) async throws {
        try await withStore(backend) { (store) async throws in
            let events = try await stored(store, 5)
            let head = try await store.headSequence()
            #expect(head == events.last?.sequence)
            let letter = NewDeadLetter(event: events[1], attempts: 3, lastStatus: 400, lastError: "bad")
            try await store.settle(
                DeliverySettlement(position: events[2].sequence, delivered: 2, deadLetters: [letter], replayedIds: [], at: StoreContractTests.t0),
                for: "hook")
            let progress = try await store.progress(of: "hook")
            #expect(progress.position == events[2].sequence)
            #expect(progress.deliveredTotal == 2)
            #expect(progress.deadLetteredTotal == 1)
            #expect(try await store.receivedAt(ofFirstEventAfter: events[2].sequence) == events[3].event.receivedAt)
            #expect(try await store.receivedAt(ofFirstEventAfter: head) == nil)
            // A position never moves back.
            try await store.settle(DeliverySettlement(position: events[0].sequence, delivered: 0, deadLetters: [], replayedIds: [], at: StoreContractTests.t0), for: "hook")
            #expect(try await store.progress(of: "hook").position == events[2].sequence)
            #expect(try await store.progress(of: "other") == DestinationProgress())
        }
    }

    @Test(arguments: StoreContractTests.backends)
    func deadLettersAreListedAndRequeued(_ backend: Backend) async throws {
        try await withStore(backend) { (store) async throws in
            let events = try await stored(store, 4)
            let letters = events.map { NewDeadLetter(event: $0, attempts: 1, lastStatus: nil, lastError: "timeout") }
            try await store.settle(DeliverySettlement(position: nil, delivered: 0, deadLetters: letters, replayedIds: [], at: StoreContractTests.t0), for: "hook")
            let listed = try await store.deadLetters(of: "hook", after: 0, limit: 10)
            #expect(listed.map(\.event) == events)
            #expect(listed.first?.lastError == "timeout")
            #expect(listed.first?.lastStatus == nil)
            let page = try await store.deadLetters(of: "hook", after: listed[1].id, limit: 1)
            #expect(page.map(\.event.event.messageId) == ["m2"])
            #expect(try await store.deadLetters(of: "other", after: 0, limit: 10).isEmpty)

            #expect(try await store.requeueDeadLetters(of: "hook", ids: [listed[0].id, listed[3].id, 999_999]) == 2)
            #expect(try await store.queueCounts(of: "hook") == (replay: 2, deadLetters: 2))
            #expect(try await store.requeueDeadLetters(of: "hook", ids: nil) == 2)
            let queue = try await store.replayQueue(of: "hook", limit: 10)
            #expect(queue.map(\.stored.event.messageId) == ["m0", "m3", "m1", "m2"])
            try await store.settle(DeliverySettlement(position: nil, delivered: 2, deadLetters: [], replayedIds: queue.prefix(2).map(\.id), at: StoreContractTests.t0), for: "hook")
            #expect(try await store.replayQueue(of: "hook", limit: 10).map(\.stored.event.messageId) == ["m1", "m2"])
        }
    }

    @Test(arguments: StoreContractTests.backends)
    func aTimeRangeIsQueuedForReplay(_ backend: Backend) async throws {
        try await withStore(backend) { (store) async throws in
            _ = try await stored(store, 2, at: StoreContractTests.t0)
            _ = try await stored(store, 2, from: 2, at: StoreContractTests.t0 + .seconds(60))
            let count = try await store.enqueueReplay(for: "hook", receivedFrom: StoreContractTests.t0 + .seconds(30), to: StoreContractTests.t0 + .seconds(90))
            #expect(count == 2)
            #expect(try await store.replayQueue(of: "hook", limit: 10).map(\.stored.event.messageId) == ["m2", "m3"])
        }
    }

    /// Throttled events wait in the replay queue until their pause is over, keeping their first attempt and
    /// attempt count; the settlement that defers them may also retire the entry they came from.
    @Test(arguments: StoreContractTests.backends)
    func deferredEventsWaitInTheReplayQueueUntilReady(_ backend: Backend) async throws {
        try await withStore(backend) { (store) async throws in
            let events = try await stored(store, 3, at: StoreContractTests.t0)
            let t0 = StoreContractTests.t0
            try await store.settle(
                DeliverySettlement(
                    position: events.last?.sequence, delivered: 1, deadLetters: [], replayedIds: [],
                    deferred: [
                        DeferredEvent(event: events[0], notBefore: t0 + .seconds(30), firstAttempt: t0, attempts: 1),
                        DeferredEvent(event: events[2], notBefore: t0 + .seconds(60), firstAttempt: t0 - .seconds(5), attempts: 3),
                    ], at: t0),
                for: "hook")
            #expect(try await store.replayQueue(of: "hook", limit: 10, readyBy: t0 + .seconds(29)).isEmpty)
            let ready = try await store.replayQueue(of: "hook", limit: 10, readyBy: t0 + .seconds(30))
            #expect(ready.map(\.stored.event.messageId) == ["m0"])
            #expect(ready.first?.firstAttempt == t0 && ready.first?.attempts == 1)
            #expect(ready.first?.stored == events[0])
            // Sent again and throttled again: the new entry replaces the one it came from.
            try await store.settle(
                DeliverySettlement(
                    position: nil, delivered: 0, deadLetters: [], replayedIds: ready.map(\.id),
                    deferred: [DeferredEvent(event: events[0], notBefore: t0 + .seconds(90), firstAttempt: t0, attempts: 2)],
                    at: t0),
                for: "hook")
            let all = try await store.replayQueue(of: "hook", limit: 10, readyBy: t0 + .seconds(100))
            #expect(all.map(\.stored.event.messageId) == ["m2", "m0"])
            #expect(all.map(\.attempts) == [3, 2])
            #expect(all.first?.firstAttempt == t0 - .seconds(5))
            // A time-range replay is ready at once and has no first attempt.
            _ = try await store.enqueueReplay(for: "hook", receivedFrom: t0, to: t0)
            let now = try await store.replayQueue(of: "hook", limit: 10, readyBy: t0)
            #expect(now.count == 3 && now.allSatisfy { $0.firstAttempt == nil && $0.attempts == 0 })
        }
    }

    @Test(arguments: StoreContractTests.backends)
    func disablingIsRemembered(_ backend: Backend) async throws {
        try await withStore(backend) { (store) async throws in
            try await store.setDisabled("hook", reason: "HTTP 410")
            #expect(try await store.progress(of: "hook").disabledReason == "HTTP 410")
            try await store.setDisabled("hook", reason: nil)
            #expect(try await store.progress(of: "hook").disabledReason == nil)
        }
    }
}
