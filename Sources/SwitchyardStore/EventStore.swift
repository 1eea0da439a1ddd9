import SwitchyardCore

/// The durable store behind ingest. SQLite and PostgreSQL implement it and pass one contract suite.
///
/// Events live in an append-only log ordered by `sequence`, a number that only grows; delivery reads the
/// log per destination. Every method is safe to call concurrently.
public protocol EventStore: Sendable {
    /// Appends `events` in one transaction and returns only once it is committed and on disk.
    ///
    /// An event whose `(source, messageId)` was stored less than `dedupeWindow` before its `receivedAt`
    /// is not stored again: its result is `.duplicate`. Duplicates within `events` count too (the first wins).
    /// Either every result is returned or the call throws and nothing was stored.
    func append(_ events: [NewEvent], dedupeWindow: Duration) async throws(StoreError) -> [AppendResult]

    /// Events with `sequence > after`, oldest first, at most `limit` of them.
    func events(after sequence: Int64, limit: Int) async throws(StoreError) -> [StoredEvent]

    /// How many events the log holds.
    func eventCount() async throws(StoreError) -> Int

    /// Throws when the database cannot answer a trivial query (`/readyz`).
    func checkReachable() async throws(StoreError)

    /// Bytes the store occupies on disk now, compared with `storage.max_backlog`.
    func diskUsage() async -> Int64

    /// Forgets dedupe entries older than `cutoff`; returns how many were removed.
    func purgeDedupe(olderThan cutoff: Timestamp) async throws(StoreError) -> Int

    /// Closes connections; later calls throw.
    func close() async throws(StoreError)
}

/// What happened to one event handed to `EventStore.append`.
public enum AppendResult: Sendable, Equatable {
    /// Stored at this position of the log.
    case stored(sequence: Int64)
    /// Its messageId was already stored within the dedupe window; acknowledged, not stored again.
    case duplicate
}

/// An event read back from the log.
public struct StoredEvent: Sendable, Equatable {
    public var sequence: Int64
    public var event: NewEvent

    public init(sequence: Int64, event: NewEvent) {
        self.sequence = sequence
        self.event = event
    }
}
