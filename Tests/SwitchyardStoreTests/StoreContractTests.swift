import Foundation
import SwitchyardCore
import Logging
import SwitchyardStore
import SwitchyardTesting
import Testing

/// The storage contract. Every back end runs this same suite (`backends` lists them).
@Suite("Event store contract")
struct StoreContractTests {
    /// A back end under test: where a fresh store lives, and how to open it there (more than once, as
    /// several nodes or processes do).
    struct Backend: Sendable, CustomTestStringConvertible {
        var name: String
        var newLocation: @Sendable () async throws -> (location: String, cleanup: @Sendable () async -> Void)
        var open: @Sendable (_ location: String, _ identity: IdentityPolicy) async throws -> any EventStore
        var testDescription: String { name }
    }

    static let backends: [Backend] = [sqlite] + (PostgresTestCluster.available ? [postgres] : [])

    static let sqlite = Backend(
        name: "sqlite",
        newLocation: {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("store-\(UUID().uuidString)")
            return (directory.appendingPathComponent("nested/events.db").path, { try? FileManager.default.removeItem(at: directory) })
        },
        open: { path, identity in try SQLiteEventStore(path: path, identity: identity) })

    /// A fresh database in the test process's throwaway PostgreSQL cluster (`PostgresTestCluster`); mandatory
    /// under `SWITCHYARD_CI=1`.
    static let postgres = Backend(
        name: "postgres",
        newLocation: { (try await PostgresTestCluster.shared().createDatabase(), {}) },
        open: { url, identity in
            var logger = Logger(label: "store-test")
            logger.logLevel = .warning
            return try await PostgresEventStore(url: url, identity: identity, logger: logger)
        })

    static let t0 = Timestamp(iso8601: "2026-11-29T00:00:00Z")!

    static func event(_ id: String, source: String = "web", at time: Timestamp = t0, userId: String? = "u1") -> NewEvent {
        NewEvent(
            source: source, messageId: id, type: .track, userId: userId, anonymousId: "a1", eventName: "Clicked",
            timestamp: time, receivedAt: time, body: Array(#"{"type":"track","messageId":"\#(id)"}"#.utf8))
    }

    func withStore(
        _ backend: Backend, identity: IdentityPolicy = IdentityPolicy(), _ body: (any EventStore) async throws -> Void
    ) async throws {
        try await withStores(backend, count: 1, identity: identity) { stores in try await body(stores[0]) }
    }

    /// `count` handles on one fresh store, as several nodes (PostgreSQL) or processes (SQLite) have.
    func withStores(
        _ backend: Backend, count: Int, identity: IdentityPolicy = IdentityPolicy(),
        _ body: ([any EventStore]) async throws -> Void
    ) async throws {
        let (location, cleanup) = try await backend.newLocation()
        var stores: [any EventStore] = []
        do {
            for _ in 0..<count { stores.append(try await backend.open(location, identity)) }
            try await body(stores)
        } catch {
            for store in stores { try? await store.close() }
            await cleanup()
            throw error
        }
        for store in stores { try? await store.close() }
        await cleanup()
    }

    @Test(arguments: backends)
    func appendsInOrderWithGrowingSequences(_ backend: Backend) async throws {
        try await withStore(backend) { (store) async throws in
            let results = try await store.append([Self.event("m1"), Self.event("m2"), Self.event("m3")], dedupeWindow: .seconds(3600))
            let sequences = results.compactMap { result -> Int64? in
                if case .stored(let sequence) = result { return sequence }
                return nil
            }
            #expect(sequences.count == 3)
            #expect(sequences == sequences.sorted() && Set(sequences).count == 3)
            let more = try await store.append([Self.event("m4")], dedupeWindow: .seconds(3600))
            guard case .stored(let fourth) = more[0] else { Issue.record("not stored"); return }
            #expect(fourth > sequences.last!)
            #expect(try await store.eventCount() == 4)
        }
    }

    @Test(arguments: backends)
    func readsBackEveryFieldExactly(_ backend: Backend) async throws {
        try await withStore(backend) { (store) async throws in
            var event = Self.event("m1")
            event.previousId = "p"
            event.groupId = "g"
            event.anonymousId = nil
            event.body = Array(#"{"unicode":"日本 😀","n":12345678901234567890}"#.utf8)
            event.timestamp = Timestamp(milliseconds: 1_795_929_925_123)
            _ = try await store.append([event], dedupeWindow: .seconds(1))
            let read = try await store.events(after: 0, limit: 10)
            #expect(read.count == 1)
            #expect(read.first?.event == event)
        }
    }

    @Test(arguments: backends)
    func pagesThroughTheLogBySequence(_ backend: Backend) async throws {
        try await withStore(backend) { (store) async throws in
            _ = try await store.append((0..<25).map { Self.event("m\($0)") }, dedupeWindow: .seconds(1))
            var seen: [String] = []
            var position: Int64 = 0
            while true {
                let page = try await store.events(after: position, limit: 10)
                if page.isEmpty { break }
                seen += page.map(\.event.messageId)
                position = page.last!.sequence
            }
            #expect(seen == (0..<25).map { "m\($0)" })
        }
    }

    @Test(arguments: backends)
    func dedupesByMessageIdPerSourceWithinTheWindow(_ backend: Backend) async throws {
        try await withStore(backend) { (store) async throws in
            let window = Duration.seconds(3600)
            let first = try await store.append([Self.event("m1"), Self.event("m1")], dedupeWindow: window)
            #expect(first.count == 2)
            #expect(first[1] == .duplicate, "a duplicate inside one append counts too")
            let again = try await store.append([Self.event("m1", at: Self.t0 + .seconds(3599))], dedupeWindow: window)
            #expect(again == [.duplicate])
            let otherSource = try await store.append([Self.event("m1", source: "app")], dedupeWindow: window)
            #expect(otherSource != [.duplicate])
            let later = try await store.append([Self.event("m1", at: Self.t0 + .seconds(3601))], dedupeWindow: window)
            #expect(later != [.duplicate], "outside the window the id is new again")
            #expect(try await store.eventCount() == 3)
        }
    }

    @Test(arguments: backends)
    func purgedDedupeKeysNoLongerBlock(_ backend: Backend) async throws {
        try await withStore(backend) { (store) async throws in
            _ = try await store.append([Self.event("old"), Self.event("new", at: Self.t0 + .seconds(100))], dedupeWindow: .seconds(86400))
            let removed = try await store.purgeDedupe(olderThan: Self.t0 + .seconds(50))
            #expect(removed == 1)
            #expect(try await store.append([Self.event("old", at: Self.t0 + .seconds(200))], dedupeWindow: .seconds(86400)) != [.duplicate])
            #expect(try await store.append([Self.event("new", at: Self.t0 + .seconds(200))], dedupeWindow: .seconds(86400)) == [.duplicate])
        }
    }

    @Test(arguments: backends)
    func reportsReachabilityAndDiskUsage(_ backend: Backend) async throws {
        try await withStore(backend) { (store) async throws in
            // The probe waits 2 s for a connection (it answers /readyz); a fresh pool on a loaded machine
            // may need longer for its first one, so it gets a few tries.
            var reachable = false
            for attempt in 1...5 where !reachable {
                do {
                    try await store.checkReachable()
                    reachable = true
                } catch where attempt < 5 {
                    try await Task.sleep(for: .seconds(1))
                }
            }
            let before = await store.diskUsage()
            _ = try await store.append((0..<500).map { Self.event("m\($0)") }, dedupeWindow: .seconds(1))
            // A back end may measure at most once a second (PostgreSQL walks the database's files).
            var after = await store.diskUsage()
            let deadline = ContinuousClock.now + .seconds(3)
            while after <= before, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(200))
                after = await store.diskUsage()
            }
            #expect(after > before)
        }
    }

    @Test(arguments: backends)
    func aClosedStoreRefusesWork(_ backend: Backend) async throws {
        let (location, cleanup) = try await backend.newLocation()
        let store = try await backend.open(location, IdentityPolicy())
        try await store.close()
        await #expect(throws: StoreError.self) { try await store.append([Self.event("m")], dedupeWindow: .seconds(1)) }
        await #expect(throws: StoreError.self) { try await store.checkReachable() }
        await cleanup()
    }
}
