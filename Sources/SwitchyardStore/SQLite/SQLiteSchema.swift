import Foundation
import GRDB

/// The SQLite schema, as numbered migrations recorded in GRDB's `grdb_migrations` table.
enum SQLiteSchema {
    /// The event columns shared by the log, dead letters and the replay queue, as the first migration
    /// created them (later migrations add `stored_user_id`).
    static let eventColumnsDDL = """
        seq INTEGER NOT NULL,
            source TEXT NOT NULL,
            message_id TEXT NOT NULL,
            type TEXT NOT NULL,
            user_id TEXT,
            anonymous_id TEXT,
            event_name TEXT,
            previous_id TEXT,
            group_id TEXT,
            timestamp INTEGER NOT NULL,
            received_at INTEGER NOT NULL,
            body BLOB NOT NULL,
            resolved_user_id TEXT,
            merged_anonymous_id TEXT
        """

    /// The same columns, in the order `SQLiteEventStore.storedEvent(_:at:)` reads them.
    static let eventColumns = """
        seq, source, message_id, type, user_id, anonymous_id, event_name, previous_id, group_id, timestamp, \
        received_at, body, resolved_user_id, merged_anonymous_id, stored_user_id
        """

    static let eventColumnCount = 15

    /// A column, read after the event columns of rows of `table`: 1 when the row's event carries a user id and
    /// an anonymous id that identity does not link to that person (`StoredEvent.anonymousIdUnlinked`).
    static func anonymousIdUnlinked(_ table: String) -> String {
        """
        CASE WHEN \(table).user_id IS NOT NULL AND \(table).anonymous_id IS NOT NULL
            AND (SELECT i.user_id FROM identities i WHERE i.anonymous_id = \(table).anonymous_id) IS NOT \(table).resolved_user_id
            THEN 1 ELSE 0 END
        """
    }
    static let placeholders = Array(repeating: "?", count: eventColumnCount).joined(separator: ", ")

    /// Milliseconds since 1970 now, by SQLite's clock (`unixepoch('subsec')` needs SQLite 3.42).
    static let nowMilliseconds = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("1-schema") { db in
            try db.execute(
                sql: """
                    -- The append-only log. AUTOINCREMENT: a sequence is never reused, even after retention deletes
                    -- the newest rows, so a destination's position over the log stays meaningful.
                    CREATE TABLE events (
                        \(eventColumnsDDL.replacingOccurrences(of: "seq INTEGER NOT NULL", with: "seq INTEGER PRIMARY KEY AUTOINCREMENT"))
                    );
                    CREATE INDEX events_received_at ON events (received_at);
                    -- Identity lookups: a merge attaches an anonymous id's events; person views list a user's.
                    CREATE INDEX events_anonymous ON events (anonymous_id, seq) WHERE anonymous_id IS NOT NULL;
                    CREATE INDEX events_resolved ON events (resolved_user_id, seq) WHERE resolved_user_id IS NOT NULL;

                    -- Dedupe keys are purged after the dedupe window; events are not.
                    CREATE TABLE dedupe (
                        source TEXT NOT NULL,
                        message_id TEXT NOT NULL,
                        received_at INTEGER NOT NULL,
                        PRIMARY KEY (source, message_id)
                    ) WITHOUT ROWID;
                    CREATE INDEX dedupe_received_at ON dedupe (received_at);

                    -- One row per destination: its position over the log and lifetime counters.
                    CREATE TABLE destination_state (
                        destination TEXT PRIMARY KEY,
                        position INTEGER NOT NULL DEFAULT 0,
                        delivered_total INTEGER NOT NULL DEFAULT 0,
                        dead_lettered_total INTEGER NOT NULL DEFAULT 0,
                        dropped_total INTEGER NOT NULL DEFAULT 0,
                        hold_expired_total INTEGER NOT NULL DEFAULT 0,
                        disabled_reason TEXT
                    );
                    -- Dead letters and replays carry a copy of the event, so they outlive log retention.
                    CREATE TABLE dead_letters (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        destination TEXT NOT NULL,
                        \(eventColumnsDDL),
                        attempts INTEGER NOT NULL,
                        last_status INTEGER,
                        last_error TEXT NOT NULL,
                        failed_at INTEGER NOT NULL
                    );
                    CREATE INDEX dead_letters_destination ON dead_letters (destination, id);
                    CREATE TABLE replay_queue (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        destination TEXT NOT NULL,
                        \(eventColumnsDDL)
                    );
                    CREATE INDEX replay_queue_destination ON replay_queue (destination, id);

                    -- Anonymous events parked for `anonymous: hold` destinations until their id merges.
                    CREATE TABLE holds (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        destination TEXT NOT NULL,
                        seq INTEGER NOT NULL,
                        anonymous_id TEXT NOT NULL,
                        received_at INTEGER NOT NULL
                    );
                    CREATE INDEX holds_destination ON holds (destination, anonymous_id);
                    CREATE INDEX holds_received_at ON holds (received_at);

                    -- Identity: persons by user id, anonymous ids (single-use) merged into them, user ids merged
                    -- into another person, suppressed (erased) user ids, and the activity log's entries.
                    CREATE TABLE persons (
                        user_id TEXT PRIMARY KEY,
                        traits BLOB NOT NULL,
                        first_seen INTEGER NOT NULL
                    ) WITHOUT ROWID;
                    CREATE TABLE identities (
                        anonymous_id TEXT PRIMARY KEY,
                        user_id TEXT NOT NULL,
                        merged_at INTEGER NOT NULL,
                        message_id TEXT
                    ) WITHOUT ROWID;
                    CREATE INDEX identities_user ON identities (user_id);
                    CREATE TABLE person_aliases (
                        user_id TEXT PRIMARY KEY,
                        kept_user_id TEXT NOT NULL
                    ) WITHOUT ROWID;
                    CREATE TABLE suppressions (
                        user_id TEXT PRIMARY KEY,
                        at INTEGER NOT NULL
                    ) WITHOUT ROWID;
                    CREATE TABLE activity (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        kind TEXT NOT NULL,
                        at INTEGER NOT NULL,
                        anonymous_id TEXT,
                        user_id TEXT,
                        merged_user_id TEXT,
                        events_merged INTEGER NOT NULL DEFAULT 0,
                        message_id TEXT,
                        reason TEXT
                    );
                    CREATE INDEX activity_user ON activity (user_id, id);
                    CREATE INDEX activity_anonymous ON activity (anonymous_id, id);
                    """)
        }
        migrator.registerMigration("2-holds-in-log-order") { db in
            // Released holds are read in log order; without this every release round sorts all holds.
            try db.execute(sql: "CREATE INDEX holds_destination_seq ON holds (destination, seq)")
        }
        migrator.registerMigration("3-delivery-leases") { db in
            // Several processes may share one SQLite file too; leases keep one sender per destination.
            try db.execute(
                sql: """
                    ALTER TABLE destination_state ADD COLUMN lease_owner TEXT;
                    ALTER TABLE destination_state ADD COLUMN lease_until INTEGER NOT NULL DEFAULT 0;
                    CREATE TABLE nodes (node_id TEXT PRIMARY KEY, seen_until INTEGER NOT NULL) WITHOUT ROWID;
                    """)
        }
        migrator.registerMigration("4-person-aliases-by-kept-id") { db in
            // Clients can give a person any number of user ids (alias); a person merge and an erasure look them
            // up by the kept id, which scanned every alias of every person.
            try db.execute(sql: "CREATE INDEX person_aliases_kept ON person_aliases (kept_user_id)")
        }
        migrator.registerMigration("5-contested-ids-and-anonymous-traits") { db in
            // SPEC §3 rev. 2026-12-03: an anonymous id another person claimed is contested (its lone events stay
            // anonymous), and traits of an identify without userId wait for the merge.
            try db.execute(
                sql: """
                    ALTER TABLE identities ADD COLUMN contested INTEGER NOT NULL DEFAULT 0;
                    CREATE TABLE anonymous_traits (
                        anonymous_id TEXT PRIMARY KEY,
                        traits BLOB NOT NULL
                    ) WITHOUT ROWID;
                    """)
        }
        migrator.registerMigration("6-stored-user-id") { db in
            // SPEC §4 rev. 2026-12-03 "Stable wire identity": destinations get the identity an event had when
            // it was stored, which merges never rewrite (`resolved_user_id` follows them). Dead letters and
            // replays keep the copy's. Rows stored before this migration: only an event's own user id is
            // known to have been there at store time.
            for table in ["events", "dead_letters", "replay_queue"] {
                try db.execute(sql: "ALTER TABLE \(table) ADD COLUMN stored_user_id TEXT")
                try db.execute(sql: "UPDATE \(table) SET stored_user_id = resolved_user_id WHERE user_id IS NOT NULL")
            }
        }
        migrator.registerMigration("7-one-hold-per-event") { db in
            // A time-range replay to a `hold` destination parks never-merged events again; one hold per
            // (destination, event) keeps a later merge from releasing them twice.
            try db.execute(
                sql: """
                    DELETE FROM holds WHERE id NOT IN (SELECT min(id) FROM holds GROUP BY destination, seq);
                    DROP INDEX holds_destination_seq;
                    CREATE UNIQUE INDEX holds_destination_seq ON holds (destination, seq);
                    """)
        }
        migrator.registerMigration("8-deferred-replays") { db in
            // Events a vendor throttled wait in the replay queue until their pause is over, keeping their
            // first attempt and attempt count for retry.max_age / max_attempts.
            try db.execute(
                sql: """
                    ALTER TABLE replay_queue ADD COLUMN not_before INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE replay_queue ADD COLUMN first_attempt INTEGER;
                    ALTER TABLE replay_queue ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
                    """)
        }
        migrator.registerMigration("9-anonymous-index-of-anonymous-events") { db in
            // Issue 15: every insert paid for this index, yet its readers — a merge attaching the anonymous id's
            // events, erasure, the traits purge — only look for events not yet resolved to a person. Identified
            // traffic (most of a signed-in app's) now skips it; a visitor's activity finds its resolved events
            // through its person (`activityFilters`).
            try db.execute(
                sql: """
                    DROP INDEX events_anonymous;
                    CREATE INDEX events_anonymous ON events (anonymous_id, seq) WHERE resolved_user_id IS NULL;
                    """)
        }
        return migrator
    }
}
