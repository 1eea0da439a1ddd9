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

    /// Every append, erasure and unsuppression takes this transaction-level advisory lock *shared* before the
    /// identity locks of the ids it touches (`switchyard_lock_identities`), so they run concurrently; a
    /// commit touching more than `identityLockLimit` ids takes it *exclusive* instead of one lock per id (the
    /// server's lock table is shared by every session and sized `max_locks_per_transaction × max_connections`).
    /// Versions before migration 7 took it exclusive for every append, so during a rolling upgrade old
    /// nodes still exclude new ones.
    static let appendLock: Int64 = 0x5357_5943_4841_5050  // "SWYCHAPP"
    /// Held for the few microseconds in which an append takes its transaction id and its block of sequences
    /// (`switchyard_append_begin`), so that the log's sequence order is its transaction-id order.
    static let sequenceLock: Int64 = 0x5357_5943_5345_5153  // "SWYCSEQS"
    /// Above this many ids, a commit locks the whole log (`appendLock` exclusive) rather than each id.
    static let identityLockLimit = 1024
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
        (
            7,
            [
                // SPEC §8 rev. 2026-12-03 "Nodes append concurrently". Each event records the transaction that
                // stored it; readers stop at the oldest transaction still running (`visibleBelowHorizon`).
                // Rows stored before this version get 0: their transactions ended long ago.
                "ALTER TABLE events ADD COLUMN xid xid8 NOT NULL DEFAULT '0'",
                "ALTER TABLE events ALTER COLUMN xid SET DEFAULT pg_current_xact_id()",
                lockIdentitiesFunction,
                appendBeginFunction,
                awaitHorizonFunction,
            ]
        ),
        (
            8,
            [
                // The horizon no longer trusts `pg_locks` read at another moment than the snapshot
                // (`visibleBelowHorizon`); the function made by 7 inlined the earlier one.
                awaitHorizonFunction
            ]
        ),
    ]

    /// The condition a row of `events` aliased `table` must meet to be read by anyone following the log by
    /// sequence: its transaction id is below the horizon — the oldest transaction of this database still
    /// running when the statement's snapshot was taken. Every transaction below it that could write here has
    /// ended, so the rows below it are final; appends take their transaction id and their sequences together
    /// (`appendBeginFunction`), so sequence order is transaction-id order and those rows are a prefix of the
    /// log that no later commit can add to. Rows above it (committed or not) wait: a reader never moves past a
    /// sequence whose transaction may still commit.
    ///
    /// The snapshot's running transactions (`pg_snapshot_xip`) are left out only when `pg_stat_activity`
    /// shows them running in another database: a connection never changes database, so that fact holds
    /// whenever it is read. Everything else holds the horizon back, which only delays readers: a long
    /// transaction of any kind in this database holds delivery back; one in another database does not.
    /// An earlier version also left out transactions shown without the append lock in `pg_locks`; the two
    /// views are read at different moments, so an append that ended between the reads counted as "not an
    /// append" while the statement's snapshot could not see its rows yet — and a reader moved past them. The
    /// three-node benchmark lost a commit that way (200–300 events of 120,000).
    static func visibleBelowHorizon(_ table: String) -> String {
        "\(table).xid < (\(horizon))"
    }

    /// The horizon (`visibleBelowHorizon`), an `xid8`, of the snapshot the statement reads with.
    static let horizon = """
        SELECT coalesce(
            (SELECT x FROM pg_snapshot_xip(pg_current_snapshot()) x
                WHERE (x::text::bigint % 4294967296)::text::xid NOT IN (
                    SELECT a.backend_xid FROM pg_stat_activity a
                    WHERE a.backend_xid IS NOT NULL
                        AND a.datid IS DISTINCT FROM (SELECT oid FROM pg_database WHERE datname = current_database()))
                ORDER BY x LIMIT 1),
            pg_snapshot_xmax(pg_current_snapshot()))
        """

    /// `switchyard_lock_identities(user_ids, anonymous_ids)`: takes the transaction-level advisory locks of
    /// the identities a transaction touches, so merges are linearizable per identity, not per cluster.
    ///
    /// Each statement is planned for its arrays (`force_custom_plan`), as a statement sent by the client
    /// would be: the plan PL/pgSQL would otherwise keep for any array cost PostgreSQL 2.5× the CPU per event.
    ///
    /// The keys: a 64-bit hash (`hashtextextended`, computed by the one server every node talks to, so nodes
    /// cannot disagree) of each user id, each anonymous id, the id each user id is kept under
    /// (`person_aliases`) and the person each anonymous id merged into (`identities`) — a person merge
    /// rewrites those, and it holds both persons' locks. They are taken in ascending order, so two commits
    /// cannot deadlock on them. The kept ids and owners are read before the locks are held; they are read
    /// again afterwards, and when a person merge moved one meanwhile its lock is taken too (out of order, so
    /// PostgreSQL may then report a deadlock, which the append retries). Past `identityLockLimit` keys the
    /// whole log is locked instead (`appendLock` exclusive). Must run in a READ COMMITTED transaction: each
    /// statement here sees what the transactions it waited for committed.
    static let lockIdentitiesFunction = """
        CREATE OR REPLACE FUNCTION switchyard_lock_identities(p_user_ids text[], p_anonymous_ids text[])
        RETURNS void LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
        DECLARE
            missing bigint[];
            held bigint[] := '{}';
        BEGIN
            SELECT coalesce(array_agg(key ORDER BY key), '{}') INTO missing FROM (
                SELECT hashtextextended('u' || u, 0) AS key FROM unnest(p_user_ids) u
                UNION SELECT hashtextextended('a' || a, 0) FROM unnest(p_anonymous_ids) a
                UNION SELECT hashtextextended('u' || kept_user_id, 0) FROM person_aliases WHERE user_id = ANY(p_user_ids)
                UNION SELECT hashtextextended('u' || user_id, 0) FROM identities WHERE anonymous_id = ANY(p_anonymous_ids)
            ) keys;
            IF cardinality(missing) > \(identityLockLimit) THEN
                PERFORM pg_advisory_xact_lock(\(appendLock));
                RETURN;
            END IF;
            PERFORM pg_advisory_xact_lock_shared(\(appendLock));
            WHILE cardinality(missing) > 0 LOOP
                -- In the array's (ascending) order: a function scan of unnest keeps it.
                PERFORM pg_advisory_xact_lock(k) FROM unnest(missing) k;
                held := held || missing;
                -- Kept ids and owners again, now that the locks are held: a person merge may have moved one.
                SELECT coalesce(array_agg(key ORDER BY key), '{}') INTO missing FROM (
                    SELECT hashtextextended('u' || kept_user_id, 0) AS key FROM person_aliases
                        WHERE user_id = ANY(p_user_ids)
                    UNION SELECT hashtextextended('u' || user_id, 0) FROM identities
                        WHERE anonymous_id = ANY(p_anonymous_ids)
                    EXCEPT SELECT unnest(held)) keys;
            END LOOP;
        END $$
        """

    /// The advisory-lock class (two-key form, a key space of its own) of the lock each append holds on its
    /// own transaction id, from its sequences to its end.
    static let runningAppendClass: Int32 = 0x5357_5952  // "SWYR"

    /// The second key of that lock for the `xid8` expression `xid`: its low 32 bits, as an `integer`.
    static func xidKey(_ xid: String) -> String {
        "((\(xid)::text::bigint % 4294967296) - 2147483648)::integer"
    }

    /// `switchyard_await_horizon(after, timeout_ms)`: when the first event after `after` is above the horizon
    /// — a reader would get nothing until an older append ends — waits up to `timeout_ms` for the append at
    /// the horizon to end, on the lock it holds on its transaction id, so a reader does not poll in a loop
    /// while another node commits. Returns at once otherwise.
    static let awaitHorizonFunction = """
        CREATE OR REPLACE FUNCTION switchyard_await_horizon(p_after bigint, p_timeout_ms integer)
        RETURNS void LANGUAGE plpgsql AS $$
        DECLARE
            h xid8;
        BEGIN
            SELECT (\(horizon)) INTO h;
            IF coalesce((SELECT e.xid < h FROM events e WHERE e.seq > p_after ORDER BY e.seq LIMIT 1), true) THEN
                RETURN;
            END IF;
            PERFORM set_config('lock_timeout', p_timeout_ms || 'ms', true);
            BEGIN
                PERFORM pg_advisory_xact_lock_shared(\(runningAppendClass), \(xidKey("h")));
            EXCEPTION WHEN lock_not_available THEN
                NULL;
            END;
        END $$
        """

    /// `switchyard_append_begin(...)`: the first statement of an append, in one round trip. In order:
    /// 1. the identity locks (`switchyard_lock_identities`);
    /// 2. the transaction's id and `p_count` consecutive sequences, under `sequenceLock` held only for that
    ///    (taken in a subtransaction that is then rolled back, which releases the lock and keeps the id and
    ///    the sequences: neither is transactional). Any two appends take their ids and their sequences in the
    ///    same order, which makes the horizon (`visibleBelowHorizon`) a position in the log. The transaction
    ///    must not have written before (its id would be older than its sequences);
    /// 3. the dedupe claims, sorted, so two commits claiming the same keys wait in the same order;
    /// 4. the identity facts of the ids, as `PostgresAppend.add(_:to:)` reads them.
    /// From its sequences on, it holds a lock on its own transaction id (`runningAppendClass`).
    /// Rows: `q` (first sequence, transaction id), `d` (a claimed key: source, message id), then the facts.
    static let appendBeginFunction = """
        CREATE OR REPLACE FUNCTION switchyard_append_begin(
            p_user_ids text[], p_anonymous_ids text[], p_count integer,
            p_sources text[], p_message_ids text[], p_received_at bigint[], p_window bigint)
        RETURNS TABLE (r_kind text, r_id text, r_other text, r_first bigint, r_second bigint, r_note text)
        LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
        DECLARE
            first_seq bigint := 0;
            tx xid8;
        BEGIN
            IF pg_current_xact_id_if_assigned() IS NOT NULL THEN
                RAISE EXCEPTION 'switchyard_append_begin must be the first write of its transaction';
            END IF;
            PERFORM switchyard_lock_identities(p_user_ids, p_anonymous_ids);
            BEGIN
                PERFORM pg_advisory_xact_lock(\(sequenceLock));
                tx := pg_current_xact_id();
                IF p_count > 0 THEN
                    first_seq := nextval('events_seq');
                    IF p_count > 1 THEN
                        PERFORM setval('events_seq', first_seq + p_count - 1);
                    END IF;
                END IF;
                RAISE SQLSTATE 'SY001';
            EXCEPTION WHEN SQLSTATE 'SY001' THEN
                NULL;
            END;
            -- Held until this transaction ends: a reader stopped at its id waits on it (`switchyard_await_horizon`).
            PERFORM pg_advisory_xact_lock(\(runningAppendClass), \(xidKey("tx")));
            RETURN QUERY SELECT 'q'::text, NULL::text, NULL::text, first_seq, tx::text::bigint, NULL::text;
            RETURN QUERY WITH claimed AS (
                INSERT INTO dedupe AS d (source, message_id, received_at)
                SELECT s, m, r FROM unnest(p_sources, p_message_ids, p_received_at) AS t(s, m, r) ORDER BY s, m
                ON CONFLICT (source, message_id) DO UPDATE SET received_at = excluded.received_at
                WHERE d.received_at < excluded.received_at - p_window
                RETURNING d.source, d.message_id)
            SELECT 'd'::text, c.source, c.message_id, NULL::bigint, NULL::bigint, NULL::text FROM claimed c;
            RETURN QUERY
            SELECT 's'::text, s.user_id, NULL::text, NULL::bigint, NULL::bigint, NULL::text
                FROM suppressions s WHERE s.user_id = ANY(p_user_ids)
            UNION ALL SELECT 'a', pa.user_id, pa.kept_user_id, NULL, NULL, NULL
                FROM person_aliases pa WHERE pa.user_id = ANY(p_user_ids)
            UNION ALL SELECT 'p', p.user_id, NULL, p.first_seen,
                    (SELECT count(*) FROM identities i WHERE i.user_id = p.user_id), NULL
                FROM persons p WHERE p.user_id IN (
                    SELECT unnest(p_user_ids)
                    UNION SELECT pa.kept_user_id FROM person_aliases pa WHERE pa.user_id = ANY(p_user_ids))
            UNION ALL SELECT 'o', i.anonymous_id, i.user_id, i.merged_at, CASE WHEN i.contested THEN 1 ELSE 0 END, NULL
                FROM identities i WHERE i.anonymous_id = ANY(p_anonymous_ids)
            UNION ALL SELECT 't', t.anonymous_id, NULL, NULL, NULL, NULL
                FROM anonymous_traits t WHERE t.anonymous_id = ANY(p_anonymous_ids)
            UNION ALL SELECT * FROM (
                SELECT DISTINCT ON (a.anonymous_id) 'l'::text, a.anonymous_id, a.user_id, NULL::bigint, NULL::bigint,
                    a.kind || ' ' || coalesce(a.reason, '')
                FROM activity a WHERE a.anonymous_id = ANY(p_anonymous_ids) ORDER BY a.anonymous_id, a.id DESC) latest;
        END $$
        """

    /// Milliseconds since 1970 by the database's clock: leases compare times of several nodes, so one clock
    /// decides.
    static let nowMilliseconds = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"
}
