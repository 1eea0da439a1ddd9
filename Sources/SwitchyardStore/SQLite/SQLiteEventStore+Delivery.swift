import Foundation
import GRDB
import SwitchyardCore

extension SQLiteEventStore {
    public func headSequence() async throws(StoreError) -> Int64 {
        try await read("reading the log head") { db in
            try Int64.fetchOne(db, sql: "SELECT coalesce(max(seq), 0) FROM events") ?? 0
        }
    }

    public func receivedAt(ofFirstEventAfter sequence: Int64) async throws(StoreError) -> Timestamp? {
        try await read("reading the lag") { db in
            try Int64.fetchOne(db, sql: "SELECT received_at FROM events WHERE seq > ? ORDER BY seq LIMIT 1", arguments: [sequence])
                .map(Timestamp.init(milliseconds:))
        }
    }

    public func progress(of destination: String) async throws(StoreError) -> DestinationProgress {
        try await read("reading the progress of \(destination)") { db in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT position, delivered_total, dead_lettered_total, dropped_total, hold_expired_total,
                            disabled_reason
                        FROM destination_state WHERE destination = ?
                        """,
                    arguments: [destination])
            else { return DestinationProgress() }
            return DestinationProgress(
                position: row[0], deliveredTotal: row[1], deadLetteredTotal: row[2], droppedTotal: row[3],
                holdExpiredTotal: row[4], disabledReason: row[5])
        }
    }

    public func settle(_ settlement: DeliverySettlement, for destination: String) async throws(StoreError) {
        try await write("recording delivery to \(destination)") { db in
            try Self.ensureState(db, destination)
            try db.execute(
                sql: """
                    UPDATE destination_state SET
                        position = max(position, coalesce(?, position)),
                        delivered_total = delivered_total + ?,
                        dead_lettered_total = dead_lettered_total + ?,
                        dropped_total = dropped_total + ?
                    WHERE destination = ? AND (? IS NULL OR lease_owner = ?)
                    """,
                arguments: [
                    settlement.position, settlement.delivered, settlement.deadLetters.count, settlement.dropped, destination,
                    settlement.leaseHolder, settlement.leaseHolder,
                ])
            if db.changesCount == 0, let holder = settlement.leaseHolder {
                throw StoreError(.leaseLost, "node \(holder) no longer holds the delivery lease of \(destination)")
            }
            let hold = try db.cachedStatement(
                sql: """
                    INSERT INTO holds (destination, seq, anonymous_id, received_at) VALUES (?, ?, ?, ?)
                    ON CONFLICT (destination, seq) DO NOTHING
                    """)
            for stored in settlement.held {
                guard let anonymousId = stored.event.anonymousId else { continue }
                try hold.execute(arguments: [destination, stored.sequence, anonymousId, stored.event.receivedAt.milliseconds])
            }
            let released = try db.cachedStatement(sql: "DELETE FROM holds WHERE id = ? AND destination = ?")
            for id in settlement.releasedHoldIds { try released.execute(arguments: [id, destination]) }
            let insert = try db.cachedStatement(
                sql: """
                    INSERT INTO dead_letters (destination, \(SQLiteSchema.eventColumns), attempts, last_status,
                        last_error, failed_at)
                    VALUES (?, \(SQLiteSchema.placeholders), ?, ?, ?, ?)
                    """)
            for letter in settlement.deadLetters {
                try insert.execute(
                    arguments: StatementArguments([destination]) + Self.eventArguments(letter.event)
                        + [letter.attempts, letter.lastStatus, letter.lastError, settlement.at.milliseconds])
            }
            let deferral = try db.cachedStatement(
                sql: """
                    INSERT INTO replay_queue (destination, \(SQLiteSchema.eventColumns), not_before, first_attempt, attempts)
                    VALUES (?, \(SQLiteSchema.placeholders), ?, ?, ?)
                    """)
            for deferred in settlement.deferred {
                try deferral.execute(
                    arguments: StatementArguments([destination]) + Self.eventArguments(deferred.event)
                        + [deferred.notBefore.milliseconds, deferred.firstAttempt.milliseconds, deferred.attempts])
            }
            let done = try db.cachedStatement(sql: "DELETE FROM replay_queue WHERE id = ? AND destination = ?")
            for id in settlement.replayedIds { try done.execute(arguments: [id, destination]) }
        }
    }

    public func setDisabled(_ destination: String, reason: String?) async throws(StoreError) {
        try await write("disabling \(destination)") { db in
            try Self.ensureState(db, destination)
            try db.execute(
                sql: "UPDATE destination_state SET disabled_reason = ? WHERE destination = ?",
                arguments: [reason, destination])
        }
    }

    public func deadLetters(of destination: String, after id: Int64, limit: Int) async throws(StoreError) -> [DeadLetter] {
        try await read("reading dead letters of \(destination)") { db in
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT id, \(SQLiteSchema.eventColumns), attempts, last_status, last_error, failed_at
                    FROM dead_letters WHERE destination = ? AND id > ? ORDER BY id LIMIT ?
                    """,
                arguments: [destination, id, limit])
            var letters: [DeadLetter] = []
            let n = SQLiteSchema.eventColumnCount
            while let row = try rows.next() {
                letters.append(
                    DeadLetter(
                        id: row[0], event: try Self.storedEvent(row, at: 1), attempts: row[n + 1], lastStatus: row[n + 2],
                        lastError: row[n + 3], failedAt: Timestamp(milliseconds: row[n + 4])))
            }
            return letters
        }
    }

    public func requeueDeadLetters(of destination: String, ids: [Int64]?) async throws(StoreError) -> Int {
        try await write("re-queueing dead letters of \(destination)") { db in
            if let ids {
                var moved = 0
                let copy = try db.cachedStatement(
                    sql: """
                        INSERT INTO replay_queue (destination, \(SQLiteSchema.eventColumns))
                        SELECT destination, \(SQLiteSchema.eventColumns) FROM dead_letters WHERE destination = ? AND id = ?
                        """)
                let delete = try db.cachedStatement(sql: "DELETE FROM dead_letters WHERE destination = ? AND id = ?")
                for id in ids {
                    try copy.execute(arguments: [destination, id])
                    moved += db.changesCount
                    try delete.execute(arguments: [destination, id])
                }
                return moved
            }
            try db.execute(
                sql: """
                    INSERT INTO replay_queue (destination, \(SQLiteSchema.eventColumns))
                    SELECT destination, \(SQLiteSchema.eventColumns) FROM dead_letters WHERE destination = ? ORDER BY id
                    """,
                arguments: [destination])
            let moved = db.changesCount
            try db.execute(sql: "DELETE FROM dead_letters WHERE destination = ?", arguments: [destination])
            return moved
        }
    }

    public func enqueueReplay(for destination: String, receivedFrom from: Timestamp, to: Timestamp) async throws(StoreError)
        -> Int
    {
        try await write("queueing a replay to \(destination)") { db in
            try db.execute(
                sql: """
                    INSERT INTO replay_queue (destination, \(SQLiteSchema.eventColumns))
                    SELECT ?, \(SQLiteSchema.eventColumns) FROM events WHERE received_at BETWEEN ? AND ? ORDER BY seq
                    """,
                arguments: [destination, from.milliseconds, to.milliseconds])
            return db.changesCount
        }
    }

    public func replayQueue(of destination: String, limit: Int, readyBy now: Timestamp) async throws(StoreError)
        -> [QueuedEvent]
    {
        try await read("reading the replay queue of \(destination)") { db in
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT id, \(SQLiteSchema.eventColumns), \(SQLiteSchema.anonymousIdUnlinked("replay_queue")),
                        first_attempt, attempts
                    FROM replay_queue WHERE destination = ? AND not_before <= ? ORDER BY id LIMIT ?
                    """,
                arguments: [destination, now.milliseconds, limit])
            var queued: [QueuedEvent] = []
            let n = SQLiteSchema.eventColumnCount
            while let row = try rows.next() {
                var stored = try Self.storedEvent(row, at: 1)
                stored.anonymousIdUnlinked = (row[n + 1] as Int? ?? 0) != 0
                queued.append(
                    QueuedEvent(
                        id: row[0], stored: stored, firstAttempt: (row[n + 2] as Int64?).map(Timestamp.init(milliseconds:)),
                        attempts: row[n + 3] as Int? ?? 0))
            }
            return queued
        }
    }

    public func queueCounts(of destination: String) async throws(StoreError) -> (replay: Int, deadLetters: Int) {
        try await read("counting queues of \(destination)") { db in
            let replay = try Int.fetchOne(db, sql: "SELECT count(*) FROM replay_queue WHERE destination = ?", arguments: [destination]) ?? 0
            let dead = try Int.fetchOne(db, sql: "SELECT count(*) FROM dead_letters WHERE destination = ?", arguments: [destination]) ?? 0
            return (replay, dead)
        }
    }

    // MARK: Leases

    public func claimLease(
        of destination: String, by node: String, ttl: Duration, fairShare: Int?, replacing defunct: String?
    ) async throws(StoreError) -> Bool {
        try await write("claiming the delivery lease of \(destination)") { db in
            try Self.ensureState(db, destination)
            let now = SQLiteSchema.nowMilliseconds
            try db.execute(
                sql: """
                    UPDATE destination_state SET lease_owner = ?1, lease_until = \(now) + ?2
                    WHERE destination = ?3 AND (
                        lease_owner = ?1 OR lease_owner = ?5
                        OR ((lease_owner IS NULL OR lease_until < \(now)) AND (
                            ?4 IS NULL
                            OR lease_until < \(now) - ?2
                            OR (SELECT count(*) FROM destination_state
                                WHERE lease_owner = ?1 AND lease_until >= \(now)) < ?4)))
                    """,
                arguments: [node, ttl.milliseconds, destination, fairShare, defunct])
            return db.changesCount > 0
        }
    }

    public func renewLeases(of node: String, ttl: Duration) async throws(StoreError) -> LeaseRenewal {
        try await write("renewing delivery leases") { db in
            let now = SQLiteSchema.nowMilliseconds
            try db.execute(
                sql: """
                    INSERT INTO nodes (node_id, seen_until) VALUES (?1, \(now) + ?2)
                    ON CONFLICT (node_id) DO UPDATE SET seen_until = excluded.seen_until
                    """,
                arguments: [node, ttl.milliseconds])
            try db.execute(
                sql: "UPDATE destination_state SET lease_until = \(now) + ? WHERE lease_owner = ?",
                arguments: [ttl.milliseconds, node])
            let held = try String.fetchAll(db, sql: "SELECT destination FROM destination_state WHERE lease_owner = ?", arguments: [node])
            // Nodes gone for a day are forgotten.
            try db.execute(sql: "DELETE FROM nodes WHERE seen_until < \(now) - 86400000")
            let live = try String.fetchAll(db, sql: "SELECT node_id FROM nodes WHERE seen_until >= \(now)")
            return LeaseRenewal(held: Set(held), nodes: Set(live).union([node]))
        }
    }

    public func forgetNodes(_ nodes: Set<String>) async throws(StoreError) {
        guard !nodes.isEmpty else { return }
        try await write("forgetting nodes that are gone") { db in
            let forget = try db.cachedStatement(sql: "DELETE FROM nodes WHERE node_id = ?")
            for node in nodes { try forget.execute(arguments: [node]) }
        }
    }

    public func releaseLease(of destination: String, by node: String) async throws(StoreError) {
        try await write("releasing the delivery lease of \(destination)") { db in
            try db.execute(
                sql: """
                    UPDATE destination_state SET lease_owner = NULL, lease_until = \(SQLiteSchema.nowMilliseconds)
                    WHERE destination = ? AND lease_owner = ?
                    """,
                arguments: [destination, node])
        }
    }

    public func leaseHolder(of destination: String) async throws(StoreError) -> String? {
        try await read("reading the delivery lease of \(destination)") { db in
            try String.fetchOne(
                db,
                sql: "SELECT lease_owner FROM destination_state WHERE destination = ? AND lease_until >= \(SQLiteSchema.nowMilliseconds)",
                arguments: [destination])
        }
    }

    // MARK: Helpers

    static func ensureState(_ db: Database, _ destination: String) throws {
        try db.execute(
            sql: "INSERT INTO destination_state (destination) VALUES (?) ON CONFLICT (destination) DO NOTHING",
            arguments: [destination])
    }

    /// Arguments for `SQLiteSchema.eventColumns`; a nil `sequence` lets the log assign one.
    static func eventArguments(_ stored: StoredEvent, sequence: Int64?? = .none) -> StatementArguments {
        let event = stored.event
        let seq: Int64? = sequence ?? stored.sequence
        return [
            seq, event.source, event.messageId, event.type.rawValue, event.userId, event.anonymousId,
            event.eventName, event.previousId, event.groupId, event.timestamp.milliseconds,
            event.receivedAt.milliseconds, Data(event.body), stored.resolvedUserId, stored.mergedAnonymousId,
            stored.storedUserId,
        ]
    }

    func read<T: Sendable>(_ what: String, _ body: @escaping @Sendable (Database) throws -> T) async throws(StoreError) -> T {
        do {
            return try await pool.read(body)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.unavailable, "\(what) in \(path) failed: \(error)")
        }
    }

    func write<T: Sendable>(_ what: String, _ body: @escaping @Sendable (Database) throws -> T) async throws(StoreError) -> T {
        do {
            return try await pool.write(body)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.unavailable, "\(what) in \(path) failed: \(error)")
        }
    }
}

