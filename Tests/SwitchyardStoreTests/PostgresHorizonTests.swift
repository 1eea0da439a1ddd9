import Foundation
import Logging
import PostgresNIO
import SwitchyardCore
@testable import SwitchyardStore
import SwitchyardTesting
import Testing

/// How readers of the PostgreSQL log follow commits of concurrent appends (SPEC §8, "Nodes append
/// concurrently"): they stop before an append still running, whatever commits after it, and go on once it
/// commits; transactions that are not appends do not hold them back.
@Suite("PostgreSQL log horizon", .enabled(if: PostgresTestCluster.available), .timeLimit(.minutes(3)))
struct PostgresHorizonTests {
    static var logger: Logger {
        var logger = Logger(label: "pg-horizon-test")
        logger.logLevel = .critical
        return logger
    }

    /// A connection of its own, outside any store's pool, to hold a transaction open.
    static func rawConnection(_ url: String) async throws -> PostgresConnection {
        try await PostgresConnection.connect(
            configuration: try PostgresLocation(url: url).connectionConfiguration(), id: 99, logger: logger)
    }

    static func ids(_ events: [StoredEvent]) -> [String] { events.map(\.event.messageId) }

    /// An append whose transaction stays open (begun the way the store begins one: locks, its sequence, its
    /// dedupe claim, then its row) while two nodes commit later events: readers — and the head — stop
    /// before it; once it commits, a reader that followed the log reads it, then the later ones.
    @Test func anAppendHeldOpenIsNotSkippedOnceItCommits() async throws {
        let url = try await PostgresTestCluster.shared().createDatabase() + "?sslmode=disable"
        let nodes = [try await PostgresEventStore(url: url, logger: Self.logger), try await PostgresEventStore(url: url, logger: Self.logger)]
        _ = try await nodes[0].append([StoreContractTests.event("before")], dedupeWindow: .seconds(60))

        let held = try await Self.rawConnection(url)
        let time = StoreContractTests.t0.milliseconds
        try await held.run("BEGIN ISOLATION LEVEL READ COMMITTED", Self.logger)
        let reserved = try await held.rows(
            """
            SELECT r_first FROM switchyard_append_begin(ARRAY['held-user'], '{}'::text[], 1, ARRAY['web'], ARRAY['held'],
                ARRAY[\(time)::bigint], 60000) WHERE r_kind = 'q'
            """, Self.logger)
        let heldSequence = try #require(try reserved.first?.decode(Int64.self))
        try await held.run(
            """
            INSERT INTO events (seq, source, message_id, type, user_id, timestamp, received_at, body, resolved_user_id, stored_user_id)
            VALUES (\(heldSequence), 'web', 'held', 'track', 'held-user', \(time), \(time), '\\x7b7d'::bytea, 'held-user', 'held-user')
            """, Self.logger)

        // Later appends of both nodes commit while it is open (other persons: they do not wait for it).
        for index in 0..<6 {
            _ = try await nodes[index % 2].append(
                [StoreContractTests.event("after-\(index)", userId: "other-\(index)")], dedupeWindow: .seconds(60))
        }
        // A reader following the log stops before the open append, on either node, however often it looks.
        for node in nodes {
            #expect(Self.ids(try await node.events(after: 0, limit: 100)) == ["before"])
            #expect(try await node.headSequence() < heldSequence)
        }
        var position = try #require(try await nodes[1].events(after: 0, limit: 100).last?.sequence)
        var read = ["before"]
        #expect(try await nodes[1].events(after: position, limit: 100).isEmpty)

        try await held.run("COMMIT", Self.logger)
        try await held.close()
        let deadline = ContinuousClock.now + .seconds(60)
        while read.count < 8, ContinuousClock.now < deadline {
            let page = try await nodes[1].events(after: position, limit: 3)
            read += Self.ids(page)
            position = page.last?.sequence ?? position
        }
        #expect(read == ["before", "held"] + (0..<6).map { "after-\($0)" })
        #expect(try await nodes[0].headSequence() == position)
        for node in nodes { try await node.close() }
    }

    /// A transaction of this database that is not an append holds readers back while it runs: readers cannot
    /// tell it from an append without reading two views at different moments (the horizon's doc says how
    /// that lost events). One of another database does not (every other test's database is one).
    @Test func aLongTransactionOfAnyKindHoldsReadersBackUntilItEnds() async throws {
        let url = try await PostgresTestCluster.shared().createDatabase() + "?sslmode=disable"
        let store = try await PostgresEventStore(url: url, logger: Self.logger)
        let other = try await Self.rawConnection(url)
        try await other.run("BEGIN", Self.logger)
        try await other.run("SELECT pg_current_xact_id()", Self.logger)  // it has a transaction id, and keeps it
        _ = try await store.append([StoreContractTests.event("fresh")], dedupeWindow: .seconds(60))
        #expect(try await store.events(after: 0, limit: 10).isEmpty)
        try await other.run("ROLLBACK", Self.logger)
        #expect(Self.ids(try await store.events(after: 0, limit: 10)) == ["fresh"])
        #expect(try await store.headSequence() > 0)
        try await other.close()
        try await store.close()
    }

    @Test func aLongTransactionOfAnotherDatabaseDoesNotHoldReadersBack() async throws {
        let url = try await PostgresTestCluster.shared().createDatabase() + "?sslmode=disable"
        let elsewhere = try await PostgresTestCluster.shared().createDatabase() + "?sslmode=disable"
        let store = try await PostgresEventStore(url: url, logger: Self.logger)
        let other = try await Self.rawConnection(elsewhere)
        try await other.run("BEGIN", Self.logger)
        try await other.run("SELECT pg_current_xact_id()", Self.logger)
        _ = try await store.append([StoreContractTests.event("fresh")], dedupeWindow: .seconds(60))
        #expect(Self.ids(try await store.events(after: 0, limit: 10)) == ["fresh"])
        try await other.run("ROLLBACK", Self.logger)
        try await other.close()
        try await store.close()
    }

    /// An append that dies mid-transaction (its connection closes: the node was killed) is rolled back by
    /// the server, and readers move past the sequences it had taken.
    @Test func anAppendWhoseNodeDiesIsRolledBackAndReadersMoveOn() async throws {
        let url = try await PostgresTestCluster.shared().createDatabase() + "?sslmode=disable"
        let store = try await PostgresEventStore(url: url, logger: Self.logger)
        let dying = try await Self.rawConnection(url)
        try await dying.run("BEGIN ISOLATION LEVEL READ COMMITTED", Self.logger)
        try await dying.run(
            """
            SELECT * FROM switchyard_append_begin(ARRAY['doomed'], '{}'::text[], 3, ARRAY['web'], ARRAY['doomed'],
                ARRAY[0::bigint], 60000)
            """, Self.logger)
        _ = try await store.append([StoreContractTests.event("meanwhile", userId: "alive")], dedupeWindow: .seconds(60))
        #expect(try await store.events(after: 0, limit: 10).isEmpty)
        try await dying.close()
        let deadline = ContinuousClock.now + .seconds(60)
        var read: [String] = []
        while read.isEmpty, ContinuousClock.now < deadline {
            read = Self.ids(try await store.events(after: 0, limit: 10))
            if read.isEmpty { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(read == ["meanwhile"])
        // Its dedupe claim went with it: the same message id is stored when sent again.
        let again = try await store.append([StoreContractTests.event("doomed", userId: "doomed")], dedupeWindow: .seconds(60))
        #expect(again.count == 1)
        if case .stored = again[0] {} else { Issue.record("the dead append's claim was kept: \(again)") }
        try await store.close()
    }
}
