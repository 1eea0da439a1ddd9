import Foundation
import Logging
import Metrics
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import SwitchyardCore
import Synchronization

/// The multi-node store: one PostgreSQL database shared by every node (SPEC §8).
///
/// Same contract as `SQLiteEventStore`; what differs is how it stays correct with several writers (SPEC §8,
/// "Nodes append concurrently"): appends of all nodes commit at the same time; each locks only the
/// identities it touches (`switchyard_lock_identities`), so merges are linearizable per identity; each takes
/// its transaction id and its sequences together, so readers following the log stop at the oldest
/// transaction still running (`PostgresSchema.visibleBelowHorizon`) and never skip an event that commits
/// late. Delivery leases (`claimLease`) give each destination one sender at a time, fenced in `settle`.
/// A `200` is sent only after `COMMIT` returned.
public final class PostgresEventStore: EventStore {
    let client: PostgresClient
    let runTask: Task<Void, Never>
    let identity: IdentityPolicy
    /// Where trait keys dropped by `identity.max_traits` are counted and logged.
    let traitsDrops: IdentityTraitsDrops
    /// `host:port/database`, for messages (never the password).
    let target: String
    let logger: Logger
    let location: PostgresLocation
    let maxConnections: Int
    /// How long an operation waits for a pooled connection before it fails with `unavailable`.
    let connectionWait: Duration
    /// The last `diskUsage` reading: group commit asks after every commit, and `pg_database_size` walks the
    /// database's files, so it is measured at most once a second.
    let measuredSize = Mutex<(at: ContinuousClock.Instant, bytes: Int64)?>(nil)
    /// Whether readers of the log have been waiting long for an old transaction (`headSequence`).
    let horizonWatch = HorizonWatch()
    /// How long `events(after:limit:)` waits for an append of another node that holds the horizon.
    let horizonWait: Duration = .milliseconds(200)

    /// Connects to `url` (`postgres://user:password@host:5432/database?sslmode=…`) and applies migrations.
    /// A database that cannot be reached fails here, at once, with what the server or the network said.
    /// - Parameters:
    ///   - maxConnections: the pool size of this node.
    ///   - connectionWait: how long an operation waits for a pooled connection (the server is down, or every
    ///     connection is busy) before it fails with `unavailable` — which ingest answers with `503`.
    public init(
        url: String, identity: IdentityPolicy = IdentityPolicy(), maxConnections: Int = 8,
        connectionWait: Duration = .seconds(10), traitsDrops: IdentityTraitsDrops? = nil, logger: Logger
    ) async throws(StoreError) {
        let location = try PostgresLocation(url: url)
        self.location = location
        self.maxConnections = maxConnections
        self.connectionWait = connectionWait
        target = location.description
        var logger = logger
        logger[metadataKey: "switchyard.database"] = "\(target)"
        self.logger = logger
        self.identity = identity
        self.traitsDrops = traitsDrops ?? IdentityTraitsDrops(metrics: NOOPMetricsHandler.instance, logger: logger)
        // Migrating on a connection of its own: the pool would keep retrying an unreachable server and
        // leave the caller waiting; a start must fail with the reason instead.
        try await Self.migrate(location, logger: logger)
        var clientLogger = logger
        // The driver's debug output is per query, and it warns about a lease before `run()` got going.
        clientLogger.logLevel = max(logger.logLevel, .error)
        let client = PostgresClient(
            configuration: location.clientConfiguration(maxConnections: maxConnections), backgroundLogger: clientLogger)
        self.client = client
        runTask = Task { await client.run() }
    }

    /// Applies the migrations this version knows and the database lacks, under an advisory lock.
    static func migrate(_ location: PostgresLocation, logger: Logger) async throws(StoreError) {
        let what = "connecting and migrating the schema"
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(
                configuration: try location.connectionConfiguration(), id: 0, logger: logger)
        } catch {
            throw storeError(error, what, location.description)
        }
        do {
            try await connection.run("SELECT pg_advisory_lock(\(PostgresSchema.migrationLock))", logger)
            try await connection.run(
                "CREATE TABLE IF NOT EXISTS switchyard_schema (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
                logger)
            let applied = try await connection.rows("SELECT coalesce(max(version), 0) FROM switchyard_schema", logger)
            let current = try applied.first?.decode(Int.self) ?? 0
            for (version, statements) in PostgresSchema.migrations where version > current {
                try await connection.withTransaction(logger: logger) { connection in
                    for statement in statements {
                        try await connection.run(PostgresQuery(unsafeSQL: statement), logger)
                    }
                    try await connection.run("INSERT INTO switchyard_schema (version) VALUES (\(version))", logger)
                }
            }
            // Closing the connection releases the session's advisory lock.
            try await connection.close()
        } catch {
            try? await connection.close()  // the migration's error is the one to report
            throw storeError(error, what, location.description)
        }
    }

    public func append(_ events: [NewEvent], dedupeWindow: Duration) async throws(StoreError) -> [AppendResult] {
        guard !events.isEmpty else { return [] }
        let policy = identity
        let (results, droppedTraits, changes) = try await identityTransaction("appending events") { connection, logger in
            let batch = PostgresAppend(connection: connection, logger: logger, policy: policy)
            return (try await batch.run(events, dedupeWindow: dedupeWindow), batch.droppedTraits, batch.changes)
        }
        traitsDrops.record(droppedTraits, limits: policy.traitsLimits)  // once committed
        IdentityMetrics(factory: traitsDrops.metrics).record(changes)
        return results
    }

    /// Events below the horizon (`PostgresSchema.visibleBelowHorizon`). When there are none yet only because
    /// an append of another node is still running, waits up to `horizonWait` for it to end and reads once
    /// more: a delivery worker woken by this node's commit would otherwise read nothing again and again
    /// until the older append commits.
    public func events(after sequence: Int64, limit: Int) async throws(StoreError) -> [StoredEvent] {
        let wait = Int32(clamping: horizonWait.milliseconds)
        return try await connection("reading events") { connection, logger in
            let statement = PostgresStatements.EventsAfter(sequence: sequence, limit: Int64(limit))
            let events = try await connection.rows(statement, logger)
            guard events.isEmpty, limit > 0 else { return events }
            try await connection.run("SELECT switchyard_await_horizon(\(sequence), \(wait))", logger)
            return try await connection.rows(statement, logger)
        }
    }

    /// Reads the event columns (`PostgresSchema.eventColumns`) starting at column `offset`.
    static func storedEvent(_ row: PostgresRandomAccessRow, at offset: Int = 0) throws -> StoredEvent {
        let typeName = try row[offset + 3].decode(String.self)
        let sequence = try row[offset].decode(Int64.self)
        guard let type = EventType(rawValue: typeName) else {
            throw StoreError(.corrupt, "event \(sequence) has an unknown type")
        }
        var body = try row[offset + 11].decode(ByteBuffer.self)
        let event = NewEvent(
            source: try row[offset + 1].decode(String.self), messageId: try row[offset + 2].decode(String.self), type: type,
            userId: try row[offset + 4].decode(String?.self), anonymousId: try row[offset + 5].decode(String?.self),
            eventName: try row[offset + 6].decode(String?.self), previousId: try row[offset + 7].decode(String?.self),
            groupId: try row[offset + 8].decode(String?.self),
            timestamp: Timestamp(milliseconds: try row[offset + 9].decode(Int64.self)),
            receivedAt: Timestamp(milliseconds: try row[offset + 10].decode(Int64.self)),
            body: body.readBytes(length: body.readableBytes) ?? [])
        return StoredEvent(
            sequence: sequence, event: event, resolvedUserId: try row[offset + 12].decode(String?.self),
            mergedAnonymousId: try row[offset + 13].decode(String?.self),
            storedUserId: try row[offset + 14].decode(String?.self))
    }

    public func eventCount() async throws(StoreError) -> Int {
        try await connection("counting events") { connection, logger in
            try await connection.rows("SELECT count(*) FROM events", logger).first?.decode(Int.self) ?? 0
        }
    }

    public func checkReachable() async throws(StoreError) {
        // Readiness probes give up after a few seconds; they must get an answer before that.
        try await connection("checking the database", wait: .seconds(2)) { connection, logger in
            try await connection.run("SELECT 1", logger)
        }
    }

    /// The database's size on disk (tables, indexes, TOAST), compared with `storage.max_backlog`.
    public func diskUsage() async -> Int64 {
        let now = ContinuousClock.now
        if let last = measuredSize.withLock({ $0 }), now - last.at < .seconds(1) { return last.bytes }
        // An unreachable database counts as empty; /readyz reports it.
        let bytes = (try? await connection("measuring the database") { connection, logger in
            try await connection.rows("SELECT pg_database_size(current_database())", logger).first?.decode(Int64.self) ?? 0
        }) ?? 0
        measuredSize.withLock { $0 = (now, bytes) }
        return bytes
    }

    public func purgeDedupe(olderThan cutoff: Timestamp) async throws(StoreError) -> Int {
        try await connection("purging dedupe entries") { connection, logger in
            try await connection.count("DELETE FROM dedupe WHERE received_at < \(cutoff.milliseconds)", logger)
        }
    }

    public func close() async throws(StoreError) {
        runTask.cancel()
        await runTask.value
    }

    // MARK: Running queries

    /// Runs `body` on a pooled connection; failures become a `StoreError` that names what was being done.
    /// - Parameter wait: how long to wait for a connection (`connectionWait` unless given).
    func connection<T: Sendable>(
        _ what: String, wait: Duration? = nil, _ body: @escaping @Sendable (PostgresConnection, Logger) async throws -> T
    ) async throws(StoreError) -> T {
        let (client, logger) = (client, logger)
        return try await leased(what, wait: wait ?? connectionWait) { leased in
            try await client.withConnection { connection in
                try leased(connection)
                return try await body(connection, logger)
            }
        }
    }

    /// Runs `body` in a READ COMMITTED transaction that takes identity locks (appends, erasures): each
    /// statement after a lock wait must see what the transaction it waited for committed, whatever the
    /// database's default isolation. A deadlock PostgreSQL broke (a person merge moved an id while the
    /// locks were being taken, see `switchyard_lock_identities`) rolled everything back: it is run again.
    func identityTransaction<T: Sendable>(
        _ what: String, _ body: @escaping @Sendable (PostgresConnection, Logger) async throws -> T
    ) async throws(StoreError) -> T {
        let (client, logger) = (client, logger)
        return try await leased(what, wait: connectionWait) { leased in
            try await client.withConnection { connection in
                try leased(connection)
                var attempt = 1
                while true {
                    try await connection.run("BEGIN ISOLATION LEVEL READ COMMITTED", logger)
                    do {
                        let value = try await body(connection, logger)
                        try await connection.run("COMMIT", logger)
                        return value
                    } catch {
                        try? await connection.run("ROLLBACK", logger)  // the body's error is the one to report
                        let deadlock = (error as? PSQLError)?.serverInfo?[.sqlState] == PostgresError.Code.deadlockDetected.raw
                        guard deadlock, attempt < 3 else { throw error }
                        logger.debug("an append was rolled back to break a deadlock; running it again")
                        attempt += 1
                    }
                }
            }
        }
    }

    /// Runs `body` in a transaction: committed when it returns, rolled back when it throws.
    func transaction<T: Sendable>(
        _ what: String, _ body: @escaping @Sendable (PostgresConnection, Logger) async throws -> T
    ) async throws(StoreError) -> T {
        let (client, logger) = (client, logger)
        return try await leased(what, wait: connectionWait) { leased in
            // Leased before BEGIN, so a BEGIN lost on a closing connection is noticed too.
            try await client.withConnection { connection in
                try leased(connection)
                return try await connection.withTransaction(logger: logger) { connection in try await body(connection, logger) }
            }
        }
    }

    /// Runs `operation`, failing it when it has not leased a connection within `wait`, or when the connection
    /// it leased closes under it.
    ///
    /// The pool itself never gives up on a lease: while the server is down it keeps reconnecting until its
    /// circuit breaker opens, about a minute later, and every ingest request would hang that long. Once
    /// leased, an operation runs to its end however long it takes (cutting a commit short would only turn a
    /// stored event into an error the client retries) unless its connection closes: a query sent while the
    /// server shuts down can be left waiting by the driver forever (seen in `DatabaseOutageTests`). An
    /// abandoned operation is cancelled but not waited for.
    func leased<T: Sendable>(
        _ what: String, wait: Duration,
        _ operation: @escaping @Sendable (_ leased: @escaping @Sendable (PostgresConnection) throws -> Void) async throws -> T
    ) async throws(StoreError) -> T {
        let race = ConnectionRace<T>()
        let work = Task {
            do {
                race.settle(.success(try await operation { connection in try race.markLeased(connection) }))
            } catch {
                race.settle(.failure(error))
            }
        }
        let logger = logger
        let timer = Task {
            let started = ContinuousClock.now
            var reported = started
            while true {
                guard (try? await Task.sleep(for: min(.milliseconds(500), wait))) != nil else { return }  // it ended
                let now = ContinuousClock.now
                switch race.check(waitedOut: now - started >= wait) {
                case .ended: return
                case .abandoned:
                    work.cancel()
                    return
                case .running:
                    // Leased and still running: say so now and then (a lock wait, a huge batch).
                    guard now - reported >= .seconds(10) else { continue }
                    reported = now
                    logger.warning(
                        "a PostgreSQL operation is taking long",
                        metadata: ["switchyard.operation": "\(what)", "switchyard.seconds": "\((now - started).components.seconds)"])
                }
            }
        }
        let outcome = await withTaskCancellationHandler { await race.outcome() } onCancel: { work.cancel() }
        timer.cancel()
        switch outcome {
        case .success(let value):
            return value
        case .failure(let error as ConnectionRace<T>.Abandoned):
            switch error {
            case .noConnection:
                throw StoreError(.unavailable, "\(what) in PostgreSQL at \(target) failed: \(await noConnectionReason(wait))")
            case .connectionLost:
                throw StoreError(.unavailable, "\(what) in PostgreSQL at \(target) failed: the connection was lost")
            }
        case .failure(let error):
            throw Self.storeError(error, what, target)
        }
    }

    /// Why no connection came within `wait`: what a fresh connection attempt runs into (the pool keeps its
    /// own errors in the log), or, when one succeeds, that every pooled connection is busy.
    func noConnectionReason(_ wait: Duration) async -> String {
        let waited = "no connection within \(wait.configText)"
        do {
            let connection = try await PostgresConnection.connect(
                configuration: try location.connectionConfiguration(), id: 0, logger: logger)
            try? await connection.close()
            return "\(waited): all \(maxConnections) connections of this node are busy"
        } catch {
            return "\(waited): \(Self.reason(error))"
        }
    }

    static func storeError(_ error: any Error, _ what: String, _ target: String) -> StoreError {
        if let error = error as? StoreError { return error }
        if let transaction = error as? PostgresTransactionError {
            if let closure = transaction.closureError { return storeError(closure, what, target) }
            if let commit = transaction.commitError { return storeError(commit, what, target) }
            if let begin = transaction.beginError { return storeError(begin, what, target) }
            if let rollback = transaction.rollbackError { return storeError(rollback, what, target) }
        }
        return StoreError(.unavailable, "\(what) in PostgreSQL at \(target) failed: \(reason(error))")
    }

    /// What went wrong in a few words: the server's message, or the network's ("Connection refused")
    /// rather than the driver's nested error values.
    static func reason(_ error: any Error) -> String {
        switch error {
        case let error as PSQLError:
            // PSQLError's description hides the server's message unless asked for.
            if let message = error.serverInfo?[.message] { return message }
            return error.underlying.map(reason) ?? "\(error.code)"
        case let error as NIOConnectionError:
            if let failure = error.connectionErrors.first { return reason(failure.error) }
            if let lookup = error.dnsAError ?? error.dnsAAAAError { return "cannot resolve \(error.host): \(lookup)" }
            return "cannot connect to \(error.host):\(error.port)"
        case let error as IOError:
            return String(cString: strerror(error.errnoCode))
        case let error as NIOSSLError:
            if case .handshakeFailed(let failure) = error, "\(failure)".contains("CERTIFICATE_VERIFY_FAILED") {
                return "the server's TLS certificate is not signed by an authority this node trusts"
                    + " (sslmode=verify-full: name the authority's PEM file with sslrootcert=PATH)"
            }
            return "TLS failed: \(error)"
        case let error as NIOSSLExtraError where error == .failedToValidateHostname:
            return "the server's TLS certificate is not for the host in the URL (sslmode=verify-full checks the name)"
        default:
            return "\(error)"
        }
    }
}

extension PostgresConnection {
    /// Runs a statement and reads every row it returns.
    func rows(_ query: PostgresQuery, _ logger: Logger) async throws -> [PostgresRow] {
        try await self.query(query, logger: logger).collect()
    }

    /// Runs a statement whose rows do not matter.
    func run(_ query: PostgresQuery, _ logger: Logger) async throws {
        _ = try await self.query(query, logger: logger).collect()
    }

    /// Runs an `INSERT`, `UPDATE` or `DELETE` and returns how many rows it touched.
    func count(_ query: PostgresQuery, _ logger: Logger) async throws -> Int {
        var counted = query
        counted.sql = "WITH touched AS (\(query.sql) RETURNING 1) SELECT count(*) FROM touched"
        return try await rows(counted, logger).first?.decode(Int.self) ?? 0
    }
}
