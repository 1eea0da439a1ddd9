import Foundation
import GRDB
import SwitchyardCore
import Synchronization

/// The embedded store: one SQLite database in WAL mode (SPEC §8).
///
/// Durability: `synchronous=FULL`, so every commit syncs the WAL before `append` returns; combined with
/// `GroupCommitter`, one sync covers every request that arrived while the previous commit ran.
/// Reads (delivery, the admin API) use the pool's reader connections and never wait for the writer.
public final class SQLiteEventStore: EventStore {
    let pool: DatabasePool
    let path: String

    /// How often the disk is synced. `full` keeps the SPEC §2 promise that a `200` survives power loss.
    public enum Synchronous: String, Sendable {
        case full = "FULL"
        case normal = "NORMAL"
    }

    /// Opens (creating if needed) the database at `path` and applies migrations.
    /// The identity rules applied while appending.
    let identity: IdentityPolicy
    /// Where trait keys dropped by `identity.max_traits` are counted and logged.
    let traitsDrops: IdentityTraitsDrops
    /// Checkpoints the WAL off the commit path.
    let checkpointer: WALCheckpointer
    /// Identity facts kept across appends; touched only on the writer's queue (inside `pool.write`).
    let factsCache: Mutex<WriterCache>

    /// What the writer keeps between transactions.
    struct WriterCache {
        var facts: IdentityFactsCache
        /// `PRAGMA data_version` after the writer's last transaction: it changes when another connection (another
        /// process sharing the file) commits, and then nothing cached can be trusted.
        var dataVersion: Int?
    }

    public init(
        path: String, synchronous: Synchronous = .full, identity: IdentityPolicy = IdentityPolicy(),
        traitsDrops: IdentityTraitsDrops = .unreported
    ) throws(StoreError) {
        self.path = path
        self.identity = identity
        self.traitsDrops = traitsDrops
        factsCache = Mutex(WriterCache(facts: IdentityFactsCache(), dataVersion: nil))
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(synchronous.rawValue)")
            try db.execute(sql: "PRAGMA wal_autocheckpoint = \(WALCheckpointer.writerFallbackPages)")
        }
        configuration.busyMode = .timeout(10)
        configuration.maximumReaderCount = 4
        do {
            let directory = (path as NSString).deletingLastPathComponent
            if !directory.isEmpty {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
            pool = try DatabasePool(path: path, configuration: configuration)
            try SQLiteSchema.migrator.migrate(pool)
            checkpointer = try WALCheckpointer(path: path, synchronous: synchronous.rawValue)
        } catch {
            throw StoreError(.unavailable, "cannot open the SQLite database at \(path): \(error)")
        }
    }

    /// Appends in one transaction, resolving identity on the way (SPEC §3): each event gets its person's
    /// user id when known, and merge triggers merge or are refused — all in the same transaction, so a
    /// merge is never half done and two racing identifies cannot both take an anonymous id.
    public func append(_ events: [NewEvent], dedupeWindow: Duration) async throws(StoreError) -> [AppendResult] {
        let windowMs = dedupeWindow.milliseconds
        let policy = identity
        do {
            let (results, droppedTraits, changes) = try await pool.write { db in
                let claim = try db.cachedStatement(
                    sql: """
                        INSERT INTO dedupe (source, message_id, received_at) VALUES (?, ?, ?)
                        ON CONFLICT (source, message_id) DO UPDATE SET received_at = excluded.received_at
                        WHERE dedupe.received_at < excluded.received_at - ?
                        """)
                let insert = try db.cachedStatement(
                    sql: "INSERT INTO events (\(SQLiteSchema.eventColumns)) VALUES (\(SQLiteSchema.placeholders))")
                var results = [AppendResult](repeating: .duplicate, count: events.count)
                var claimed: [(index: Int, event: NewEvent)] = []
                for (index, event) in events.enumerated() {
                    var claiming = RawBinding(claim, in: db)
                    claiming.text(event.source)
                    claiming.text(event.messageId)
                    claiming.integer(event.receivedAt.milliseconds)
                    claiming.integer(windowMs)
                    try claiming.run()
                    if db.changesCount > 0 { claimed.append((index, event)) }
                }
                let engine = IdentityEngine(policy: policy)
                let claimedEvents = claimed.map(\.event)
                var identity = SQLiteIdentity(db, policy: policy)
                let request = engine.factsRequest(for: claimedEvents)
                let decisions = engine.decide(claimedEvents, facts: try self.identityFacts(request, identity: identity, db: db))
                var sequences: [Int64?] = []
                sequences.reserveCapacity(claimed.count)
                for ((index, event), decision) in zip(claimed, decisions.events) {
                    guard case .stored(let resolved) = decision else {
                        results[index] = .suppressed
                        sequences.append(nil)
                        continue
                    }
                    var row = RawBinding(insert, in: db)
                    row.integer(nil)  // the log assigns the sequence
                    row.text(event.source)
                    row.text(event.messageId)
                    row.text(event.type.rawValue)
                    row.text(event.userId)
                    row.text(event.anonymousId)
                    row.text(event.eventName)
                    row.text(event.previousId)
                    row.text(event.groupId)
                    row.integer(event.timestamp.milliseconds)
                    row.integer(event.receivedAt.milliseconds)
                    row.blob(event.body)
                    row.text(resolved)
                    row.text(nil)  // merged_anonymous_id: set by a merge, below
                    row.text(resolved)  // stored_user_id: never changes
                    try row.run()
                    sequences.append(db.lastInsertedRowID)
                    results[index] = .stored(sequence: db.lastInsertedRowID)
                }
                try identity.apply(decisions.changes, sequences: sequences)
                self.rememberFacts(decisions, for: request, db: db)
                return (results, identity.droppedTraits, decisions.changes)
            }
            checkpointer.noteCommit()
            traitsDrops.record(droppedTraits, limits: policy.traitsLimits)  // once committed
            IdentityMetrics(factory: traitsDrops.metrics).record(changes)
            return results
        } catch {
            throw StoreError(.unavailable, "appending events to \(path) failed: \(error)")
        }
    }

    public func events(after sequence: Int64, limit: Int) async throws(StoreError) -> [StoredEvent] {
        do {
            return try await pool.read { db in
                let rows = try Row.fetchCursor(
                    db,
                    sql: """
                        SELECT \(SQLiteSchema.eventColumns), \(SQLiteSchema.anonymousIdUnlinked("events"))
                        FROM events WHERE seq > ? ORDER BY seq LIMIT ?
                        """,
                    arguments: [sequence, limit])
                var result: [StoredEvent] = []
                while let row = try rows.next() {
                    var stored = try Self.storedEvent(row)
                    stored.anonymousIdUnlinked = (row[SQLiteSchema.eventColumnCount] as Int? ?? 0) != 0
                    result.append(stored)
                }
                return result
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.unavailable, "reading events from \(path) failed: \(error)")
        }
    }

    /// Reads the event columns (`SQLiteSchema.eventColumns`) starting at column `offset`.
    static func storedEvent(_ row: Row, at offset: Int = 0) throws -> StoredEvent {
        let typeName: String = row[offset + 3]
        guard let type = EventType(rawValue: typeName) else {
            throw StoreError(.corrupt, "event \(row[offset] as Int64) has an unknown type")
        }
        let body: Data = row[offset + 11]
        let event = NewEvent(
            source: row[offset + 1], messageId: row[offset + 2], type: type, userId: row[offset + 4],
            anonymousId: row[offset + 5], eventName: row[offset + 6], previousId: row[offset + 7],
            groupId: row[offset + 8], timestamp: Timestamp(milliseconds: row[offset + 9]),
            receivedAt: Timestamp(milliseconds: row[offset + 10]), body: [UInt8](body))
        return StoredEvent(
            sequence: row[offset], event: event, resolvedUserId: row[offset + 12], mergedAnonymousId: row[offset + 13],
            storedUserId: row[offset + 14])
    }

    public func eventCount() async throws(StoreError) -> Int {
        do {
            return try await pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM events") ?? 0 }
        } catch {
            throw StoreError(.unavailable, "counting events in \(path) failed: \(error)")
        }
    }

    public func checkReachable() async throws(StoreError) {
        do {
            _ = try await pool.read { db in try Int.fetchOne(db, sql: "SELECT 1") }
        } catch {
            throw StoreError(.unavailable, "the SQLite database at \(path) does not answer: \(error)")
        }
    }

    /// Pages in use (free pages left by deletes are reused, so they do not count) plus the WAL file.
    public func diskUsage() async -> Int64 {
        let pages = try? await pool.read { db in  // an unreadable database counts as empty; readyz reports it
            let count = try Int64.fetchOne(db, sql: "PRAGMA page_count") ?? 0
            let free = try Int64.fetchOne(db, sql: "PRAGMA freelist_count") ?? 0
            let size = try Int64.fetchOne(db, sql: "PRAGMA page_size") ?? 4096
            return (count - free) * size
        }
        let wal = (try? FileManager.default.attributesOfItem(atPath: path + "-wal"))?[.size] as? NSNumber  // absent: 0
        return (pages ?? 0) + (wal?.int64Value ?? 0)
    }

    public func purgeDedupe(olderThan cutoff: Timestamp) async throws(StoreError) -> Int {
        do {
            return try await pool.write { db in
                try db.execute(sql: "DELETE FROM dedupe WHERE received_at < ?", arguments: [cutoff.milliseconds])
                return db.changesCount
            }
        } catch {
            throw StoreError(.unavailable, "purging dedupe entries in \(path) failed: \(error)")
        }
    }

    public func close() async throws(StoreError) {
        do {
            try await checkpointer.stop()
            try pool.close()
        } catch {
            throw StoreError(.unavailable, "closing \(path) failed: \(error)")
        }
    }
}
