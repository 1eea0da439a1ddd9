import Foundation

/// The PostgreSQL schema, as numbered migrations recorded in `switchyard_schema` and applied at start
/// under an advisory lock, so nodes starting together migrate once.
enum PostgresSchema {
    /// The event columns shared by the log, dead letters and the replay queue, in the order
    /// `PostgresEventStore.storedEvent(_:)` reads them (the same as SQLite's).
    static let eventColumns = """
        seq, source, message_id, type, user_id, anonymous_id, event_name, previous_id, group_id, timestamp, \
        received_at, body, resolved_user_id, merged_anonymous_id, stored_user_id
        """

    static let eventColumnCount = 15

    /// A column, read after the event columns of rows of `table`: true when the row's event carries a user id
    /// and an anonymous id that identity does not link to that person (`StoredEvent.anonymousIdUnlinked`).
    static func anonymousIdUnlinked(_ table: String) -> String {
        """
        (\(table).user_id IS NOT NULL AND \(table).anonymous_id IS NOT NULL
            AND (SELECT i.user_id FROM identities i WHERE i.anonymous_id = \(table).anonymous_id)
                IS DISTINCT FROM \(table).resolved_user_id)
        """
    }

    /// As the first migration created them; migration 4 adds `stored_user_id`.
    static let eventColumnsDDL = """
        seq BIGINT NOT NULL,
            source TEXT NOT NULL,
            message_id TEXT NOT NULL,
            type TEXT NOT NULL,
            user_id TEXT,
            anonymous_id TEXT,
            event_name TEXT,
            previous_id TEXT,
            group_id TEXT,
            timestamp BIGINT NOT NULL,
            received_at BIGINT NOT NULL,
            body BYTEA NOT NULL,
            resolved_user_id TEXT,
            merged_anonymous_id TEXT
        """

    /// The advisory lock every append (and erasure) takes for its transaction. Appends on all nodes run one
    /// after another, so the log's sequence order is its commit order — a destination reading after its
    /// position can never skip an event that commits later with a smaller sequence — and identity merges are
    /// linearizable: two racing identifies cannot both take an anonymous id. Each node's group commit keeps
    /// the lock's cost to one acquisition per commit, not per event.
    static let appendLock: Int64 = 0x5357_5943_4841_5050  // "SWYCHAPP"
    /// Held while migrating.
    static let migrationLock: Int64 = 0x5357_5943_4D49_4752  // "SWYCMIGR"

    /// `(version, statements)`; a version's statements run in one transaction.
    static let migrations: [(Int, [String])] = [
        (
            1,
            [
                // The append-only log. The sequence is never reused, so a destination's position stays meaningful.
                "CREATE SEQUENCE events_seq",
                "CREATE TABLE events (\(eventColumnsDDL.replacingOccurrences(of: "seq BIGINT NOT NULL", with: "seq BIGINT PRIMARY KEY")))",
                "CREATE INDEX events_received_at ON events (received_at)",
                "CREATE INDEX events_anonymous ON events (anonymous_id, seq) WHERE anonymous_id IS NOT NULL",
                "CREATE INDEX events_resolved ON events (resolved_user_id, seq) WHERE resolved_user_id IS NOT NULL",
                """
                CREATE TABLE dedupe (
                    source TEXT NOT NULL, message_id TEXT NOT NULL, received_at BIGINT NOT NULL,
                    PRIMARY KEY (source, message_id))
                """,
                "CREATE INDEX dedupe_received_at ON dedupe (received_at)",
                // One row per destination: its position, counters, and which node delivers it until when.
                """
                CREATE TABLE destination_state (
                    destination TEXT PRIMARY KEY,
                    position BIGINT NOT NULL DEFAULT 0,
                    delivered_total BIGINT NOT NULL DEFAULT 0,
                    dead_lettered_total BIGINT NOT NULL DEFAULT 0,
                    dropped_total BIGINT NOT NULL DEFAULT 0,
                    hold_expired_total BIGINT NOT NULL DEFAULT 0,
                    disabled_reason TEXT,
                    lease_owner TEXT,
                    lease_until BIGINT NOT NULL DEFAULT 0)
                """,
                // Nodes alive, for sharing destinations fairly.
                "CREATE TABLE nodes (node_id TEXT PRIMARY KEY, seen_until BIGINT NOT NULL)",
                """
                CREATE TABLE dead_letters (
                    id BIGSERIAL PRIMARY KEY, destination TEXT NOT NULL, \(eventColumnsDDL),
                    attempts INTEGER NOT NULL, last_status INTEGER, last_error TEXT NOT NULL, failed_at BIGINT NOT NULL)
                """,
                "CREATE INDEX dead_letters_destination ON dead_letters (destination, id)",
                "CREATE TABLE replay_queue (id BIGSERIAL PRIMARY KEY, destination TEXT NOT NULL, \(eventColumnsDDL))",
                "CREATE INDEX replay_queue_destination ON replay_queue (destination, id)",
                """
                CREATE TABLE holds (
                    id BIGSERIAL PRIMARY KEY, destination TEXT NOT NULL, seq BIGINT NOT NULL, anonymous_id TEXT NOT NULL,
                    received_at BIGINT NOT NULL)
                """,
                "CREATE INDEX holds_destination ON holds (destination, anonymous_id)",
                "CREATE INDEX holds_destination_seq ON holds (destination, seq)",
                "CREATE INDEX holds_received_at ON holds (received_at)",
                "CREATE TABLE persons (user_id TEXT PRIMARY KEY, traits BYTEA NOT NULL, first_seen BIGINT NOT NULL)",
                """
                CREATE TABLE identities (
                    anonymous_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, merged_at BIGINT NOT NULL, message_id TEXT)
                """,
                "CREATE INDEX identities_user ON identities (user_id)",
                "CREATE TABLE person_aliases (user_id TEXT PRIMARY KEY, kept_user_id TEXT NOT NULL)",
                "CREATE TABLE suppressions (user_id TEXT PRIMARY KEY, at BIGINT NOT NULL)",
                """
                CREATE TABLE activity (
                    id BIGSERIAL PRIMARY KEY, kind TEXT NOT NULL, at BIGINT NOT NULL, anonymous_id TEXT, user_id TEXT,
                    merged_user_id TEXT, events_merged INTEGER NOT NULL DEFAULT 0, message_id TEXT, reason TEXT)
                """,
                "CREATE INDEX activity_user ON activity (user_id, id)",
                "CREATE INDEX activity_anonymous ON activity (anonymous_id, id)",
            ]
        ),
        (
            2,
            [
                // Clients can give a person any number of user ids (alias); a person merge and an erasure look
                // them up by the kept id, which scanned every alias of every person.
                "CREATE INDEX person_aliases_kept ON person_aliases (kept_user_id)"
            ]
        ),
        (
            3,
            [
                // SPEC §3 rev. 2026-12-03: an anonymous id another person claimed is contested (its lone events
                // stay anonymous), and traits of an identify without userId wait for the merge.
                "ALTER TABLE identities ADD COLUMN contested BOOLEAN NOT NULL DEFAULT false",
                "CREATE TABLE anonymous_traits (anonymous_id TEXT PRIMARY KEY, traits BYTEA NOT NULL)",
            ]
        ),
        (
            4,
            // SPEC §4 rev. 2026-12-03 "Stable wire identity": the identity an event had when stored, which merges
            // never rewrite. Older rows: only an event's own user id is known to have been there then.
            ["events", "dead_letters", "replay_queue"].flatMap { table in
                [
                    "ALTER TABLE \(table) ADD COLUMN stored_user_id TEXT",
                    "UPDATE \(table) SET stored_user_id = resolved_user_id WHERE user_id IS NOT NULL",
                ]
            }
        ),
        (
            5,
            [
                // A time-range replay to a `hold` destination parks never-merged events again; one hold per
                // (destination, event) keeps a later merge from releasing them twice.
                "DELETE FROM holds WHERE id NOT IN (SELECT min(id) FROM holds GROUP BY destination, seq)",
                "DROP INDEX holds_destination_seq",
                "CREATE UNIQUE INDEX holds_destination_seq ON holds (destination, seq)",
            ]
        ),
        (
            6,
            [
                // Events a vendor throttled wait in the replay queue until their pause is over, keeping their
                // first attempt and attempt count for retry.max_age / max_attempts.
                "ALTER TABLE replay_queue ADD COLUMN not_before BIGINT NOT NULL DEFAULT 0",
                "ALTER TABLE replay_queue ADD COLUMN first_attempt BIGINT",
                "ALTER TABLE replay_queue ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0",
            ]
        ),
    ]

    /// Milliseconds since 1970 by the database's clock: leases compare times of several nodes, so one clock
    /// decides.
    static let nowMilliseconds = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"
}
