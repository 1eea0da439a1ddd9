import Foundation
import SwitchyardCore
import SwitchyardStore
import SwitchyardTesting
import Testing

/// The writer's identity facts cache (issue 15) never changes a decision: a store that keeps facts across
/// commits decides exactly as one that loads every fact from the database, and facts another handle changed
/// are never used stale.
@Suite("Identity facts cache")
struct IdentityFactsCacheTests {
    typealias Event = IdentityStoreContractTests
    static let t0 = StoreContractTests.t0

    /// A random identity workload over a few ids: identifies that merge, refuse (taken ids, contested ids),
    /// aliases that add user ids and merge persons, anonymous and identified tracks, identifies without userId.
    static func workload(seed: UInt64, count: Int) -> [NewEvent] {
        var random = SplitMix64(seed: seed)
        func pick(_ prefix: String, _ n: UInt64) -> String { "\(prefix)\(random.next() % n)" }
        return (0..<count).map { index in
            let at = index
            switch random.next() % 7 {
            case 0, 1: return Event.event("e\(index)", .identify, userId: pick("u", 5), anonymousId: pick("a", 8), at: at,
                                          body: #"{"type":"identify","traits":{"k\#(random.next() % 3)":\#(index)}}"#)
            case 2: return Event.event("e\(index)", .alias, userId: pick("u", 5), previousId: pick(random.next() % 2 == 0 ? "u" : "a", 8), at: at)
            case 3: return Event.event("e\(index)", anonymousId: pick("a", 8), at: at)
            case 4: return Event.event("e\(index)", userId: pick("u", 5), anonymousId: pick("a", 8), at: at)
            case 5: return Event.event("e\(index)", .identify, anonymousId: pick("a", 8), at: at,
                                       body: #"{"type":"identify","traits":{"anon":\#(index)}}"#)
            default: return Event.event("e\(index)", userId: pick("u", 5), at: at)
            }
        }
    }

    /// Everything identity decided, as the store keeps it.
    static func outcome(_ store: any EventStore) async throws -> [String] {
        var lines = try await store.events(after: 0, limit: 10_000).map {
            "\($0.event.messageId) resolved=\($0.resolvedUserId ?? "-") stored=\($0.storedUserId ?? "-") merged=\($0.mergedAnonymousId ?? "-") unlinked=\($0.anonymousIdUnlinked)"
        }
        lines += try await store.activity(.identified, before: nil, limit: 10_000).items.compactMap {
            guard case .entry(let entry) = $0 else { return nil }
            return "\(entry.kind) \(entry.anonymousId ?? "-") \(entry.userId ?? "-") \(entry.mergedUserId ?? "-") \(entry.reason.map { "\($0)" } ?? "-") \(entry.eventsMerged)"
        }
        for index in 0..<5 {
            if let person = try await store.person("u\(index)") {
                lines.append("person u\(index): \(person.userId) \(person.anonymousIds) \(person.traits) \(person.firstSeen)")
            }
        }
        return lines
    }

    @Test(arguments: [1, 2, 3, 4] as [UInt64], [false, true])
    func aCachingStoreDecidesAsOneThatLoadsEveryFact(seed: UInt64, allowUserMerge: Bool) async throws {
        let policy = IdentityPolicy(allowUserMerge: allowUserMerge)
        let events = Self.workload(seed: seed, count: 240)
        var random = SplitMix64(seed: seed &+ 100)
        var commits: [[NewEvent]] = []
        var rest = events[...]
        while !rest.isEmpty {
            let size = Int(random.next() % 6) + 1
            commits.append(Array(rest.prefix(size)))
            rest = rest.dropFirst(size)
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("facts-cache-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)

        // One handle for the whole run: facts come from its cache after the first commit of each id.
        let cached = try SQLiteEventStore(path: directory.appendingPathComponent("cached.db").path, identity: policy)
        for commit in commits { _ = try await cached.append(commit, dedupeWindow: .seconds(3600)) }
        // A new handle per commit: an empty cache, so every fact is loaded from the database.
        let loadedPath = directory.appendingPathComponent("loaded.db").path
        for commit in commits {
            let store = try SQLiteEventStore(path: loadedPath, identity: policy)
            _ = try await store.append(commit, dedupeWindow: .seconds(3600))
            try await store.close()
        }
        let loaded = try SQLiteEventStore(path: loadedPath, identity: policy)
        let expected = try await Self.outcome(loaded)
        let actual = try await Self.outcome(cached)
        #expect(expected.count > events.count, "the workload produced activity entries")
        let firstDifference = zip(actual, expected).enumerated().first { $0.element.0 != $0.element.1 }
        #expect(actual.count == expected.count)
        #expect(firstDifference == nil, "line \(firstDifference?.offset ?? -1): cached \(firstDifference?.element.0 ?? "") vs loaded \(firstDifference?.element.1 ?? "")")
        try await cached.close()
        try await loaded.close()
    }

    /// Two processes on one SQLite file: what one erases or merges, the other's next commit knows.
    @Test
    func factsChangedByAnotherHandleAreNotUsedStale() async throws {
        try await StoreContractTests().withStores(StoreContractTests.sqlite, count: 2) { stores in
            let (first, second) = (stores[0], stores[1])
            _ = try await first.append([Event.event("i1", .identify, userId: "u1", anonymousId: "anon", at: 1)], dedupeWindow: .seconds(60))
            // `first` now knows anon belongs to u1, and that u1 is not suppressed.
            #expect(try await second.erase("u1", at: Self.t0 + .seconds(2)) == 1)
            #expect(try await first.append([Event.event("t1", userId: "u1", at: 3)], dedupeWindow: .seconds(60)) == [.suppressed])
            _ = try await first.append([Event.event("i2", .identify, userId: "u2", anonymousId: "anon", at: 4)], dedupeWindow: .seconds(60))
            let person = try #require(try await first.person("u2"))
            #expect(person.anonymousIds == ["anon"], "the erased person's anonymous id is free again")
            // And the other way round: `second` merged anon2 into u3; `first` must refuse u4 for it.
            _ = try await second.append([Event.event("i3", .identify, userId: "u3", anonymousId: "anon2", at: 5)], dedupeWindow: .seconds(60))
            _ = try await first.append([Event.event("i4", .identify, userId: "u4", anonymousId: "anon2", at: 6)], dedupeWindow: .seconds(60))
            let entries = try await first.activity(.anonymousId("anon2"), before: nil, limit: 10).items.compactMap { item -> ActivityEntry? in
                if case .entry(let entry) = item { return entry }
                return nil
            }
            #expect(entries.map(\.kind).sorted { $0.rawValue < $1.rawValue } == [.anonymousMerge, .mergeRefused])
        }
    }

    /// On one handle, erasure and a lifted suppression reach the next commit.
    @Test
    func erasureAndUnsuppressReachTheNextCommitOfTheSameHandle() async throws {
        try await StoreContractTests().withStore(StoreContractTests.sqlite) { store in
            _ = try await store.append([Event.event("i1", .identify, userId: "u1", anonymousId: "anon", at: 1)], dedupeWindow: .seconds(60))
            _ = try await store.append([Event.event("t0", userId: "u1", at: 2)], dedupeWindow: .seconds(60))
            _ = try await store.erase("u1", at: Self.t0 + .seconds(3))
            #expect(try await store.append([Event.event("t1", userId: "u1", at: 4)], dedupeWindow: .seconds(60)) == [.suppressed])
            #expect(try await store.unsuppress("u1"))
            guard case .stored = try await store.append([Event.event("t2", userId: "u1", at: 5)], dedupeWindow: .seconds(60)).first else {
                Issue.record("not stored after the suppression was lifted")
                return
            }
        }
    }
}
