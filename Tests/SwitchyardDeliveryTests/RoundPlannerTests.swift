import Foundation
import SwitchyardConfig
import SwitchyardCore
import SwitchyardStore
import SwitchyardTesting
import Testing

@testable import SwitchyardDelivery

/// Round planning over a real SQLite store: held events are released where the log reaches their merge, in
/// storage order, whether the worker already recorded them as held or still has them pending.
@Suite struct RoundPlannerTests {
    static let t0 = Timestamp(milliseconds: 1_800_000_000_000)

    static func event(_ id: String, _ type: EventType = .track, userId: String? = nil, anonymousId: String?, at offset: Int)
        -> NewEvent
    {
        var members = [#""type":"\#(type.rawValue)""#, #""messageId":"\#(id)""#]
        if let anonymousId { members.append(#""anonymousId":"\#(anonymousId)""#) }
        if let userId { members.append(#""userId":"\#(userId)""#) }
        let time = t0 + .seconds(offset)
        return NewEvent(
            source: "web", messageId: id, type: type, userId: userId, anonymousId: anonymousId,
            eventName: type == .track ? "Clicked" : nil, timestamp: time, receivedAt: time,
            body: Array("{\(members.joined(separator: ","))}".utf8))
    }

    /// A `hold` webhook planner over `store`, with rounds of `maxEvents` and the clock at `now`.
    static func planner(_ store: any EventStore, maxEvents: Int = 100, now: Timestamp) -> RoundPlanner {
        let configuration = DestinationWorker.Configuration(
            name: "held", type: "webhook", filter: EventFilter(), maxEvents: maxEvents, maxBytes: 1 << 20,
            maxWait: .zero, concurrency: 1, rateLimit: nil, retry: RetryPolicy(), anonymous: .hold)
        return RoundPlanner(
            name: "held", configuration: configuration,
            router: EventRouter(destination: "held", type: "webhook", filter: EventFilter(), anonymous: .hold, recordsMerges: false),
            store: store, clock: ManualWallClock(now), hub: LiveHub(), liveRoutedThrough: LiveRouteMark())
    }

    static func withStore(_ body: (any EventStore) async throws -> Void) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("planner-\(UUID().uuidString)")
        let store = try SQLiteEventStore(path: folder.appendingPathComponent("switchyard.db").path)
        do {
            try await body(store)
        } catch {
            try? await store.close()
            try? FileManager.default.removeItem(at: folder)
            throw error
        }
        try await store.close()
        try? FileManager.default.removeItem(at: folder)
    }

    static func ids(_ round: RoundPlanner.Round) -> [String] {
        guard case .batches(let batches, _, _, _) = round else { return [] }
        return batches.flatMap { $0.map(\.event.messageId) }
    }

    @Test func heldEventsGoRightBeforeTheMergeInStorageOrderRecordedOrNot() async throws {
        try await Self.withStore { store in
            // p1 held and recorded earlier; p2 read in a later round, still pending; then the identify.
            _ = try await store.append([Self.event("p1", anonymousId: "a", at: 0)], dedupeWindow: .seconds(60))
            _ = try await store.append(
                [Self.event("x1", userId: "someone", anonymousId: nil, at: 1), Self.event("p2", anonymousId: "a", at: 2)],
                dedupeWindow: .seconds(60))
            _ = try await store.append(
                [Self.event("i", .identify, userId: "ann", anonymousId: "a", at: 3), Self.event("x2", userId: "someone", anonymousId: nil, at: 4)],
                dedupeWindow: .seconds(60))
            let planner = Self.planner(store, now: Self.t0 + .seconds(10))
            let log = try await store.events(after: 0, limit: 10)
            try await store.settle(
                DeliverySettlement(position: log[0].sequence, delivered: 0, deadLetters: [], replayedIds: [], held: [log[0]], at: Self.t0),
                for: "held")

            // Round 1 (after p1): x1 goes, p2 is parked (even though its id has merged since: it was stored
            // anonymously), and the round ends before the identify.
            let first = try await planner.collectRound(after: log[0].sequence, pending: .init())
            #expect(Self.ids(first) == ["x1"])
            guard case .batches(_, let end?, let parked, _) = first else {
                Issue.record("expected a round of batches, got \(first)")
                return
            }
            #expect(parked.held.map(\.event.messageId) == ["p2"])
            #expect(end == log[2].sequence, "the round stops before the merge")

            // Round 2: the released holds first (recorded p1, then pending p2), under the person, then the
            // identify and what follows.
            var pending = RoundPlanner.Pending()
            pending.absorb(parked)
            let second = try await planner.collectRound(after: end, pending: pending)
            #expect(Self.ids(second) == ["p1", "p2", "i", "x2"])
            guard case .batches(let batches, _, let released, _) = second else { return }
            let events = batches.flatMap { $0 }
            #expect(events.prefix(2).allSatisfy { $0.event.resolvedUserId == "ann" && $0.event.heldFor != nil })
            #expect(events[0].event.heldFor == .seconds(3) && events[1].event.heldFor == .seconds(1))
            #expect(released.releasedHoldIds.count == 1 && released.releasedPending == [log[2].sequence])
            pending.absorb(released)
            #expect(pending.held.isEmpty, "a pending hold released is never recorded as held")
        }
    }

    @Test func aLargeReleaseGoesInPagesBeforeTheMerge() async throws {
        try await Self.withStore { store in
            let anonymous = (0..<5).map { Self.event("p\($0)", anonymousId: "a", at: $0) }
            _ = try await store.append(anonymous, dedupeWindow: .seconds(60))
            let log = try await store.events(after: 0, limit: 10)
            try await store.settle(
                DeliverySettlement(position: log.last?.sequence, delivered: 0, deadLetters: [], replayedIds: [], held: log, at: Self.t0),
                for: "held")
            _ = try await store.append([Self.event("i", .identify, userId: "ann", anonymousId: "a", at: 5)], dedupeWindow: .seconds(60))
            let planner = Self.planner(store, maxEvents: 2, now: Self.t0 + .seconds(10))
            var pending = RoundPlanner.Pending()
            var seen: [String] = []
            for _ in 0..<4 {
                let round = try await planner.collectRound(after: log.last?.sequence ?? 0, pending: pending)
                seen += Self.ids(round)
                guard case .batches(_, _, let parked, _) = round else { break }
                pending.absorb(parked)
                if seen.last == "i" { break }
            }
            #expect(seen == ["p0", "p1", "p2", "p3", "p4", "i"], "pages of two, each hold once, the identify last")
        }
    }
}
