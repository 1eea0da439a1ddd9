import Foundation
import SwitchyardCore
import SwitchyardStore
import SwitchyardTesting
import Testing

/// Several handles on one store appending at the same moment, as several nodes on one PostgreSQL database
/// do (SPEC §8, "Nodes append concurrently"; SQLite runs the same cases with its own writer lock): a reader
/// following the log by position sees every event exactly once, merges stay linearizable per identity,
/// commits touching the same ids in opposite orders never deadlock, and an erasure racing an append of the
/// person leaves nothing of it.
@Suite("Concurrent append contract", .timeLimit(.minutes(5)))
struct ConcurrentAppendContractTests {
    typealias Backend = StoreContractTests.Backend
    let contract = StoreContractTests()
    static func event(
        _ id: String, _ type: EventType = .track, userId: String? = nil, anonymousId: String? = nil, previousId: String? = nil
    ) -> NewEvent {
        IdentityStoreContractTests.event(id, type, userId: userId, anonymousId: anonymousId, previousId: previousId)
    }

    /// Follows the log from 0 as delivery does until `expected` events were read or the deadline passed;
    /// returns the message ids in the order read, and whether the sequences only grew.
    static func follow(_ store: any EventStore, expected: Int, page: Int = 37) async throws -> (ids: [String], ordered: Bool) {
        var position: Int64 = 0
        var ids: [String] = []
        var ordered = true
        let deadline = ContinuousClock.now + .seconds(120)
        while ids.count < expected, ContinuousClock.now < deadline {
            let events = try await store.events(after: position, limit: page)
            for stored in events {
                if stored.sequence <= position { ordered = false }
                position = stored.sequence
                ids.append(stored.event.messageId)
            }
            if events.isEmpty { try await Task.sleep(for: .milliseconds(5)) }
        }
        return (ids, ordered)
    }

    /// Two writers commit interleaved batches (sharing some persons, so their identity locks meet) while a
    /// third handle follows the log: every event is read once, none twice, in growing sequence order.
    @Test(arguments: StoreContractTests.backends)
    func aReaderFollowingInterleavedCommitsSeesEveryEventExactlyOnce(_ backend: Backend) async throws {
        try await contract.withStores(backend, count: 3) { stores in
            let writers = 2
            let batches = 30
            let perBatch = 7
            let expected = writers * batches * perBatch
            let read = try await withThrowingTaskGroup(of: [String]?.self) { group in
                for writer in 0..<writers {
                    group.addTask {
                        for batch in 0..<batches {
                            let events = (0..<perBatch).map { index in
                                // Persons shared by both writers, and a visitor of each batch merging.
                                let id = "w\(writer)-b\(batch)-\(index)"
                                return index == 0
                                    ? Self.event(id, .identify, userId: "shared-\(batch % 3)", anonymousId: "v-\(writer)-\(batch)")
                                    : Self.event(id, userId: index % 2 == 0 ? "shared-\(index % 3)" : nil, anonymousId: "v-\(writer)-\(batch)")
                            }
                            _ = try await stores[writer].append(events, dedupeWindow: .seconds(3600))
                        }
                        return nil
                    }
                }
                group.addTask { try await Self.follow(stores[2], expected: expected).ids }
                var read: [String] = []
                for try await ids in group { if let ids { read = ids } }
                return read
            }
            #expect(read.count == expected)
            #expect(Set(read).count == read.count, "an event was read twice")
            #expect(Set(read).count == expected, "an event was skipped")
            let again = try await Self.follow(stores[2], expected: expected, page: 500)
            #expect(again.ordered)
            #expect(again.ids.count == expected)
        }
    }

    /// Two handles commit batches that touch the same persons and anonymous ids in opposite orders — merges,
    /// and aliases of two persons each way (person merges move kept ids while the other commit locks
    /// them) — over and over: every commit succeeds, and each anonymous id ends with exactly one owner.
    @Test(arguments: StoreContractTests.backends)
    func commitsTouchingTheSameIdsInOppositeOrdersDoNotDeadlock(_ backend: Backend) async throws {
        var policy = IdentityPolicy()
        policy.allowUserMerge = true
        try await contract.withStores(backend, count: 2, identity: policy) { stores in
            for round in 0..<30 {
                let users = (0..<4).map { "p\(round)-\($0)" }
                let visitors = (0..<4).map { "a\(round)-\($0)" }
                func batch(_ handle: Int) -> [NewEvent] {
                    let order = handle == 0 ? Array(0..<4) : Array((0..<4).reversed())
                    var events = order.map { index in
                        Self.event("h\(handle)-r\(round)-\(index)", .identify, userId: users[index], anonymousId: visitors[order[3 - index]])
                    }
                    events.append(Self.event("h\(handle)-r\(round)-alias", .alias, userId: users[order[0]], previousId: users[order[3]]))
                    events += order.map { Self.event("h\(handle)-r\(round)-t\($0)", userId: users[$0], anonymousId: visitors[$0]) }
                    return events
                }
                async let first = stores[0].append(batch(0), dedupeWindow: .seconds(3600))
                async let second = stores[1].append(batch(1), dedupeWindow: .seconds(3600))
                let results = try await [first, second]
                #expect(results.allSatisfy { $0.allSatisfy { if case .stored = $0 { true } else { false } } }, "round \(round)")
                for visitor in visitors {
                    let merges = try await stores[round % 2].activity(.anonymousId(visitor), before: nil, limit: 50).items
                        .filter { if case .entry(let entry) = $0 { entry.kind == .anonymousMerge } else { false } }
                    #expect(merges.count == 1, "round \(round): \(visitor) merged \(merges.count) times")
                }
            }
        }
    }

    /// An erasure and appends of the same person racing on two handles: whichever commits first, nothing of
    /// the person is left (erased with the rest, or suppressed after).
    @Test(arguments: StoreContractTests.backends)
    func anErasureRacingAppendsOfThePersonLeavesNothingOfIt(_ backend: Backend) async throws {
        try await contract.withStores(backend, count: 2) { stores in
            for round in 0..<15 {
                let user = "erased-\(round)"
                _ = try await stores[0].append(
                    [Self.event("r\(round)-first", .identify, userId: user, anonymousId: "device-\(round)")], dedupeWindow: .seconds(3600))
                async let appended = stores[0].append(
                    (0..<5).map { Self.event("r\(round)-\($0)", userId: $0 % 2 == 0 ? user : nil, anonymousId: "device-\(round)") },
                    dedupeWindow: .seconds(3600))
                async let erased = stores[1].erase(user, at: StoreContractTests.t0 + .seconds(10))
                _ = try await (appended, erased)
                let left = try await stores[1].activity(.anonymousId("device-\(round)"), before: nil, limit: 50).items
                    .compactMap { if case .event(let stored) = $0 { stored } else { nil } }
                    .filter { $0.event.userId == user || $0.resolvedUserId == user }
                #expect(left.isEmpty, "round \(round): \(left.map(\.event.messageId)) of the erased person stayed")
                #expect(try await stores[0].person(user) == nil, "round \(round)")
            }
        }
    }

    /// A commit of more ids than one transaction locks one by one (it locks the whole log instead) next to
    /// small commits on another handle touching some of its ids: all stored, each read once.
    @Test(arguments: StoreContractTests.backends)
    func aCommitOfThousandsOfIdsAndSmallOnesBesideIt(_ backend: Backend) async throws {
        try await contract.withStores(backend, count: 2) { stores in
            let large = (0..<800).map { Self.event("big-\($0)", userId: "user-\($0)", anonymousId: "anon-\($0)") }
            async let big = stores[0].append(large, dedupeWindow: .seconds(3600))
            async let small: Void = {
                for index in 0..<10 {
                    _ = try await stores[1].append(
                        [Self.event("small-\(index)", userId: "user-\(index * 7)", anonymousId: "anon-\(index * 7)")],
                        dedupeWindow: .seconds(3600))
                }
            }()
            _ = try await (big, small)
            let read = try await Self.follow(stores[1], expected: 810, page: 250)
            #expect(read.ids.count == 810)
            #expect(Set(read.ids).count == 810)
            #expect(read.ordered)
        }
    }
}
