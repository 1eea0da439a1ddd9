import Foundation
import Logging
import Metrics
import SwitchyardCore
import SwitchyardStore
import SwitchyardTesting
import Testing

/// Identity inside the store (SPEC §3), run against every back end — including two handles on one store
/// racing, as two nodes on one PostgreSQL database do.
@Suite("Identity store contract")
struct IdentityStoreContractTests {
    typealias Backend = StoreContractTests.Backend
    let contract = StoreContractTests()
    static let t0 = StoreContractTests.t0

    static func event(
        _ id: String, _ type: EventType = .track, userId: String? = nil, anonymousId: String? = nil,
        previousId: String? = nil, at offset: Int = 0, body: String? = nil
    ) -> NewEvent {
        let time = t0 + .seconds(offset)
        return NewEvent(
            source: "web", messageId: id, type: type, userId: userId, anonymousId: anonymousId,
            eventName: type == .track ? "Clicked" : nil, previousId: previousId, timestamp: time, receivedAt: time,
            body: Array((body ?? #"{"type":"\#(type.rawValue)","messageId":"\#(id)"}"#).utf8))
    }

    func append(_ store: any EventStore, _ events: NewEvent...) async throws -> [AppendResult] {
        try await store.append(events, dedupeWindow: .seconds(3600))
    }

    /// Holds every stored event for `mixpanel`, as an `anonymous: hold` destination that read them would.
    func holdEverything(_ store: any EventStore) async throws {
        let anonymous = try await store.events(after: 0, limit: 10)
        try await store.settle(
            DeliverySettlement(position: anonymous.last?.sequence, delivered: 0, deadLetters: [], replayedIds: [], held: anonymous, at: Self.t0),
            for: "mixpanel")
    }

    func entries(_ store: any EventStore, _ scope: ActivityScope = .identified) async throws -> [ActivityEntry] {
        try await store.activity(scope, before: nil, limit: 100).items.compactMap {
            if case .entry(let entry) = $0 { return entry }
            return nil
        }
    }

    @Test(arguments: StoreContractTests.backends)
    func anIdentifyMergesTheAnonymousIdsStoredEvents(_ backend: Backend) async throws {
        try await contract.withStore(backend) { (store) async throws in
            _ = try await append(store, Self.event("a1", anonymousId: "anon-1"), Self.event("a2", .page, anonymousId: "anon-1", at: 1))
            _ = try await append(
                store,
                Self.event(
                    "id1", .identify, userId: "u1", anonymousId: "anon-1", at: 2,
                    body: #"{"type":"identify","traits":{"plan":"pro"}}"#),
                Self.event("late", anonymousId: "anon-1", at: 3))
            let events = try await store.events(after: 0, limit: 10)
            #expect(events.map(\.resolvedUserId) == ["u1", "u1", "u1", "u1"], "stored events and a late one resolve to the person")
            #expect(events[2].mergedAnonymousId == "anon-1")
            let person = try #require(try await store.person("u1"))
            #expect(person.anonymousIds == ["anon-1"])
            #expect(person.traits["plan"] == .string("pro"))
            let merges = try await entries(store).filter { $0.kind == .anonymousMerge }
            #expect(merges.count == 1)
            #expect(merges.first?.eventsMerged == 2)
            #expect(merges.first?.anonymousId == "anon-1")
        }
    }

    /// Several visitors merge within one append (one group commit): each merge attaches only that visitor's
    /// earlier events, and the per-person limit counts merges of the same append.
    @Test(arguments: StoreContractTests.backends)
    func mergesWithinOneAppendAttachEachVisitorsEarlierEvents(_ backend: Backend) async throws {
        var policy = IdentityPolicy()
        policy.maxAnonymousIds = 2
        try await contract.withStore(backend, identity: policy) { (store) async throws in
            _ = try await append(
                store,
                Self.event("v1-a", anonymousId: "v1"), Self.event("v2-a", anonymousId: "v2"),
                Self.event("v1-both", userId: "u1", anonymousId: "v1", at: 1),
                Self.event("v1-late", anonymousId: "v1", at: 2),
                Self.event("v2-both", userId: "u2", anonymousId: "v2", at: 3),
                Self.event("v3-both", userId: "u1", anonymousId: "v3", at: 4),
                Self.event("v4-both", userId: "u1", anonymousId: "v4", at: 5))
            let events = try await store.events(after: 0, limit: 20)
            let resolved = Dictionary(uniqueKeysWithValues: events.map { ($0.event.messageId, $0.resolvedUserId) })
            #expect(resolved == ["v1-a": "u1", "v2-a": "u2", "v1-both": "u1", "v1-late": "u1", "v2-both": "u2", "v3-both": "u1", "v4-both": "u1"])
            #expect(events.first { $0.event.messageId == "v1-both" }?.mergedAnonymousId == "v1")
            #expect(events.first { $0.event.messageId == "v4-both" }?.mergedAnonymousId == nil, "over the limit: no merge")
            let all = try await entries(store)
            let merges = all.filter { $0.kind == .anonymousMerge }.sorted { $0.id < $1.id }
            #expect(merges.map(\.anonymousId) == ["v1", "v2", "v3"])
            #expect(merges.map(\.eventsMerged) == [1, 1, 0])
            #expect(all.filter { $0.kind == .mergeRefused }.map(\.reason) == [.tooManyAnonymousIds])
            #expect(try await store.person("u1")?.anonymousIds.sorted() == ["v1", "v3"])
        }
    }

    @Test(arguments: StoreContractTests.backends)
    func laterIdentifyCallsWinPerTraitKey(_ backend: Backend) async throws {
        try await contract.withStore(backend) { (store) async throws in
            _ = try await append(
                store,
                Self.event("i1", .identify, userId: "u", body: #"{"type":"identify","traits":{"a":1,"b":1}}"#),
                Self.event("i2", .identify, userId: "u", at: 1, body: #"{"type":"identify","traits":{"b":2}}"#))
            _ = try await append(store, Self.event("i3", .identify, userId: "u", at: 2, body: #"{"type":"identify","traits":{"c":3}}"#))
            let traits = try #require(try await store.person("u")).traits
            #expect(traits["a"] == .number("1"))
            #expect(traits["b"] == .number("2"))
            #expect(traits["c"] == .number("3"))
        }
    }

    @Test(arguments: StoreContractTests.backends)
    func aTakenAnonymousIdIsRefusedWithAReason(_ backend: Backend) async throws {
        try await contract.withStore(backend) { (store) async throws in
            _ = try await append(store, Self.event("i1", .identify, userId: "u1", anonymousId: "shared"))
            _ = try await append(store, Self.event("i2", .identify, userId: "u2", anonymousId: "shared", at: 1))
            let refusals = try await entries(store).filter { $0.kind == .mergeRefused }
            #expect(refusals.map(\.reason) == [.anonymousIdTaken])
            #expect(refusals.first?.userId == "u2")
            #expect(try await store.person("u1")?.anonymousIds == ["shared"])
            #expect(try await store.person("u2")?.anonymousIds == [])
        }
    }

    @Test(arguments: StoreContractTests.backends)
    func anAliasOfTwoUsersMergesOnlyWhenAllowed(_ backend: Backend) async throws {
        for allowed in [false, true] {
            var policy = IdentityPolicy()
            policy.allowUserMerge = allowed
            try await contract.withStore(backend, identity: policy) { (store) async throws in
                _ = try await append(store, Self.event("u1", .identify, userId: "old"), Self.event("u2", .identify, userId: "new", at: 1))
                _ = try await append(store, Self.event("t", userId: "new", at: 2))
                _ = try await append(store, Self.event("al", .alias, userId: "new", previousId: "old", at: 3))
                let kinds = try await entries(store).map(\.kind)
                if allowed {
                    #expect(kinds.contains(.personMerge))
                    #expect(try await store.person("new")?.userId == "old", "the older person's id is kept")
                    let events = try await store.events(after: 0, limit: 10)
                    #expect(events.allSatisfy { $0.resolvedUserId == "old" })
                } else {
                    #expect(try await entries(store).first { $0.kind == .mergeRefused }?.reason == .userMergeNotAllowed)
                    #expect(try await store.person("new")?.userId == "new")
                }
            }
        }
    }

    @Test(arguments: StoreContractTests.backends)
    func heldEventsAreReleasedByTheMergeUnderThePersonsId(_ backend: Backend) async throws {
        try await contract.withStore(backend) { (store) async throws in
            _ = try await append(store, Self.event("a1", anonymousId: "anon"), Self.event("a2", anonymousId: "anon", at: 1))
            try await holdEverything(store)
            #expect(try await store.holdCount(of: "mixpanel") == 2)
            #expect(try await store.releasableHolds(of: "mixpanel", limit: 10).isEmpty, "nothing is released before the merge")
            _ = try await append(store, Self.event("id", .identify, userId: "u9", anonymousId: "anon", at: 2))
            let released = try await store.releasableHolds(of: "mixpanel", limit: 10)
            #expect(released.map(\.stored.event.messageId) == ["a1", "a2"], "in log order")
            #expect(released.allSatisfy { $0.stored.resolvedUserId == "u9" })
            try await store.settle(
                DeliverySettlement(position: nil, delivered: 2, deadLetters: [], replayedIds: [], releasedHoldIds: released.map(\.id), at: Self.t0),
                for: "mixpanel")
            #expect(try await store.holdCount(of: "mixpanel") == 0)
        }
    }

    /// SPEC §4 "Stable wire identity": the identity an event had when stored never changes — not with the merge
    /// that resolves it later, not with a person merge — while `resolvedUserId` follows them.
    @Test(arguments: StoreContractTests.backends)
    func theIdentityAsStoredNeverChanges(_ backend: Backend) async throws {
        var policy = IdentityPolicy()
        policy.allowUserMerge = true
        try await contract.withStore(backend, identity: policy) { (store) async throws in
            _ = try await append(store, Self.event("old", .identify, userId: "old"))
            _ = try await append(store, Self.event("early", anonymousId: "anon", at: 1), Self.event("own", userId: "new", at: 1))
            _ = try await append(store, Self.event("id", .identify, userId: "new", anonymousId: "anon", at: 2))
            _ = try await append(store, Self.event("late", anonymousId: "anon", at: 3))
            // The older person's id is kept: "new" merges into "old".
            _ = try await append(store, Self.event("al", .alias, userId: "new", previousId: "old", at: 4))
            let events = try await store.events(after: 0, limit: 10).filter { $0.event.messageId != "al" }
            let stored = Dictionary(uniqueKeysWithValues: events.map { ($0.event.messageId, $0.storedUserId ?? "none") })
            let resolved = Dictionary(uniqueKeysWithValues: events.map { ($0.event.messageId, $0.resolvedUserId) })
            #expect(stored == ["old": "old", "early": "none", "own": "new", "id": "new", "late": "new"])
            #expect(resolved["early"] == "old", "resolution follows the merge and the person merge")
            #expect(resolved["late"] == "old")
            // Copies keep it: a time-range replay carries what the log said.
            _ = try await store.enqueueReplay(for: "hook", receivedFrom: Self.t0, to: Self.t0 + .seconds(10))
            let queued = try await store.replayQueue(of: "hook", limit: 10)
            #expect(
                queued.filter { $0.stored.event.messageId != "al" }.map(\.stored.storedUserId) == events.map(\.storedUserId))
        }
    }

    /// An event that pairs a user id with an anonymous id identity did not link to that person (a shared
    /// device whose id another person took) says so, so no vendor is told to link them.
    @Test(arguments: StoreContractTests.backends)
    func eventsPairingIdsIdentityRefusedSaySo(_ backend: Backend) async throws {
        try await contract.withStore(backend) { (store) async throws in
            _ = try await append(store, Self.event("alice", .identify, userId: "alice", anonymousId: "device"))
            _ = try await append(store, Self.event("bob", .identify, userId: "bob", anonymousId: "device", at: 1))
            _ = try await append(store, Self.event("bob-t", userId: "bob", anonymousId: "device", at: 2))
            _ = try await append(store, Self.event("alice-t", userId: "alice", anonymousId: "device", at: 3))
            _ = try await append(store, Self.event("anon-t", anonymousId: "device", at: 4))
            _ = try await append(store, Self.event("user-t", userId: "alice", at: 5))
            let events = try await store.events(after: 0, limit: 10)
            let unlinked = Dictionary(uniqueKeysWithValues: events.map { ($0.event.messageId, $0.anonymousIdUnlinked) })
            #expect(unlinked == ["alice": false, "bob": true, "bob-t": true, "alice-t": false, "anon-t": false, "user-t": false])
            _ = try await store.enqueueReplay(for: "hook", receivedFrom: Self.t0, to: Self.t0 + .seconds(10))
            let queued = try await store.replayQueue(of: "hook", limit: 10)
            #expect(queued.map(\.stored.anonymousIdUnlinked) == events.map(\.anonymousIdUnlinked))
        }
    }

    /// The worker releases one anonymous id's holds when it reaches the merge, a page at a time; holding an
    /// event twice (a time-range replay parks it again) keeps one hold.
    @Test(arguments: StoreContractTests.backends)
    func holdsReleaseByAnonymousIdInPagesAndAreKeptOncePerEvent(_ backend: Backend) async throws {
        try await contract.withStore(backend) { (store) async throws in
            _ = try await append(
                store, Self.event("a1", anonymousId: "a"), Self.event("b1", anonymousId: "b", at: 1),
                Self.event("a2", anonymousId: "a", at: 2), Self.event("a3", anonymousId: "a", at: 3))
            try await holdEverything(store)
            try await holdEverything(store)
            #expect(try await store.holdCount(of: "mixpanel") == 4, "held once per event")
            _ = try await append(store, Self.event("ia", .identify, userId: "ua", anonymousId: "a", at: 4))
            _ = try await append(store, Self.event("ib", .identify, userId: "ub", anonymousId: "b", at: 5))
            let first = try await store.releasableHolds(
                of: "mixpanel", anonymousId: "a", after: 0, limit: 2, receivedSince: Self.t0)
            #expect(first.map(\.stored.event.messageId) == ["a1", "a2"])
            let rest = try await store.releasableHolds(
                of: "mixpanel", anonymousId: "a", after: first.last?.stored.sequence ?? 0, limit: 2, receivedSince: Self.t0)
            #expect(rest.map(\.stored.event.messageId) == ["a3"])
            #expect(rest.allSatisfy { $0.stored.resolvedUserId == "ua" })
            let young = try await store.releasableHolds(
                of: "mixpanel", anonymousId: "a", after: 0, limit: 10, receivedSince: Self.t0 + .seconds(2))
            #expect(young.map(\.stored.event.messageId) == ["a2", "a3"], "older than the cutoff: not released")
            let b = try await store.releasableHolds(of: "mixpanel", anonymousId: "b", after: 0, limit: 10, receivedSince: Self.t0)
            #expect(b.map(\.stored.event.messageId) == ["b1"])
        }
    }

    @Test(arguments: StoreContractTests.backends)
    func erasureDeletesAndSuppressesUntilLifted(_ backend: Backend) async throws {
        try await contract.withStore(backend) { (store) async throws in
            _ = try await append(store, Self.event("a", anonymousId: "anon"), Self.event("i", .identify, userId: "gone", anonymousId: "anon", at: 1))
            #expect(try await store.erase("gone", at: Self.t0 + .seconds(2)) == 2)
            #expect(try await store.eventCount() == 0)
            #expect(try await store.person("gone") == nil)
            #expect(try await append(store, Self.event("again", userId: "gone", at: 3)) == [.suppressed])
            #expect(try await store.unsuppress("gone"))
            guard case .stored = try await append(store, Self.event("back", userId: "gone", at: 4)).first else {
                Issue.record("not stored after the suppression was lifted")
                return
            }
            #expect(try await store.erase("never-seen", at: Self.t0) == nil)
        }
    }

    @Test(arguments: StoreContractTests.backends)
    func retentionPurgesNeverMergedAnonymousEventsFirst(_ backend: Backend) async throws {
        try await contract.withStore(backend) { (store) async throws in
            _ = try await append(store, Self.event("anon", anonymousId: "a"), Self.event("known", userId: "u", at: 0))
            let report = try await store.purge(
                now: Self.t0 + .seconds(7200), anonymousTTL: .seconds(3600), identifiedTTL: .seconds(86400), holdTTLs: [:])
            #expect(report.anonymousEvents == 1)
            #expect(report.identifiedEvents == 0)
            #expect(try await store.events(after: 0, limit: 10).map(\.event.messageId) == ["known"])
        }
    }

    /// Two nodes receive an identify for the same anonymous id at the same moment: one merges, the other is
    /// refused, never both.
    @Test(arguments: StoreContractTests.backends)
    func racingIdentifiesOnTwoHandlesMergeOnce(_ backend: Backend) async throws {
        try await contract.withStores(backend, count: 2) { stores in
            for round in 0..<10 {
                let anonymousId = "race-\(round)"
                async let first = stores[0].append(
                    [Self.event("x\(round)", .identify, userId: "ux\(round)", anonymousId: anonymousId)], dedupeWindow: .seconds(60))
                async let second = stores[1].append(
                    [Self.event("y\(round)", .identify, userId: "uy\(round)", anonymousId: anonymousId)], dedupeWindow: .seconds(60))
                _ = try await (first, second)
                let scoped = try await entries(stores[0], .anonymousId(anonymousId))
                #expect(scoped.filter { $0.kind == .anonymousMerge }.count == 1, "round \(round)")
                #expect(scoped.filter { $0.kind == .mergeRefused }.map(\.reason) == [.anonymousIdTaken], "round \(round)")
            }
        }
    }

    /// Appends from two handles interleave, yet a reader that follows the log by position — as delivery
    /// does — never skips an event that commits after a later sequence became visible.
    @Test(arguments: StoreContractTests.backends)
    func aReaderFollowingTheLogNeverSkipsConcurrentAppends(_ backend: Backend) async throws {
        try await contract.withStores(backend, count: 3) { stores in
            let writers = 2
            let batches = 40
            try await withThrowingTaskGroup(of: Int.self) { group in
                for writer in 0..<writers {
                    group.addTask {
                        for batch in 0..<batches {
                            _ = try await stores[writer].append(
                                (0..<5).map { Self.event("w\(writer)-\(batch)-\($0)", userId: "u\($0)") }, dedupeWindow: .seconds(60))
                        }
                        return 0
                    }
                }
                group.addTask {
                    var position: Int64 = 0
                    var seen = 0
                    let expected = writers * batches * 5
                    let deadline = ContinuousClock.now + .seconds(60)
                    while seen < expected, ContinuousClock.now < deadline {
                        let page = try await stores[2].events(after: position, limit: 50)
                        seen += page.count
                        position = page.last?.sequence ?? position
                    }
                    return seen
                }
                var seen: [Int] = []
                for try await result in group { seen.append(result) }
                #expect(seen.max() == writers * batches * 5)
            }
        }
    }
}

// MARK: Bounded traits (SPEC §2, issue 11)

extension IdentityStoreContractTests {
    /// Trait keys a store reported dropped: the counter and the warnings, as `/metrics` and the log show them.
    final class DropReports: Sendable {
        let counted = Locked(0)
        let warnings = Locked<[Logger.Metadata]>([])

        var traitsDrops: IdentityTraitsDrops {
            IdentityTraitsDrops(
                metrics: CountingMetrics(reports: self),
                logger: Logger(label: "traits-test") { _ in WarningCapture(reports: self) })
        }

        struct CountingMetrics: MetricsFactory {
            let reports: DropReports
            func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
                label == "switchyard_identity_traits_dropped_total" ? Handler(reports: reports) : NOOPMetricsHandler.instance
            }
            func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
                NOOPMetricsHandler.instance
            }
            func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler { NOOPMetricsHandler.instance }
            func destroyCounter(_ handler: any CounterHandler) {}
            func destroyRecorder(_ handler: any RecorderHandler) {}
            func destroyTimer(_ handler: any TimerHandler) {}

            final class Handler: CounterHandler, Sendable {
                let reports: DropReports
                init(reports: DropReports) { self.reports = reports }
                func increment(by amount: Int64) { reports.counted.withLock { $0 += Int(amount) } }
                func reset() {}
            }
        }

        struct WarningCapture: LogHandler {
            let reports: DropReports
            var metadata: Logger.Metadata = [:]
            var logLevel: Logger.Level = .warning
            subscript(metadataKey key: String) -> Logger.Metadata.Value? {
                get { metadata[key] }
                set { metadata[key] = newValue }
            }
            func log(event: LogEvent) {
                guard event.level == .warning else { return }
                reports.warnings.withLock { $0.append(event.metadata ?? [:]) }
            }
        }
    }

    /// Opens `backend` at a fresh location with the drop reports wired in, as the gateway opens it.
    func withReportingStore(
        _ backend: Backend, identity: IdentityPolicy, before prepare: (String) async throws -> Void = { _ in },
        _ body: (any EventStore, DropReports) async throws -> Void
    ) async throws {
        let (location, cleanup) = try await backend.newLocation()
        let reports = DropReports()
        let store: any EventStore
        do {
            try await prepare(location)
            if backend.name == "sqlite" {
                store = try SQLiteEventStore(path: location, identity: identity, traitsDrops: reports.traitsDrops)
            } else {
                var logger = Logger(label: "store-test")
                logger.logLevel = .warning
                store = try await PostgresEventStore(url: location, identity: identity, traitsDrops: reports.traitsDrops, logger: logger)
            }
        } catch {
            await cleanup()
            throw error
        }
        do {
            try await body(store, reports)
        } catch {
            try? await store.close()
            await cleanup()
            throw error
        }
        try? await store.close()
        await cleanup()
    }

    static func identify(_ id: String, userId: String, at offset: Int = 0, traits: String) -> NewEvent {
        event(id, .identify, userId: userId, at: offset, body: #"{"type":"identify","messageId":"\#(id)","traits":\#(traits)}"#)
    }

    /// The reproduction from issue 11: 32 identifies with 2,000 new trait keys each for one user, in four
    /// commits of eight. The person keeps exactly `max_traits` keys, the rest are counted and logged once per
    /// commit; and it completes well within a bound only a quadratic merge would exceed (it took minutes).
    @Test(arguments: StoreContractTests.backends, [100, nil])
    func anIdentifyStormKeepsMaxTraitsKeys(_ backend: Backend, _ maxTraits: Int?) async throws {
        var policy = IdentityPolicy()
        if let maxTraits { policy.maxTraits = maxTraits }
        let cap = policy.maxTraits
        try await withReportingStore(backend, identity: policy) { store, reports in
            let started = ContinuousClock.now
            for commit in 0..<4 {
                let identifies = (0..<8).map { index in
                    let call = commit * 8 + index
                    let members = (0..<2000).map { #""k\#(call)-\#($0)":\#($0)"# }.joined(separator: ",")
                    return Self.identify("i\(call)", userId: "storm", at: call, traits: "{\(members)}")
                }
                let results = try await store.append(identifies, dedupeWindow: .seconds(3600))
                #expect(results.allSatisfy { if case .stored = $0 { true } else { false } })
            }
            let elapsed = ContinuousClock.now - started
            #expect(elapsed < .seconds(60), "32 identifies of 2,000 keys took \(elapsed)")
            let traits = try #require(try await store.person("storm")).traits
            #expect(traits.keys.count == cap)
            #expect(traits["k0-0"] == .number("0"), "the first keys are kept")
            #expect(traits["k31-1999"] == nil)
            #expect(reports.counted.value == 32 * 2000 - cap)
            let warnings = reports.warnings.value
            #expect(warnings.count == 4, "one warning per person per commit")
            #expect(warnings.allSatisfy { $0["switchyard.user_id"] == "storm" })
        }
    }

    /// Once the cap is reached, the person's existing keys keep being updated (later identify wins), and
    /// keys are compared decoded on both back ends: `"a\u0062"` is `ab`.
    @Test(arguments: StoreContractTests.backends)
    func cappedTraitsKeepBeingUpdatedByDecodedKey(_ backend: Backend) async throws {
        var policy = IdentityPolicy()
        policy.maxTraits = 2
        try await withReportingStore(backend, identity: policy) { store, reports in
            _ = try await append(store, Self.identify("i1", userId: "u", traits: #"{"ab":1,"plan":"free","extra":1}"#))
            _ = try await append(
                store, Self.identify("i2", userId: "u", at: 1, traits: #"{"a\u0062":2,"more":1}"#),
                Self.identify("i3", userId: "u", at: 2, traits: #"{"plan":{"name":"pro"}}"#))
            let traits = try #require(try await store.person("u")).traits
            #expect(traits.keys == ["ab", "plan"])
            #expect(traits["ab"] == .number("2"))
            #expect(traits["plan"] == .object(JSONObject([("name", .string("pro"))])))
            #expect(reports.counted.value == 2)
            #expect(reports.warnings.value.count == 2, "one per commit that dropped keys")
        }
    }

    /// Two persons merged by an alias: the kept (older) person's traits win, the other's fill the keys it
    /// lacks, and the merged person stays within the cap.
    @Test(arguments: StoreContractTests.backends)
    func aPersonMergeStaysWithinTheCap(_ backend: Backend) async throws {
        var policy = IdentityPolicy()
        policy.maxTraits = 3
        policy.allowUserMerge = true
        try await withReportingStore(backend, identity: policy) { store, reports in
            _ = try await append(store, Self.identify("i1", userId: "old", traits: #"{"a":"old","b":"old"}"#))
            _ = try await append(store, Self.identify("i2", userId: "new", at: 1, traits: #"{"b":"new","c":"new","d":"new"}"#))
            _ = try await append(store, Self.event("al", .alias, userId: "new", previousId: "old", at: 2))
            let person = try #require(try await store.person("new"))
            #expect(person.userId == "old")
            #expect(person.traits.keys.count == 3)
            #expect(person.traits["a"] == .string("old"))
            #expect(person.traits["b"] == .string("old"), "the kept person's value wins")
            #expect(person.traits["c"] == .string("new"))
            #expect(reports.counted.value == 1)
        }
    }

    /// A shared device sending each event under another user id makes one refusal entry per event; they are
    /// purged with the events of their time instead of growing the activity log for ever. Merges stay.
    @Test(arguments: StoreContractTests.backends)
    func refusalEntriesArePurgedWithTheEventsOfTheirTime(_ backend: Backend) async throws {
        try await contract.withStore(backend) { (store) async throws in
            _ = try await append(store, Self.event("i1", .identify, userId: "u1", anonymousId: "shared"))
            _ = try await store.append(
                (0..<20).map { Self.event("s\($0)", userId: "stranger-\($0)", anonymousId: "shared", at: 1) }, dedupeWindow: .seconds(3600))
            #expect(try await entries(store, .anonymousId("shared")).filter { $0.kind == .mergeRefused }.count == 20)
            let day = Duration.seconds(86_400)
            _ = try await store.purge(now: Self.t0 + .seconds(86_400 * 2), anonymousTTL: day, identifiedTTL: day, holdTTLs: [:])
            let kept = try await entries(store, .anonymousId("shared"))
            #expect(kept.map(\.kind) == [.anonymousMerge])
        }
    }

    /// Clients can give one person any number of user ids (`alias` of a known user to a new id). Erasing the
    /// person removes and suppresses every one of them, in statements whose number does not grow with the ids.
    @Test(arguments: StoreContractTests.backends)
    func erasingAPersonWithManyUserIdsRemovesAndSuppressesEachOfThem(_ backend: Backend) async throws {
        try await contract.withStore(backend) { (store) async throws in
            _ = try await append(store, Self.event("p", .identify, userId: "p", anonymousId: "device"))
            _ = try await store.append(
                (0..<300).map { Self.event("al\($0)", .alias, userId: "alias-\($0)", previousId: "p", at: 1) }, dedupeWindow: .seconds(3600))
            _ = try await store.append((0..<300).map { Self.event("t\($0)", userId: "alias-\($0)", at: 2) }, dedupeWindow: .seconds(3600))
            _ = try await append(store, Self.event("other", userId: "someone-else", at: 2))
            #expect(try await store.events(after: 0, limit: 1000).filter { $0.resolvedUserId == "p" }.count == 601)
            #expect(try await store.erase("alias-7", at: Self.t0 + .seconds(3)) == 601)
            #expect(try await store.events(after: 0, limit: 1000).map(\.event.messageId) == ["other"])
            #expect(try await store.person("p") == nil)
            #expect(try await append(store, Self.event("again-1", userId: "alias-299", at: 4)) == [.suppressed])
            #expect(try await append(store, Self.event("again-2", userId: "p", at: 4)) == [.suppressed])
            guard case .stored = try await append(store, Self.event("fine", userId: "someone-else", at: 4)).first else {
                Issue.record("another person's event was suppressed")
                return
            }
        }
    }

    /// Traits stored under a larger `max_traits` (or before the cap existed) are read through the current cap,
    /// and the next identify stores them trimmed, the trimmed keys counted.
    @Test(arguments: StoreContractTests.backends)
    func traitsStoredOverTheCapAreReadAndRewrittenWithinIt(_ backend: Backend) async throws {
        var capped = IdentityPolicy()
        capped.maxTraits = 50
        let stored = { (location: String) async throws in
            var larger = IdentityPolicy()
            larger.maxTraits = 1_000_000
            let before = try await backend.open(location, larger)
            let identifies = (0..<4).map { part in
                let members = (part * 2000..<(part + 1) * 2000).map { #""k\#($0)":0"# }.joined(separator: ",")
                return Self.identify("old-\(part)", userId: "legacy", at: part, traits: "{\(members)}")
            }
            _ = try await before.append(identifies, dedupeWindow: .seconds(3600))
            #expect(try await before.person("legacy")?.traits.keys.count ?? 0 > 1000, "stored under the larger cap")
            try await before.close()
        }
        try await withReportingStore(backend, identity: capped, before: stored) { store, reports in
            #expect(try #require(try await store.person("legacy")).traits.keys.count == 50)
            _ = try await append(store, Self.identify("new", userId: "legacy", at: 10, traits: #"{"k0":1,"fresh":1}"#))
            let rewritten = try #require(try await store.person("legacy")).traits
            #expect(rewritten.keys.count == 50)
            #expect(rewritten["k0"] == .number("1"))
            #expect(rewritten["fresh"] == nil)
            #expect(reports.counted.value > 1000)
        }
    }

    /// One commit with identifies of many more persons than the store holds traits for at once: each person
    /// still ends with the later value per key.
    @Test(arguments: StoreContractTests.backends)
    func identifiesOfManyPersonsInOneCommitEachKeepTheLaterValue(_ backend: Backend) async throws {
        try await contract.withStore(backend) { (store) async throws in
            let persons = 300
            var events: [NewEvent] = []
            for round in 0..<2 {
                for person in 0..<persons {
                    events.append(
                        Self.identify(
                            "i\(round)-\(person)", userId: "p\(person)", at: round,
                            traits: #"{"round":\#(round),"first-\#(round)":true}"#))
                }
            }
            _ = try await store.append(events, dedupeWindow: .seconds(3600))
            for person in [0, 1, 63, 64, 65, 150, 299] {
                let traits = try #require(try await store.person("p\(person)")).traits
                #expect(traits.keys == ["round", "first-0", "first-1"], "p\(person)")
                #expect(traits["round"] == .number("1"), "p\(person)")
            }
        }
    }

    /// A late window as long as a duration goes (a config value) releases holds like any other, instead of
    /// overflowing the database's arithmetic.
    @Test(arguments: StoreContractTests.backends)
    func theLongestLateWindowStillReleasesHolds(_ backend: Backend) async throws {
        var policy = IdentityPolicy()
        policy.lateWindow = .seconds(Int64.max)
        try await contract.withStore(backend, identity: policy) { (store) async throws in
            _ = try await append(store, Self.event("a1", anonymousId: "anon"))
            try await holdEverything(store)
            _ = try await append(store, Self.event("id", .identify, userId: "u9", anonymousId: "anon", at: 2))
            #expect(try await store.releasableHolds(of: "mixpanel", limit: 10).map(\.stored.event.messageId) == ["a1"])
        }
    }

    // MARK: SPEC §3 rev. 2026-12-03 — the engine's rows that touch storage

    /// analytics.js batches a sign-up's `alias` and `identify` together: one group commit, one merge.
    @Test(arguments: StoreContractTests.backends)
    func aliasThenIdentifyOfOneAnonymousIdInOneAppendMergesOnce(_ backend: Backend) async throws {
        try await contract.withStore(backend) { (store) async throws in
            _ = try await append(store, Self.event("p0", .page, anonymousId: "A"))
            let results = try await append(
                store,
                Self.event("p1", .page, anonymousId: "A", at: 1),
                Self.event("al", .alias, userId: "u1", previousId: "A", at: 2),
                Self.event("id", .identify, userId: "u1", anonymousId: "A", at: 3, body: #"{"type":"identify","traits":{"email":"a@b"}}"#),
                Self.event("t", anonymousId: "A", at: 4))
            #expect(results.allSatisfy { if case .stored = $0 { true } else { false } })
            let events = try await store.events(after: 0, limit: 10)
            #expect(events.map(\.resolvedUserId) == ["u1", "u1", "u1", "u1", "u1"])
            #expect(events.filter { $0.mergedAnonymousId == "A" }.map(\.event.messageId) == ["al"])
            let merges = try await entries(store).filter { $0.kind == .anonymousMerge }
            #expect(merges.map(\.eventsMerged) == [2], "the page views before the alias")
            let person = try #require(try await store.person("u1"))
            #expect(person.anonymousIds == ["A"])
            #expect(person.traits["email"] == .string("a@b"))
        }
    }

    /// Several triggers for one anonymous id in one commit, by two users: the second is refused and the id
    /// becomes contested, in the same commit as in two.
    @Test(arguments: StoreContractTests.backends)
    func aContestedAnonymousIdStaysAnonymous(_ backend: Backend) async throws {
        for split in [false, true] {
            try await contract.withStore(backend) { (store) async throws in
                let first = Self.event("i1", .identify, userId: "u1", anonymousId: "A")
                let second = Self.event("i2", .identify, userId: "u2", anonymousId: "A", at: 1)
                if split {
                    _ = try await append(store, first)
                    _ = try await append(store, second)
                } else {
                    _ = try await append(store, first, second)
                }
                _ = try await append(store, Self.event("lone", anonymousId: "A", at: 2), Self.event("again", userId: "u2", anonymousId: "A", at: 3))
                let resolved = try await store.events(after: 0, limit: 10).map(\.resolvedUserId)
                #expect(resolved == ["u1", "u2", nil, "u2"], "split: \(split)")
                let refusals = try await entries(store).filter { $0.kind == .mergeRefused }
                #expect(refusals.map(\.reason) == [.anonymousIdTaken], "recorded once")
                #expect(MergeRefusal.anonymousIdTaken.explanation.contains("contested"))
                #expect(try await store.person("u1")?.anonymousIds == ["A"])
            }
        }
    }

    @Test(arguments: StoreContractTests.backends)
    func traitsOfAnIdentifyWithoutUserIdJoinThePersonOnMerge(_ backend: Backend) async throws {
        try await contract.withStore(backend) { (store) async throws in
            _ = try await append(
                store,
                Self.event("a1", .identify, anonymousId: "A", body: #"{"type":"identify","traits":{"plan":"free","seen":1}}"#))
            #expect(try await store.person("A") == nil, "an anonymous id is no person")
            _ = try await append(
                store,
                Self.event("i1", .identify, userId: "u1", anonymousId: "A", at: 1, body: #"{"type":"identify","traits":{"plan":"pro"}}"#))
            let traits = try #require(try await store.person("u1")).traits
            #expect(traits["plan"] == .string("pro"), "the later identify wins")
            #expect(traits["seen"] == .number("1"))
            // Resolved by its anonymous id (a late event): updates the person.
            _ = try await append(
                store, Self.event("a2", .identify, anonymousId: "A", at: 2, body: #"{"type":"identify","traits":{"seen":2}}"#))
            #expect(try await store.person("u1")?.traits["seen"] == .number("2"))
        }
    }

    /// A shared device: erasing u1 keeps u2's events that carry u1's anonymous id.
    @Test(arguments: StoreContractTests.backends)
    func erasureNeverRemovesAnotherPersonsEvents(_ backend: Backend) async throws {
        try await contract.withStore(backend) { (store) async throws in
            _ = try await append(
                store,
                Self.event("a", anonymousId: "A"), Self.event("i1", .identify, userId: "u1", anonymousId: "A", at: 1),
                Self.event("i2", .identify, userId: "u2", anonymousId: "A", at: 2), Self.event("t2", userId: "u2", anonymousId: "A", at: 3))
            #expect(try await store.erase("u1", at: Self.t0 + .seconds(4)) == 2)
            let left = try await store.events(after: 0, limit: 10)
            #expect(left.map(\.event.messageId) == ["i2", "t2"])
            #expect(try await store.storedSequences(among: left.map(\.sequence) + [Int64.max - 1]) == Set(left.map(\.sequence)))
            #expect(try await store.person("u2") != nil)
        }
    }

    @Test(arguments: StoreContractTests.backends)
    func aMergeDoesNotReleaseHoldsPastTheirTTL(_ backend: Backend) async throws {
        try await contract.withStore(backend) { (store) async throws in
            _ = try await append(store, Self.event("old", anonymousId: "anon"), Self.event("new", anonymousId: "anon", at: 100))
            try await holdEverything(store)
            _ = try await append(store, Self.event("id", .identify, userId: "u9", anonymousId: "anon", at: 200))
            let released = try await store.releasableHolds(of: "mixpanel", limit: 10, receivedSince: Self.t0 + .seconds(50))
            #expect(released.map(\.stored.event.messageId) == ["new"])
        }
    }

    /// A visitor who never signs up leaves no traits behind once their events are past anonymous_ttl.
    @Test(arguments: StoreContractTests.backends)
    func anonymousTraitsArePurgedWithTheirEvents(_ backend: Backend) async throws {
        try await contract.withStore(backend) { (store) async throws in
            _ = try await append(
                store, Self.event("a1", .identify, anonymousId: "A", body: #"{"type":"identify","traits":{"plan":"free"}}"#),
                Self.event("b1", .identify, anonymousId: "B", at: 86_400 * 2, body: #"{"type":"identify","traits":{"plan":"free"}}"#))
            let day = Duration.seconds(86_400)
            _ = try await store.purge(now: Self.t0 + .seconds(86_400 * 2), anonymousTTL: day, identifiedTTL: day * 30, holdTTLs: [:])
            _ = try await append(
                store, Self.event("i1", .identify, userId: "u1", anonymousId: "A", at: 86_400 * 2 + 1),
                Self.event("i2", .identify, userId: "u2", anonymousId: "B", at: 86_400 * 2 + 2))
            #expect(try await store.person("u1")?.traits["plan"] == nil, "purged with A's events")
            #expect(try await store.person("u2")?.traits["plan"] == .string("free"), "B's events are recent")
        }
    }
}
