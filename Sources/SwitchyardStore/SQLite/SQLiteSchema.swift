import GRDB

/// The SQLite schema, as numbered migrations recorded in GRDB's `grdb_migrations` table.
enum SQLiteSchema {
    /// The event columns copied into dead letters and the replay queue.
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
                        body BLOB NOT NULL
        """

    /// The same columns, in the order `SQLiteEventStore.storedEvent(_:at:)` reads them.
    static let eventColumns =
        "seq, source, message_id, type, user_id, anonymous_id, event_name, previous_id, group_id, timestamp, received_at, body"

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("1-event-log") { db in
            // The append-only log. AUTOINCREMENT: a sequence is never reused, even after retention deletes
            // the newest rows, so a destination's position over the log stays meaningful.
            try db.execute(
                sql: """
                    CREATE TABLE events (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
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
                        body BLOB NOT NULL
                    );
                    CREATE INDEX events_received_at ON events (received_at);
                    -- Dedupe keys outlive nothing: they are purged after the dedupe window, events are not.
                    CREATE TABLE dedupe (
                        source TEXT NOT NULL,
                        message_id TEXT NOT NULL,
                        received_at INTEGER NOT NULL,
                        PRIMARY KEY (source, message_id)
                    ) WITHOUT ROWID;
                    CREATE INDEX dedupe_received_at ON dedupe (received_at);
                    """)
        }
        migrator.registerMigration("2-delivery") { db in
            try db.execute(
                sql: """
                    -- One row per destination: its position over the log and lifetime counters.
                    CREATE TABLE destination_state (
                        destination TEXT PRIMARY KEY,
                        position INTEGER NOT NULL DEFAULT 0,
                        delivered_total INTEGER NOT NULL DEFAULT 0,
                        dead_lettered_total INTEGER NOT NULL DEFAULT 0,
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
                    """)
        }
        return migrator
    }
}
