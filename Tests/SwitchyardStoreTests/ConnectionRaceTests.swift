import Logging
import PostgresNIO
import SwitchyardTesting
import Testing

@testable import SwitchyardStore

/// How a PostgreSQL operation is abandoned: without a connection after its wait, or when the connection it
/// holds closes (the driver may never answer a query sent as the server goes away), and never otherwise.
@Suite("Abandoning PostgreSQL operations", .enabled(if: PostgresTestCluster.available), .timeLimit(.minutes(3)))
struct ConnectionRaceTests {
    func connect() async throws -> PostgresConnection {
        let cluster = try await PostgresTestCluster.shared()
        let location = try PostgresLocation(url: cluster.url(database: "postgres") + "?sslmode=disable")
        return try await PostgresConnection.connect(
            configuration: try location.connectionConfiguration(), id: 1, logger: Logger(label: "race-test"))
    }

    @Test func anOperationWithoutAConnectionIsAbandonedOnlyAfterItsWait() async throws {
        let race = ConnectionRace<Int>()
        #expect(race.check(waitedOut: false) == .running)
        #expect(race.check(waitedOut: true) == .abandoned)
        guard case .failure(let error) = await race.outcome() else {
            Issue.record("an abandoned operation succeeded")
            return
        }
        #expect(error as? ConnectionRace<Int>.Abandoned == .noConnection)
        // Its connection arriving late must not let it do anything behind the caller's back.
        let connection = try await connect()
        #expect(throws: CancellationError.self) { try race.markLeased(connection) }
        try await connection.close()
    }

    @Test func anOperationWhoseConnectionClosesIsAbandonedAndOneThatRunsIsNot() async throws {
        let race = ConnectionRace<Int>()
        let connection = try await connect()
        try race.markLeased(connection)
        // Leased and open: it runs as long as it needs, waited out or not.
        #expect(race.check(waitedOut: true) == .running)
        try await connection.close()
        #expect(race.check(waitedOut: true) == .abandoned)
        guard case .failure(let error) = await race.outcome() else {
            Issue.record("an abandoned operation succeeded")
            return
        }
        #expect(error as? ConnectionRace<Int>.Abandoned == .connectionLost)
    }

    @Test func theFirstOutcomeCounts() async throws {
        let race = ConnectionRace<Int>()
        race.settle(.success(7))
        race.settle(.success(8))
        #expect(race.check(waitedOut: true) == .ended)
        guard case .success(let value) = await race.outcome() else {
            Issue.record("a settled operation failed")
            return
        }
        #expect(value == 7)
    }
}
