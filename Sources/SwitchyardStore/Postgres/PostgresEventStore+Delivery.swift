import Foundation
import Logging
import Metrics
import NIOCore
import PostgresNIO
import SwitchyardCore

extension PostgresEventStore {
    /// The highest sequence below the horizon (`PostgresSchema.visibleBelowHorizon`): where a reader following
    /// the log can get to now. Rows above it wait for an older transaction to end; while that lasts longer
    /// than `HorizonWatch.patience`, `switchyard_postgres_horizon_wait_seconds` says for how long and the log
    /// names the transaction (delivery to every destination waits for it).
    public func headSequence() async throws(StoreError) -> Int64 {
        let (head, newest) = try await connection("reading the log head") { connection, logger -> (Int64, Int64) in
            let row = try await connection.rows(
                """
                SELECT coalesce((SELECT max(seq) FROM events WHERE \(unescaped: PostgresSchema.visibleBelowHorizon("events"))), 0),
                    coalesce((SELECT max(seq) FROM events), 0)
                """, logger
            ).first
            return try row?.decode((Int64, Int64).self) ?? (0, 0)
        }
        let waited = horizonWatch.observe(head: head, newest: newest, at: .now)
        Gauge(label: "switchyard_postgres_horizon_wait_seconds", factory: traitsDrops.metrics)
            .record(Double(waited?.components.seconds ?? 0))
        if let waited, horizonWatch.shouldWarn(at: .now) {
            let holder = try? await connection("naming the oldest transaction") { connection, logger in
                try await connection.rows(
                    """
                    SELECT pid, coalesce(datname, ''), coalesce(application_name, ''), coalesce(state, ''),
                        coalesce(extract(epoch FROM now() - xact_start)::bigint, 0)
                    FROM pg_stat_activity WHERE backend_xid IS NOT NULL ORDER BY age(backend_xid) DESC LIMIT 1
                    """, logger
                ).first?.decode((Int32, String, String, String, Int64).self)
            }
            var metadata: Logger.Metadata = ["switchyard.seconds": "\(waited.components.seconds)"]
            if let holder = holder ?? nil {
                metadata["switchyard.pid"] = "\(holder.0)"
                metadata["switchyard.database"] = "\(holder.1)"
                metadata["switchyard.application"] = "\(holder.2)"
                metadata["switchyard.state"] = "\(holder.3)"
                metadata["switchyard.transaction_seconds"] = "\(holder.4)"
            }
            logger.warning(
                "delivery waits for an old PostgreSQL transaction to end before reading newer events", metadata: metadata)
        }
        return head
    }

    public func receivedAt(ofFirstEventAfter sequence: Int64) async throws(StoreError) -> Timestamp? {
        try await connection("reading the lag") { connection, logger in
            try await connection.rows(
                "SELECT received_at FROM events WHERE seq > \(sequence) ORDER BY seq LIMIT 1", logger
            ).first.map { Timestamp(milliseconds: try $0.decode(Int64.self)) }
        }
    }

    public func progress(of destination: String) async throws(StoreError) -> DestinationProgress {
        try await connection("reading the progress of \(destination)") { connection, logger in
            guard
                let row = try await connection.rows(
                    """
                    SELECT position, delivered_total, dead_lettered_total, dropped_total, hold_expired_total, disabled_reason
                    FROM destination_state WHERE destination = \(destination)
                    """, logger
                ).first
            else { return DestinationProgress() }
            let (position, delivered, dead, dropped, expired, reason) = try row.decode(
                (Int64, Int64, Int64, Int64, Int64, String?).self)
            return DestinationProgress(
                position: position, deliveredTotal: delivered, deadLetteredTotal: dead, droppedTotal: dropped,
                holdExpiredTotal: expired, disabledReason: reason)
        }
    }

    public func settle(_ settlement: DeliverySettlement, for destination: String) async throws(StoreError) {
        try await transaction("recording delivery to \(destination)") { connection, logger in
            let record: PostgresQuery = """
                UPDATE destination_state SET
                    position = greatest(position, coalesce(\(settlement.position)::bigint, position)),
                    delivered_total = delivered_total + \(settlement.delivered),
                    dead_lettered_total = dead_lettered_total + \(settlement.deadLetters.count),
                    dropped_total = dropped_total + \(settlement.dropped)
                WHERE destination = \(destination)
                    AND (\(settlement.leaseHolder)::text IS NULL OR lease_owner = \(settlement.leaseHolder))
                """
            // Every delivery round settles: update first, and create the row only the first time (a worker's
            // lease claim has created it already, so that is only ever a settlement without a lease).
            var updated = try await connection.count(record, logger)
            if updated == 0, settlement.leaseHolder == nil {
                try await Self.ensureState(connection, logger, destination)
                updated = try await connection.count(record, logger)
            }
            if updated == 0, let holder = settlement.leaseHolder {
                throw StoreError(.leaseLost, "node \(holder) no longer holds the delivery lease of \(destination)")
            }
            let held = settlement.held.filter { $0.event.anonymousId != nil }
            if !held.isEmpty {
                try await connection.run(
                    """
                    INSERT INTO holds (destination, seq, anonymous_id, received_at)
                    SELECT \(destination), * FROM unnest(\(held.map(\.sequence))::int8[],
                        \(held.map { $0.event.anonymousId ?? "" })::text[], \(held.map(\.event.receivedAt.milliseconds))::int8[])
                    ON CONFLICT (destination, seq) DO NOTHING
                    """, logger)
            }
            if !settlement.releasedHoldIds.isEmpty {
                try await connection.run(
                    "DELETE FROM holds WHERE destination = \(destination) AND id = ANY(\(settlement.releasedHoldIds)::int8[])", logger)
            }
            for letter in settlement.deadLetters {
                var query: PostgresQuery = """
                    INSERT INTO dead_letters (destination, \(unescaped: PostgresSchema.eventColumns), attempts, last_status,
                        last_error, failed_at)
                    VALUES (\(destination),
                    """
                Self.appendEventValues(letter.event, to: &query)
                query.sql += ", "
                query.appendBinding(letter.attempts)
                query.sql += ", "
                query.appendBinding(letter.lastStatus)
                query.sql += ", "
                query.appendBinding(letter.lastError)
                query.sql += ", "
                query.appendBinding(settlement.at.milliseconds)
                query.sql += ")"
                try await connection.run(query, logger)
            }
            for deferred in settlement.deferred {
                var query: PostgresQuery = """
                    INSERT INTO replay_queue (destination, \(unescaped: PostgresSchema.eventColumns), not_before,
                        first_attempt, attempts)
                    VALUES (\(destination),
                    """
                Self.appendEventValues(deferred.event, to: &query)
                query.sql += ", "
                query.appendBinding(deferred.notBefore.milliseconds)
                query.sql += ", "
                query.appendBinding(deferred.firstAttempt.milliseconds)
                query.sql += ", "
                query.appendBinding(deferred.attempts)
                query.sql += ")"
                try await connection.run(query, logger)
            }
            if !settlement.replayedIds.isEmpty {
                try await connection.run(
                    "DELETE FROM replay_queue WHERE destination = \(destination) AND id = ANY(\(settlement.replayedIds)::int8[])", logger)
            }
        }
    }

    public func setDisabled(_ destination: String, reason: String?) async throws(StoreError) {
        try await connection("disabling \(destination)") { connection, logger in
            try await Self.ensureState(connection, logger, destination)
            try await connection.run(
                "UPDATE destination_state SET disabled_reason = \(reason) WHERE destination = \(destination)", logger)
        }
    }

    public func deadLetters(of destination: String, after id: Int64, limit: Int) async throws(StoreError) -> [DeadLetter] {
        try await connection("reading dead letters of \(destination)") { connection, logger in
            let n = PostgresSchema.eventColumnCount
            return try await connection.rows(
                """
                SELECT id, \(unescaped: PostgresSchema.eventColumns), attempts, last_status, last_error, failed_at
                FROM dead_letters WHERE destination = \(destination) AND id > \(id) ORDER BY id LIMIT \(limit)
                """, logger
            ).map { row in
                let cells = PostgresRandomAccessRow(row)
                return DeadLetter(
                    id: try cells[0].decode(Int64.self), event: try Self.storedEvent(cells, at: 1),
                    attempts: try cells[n + 1].decode(Int.self), lastStatus: try cells[n + 2].decode(Int?.self),
                    lastError: try cells[n + 3].decode(String.self),
                    failedAt: Timestamp(milliseconds: try cells[n + 4].decode(Int64.self)))
            }
        }
    }

    public func requeueDeadLetters(of destination: String, ids: [Int64]?) async throws(StoreError) -> Int {
        try await transaction("re-queueing dead letters of \(destination)") { connection, logger in
            let chosen = ids ?? []
            let all = ids == nil
            let moved = try await connection.count(
                """
                INSERT INTO replay_queue (destination, \(unescaped: PostgresSchema.eventColumns))
                SELECT destination, \(unescaped: PostgresSchema.eventColumns) FROM dead_letters
                WHERE destination = \(destination) AND (\(all) OR id = ANY(\(chosen)::int8[])) ORDER BY id
                """, logger)
            try await connection.run(
                "DELETE FROM dead_letters WHERE destination = \(destination) AND (\(all) OR id = ANY(\(chosen)::int8[]))", logger)
            return moved
        }
    }

    public func enqueueReplay(for destination: String, receivedFrom from: Timestamp, to: Timestamp) async throws(StoreError)
        -> Int
    {
        try await connection("queueing a replay to \(destination)") { connection, logger in
            try await connection.count(
                """
                INSERT INTO replay_queue (destination, \(unescaped: PostgresSchema.eventColumns))
                SELECT \(destination), \(unescaped: PostgresSchema.eventColumns) FROM events
                WHERE received_at BETWEEN \(from.milliseconds) AND \(to.milliseconds) ORDER BY seq
                """, logger)
        }
    }

    public func replayQueue(of destination: String, limit: Int, readyBy now: Timestamp) async throws(StoreError)
        -> [QueuedEvent]
    {
        try await connection("reading the replay queue of \(destination)") { connection, logger in
            try await connection.rows(
                """
                SELECT id, \(unescaped: PostgresSchema.eventColumns), \(unescaped: PostgresSchema.anonymousIdUnlinked("replay_queue")),
                    first_attempt, attempts
                FROM replay_queue WHERE destination = \(destination) AND not_before <= \(now.milliseconds)
                ORDER BY id LIMIT \(limit)
                """, logger
            ).map { row in
                let cells = PostgresRandomAccessRow(row)
                let n = PostgresSchema.eventColumnCount
                var stored = try Self.storedEvent(cells, at: 1)
                stored.anonymousIdUnlinked = try cells[n + 1].decode(Bool.self)
                return QueuedEvent(
                    id: try cells[0].decode(Int64.self), stored: stored,
                    firstAttempt: try cells[n + 2].decode(Int64?.self).map(Timestamp.init(milliseconds:)),
                    attempts: Int(try cells[n + 3].decode(Int32.self)))
            }
        }
    }

    public func queueCounts(of destination: String) async throws(StoreError) -> (replay: Int, deadLetters: Int) {
        try await connection("counting queues of \(destination)") { connection, logger in
            let row = try await connection.rows(
                """
                SELECT (SELECT count(*) FROM replay_queue WHERE destination = \(destination)),
                    (SELECT count(*) FROM dead_letters WHERE destination = \(destination))
                """, logger
            ).first
            return try row?.decode((Int, Int).self) ?? (0, 0)
        }
    }

    // MARK: Leases

    public func claimLease(
        of destination: String, by node: String, ttl: Duration, fairShare: Int?, replacing defunct: String?
    ) async throws(StoreError) -> Bool {
        try await connection("claiming the delivery lease of \(destination)") { connection, logger in
            try await Self.ensureState(connection, logger, destination)
            let now = PostgresSchema.nowMilliseconds
            return try await connection.count(
                """
                UPDATE destination_state SET lease_owner = \(node), lease_until = \(unescaped: now) + \(ttl.milliseconds)
                WHERE destination = \(destination) AND (
                    lease_owner = \(node) OR lease_owner = \(defunct)
                    OR ((lease_owner IS NULL OR lease_until < \(unescaped: now)) AND (
                        \(fairShare)::bigint IS NULL
                        OR lease_until < \(unescaped: now) - \(ttl.milliseconds)
                        OR (SELECT count(*) FROM destination_state
                            WHERE lease_owner = \(node) AND lease_until >= \(unescaped: now)) < \(fairShare)::bigint)))
                """, logger) > 0
        }
    }

    public func renewLeases(of node: String, ttl: Duration) async throws(StoreError) -> LeaseRenewal {
        try await transaction("renewing delivery leases") { connection, logger in
            let now = PostgresSchema.nowMilliseconds
            try await connection.run(
                """
                INSERT INTO nodes (node_id, seen_until) VALUES (\(node), \(unescaped: now) + \(ttl.milliseconds))
                ON CONFLICT (node_id) DO UPDATE SET seen_until = excluded.seen_until
                """, logger)
            let held = try await connection.rows(
                """
                UPDATE destination_state SET lease_until = \(unescaped: now) + \(ttl.milliseconds)
                WHERE lease_owner = \(node) RETURNING destination
                """, logger
            ).map { try $0.decode(String.self) }
            // Nodes gone for a day are forgotten.
            try await connection.run("DELETE FROM nodes WHERE seen_until < \(unescaped: now) - 86400000", logger)
            let live = try await connection.rows(
                "SELECT node_id FROM nodes WHERE seen_until >= \(unescaped: now)", logger
            ).map { try $0.decode(String.self) }
            return LeaseRenewal(held: Set(held), nodes: Set(live).union([node]))
        }
    }

    public func forgetNodes(_ nodes: Set<String>) async throws(StoreError) {
        guard !nodes.isEmpty else { return }
        try await connection("forgetting nodes that are gone") { connection, logger in
            try await connection.run("DELETE FROM nodes WHERE node_id = ANY(\(Array(nodes))::text[])", logger)
        }
    }

    public func releaseLease(of destination: String, by node: String) async throws(StoreError) {
        try await connection("releasing the delivery lease of \(destination)") { connection, logger in
            try await connection.run(
                """
                UPDATE destination_state SET lease_owner = NULL, lease_until = \(unescaped: PostgresSchema.nowMilliseconds)
                WHERE destination = \(destination) AND lease_owner = \(node)
                """, logger)
        }
    }

    public func leaseHolder(of destination: String) async throws(StoreError) -> String? {
        try await connection("reading the delivery lease of \(destination)") { connection, logger in
            try await connection.rows(
                """
                SELECT lease_owner FROM destination_state
                WHERE destination = \(destination) AND lease_until >= \(unescaped: PostgresSchema.nowMilliseconds)
                """, logger
            ).first?.decode(String?.self)
        }
    }

    // MARK: Helpers

    static func ensureState(_ connection: PostgresConnection, _ logger: Logger, _ destination: String) async throws {
        try await connection.run(
            "INSERT INTO destination_state (destination) VALUES (\(destination)) ON CONFLICT (destination) DO NOTHING", logger)
    }

    /// Appends the values of `PostgresSchema.eventColumns` as bindings, comma-separated.
    static func appendEventValues(_ stored: StoredEvent, to query: inout PostgresQuery) {
        let event = stored.event
        query.appendBinding(stored.sequence)
        for text in [event.source, event.messageId, event.type.rawValue] {
            query.sql += ", "
            query.appendBinding(text)
        }
        for text in [event.userId, event.anonymousId, event.eventName, event.previousId, event.groupId] {
            query.sql += ", "
            query.appendBinding(text)
        }
        query.sql += ", "
        query.appendBinding(event.timestamp.milliseconds)
        query.sql += ", "
        query.appendBinding(event.receivedAt.milliseconds)
        query.sql += ", "
        query.appendBinding(ByteBuffer(bytes: event.body))
        query.sql += ", "
        query.appendBinding(stored.resolvedUserId)
        query.sql += ", "
        query.appendBinding(stored.mergedAnonymousId)
        query.sql += ", "
        query.appendBinding(stored.storedUserId)
    }
}

extension PostgresQuery {
    /// Adds `value` as the next `$n` parameter.
    mutating func appendBinding<Value: PostgresNonThrowingEncodable>(_ value: Value?) {
        binds.append(value)
        sql += "$\(binds.count)"
    }
}
