import Foundation
import Logging
import NIOCore
import PostgresNIO
import SwitchyardCore

extension PostgresEventStore {
    public func releasableHolds(
        of destination: String, anonymousId: String?, after sequence: Int64, limit: Int, receivedSince: Timestamp
    ) async throws(StoreError) -> [QueuedEvent] {
        let window = identity.lateWindow?.milliseconds
        let columns = PostgresSchema.eventColumns.split(separator: ",")
            .map { "e." + $0.trimmingCharacters(in: .whitespacesAndNewlines) }.joined(separator: ", ")
        return try await connection("reading releasable holds of \(destination)") { connection, logger in
            // An event held before its id merged is released by the merge; one that arrived after the merge but
            // was held (outside the late window) stays held until hold_ttl.
            // Compared as a difference of two stored times: `merged_at + window` overflowed a late_window near
            // the largest duration (an error on PostgreSQL, and holds never released).
            try await connection.rows(
                """
                SELECT h.id, \(unescaped: columns), i.user_id
                FROM holds h
                JOIN identities i ON i.anonymous_id = h.anonymous_id
                JOIN events e ON e.seq = h.seq
                WHERE h.destination = \(destination) AND (\(window)::bigint IS NULL OR h.received_at - i.merged_at <= \(window)::bigint)
                    AND h.received_at >= \(receivedSince.milliseconds)
                    AND (\(anonymousId)::text IS NULL OR h.anonymous_id = \(anonymousId)::text) AND h.seq > \(sequence)
                ORDER BY h.seq LIMIT \(limit)
                """, logger
            ).map { row in
                let cells = PostgresRandomAccessRow(row)
                var stored = try Self.storedEvent(cells, at: 1)
                stored.resolvedUserId = try cells[PostgresSchema.eventColumnCount + 1].decode(String.self)
                return QueuedEvent(id: try cells[0].decode(Int64.self), stored: stored)
            }
        }
    }

    public func storedSequences(among sequences: [Int64]) async throws(StoreError) -> Set<Int64> {
        guard !sequences.isEmpty else { return [] }
        return try await connection("checking events still stored") { connection, logger in
            Set(try await connection.rows("SELECT seq FROM events WHERE seq = ANY(\(sequences)::int8[])", logger).map { try $0.decode(Int64.self) })
        }
    }

    public func holdCount(of destination: String) async throws(StoreError) -> Int {
        try await connection("counting holds of \(destination)") { connection, logger in
            try await connection.rows("SELECT count(*) FROM holds WHERE destination = \(destination)", logger)
                .first?.decode(Int.self) ?? 0
        }
    }

    static func keptUserId(_ connection: PostgresConnection, _ logger: Logger, _ userId: String) async throws -> String {
        try await connection.rows("SELECT kept_user_id FROM person_aliases WHERE user_id = \(userId)", logger)
            .first?.decode(String.self) ?? userId
    }

    public func person(_ userId: String) async throws(StoreError) -> Person? {
        let limits = identity.traitsLimits
        return try await connection("reading person") { connection, logger in
            let kept = try await Self.keptUserId(connection, logger, userId)
            guard
                let row = try await connection.rows(
                    """
                    SELECT traits, first_seen,
                        (SELECT min(received_at) FROM events WHERE resolved_user_id = \(kept)),
                        (SELECT received_at FROM events WHERE resolved_user_id = \(kept) ORDER BY seq DESC LIMIT 1)
                    FROM persons WHERE user_id = \(kept)
                    """, logger
                ).first
            else { return nil }
            var (traitsBytes, firstSeen, earliest, last) = try row.decode((ByteBuffer, Int64, Int64?, Int64?).self)
            let anonymousIds = try await connection.rows(
                "SELECT anonymous_id FROM identities WHERE user_id = \(kept) ORDER BY merged_at, anonymous_id", logger
            ).map { try $0.decode(String.self) }
            // Read through the caps: traits stored before them (up to 64 KB of tiny keys) would cost a
            // quadratic tree build per read.
            let stored = traitsBytes.readBytes(length: traitsBytes.readableBytes) ?? []  // all readable bytes: cannot fail
            return Person.stored(
                userId: kept, anonymousIds: anonymousIds, traitsJSON: TraitsMerge(stored: stored, limits: limits).json,
                firstSeen: firstSeen, earliestEvent: earliest, latestEvent: last)
        }
    }

    public func activity(_ scope: ActivityScope, before cursor: ActivityCursor?, limit: Int) async throws(StoreError)
        -> ActivityPage
    {
        try await connection("reading the activity log") { connection, logger in
            let eventsBefore = cursor?.eventsBefore ?? Int64.max
            let entriesBefore = cursor?.entriesBefore ?? Int64.max
            var eventQuery: PostgresQuery =
                "SELECT \(unescaped: PostgresSchema.eventColumns) FROM events WHERE seq < \(eventsBefore) AND "
            var entryQuery: PostgresQuery = """
                SELECT id, kind, at, anonymous_id, user_id, merged_user_id, events_merged, message_id, reason
                FROM activity WHERE id < \(entriesBefore) AND
                """
            switch scope {
            case .identified:
                eventQuery.sql += "resolved_user_id IS NOT NULL"
                entryQuery.sql += " TRUE"
            case .anonymous:
                eventQuery.sql += "resolved_user_id IS NULL"
                entryQuery.sql += " kind IN ('anonymous_merge', 'merge_refused')"
            case .person(let userId):
                let kept = try await Self.keptUserId(connection, logger, userId)
                eventQuery.sql += "resolved_user_id = "
                eventQuery.appendBinding(kept)
                entryQuery.sql += " (user_id = "
                entryQuery.appendBinding(kept)
                entryQuery.sql += " OR merged_user_id = "
                entryQuery.appendBinding(kept)
                entryQuery.sql += ")"
            case .anonymousId(let anonymousId):
                eventQuery.sql += "anonymous_id = "
                eventQuery.appendBinding(anonymousId)
                entryQuery.sql += " anonymous_id = "
                entryQuery.appendBinding(anonymousId)
            }
            eventQuery.sql += " ORDER BY seq DESC LIMIT "
            eventQuery.appendBinding(limit)
            entryQuery.sql += " ORDER BY id DESC LIMIT "
            entryQuery.appendBinding(limit)
            let events = try await connection.rows(eventQuery, logger).map { try Self.storedEvent(PostgresRandomAccessRow($0)) }
            let entries = try await connection.rows(entryQuery, logger).compactMap(Self.activityEntry)
            return ActivityPage.merging(events: events, entries: entries, limit: limit, eventsBefore: eventsBefore, entriesBefore: entriesBefore)
        }
    }

    static func activityEntry(_ row: PostgresRow) throws -> ActivityEntry? {
        let (id, kindName, at, anonymousId, userId, mergedUserId, eventsMerged, messageId, reason) = try row.decode(
            (Int64, String, Int64, String?, String?, String?, Int, String?, String?).self)
        guard let kind = ActivityEntry.Kind(rawValue: kindName) else { return nil }  // a kind from a newer version: skipped
        return ActivityEntry(
            id: id, kind: kind, at: Timestamp(milliseconds: at), anonymousId: anonymousId, userId: userId,
            mergedUserId: mergedUserId, eventsMerged: eventsMerged, messageId: messageId,
            reason: reason.flatMap(MergeRefusal.init(rawValue:)))
    }

    public func erase(_ userId: String, at: Timestamp) async throws(StoreError) -> Int? {
        try await identityTransaction("erasing a person") { connection, logger in
            // The person's identity locks, as an append of its events takes them: an append waiting for them
            // sees the suppression and stores nothing; one that took them first is erased with the rest.
            // Every append touching this person locks its kept id, so the ids read here before the locks
            // (to name them) cannot grow once the locks are held.
            let named = try await Self.keptUserId(connection, logger, userId)
            let namedUsers = try await connection.rows(
                "SELECT user_id FROM person_aliases WHERE kept_user_id = \(named)", logger
            ).map { try $0.decode(String.self) }
            let namedAnonymous = try await connection.rows(
                "SELECT anonymous_id FROM identities WHERE user_id = \(named)", logger
            ).map { try $0.decode(String.self) }
            try await connection.run(
                "SELECT switchyard_lock_identities(\([userId, named] + namedUsers)::text[], \(namedAnonymous)::text[])", logger)
            let kept = try await Self.keptUserId(connection, logger, userId)
            let known = try await !connection.rows("SELECT 1 FROM persons WHERE user_id = \(kept)", logger).isEmpty
            let userIds = [kept]
                + (try await connection.rows("SELECT user_id FROM person_aliases WHERE kept_user_id = \(kept)", logger)
                    .map { try $0.decode(String.self) })
            let anonymousIds = try await connection.rows("SELECT anonymous_id FROM identities WHERE user_id = \(kept)", logger)
                .map { try $0.decode(String.self) }
            var deleted = try await connection.count(
                "DELETE FROM events WHERE resolved_user_id = ANY(\(userIds)::text[]) OR user_id = ANY(\(userIds)::text[])", logger)
            // Events of the person's anonymous ids that belong to nobody; one resolved to someone else (a shared
            // device, a contested id) is that person's data and stays (SPEC §3).
            deleted += try await connection.count(
                "DELETE FROM events WHERE anonymous_id = ANY(\(anonymousIds)::text[]) AND resolved_user_id IS NULL", logger)
            for table in ["replay_queue", "dead_letters"] {
                try await connection.run(
                    """
                    DELETE FROM \(unescaped: table) WHERE resolved_user_id = ANY(\(userIds)::text[])
                        OR user_id = ANY(\(userIds)::text[])
                        OR (anonymous_id = ANY(\(anonymousIds)::text[]) AND resolved_user_id IS NULL)
                    """, logger)
            }
            try await connection.run("DELETE FROM holds WHERE anonymous_id = ANY(\(anonymousIds)::text[])", logger)
            try await connection.run(
                """
                DELETE FROM activity WHERE user_id = ANY(\(userIds)::text[]) OR merged_user_id = ANY(\(userIds)::text[])
                    OR (anonymous_id = ANY(\(anonymousIds)::text[]) AND user_id IS NULL)
                """, logger)
            try await connection.run(
                """
                INSERT INTO suppressions (user_id, at) SELECT u, \(at.milliseconds) FROM unnest(\(userIds)::text[]) AS t(u)
                ON CONFLICT (user_id) DO NOTHING
                """, logger)
            try await connection.run("DELETE FROM anonymous_traits WHERE anonymous_id = ANY(\(anonymousIds)::text[])", logger)
            try await connection.run("DELETE FROM identities WHERE user_id = \(kept)", logger)
            try await connection.run("DELETE FROM person_aliases WHERE kept_user_id = \(kept)", logger)
            try await connection.run("DELETE FROM persons WHERE user_id = \(kept)", logger)
            try await connection.run(
                "INSERT INTO activity (kind, at, user_id, events_merged) VALUES ('erasure', \(at.milliseconds), \(kept), \(deleted))",
                logger)
            return known ? deleted : nil
        }
    }

    public func unsuppress(_ userId: String) async throws(StoreError) -> Bool {
        try await identityTransaction("lifting a suppression") { connection, logger in
            try await connection.run("SELECT switchyard_lock_identities(\([userId])::text[], '{}'::text[])", logger)
            return try await connection.count("DELETE FROM suppressions WHERE user_id = \(userId)", logger) > 0
        }
    }

    public func purge(now: Timestamp, anonymousTTL: Duration, identifiedTTL: Duration, holdTTLs: [String: Duration])
        async throws(StoreError) -> PurgeReport
    {
        var report = PurgeReport()
        // Small transactions: a purge of millions of rows never holds locks for long.
        let chunk = 5000
        for identified in [false, true] {
            let cutoff = (now - (identified ? identifiedTTL : anonymousTTL)).milliseconds
            while true {
                let removed = try await connection("purging \(identified ? "identified" : "anonymous") events") { connection, logger in
                    try await connection.count(
                        """
                        DELETE FROM events WHERE seq IN (
                            SELECT seq FROM events WHERE received_at < \(cutoff)
                                AND (resolved_user_id IS NOT NULL) = \(identified) LIMIT \(chunk))
                        """, logger)
                }
                if identified { report.identifiedEvents += removed } else { report.anonymousEvents += removed }
                if removed < chunk { break }
            }
        }
        // Refusal entries are written per refused event (a shared device, a placeholder id, senders of random
        // user ids): they go with the events of their time, or the log would grow without bound. Merges and
        // erasures stay, bounded by the identities they record.
        let refusalCutoff = (now - identifiedTTL).milliseconds
        // Traits kept for an anonymous id that never merged go with the last of its anonymous events (the
        // identify that sent them is one, purged after anonymous_ttl): a visitor who never signs up leaves
        // nothing behind. Its events resolved to someone (a refused merge) are that person's, not the visitor's.
        _ = try await connection("purging traits of anonymous ids without events") { connection, logger in
            try await connection.count(
                """
                DELETE FROM anonymous_traits t
                WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.anonymous_id = t.anonymous_id AND e.resolved_user_id IS NULL)
                """, logger)
        }
        while true {
            let removed = try await connection("purging merge refusals") { connection, logger in
                try await connection.count(
                    """
                    DELETE FROM activity WHERE id IN (
                        SELECT id FROM activity WHERE kind = \(ActivityEntry.Kind.mergeRefused.rawValue)
                            AND at < \(refusalCutoff) LIMIT \(chunk))
                    """, logger)
            }
            if removed < chunk { break }
        }
        for (destination, ttl) in holdTTLs {
            let expired = try await transaction("expiring holds of \(destination)") { connection, logger in
                // Holds whose event is gone (retention, erasure) expire with them.
                let expired = try await connection.count(
                    """
                    DELETE FROM holds WHERE destination = \(destination)
                    AND (received_at < \((now - ttl).milliseconds) OR NOT EXISTS (SELECT 1 FROM events e WHERE e.seq = holds.seq))
                    """, logger)
                if expired > 0 {
                    try await Self.ensureState(connection, logger, destination)
                    try await connection.run(
                        """
                        UPDATE destination_state SET hold_expired_total = hold_expired_total + \(expired)
                        WHERE destination = \(destination)
                        """, logger)
                }
                return expired
            }
            if expired > 0 { report.expiredHolds[destination] = expired }
        }
        return report
    }
}
