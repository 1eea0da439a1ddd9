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
    func replayQueue(of destination: String, limit: Int, readyBy now: Timestamp) async throws(StoreError) -> [QueuedEvent]

    /// Entries in the replay queue and dead letters of `destination`.
    func queueCounts(of destination: String) async throws(StoreError) -> (replay: Int, deadLetters: Int)

    // MARK: Delivery leases (SPEC §8)

    /// Claims the right to deliver `destination` for `ttl`, or renews it. Granted when `node` holds it already,
    /// nobody does, or the holder's lease ran out. With `fairShare`, a node that already holds that many live
    /// leases only takes one that has been free for a whole `ttl` — so destinations spread over the nodes, yet
    /// none is left without a sender. Lease times are the database's clock, not the nodes'. `defunct` names a
    /// holder known to be dead (a process of this host that no longer runs): its lease is taken at once.
    func claimLease(of destination: String, by node: String, ttl: Duration, fairShare: Int?, replacing defunct: String?)
        async throws(StoreError) -> Bool

    /// The node's heartbeat: renews every lease `node` holds, records it as alive for `ttl`, and says which
    /// destinations it still holds and which nodes are alive.
    func renewLeases(of node: String, ttl: Duration) async throws(StoreError) -> LeaseRenewal

    /// Stops counting `nodes` as alive before their heartbeat runs out: processes known to be gone (killed,
    /// or a node stopping), so no node's fair share leaves room for them. Their leases are untouched: they
    /// run out, or a node of their host takes them over at once (`claimLease(replacing:)`).
    func forgetNodes(_ nodes: Set<String>) async throws(StoreError)

    /// Gives the lease up (shutdown, handing a destination to a less busy node).
    func releaseLease(of destination: String, by node: String) async throws(StoreError)

    /// Who holds the lease of `destination` now; nil when nobody holds a live one.
    func leaseHolder(of destination: String) async throws(StoreError) -> String?

    // MARK: Identity

    /// Held events of `destination` whose anonymous id has merged (within the late window): ready to be
    /// delivered under the person's id, in log order. Holds received before `receivedSince` (past `hold_ttl`)
    /// are never released, even before the purge removes them: a merge must not send what has expired.
    /// `anonymousId` narrows them to one id's (the worker releases them when it reaches the merge in the log),
    /// `sequence` pages through them.
    func releasableHolds(
        of destination: String, anonymousId: String?, after sequence: Int64, limit: Int, receivedSince: Timestamp
    ) async throws(StoreError) -> [QueuedEvent]

    /// Of these sequences, the ones whose events are still stored: a batch waiting to be retried drops the
    /// events an erasure removed meanwhile.
    func storedSequences(among sequences: [Int64]) async throws(StoreError) -> Set<Int64>

    /// Events parked for `destination`.
    func holdCount(of destination: String) async throws(StoreError) -> Int

    /// The person with this user id (or whose id it was merged into); nil when unknown.
    func person(_ userId: String) async throws(StoreError) -> Person?

    /// A page of the activity log, newest first.
    func activity(_ scope: ActivityScope, before cursor: ActivityCursor?, limit: Int) async throws(StoreError) -> ActivityPage

    /// Deletes the person's events, ids, traits, holds and pending deliveries, and suppresses later
    /// events of its user ids. Returns the events deleted, or nil when the user is unknown (it is
    /// suppressed anyway).
    func erase(_ userId: String, at: Timestamp) async throws(StoreError) -> Int?

    /// Lifts the suppression of `userId`. Returns whether it was suppressed.
    func unsuppress(_ userId: String) async throws(StoreError) -> Bool

    /// Deletes what outlived its retention: never-merged anonymous events after `anonymousTTL`, identified
    /// events after `identifiedTTL`, holds after their destination's `holdTTLs` (counted per
    /// destination). Works in small transactions so ingest is not held up.
    func purge(now: Timestamp, anonymousTTL: Duration, identifiedTTL: Duration, holdTTLs: [String: Duration])
        async throws(StoreError) -> PurgeReport
}

extension EventStore {
    /// The whole replay queue, deferred entries included.
    public func replayQueue(of destination: String, limit: Int) async throws(StoreError) -> [QueuedEvent] {
        try await replayQueue(of: destination, limit: limit, readyBy: Timestamp(milliseconds: .max))
    }

    /// Every releasable hold, whatever its age.
    public func releasableHolds(of destination: String, limit: Int) async throws(StoreError) -> [QueuedEvent] {
        try await releasableHolds(of: destination, limit: limit, receivedSince: Timestamp(milliseconds: .min))
    }

    /// Every releasable hold of every anonymous id received since `receivedSince`.
    public func releasableHolds(of destination: String, limit: Int, receivedSince: Timestamp) async throws(StoreError)
        -> [QueuedEvent]
    {
        try await releasableHolds(of: destination, anonymousId: nil, after: 0, limit: limit, receivedSince: receivedSince)
    }

    public func claimLease(of destination: String, by node: String, ttl: Duration, fairShare: Int?) async throws(StoreError)
        -> Bool
    {
        try await claimLease(of: destination, by: node, ttl: ttl, fairShare: fairShare, replacing: nil)
    }
}

/// Which part of the activity log to read.
public enum ActivityScope: Sendable, Equatable {
    /// Identified events (including ones that were anonymous before a merge) and every merge, refusal
    /// and erasure entry.
    case identified
    /// Events not (yet) resolved to a person, with merge and refusal entries.
    case anonymous
    /// One person's events and entries.
    case person(userId: String)
    /// One anonymous id's events and entries.
    case anonymousId(String)
}

/// Where a page of the activity log ends: the next page holds older events and older entries.
public struct ActivityCursor: Sendable, Equatable, CustomStringConvertible {
    public var eventsBefore: Int64
    public var entriesBefore: Int64

    public init(eventsBefore: Int64, entriesBefore: Int64) {
        self.eventsBefore = eventsBefore
        self.entriesBefore = entriesBefore
    }

    /// `e<sequence>.a<entry id>`, opaque to API clients.
    public var description: String { "e\(eventsBefore).a\(entriesBefore)" }

    public init?(_ text: String) {
        let parts = text.split(separator: ".")
        guard parts.count == 2, parts[0].first == "e", parts[1].first == "a",
            let events = Int64(parts[0].dropFirst()), let entries = Int64(parts[1].dropFirst())
        else { return nil }
        self.init(eventsBefore: events, entriesBefore: entries)
    }
}

/// One row of the activity log.
public enum ActivityItem: Sendable, Equatable {
    case event(StoredEvent)
    case entry(ActivityEntry)

    public var at: Timestamp {
        switch self {
        case .event(let stored): stored.event.receivedAt
        case .entry(let entry): entry.at
        }
    }
}

public struct ActivityPage: Sendable, Equatable {
    public var items: [ActivityItem]
    public var nextCursor: ActivityCursor?

    public init(items: [ActivityItem], nextCursor: ActivityCursor?) {
        self.items = items
        self.nextCursor = nextCursor
    }

    /// A page from the newest `limit` events (below `eventsBefore`) and entries (below `entriesBefore`),
    /// both newest first, merged by time.
    static func merging(
        events: [StoredEvent], entries: [ActivityEntry], limit: Int, eventsBefore: Int64, entriesBefore: Int64
    ) -> ActivityPage {
        var items: [ActivityItem] = []
        var e = 0
        var a = 0
        while items.count < limit, e < events.count || a < entries.count {
            if a >= entries.count || (e < events.count && events[e].event.receivedAt >= entries[a].at) {
                items.append(.event(events[e]))
                e += 1
            } else {
                items.append(.entry(entries[a]))
                a += 1
            }
        }
        let more = e < events.count || a < entries.count || events.count == limit || entries.count == limit
        let next = ActivityCursor(
            eventsBefore: e > 0 ? events[e - 1].sequence : eventsBefore,
            entriesBefore: a > 0 ? entries[a - 1].id : entriesBefore)
        return ActivityPage(items: items, nextCursor: more && !items.isEmpty ? next : nil)
    }
}

/// What a retention purge removed.
public struct PurgeReport: Sendable, Equatable {
    public var anonymousEvents = 0
    public var identifiedEvents = 0
    public var expiredHolds: [String: Int] = [:]

    public init(anonymousEvents: Int = 0, identifiedEvents: Int = 0, expiredHolds: [String: Int] = [:]) {
        self.anonymousEvents = anonymousEvents
        self.identifiedEvents = identifiedEvents
        self.expiredHolds = expiredHolds
    }
}

/// The part of the store that group commit needs: appending and the disk budget.
public protocol EventLogAppending: Sendable {
    /// Appends `events` in one transaction and returns only once it is committed and on disk.
    ///
    /// An event whose `(source, messageId)` was stored less than `dedupeWindow` before its `receivedAt`
    /// is not stored again: its result is `.duplicate`. Duplicates within `events` count too (the first wins).
    /// Either every result is returned or the call throws and nothing was stored.
    func append(_ events: [NewEvent], dedupeWindow: Duration) async throws(StoreError) -> [AppendResult]

    /// Bytes the store occupies on disk, compared with `storage.max_backlog`; may be up to a second old.
    func diskUsage() async -> Int64
}

/// What happened to one event handed to `EventStore.append`.
public enum AppendResult: Sendable, Equatable {
    /// Stored at this position of the log.
    case stored(sequence: Int64)
    /// Its messageId was already stored within the dedupe window; acknowledged, not stored again.
    case duplicate
    /// Its user was erased and is suppressed; acknowledged, not stored.
    case suppressed
}

/// An event read back from the log.
public struct StoredEvent: Sendable, Equatable {
    public var sequence: Int64
    public var event: NewEvent
    /// The person's user id: the event's own (canonical) `userId`, or the one identity resolved its
    /// `anonymousId` to; nil while the event is anonymous.
    public var resolvedUserId: String?
    /// Set on the event whose arrival merged this anonymous id into the person.
    public var mergedAnonymousId: String?
    /// The person's user id as identity knew it when the event was stored (its own canonical `userId`, or
    /// the person a late event's `anonymousId` had merged into); nil for an event stored anonymously. Unlike
    /// `resolvedUserId`, merges never change it: it is the identity destinations get (SPEC §4 "Stable wire
    /// identity").
    public var storedUserId: String?
    /// True when the event carries a `userId` and an `anonymousId` that identity did not link to that person
    /// (the id belongs to someone else, or merging was refused or is off). Read with the log and the replay
    /// queue; false where unknown.
    public var anonymousIdUnlinked = false

    public init(
        sequence: Int64, event: NewEvent, resolvedUserId: String? = nil, mergedAnonymousId: String? = nil,
        storedUserId: String? = nil
    ) {
        self.sequence = sequence
        self.event = event
        self.resolvedUserId = resolvedUserId
        self.mergedAnonymousId = mergedAnonymousId
        self.storedUserId = storedUserId
    }

    /// True for an event sent anonymously that identity has since resolved to a person.
    public var wasAnonymous: Bool { event.userId == nil && resolvedUserId != nil }
}
