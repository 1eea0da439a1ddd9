import Foundation
import GRDB
import SwitchyardCore

extension SQLiteEventStore {
    public func releasableHolds(
        of destination: String, anonymousId: String?, after sequence: Int64, limit: Int, receivedSince: Timestamp
    ) async throws(StoreError) -> [QueuedEvent] {
        let window = identity.lateWindow?.milliseconds
        return try await read("reading releasable holds of \(destination)") { db in
            // An event held before its id merged is released by the merge; one that arrived after the merge
            // but was held (it fell outside the late window) stays held until hold_ttl.
            // Compared as a difference of two stored times: `merged_at + window` overflowed a late_window near
            // the largest duration (an error on PostgreSQL, and holds never released).
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT h.id, \(SQLiteSchema.eventColumns.split(separator: ",").map { "e." + $0.trimmingCharacters(in: .whitespacesAndNewlines) }.joined(separator: ", ")), i.user_id
                    FROM holds h
                    JOIN identities i ON i.anonymous_id = h.anonymous_id
                    JOIN events e ON e.seq = h.seq
                    WHERE h.destination = ? AND (? IS NULL OR h.received_at - i.merged_at <= ?) AND h.received_at >= ?
                        AND (? IS NULL OR h.anonymous_id = ?) AND h.seq > ?
                    ORDER BY h.seq LIMIT ?
                    """,
                arguments: [destination, window, window, receivedSince.milliseconds, anonymousId, anonymousId, sequence, limit])
            var released: [QueuedEvent] = []
            while let row = try rows.next() {
                var stored = try Self.storedEvent(row, at: 1)
                stored.resolvedUserId = row[SQLiteSchema.eventColumnCount + 1]
                released.append(QueuedEvent(id: row[0], stored: stored))
            }
            return released
        }
    }

    public func storedSequences(among sequences: [Int64]) async throws(StoreError) -> Set<Int64> {
        guard !sequences.isEmpty else { return [] }
        let list = "[" + sequences.map(String.init).joined(separator: ",") + "]"
        return try await read("checking events still stored") { db in
            Set(try Int64.fetchAll(db, sql: "SELECT seq FROM events WHERE seq IN (SELECT value FROM json_each(?))", arguments: [list]))
        }
    }

    public func holdCount(of destination: String) async throws(StoreError) -> Int {
        try await read("counting holds of \(destination)") { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM holds WHERE destination = ?", arguments: [destination]) ?? 0
        }
    }

    public func person(_ userId: String) async throws(StoreError) -> Person? {
        let limits = identity.traitsLimits
        return try await read("reading person") { db in
            let kept = try String.fetchOne(db, sql: "SELECT kept_user_id FROM person_aliases WHERE user_id = ?", arguments: [userId]) ?? userId
            guard let row = try Row.fetchOne(db, sql: "SELECT traits, first_seen FROM persons WHERE user_id = ?", arguments: [kept]) else {
                return nil
            }
            let anonymousIds = try String.fetchAll(
                db, sql: "SELECT anonymous_id FROM identities WHERE user_id = ? ORDER BY merged_at, anonymous_id", arguments: [kept])
            let traitsData: Data = row[0]
            let earliest = try Int64.fetchOne(
                db, sql: "SELECT min(received_at) FROM events WHERE resolved_user_id = ?", arguments: [kept])
            let latest = try Int64.fetchOne(
                db, sql: "SELECT received_at FROM events WHERE resolved_user_id = ? ORDER BY seq DESC LIMIT 1", arguments: [kept])
            // Read through the caps: traits stored before them (up to 64 KB of tiny keys) would cost a
            // quadratic tree build per read.
            let traits = TraitsMerge(stored: [UInt8](traitsData), limits: limits).json
            return Person.stored(
                userId: kept, anonymousIds: anonymousIds, traitsJSON: traits, firstSeen: row[1],
                earliestEvent: earliest, latestEvent: latest)
        }
    }

    public func activity(_ scope: ActivityScope, before cursor: ActivityCursor?, limit: Int) async throws(StoreError)
        -> ActivityPage
    {
        try await read("reading the activity log") { db in
            let eventsBefore = cursor?.eventsBefore ?? Int64.max
            let entriesBefore = cursor?.entriesBefore ?? Int64.max
            let (eventFilter, eventArguments, entryFilter, entryArguments) = try Self.activityFilters(db, scope)
            let eventRows = try Row.fetchAll(
                db,
                sql: "SELECT \(SQLiteSchema.eventColumns) FROM events WHERE seq < ? AND \(eventFilter) ORDER BY seq DESC LIMIT ?",
                arguments: [eventsBefore] + eventArguments + [limit])
            let events = try eventRows.map { try Self.storedEvent($0) }
            let entryRows = try Row.fetchAll(
                db,
                sql: """
                    SELECT id, kind, at, anonymous_id, user_id, merged_user_id, events_merged, message_id, reason
                    FROM activity WHERE id < ? AND \(entryFilter) ORDER BY id DESC LIMIT ?
                    """,
                arguments: [entriesBefore] + entryArguments + [limit])
            let entries = entryRows.compactMap(Self.activityEntry)
            return ActivityPage.merging(
                events: events, entries: entries, limit: limit, eventsBefore: eventsBefore, entriesBefore: entriesBefore)
        }
    }

    static func activityFilters(_ db: Database, _ scope: ActivityScope) throws -> (String, StatementArguments, String, StatementArguments) {
        switch scope {
        case .identified:
            return ("resolved_user_id IS NOT NULL", [], "1 = 1", [])
        case .anonymous:
            return ("resolved_user_id IS NULL", [], "kind IN ('anonymous_merge', 'merge_refused')", [])
        case .person(let userId):
            let kept = try String.fetchOne(db, sql: "SELECT kept_user_id FROM person_aliases WHERE user_id = ?", arguments: [userId]) ?? userId
            return ("resolved_user_id = ?", [kept], "(user_id = ? OR merged_user_id = ?)", [kept, kept])
        case .anonymousId(let anonymousId):
            // `events_anonymous` holds only unresolved events. The id's resolved events belong to its owner or, where a
            // merge was refused, to the user that event carried — each such pair is in the activity log — so they
            // are found through `events_resolved`.
            let events = """
                seq IN (
                    SELECT seq FROM events WHERE anonymous_id = ? AND resolved_user_id IS NULL
                    UNION ALL
                    SELECT seq FROM events WHERE anonymous_id = ? AND resolved_user_id IN (
                        SELECT user_id FROM identities WHERE anonymous_id = ?
                        UNION SELECT user_id FROM activity WHERE anonymous_id = ? AND user_id IS NOT NULL))
                """
            return (events, [anonymousId, anonymousId, anonymousId, anonymousId], "anonymous_id = ?", [anonymousId])
        }
    }

    static func activityEntry(_ row: Row) -> ActivityEntry? {
        guard let kind = ActivityEntry.Kind(rawValue: row[1]) else { return nil }  // a kind from a newer version: skipped
        let reason: String? = row[8]
        return ActivityEntry(
            id: row[0], kind: kind, at: Timestamp(milliseconds: row[2]), anonymousId: row[3], userId: row[4],
            mergedUserId: row[5], eventsMerged: row[6], messageId: row[7], reason: reason.flatMap(MergeRefusal.init(rawValue:)))
    }

    public func erase(_ userId: String, at: Timestamp) async throws(StoreError) -> Int? {
        try await write("erasing a person") { db in
            self.forgetIdentityFacts()  // identity records change outside the engine
            let kept = try String.fetchOne(db, sql: "SELECT kept_user_id FROM person_aliases WHERE user_id = ?", arguments: [userId]) ?? userId
            let known = try Bool.fetchOne(db, sql: "SELECT 1 FROM persons WHERE user_id = ?", arguments: [kept]) ?? false
            let userIds = [kept] + (try String.fetchAll(db, sql: "SELECT user_id FROM person_aliases WHERE kept_user_id = ?", arguments: [kept]))
            let anonymousIds = try String.fetchAll(db, sql: "SELECT anonymous_id FROM identities WHERE user_id = ?", arguments: [kept])
            // Set-based: a person can have any number of user ids (aliases are sent by clients), and one
            // statement per id scanned the tables once per id while holding the writer.
            let users = Self.jsonArray(userIds)
            let anonymous = Self.jsonArray(anonymousIds)
            let inUsers = "IN (SELECT value FROM json_each(?1))"
            try db.execute(sql: "DELETE FROM events WHERE resolved_user_id \(inUsers) OR user_id \(inUsers)", arguments: [users])
            var deleted = db.changesCount
            // Events of the person's anonymous ids that belong to nobody; one resolved to someone else (a shared
            // device, a contested id) is that person's data and stays (SPEC §3).
            try db.execute(
                sql: "DELETE FROM events WHERE anonymous_id IN (SELECT value FROM json_each(?)) AND resolved_user_id IS NULL",
                arguments: [anonymous])
            deleted += db.changesCount
            for table in ["replay_queue", "dead_letters"] {
                try db.execute(
                    sql: """
                        DELETE FROM \(table) WHERE resolved_user_id \(inUsers) OR user_id \(inUsers)
                            OR (anonymous_id IN (SELECT value FROM json_each(?2)) AND resolved_user_id IS NULL)
                        """,
                    arguments: [users, anonymous])
            }
            try db.execute(sql: "DELETE FROM holds WHERE anonymous_id IN (SELECT value FROM json_each(?))", arguments: [anonymous])
            try db.execute(
                sql: """
                    DELETE FROM activity WHERE user_id \(inUsers) OR merged_user_id \(inUsers)
                        OR (anonymous_id IN (SELECT value FROM json_each(?2)) AND user_id IS NULL)
                    """,
                arguments: [users, anonymous])
            try db.execute(
                sql: "INSERT INTO suppressions (user_id, at) SELECT value, ?2 FROM json_each(?1) WHERE true ON CONFLICT (user_id) DO NOTHING",
                arguments: [users, at.milliseconds])
            try db.execute(sql: "DELETE FROM anonymous_traits WHERE anonymous_id IN (SELECT value FROM json_each(?))", arguments: [anonymous])
            try db.execute(sql: "DELETE FROM identities WHERE user_id = ?", arguments: [kept])
            try db.execute(sql: "DELETE FROM person_aliases WHERE kept_user_id = ?", arguments: [kept])
            try db.execute(sql: "DELETE FROM persons WHERE user_id = ?", arguments: [kept])
            try db.execute(
                sql: "INSERT INTO activity (kind, at, user_id, events_merged) VALUES ('erasure', ?, ?, ?)",
                arguments: [at.milliseconds, kept, deleted])
            return known ? deleted : nil
        }
    }

    /// A JSON array of strings, for `json_each(?)`: one bound value whatever the number of ids.
    static func jsonArray(_ values: [String]) -> String {
        var writer = JSONWriter(capacity: values.reduce(2) { $0 + $1.utf8.count + 3 })
        writer.raw("[")
        for (index, value) in values.enumerated() {
            if index > 0 { writer.comma() }
            writer.string(value)
        }
        writer.raw("]")
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    public func unsuppress(_ userId: String) async throws(StoreError) -> Bool {
        try await write("lifting a suppression") { db in
            self.forgetIdentityFacts()  // identity records change outside the engine
            try db.execute(sql: "DELETE FROM suppressions WHERE user_id = ?", arguments: [userId])
            return db.changesCount > 0
        }
    }

    public func purge(now: Timestamp, anonymousTTL: Duration, identifiedTTL: Duration, holdTTLs: [String: Duration])
        async throws(StoreError) -> PurgeReport
    {
        var report = PurgeReport()
        // Small transactions: a purge of millions of rows never holds the writer for long.
        let chunk = 5000
        while true {
            let removed = try await write("purging anonymous events") { db in
                try db.execute(
                    sql: """
                        DELETE FROM events WHERE seq IN (
                            SELECT seq FROM events WHERE received_at < ? AND resolved_user_id IS NULL LIMIT ?)
                        """,
                    arguments: [(now - anonymousTTL).milliseconds, chunk])
                return db.changesCount
            }
            report.anonymousEvents += removed
            if removed < chunk { break }
        }
        while true {
            let removed = try await write("purging identified events") { db in
                try db.execute(
                    sql: """
                        DELETE FROM events WHERE seq IN (
                            SELECT seq FROM events WHERE received_at < ? AND resolved_user_id IS NOT NULL LIMIT ?)
                        """,
                    arguments: [(now - identifiedTTL).milliseconds, chunk])
                return db.changesCount
            }
            report.identifiedEvents += removed
            if removed < chunk { break }
        }
        // Traits kept for an anonymous id that never merged go with the last of its anonymous events (the
        // identify that sent them is one, purged after anonymous_ttl): a visitor who never signs up leaves
        // nothing behind. Its events resolved to someone (a refused merge) are that person's, not the visitor's.
        try await write("purging traits of anonymous ids without events") { db in
            self.forgetIdentityFacts()  // identity records change outside the engine
            try db.execute(
                sql: """
                    DELETE FROM anonymous_traits
                    WHERE NOT EXISTS (
                        SELECT 1 FROM events e WHERE e.anonymous_id = anonymous_traits.anonymous_id AND e.resolved_user_id IS NULL)
                    """)
        }
        // Refusal entries are written per refused event (a shared device, a placeholder id, senders of random
        // user ids): they go with the events of their time, or the log would grow without bound. Merges and
        // erasures stay, bounded by the identities they record.
        while true {
            let removed = try await write("purging merge refusals") { db in
            self.forgetIdentityFacts()  // identity records change outside the engine
                try db.execute(
                    sql: """
                        DELETE FROM activity WHERE id IN (
                            SELECT id FROM activity WHERE kind = ? AND at < ? LIMIT ?)
                        """,
                    arguments: [ActivityEntry.Kind.mergeRefused.rawValue, (now - identifiedTTL).milliseconds, chunk])
                return db.changesCount
            }
            if removed < chunk { break }
        }
        for (destination, ttl) in holdTTLs {
            let expired = try await write("expiring holds of \(destination)") { db in
                // Holds whose event is gone (retention, erasure) expire with them.
                try db.execute(
                    sql: """
                        DELETE FROM holds WHERE destination = ?
                        AND (received_at < ? OR NOT EXISTS (SELECT 1 FROM events e WHERE e.seq = holds.seq))
                        """,
                    arguments: [destination, (now - ttl).milliseconds])
                let expired = db.changesCount
                if expired > 0 {
                    try Self.ensureState(db, destination)
                    try db.execute(
                        sql: "UPDATE destination_state SET hold_expired_total = hold_expired_total + ? WHERE destination = ?",
                        arguments: [expired, destination])
                }
                return expired
            }
            if expired > 0 { report.expiredHolds[destination] = expired }
        }
        return report
    }
}
