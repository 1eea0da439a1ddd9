import GRDB

/// The SQLite schema, as numbered migrations recorded in GRDB's `grdb_migrations` table.
enum SQLiteSchema {
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
        return migrator
    }
}
