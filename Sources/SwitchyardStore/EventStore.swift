import SwitchyardCore

/// The durable store behind ingest. SQLite and PostgreSQL implement it and pass one contract suite.
///
/// Events live in an append-only log ordered by `sequence`, a number that only grows; delivery reads the
/// log per destination. Every method is safe to call concurrently.
public protocol EventStore: EventLogAppending {
    /// Events with `sequence > after`, oldest first, at most `limit` of them.
    func events(after sequence: Int64, limit: Int) async throws(StoreError) -> [StoredEvent]

    /// How many events the log holds.
    func eventCount() async throws(StoreError) -> Int

    /// Throws when the database cannot answer a trivial query (`/readyz`).
    func checkReachable() async throws(StoreError)

    /// Forgets dedupe entries older than `cutoff`; returns how many were removed.
    func purgeDedupe(olderThan cutoff: Timestamp) async throws(StoreError) -> Int

    /// Closes connections; later calls throw.
    func close() async throws(StoreError)

    // MARK: Delivery

    /// The highest sequence in the log (0 when empty).
    func headSequence() async throws(StoreError) -> Int64

    /// `receivedAt` of the first event after `sequence`, for a destination's lag; nil when none.
    func receivedAt(ofFirstEventAfter sequence: Int64) async throws(StoreError) -> Timestamp?

    /// The destination's progress; a destination never seen starts at position 0.
    func progress(of destination: String) async throws(StoreError) -> DestinationProgress

    /// Records one round of delivery for `destination` atomically: position, counters, dead letters, and
    /// replay-queue entries done.
    func settle(_ settlement: DeliverySettlement, for destination: String) async throws(StoreError)

    /// Disables (with a reason) or re-enables (nil) a destination.
    func setDisabled(_ destination: String, reason: String?) async throws(StoreError)

    /// Dead letters of `destination` with ids above `after`, oldest first.
    func deadLetters(of destination: String, after id: Int64, limit: Int) async throws(StoreError) -> [DeadLetter]

    /// Moves dead letters (all, or those `ids`) into the replay queue. Returns how many moved.
    func requeueDeadLetters(of destination: String, ids: [Int64]?) async throws(StoreError) -> Int

    /// Queues the log's events received in `from...to` for replay to `destination`. Returns how many.
    func enqueueReplay(for destination: String, receivedFrom from: Timestamp, to: Timestamp) async throws(StoreError) -> Int

    /// The oldest replay-queue entries of `destination`.
    func replayQueue(of destination: String, limit: Int) async throws(StoreError) -> [QueuedEvent]

    /// Entries in the replay queue and dead letters of `destination`.
    func queueCounts(of destination: String) async throws(StoreError) -> (replay: Int, deadLetters: Int)
}

/// The part of the store that group commit needs: appending and the disk budget.
public protocol EventLogAppending: Sendable {
    /// Appends `events` in one transaction and returns only once it is committed and on disk.
    ///
    /// An event whose `(source, messageId)` was stored less than `dedupeWindow` before its `receivedAt`
    /// is not stored again: its result is `.duplicate`. Duplicates within `events` count too (the first wins).
    /// Either every result is returned or the call throws and nothing was stored.
    func append(_ events: [NewEvent], dedupeWindow: Duration) async throws(StoreError) -> [AppendResult]

    /// Bytes the store occupies on disk now, compared with `storage.max_backlog`.
    func diskUsage() async -> Int64
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
