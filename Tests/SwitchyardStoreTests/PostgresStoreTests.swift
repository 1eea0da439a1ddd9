import Foundation
import Logging
import PostgresNIO
import SwitchyardCore
@testable import SwitchyardStore
import SwitchyardTesting
import Testing

/// What only the PostgreSQL back end has: connecting, migrating, and the errors a user sees when the
/// database is not there. (Everything both back ends do is in the contract suites.)
@Suite("PostgreSQL store", .enabled(if: PostgresTestCluster.available), .timeLimit(.minutes(3)))
struct PostgresStoreTests {
    static var logger: Logger {
        var logger = Logger(label: "pg-test")
        logger.logLevel = .critical
        return logger
    }

    func openError(_ url: String) async -> StoreError? {
        do {
            let store = try await PostgresEventStore(url: url, logger: Self.logger)
            try? await store.close()
            return nil
        } catch {
            return error
        }
    }

    @Test func aDatabaseNobodyListensOnIsAClearErrorNotAHang() async throws {
        let port = try PostgresTestCluster.freePort()
        let started = ContinuousClock.now
        let error = await openError("postgres://switchyard@127.0.0.1:\(port)/events?sslmode=disable")
        #expect(error?.code == .unavailable)
        #expect(
            error?.message == "connecting and migrating the schema in PostgreSQL at 127.0.0.1:\(port)/events failed: Connection refused",
            "\(String(describing: error))")
        #expect(ContinuousClock.now - started < .seconds(30))
    }

    @Test func anUnknownDatabaseNamesItself() async throws {
        let cluster = try await PostgresTestCluster.shared()
        let error = await openError(cluster.url(database: "no_such_database") + "?sslmode=disable")
        #expect(error?.code == .unavailable)
        #expect(error?.message.contains("no_such_database") == true, "\(String(describing: error))")
    }

    @Test func anUnknownSSLModeIsRefusedBeforeConnecting() async throws {
        let error = await openError("postgres://switchyard@127.0.0.1:1/db?sslmode=sometimes")
        #expect(error?.message.contains("sslmode=sometimes is not one of disable, prefer, require, verify-full") == true)
    }

    @Test func nodesStartingTogetherMigrateOnceAndKeepTheData() async throws {
        let url = try await PostgresTestCluster.shared().createDatabase()
        let stores = try await withThrowingTaskGroup(of: PostgresEventStore.self) { group in
            for _ in 0..<3 { group.addTask { try await PostgresEventStore(url: url, logger: Self.logger) } }
            var stores: [PostgresEventStore] = []
            for try await store in group { stores.append(store) }
            return stores
        }
        _ = try await stores[0].append([StoreContractTests.event("kept")], dedupeWindow: .seconds(1))
        for store in stores { try await store.close() }
        let reopened = try await PostgresEventStore(url: url, logger: Self.logger)
        #expect(try await reopened.events(after: 0, limit: 10).map(\.event.messageId) == ["kept"])
        try await reopened.close()
    }

    /// A server that accepts TLS connections only, with a certificate from a private authority.
    @Test func sslModesAgainstAServerThatRequiresTLS() async throws {
        let cluster = try PostgresTestCluster.dedicated(tls: true)
        defer { cluster.destroy() }
        let url = try cluster.createDatabase()
        let authority = cluster.certificateAuthority.path

        // Encrypted without checking the certificate (libpq's `require`), and `prefer` takes TLS when offered.
        for mode in ["require", "prefer"] {
            let store = try await PostgresEventStore(url: url + "?sslmode=\(mode)", logger: Self.logger)
            _ = try await store.append([StoreContractTests.event("over-\(mode)")], dedupeWindow: .seconds(60))
            try await store.close()
        }
        // Checked against the private authority, for the host name in the certificate.
        let checked = url.replacingOccurrences(of: "@127.0.0.1:", with: "@localhost:")
        let store = try await PostgresEventStore(url: checked + "?sslmode=verify-full&sslrootcert=\(authority)", logger: Self.logger)
        #expect(try await store.events(after: 0, limit: 10).map(\.event.messageId) == ["over-require", "over-prefer"])
        try await store.close()

        // Without TLS the server's rules refuse the connection, and the message says so.
        let plain = await openError(url + "?sslmode=disable")
        #expect(plain?.message.contains("no encryption") == true, "\(String(describing: plain))")
        // The system's authorities do not know this certificate.
        let untrusted = await openError(url + "?sslmode=verify-full")
        #expect(untrusted?.code == .unavailable)
        #expect(
            untrusted?.message.hasSuffix(
                "failed: the server's TLS certificate is not signed by an authority this node trusts (sslmode=verify-full: name the authority's PEM file with sslrootcert=PATH)"
            ) == true, "\(String(describing: untrusted))")
        // An address the certificate does not name (it names localhost only).
        let otherName = await openError(url + "?sslmode=verify-full&sslrootcert=\(authority)")
        #expect(
            otherName?.message.hasSuffix(
                "failed: the server's TLS certificate is not for the host in the URL (sslmode=verify-full checks the name)"
            ) == true, "\(String(describing: otherName))")
        // A trust file that is not there is named before connecting.
        let missing = await openError(url + "?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem")
        #expect(missing?.message == "storage.postgres: sslrootcert=/nonexistent/ca.pem is not a file this process can read")
    }

    /// `storage.max_connections` bounds the pool; when every connection is busy for the whole wait, the
    /// error says so rather than blaming the server.
    @Test func aBusyPoolFailsAfterTheWaitAndSaysItIsBusy() async throws {
        let url = try await PostgresTestCluster.shared().createDatabase()
        let store = try await PostgresEventStore(
            url: url + "?sslmode=disable", maxConnections: 2, connectionWait: .milliseconds(500), logger: Self.logger)
        let holding = Locked(0)
        let holders = (0..<2).map { _ in
            // A generous wait of their own: a loaded machine may take a while to open the second connection.
            Task { try await store.connection("holding a connection", wait: .seconds(60)) { connection, logger in
                holding.withLock { $0 += 1 }
                try await connection.run("SELECT pg_sleep(5)", logger)
            } }
        }
        let deadline = ContinuousClock.now + .seconds(60)
        while holding.withLock({ $0 }) < 2 {
            guard ContinuousClock.now < deadline else {
                Issue.record("the two holders never got their connections")
                return
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        let error = await #expect(throws: StoreError.self) { _ = try await store.eventCount() }
        #expect(
            error?.message.hasSuffix("counting events in PostgreSQL at \(store.target) failed: no connection within 500ms: all 2 connections of this node are busy") == true,
            "\(String(describing: error))")
        for holder in holders { try await holder.value }
        #expect(try await store.eventCount() == 0)  // free again
        try await store.close()
    }
}
