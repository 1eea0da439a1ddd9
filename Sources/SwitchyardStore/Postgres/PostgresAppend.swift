import Foundation
import Logging
import NIOCore
import PostgresNIO
import SwitchyardCore

/// One append transaction on PostgreSQL: dedupe, identity (SPEC §3) and the insert, with the same rules as
/// `SQLiteIdentity`.
///
/// Every statement is a network round trip, so the common path is batched: the dedupe claims of the whole
/// batch are one statement, what identity needs to know about its ids is one query, and events (and the
/// persons they create) are buffered and inserted together through `unnest`. Only what reads or rewrites
/// stored events — merges, aliases, traits, refusals — flushes the buffer and runs its own statements, so
/// it sees every earlier event of the batch. The append lock makes this transaction the only writer, so what
/// it memoises stays true until it commits.
final class PostgresAppend {
    let connection: PostgresConnection
    let logger: Logger
    let policy: IdentityPolicy

    // Memoised lookups.
    var suppressed: [String: Bool] = [:]
    var canonicalIds: [String: String] = [:]
    var persons: Set<String> = []
    /// Who an anonymous id merged into and when; `nil` user: known to be unmerged.
    var owners: [String: (userId: String?, mergedAt: Int64)] = [:]
    /// How many anonymous ids each person has (for `max_anonymous_ids`).
    var anonymousIdCounts: [String: Int] = [:]
    /// Persons' traits as identify calls of this transaction left them; `dirtyTraits` are written by `writeTraits`.
    /// A storm of identifies for one person costs one read of its traits and one write per flush.
    var personTraits: [String: TraitsMerge] = [:]
    var dirtyTraits: Set<String> = []
    /// Trait keys dropped by the caps, per person, over the whole transaction (reported once it commits).
    var droppedTraits: [String: Int] = [:]

    // Buffered writes.
    struct PendingEvent {
        var sequence: Int64
        var event: NewEvent
        var resolvedUserId: String?
    }
    var pendingEvents: [PendingEvent] = []
    var pendingPersons: [(userId: String, firstSeen: Int64)] = []
    /// Merges of a fresh anonymous id, written in bulk by `flush`: a visitor's first event carrying both ids
    /// is common, and one statement per merge would be several round trips each.
    struct PendingMerge {
        var anonymousId: String
        var userId: String
        var sequence: Int64
        var mergedAt: Int64
        /// Events of the anonymous id older than this are outside the retention window and stay anonymous.
        var cutoff: Int64
        var messageId: String
    }
    var pendingMerges: [PendingMerge] = []

    init(connection: PostgresConnection, logger: Logger, policy: IdentityPolicy) {
        self.connection = connection
        self.logger = logger
        self.policy = policy
    }

    func run(_ events: [NewEvent], dedupeWindow: Duration) async throws -> [AppendResult] {
        try await connection.run("SELECT pg_advisory_xact_lock(\(PostgresSchema.appendLock))", logger)
        // The first event with a (source, messageId) claims it; later ones in the batch are duplicates.
        var firstIndex: [String: Int] = [:]
        for (index, event) in events.enumerated() where firstIndex[event.source + "\u{0}" + event.messageId] == nil {
            firstIndex[event.source + "\u{0}" + event.messageId] = index
        }
        let candidates = firstIndex.values.sorted()
        let claimedRows = try await connection.rows(
            PostgresStatements.ClaimDedupe(
                sources: candidates.map { events[$0].source }, messageIds: candidates.map { events[$0].messageId },
                receivedAt: candidates.map { events[$0].receivedAt.milliseconds }, windowMilliseconds: dedupeWindow.milliseconds),
            logger)
        var claimed = Set<Int>()
        for (source, messageId) in claimedRows {
            if let index = firstIndex[source + "\u{0}" + messageId] { claimed.insert(index) }
        }
        guard !claimed.isEmpty else { return events.map { _ in .duplicate } }
        try await prefetch(claimed.map { events[$0] })
        try await prefetchTraits(claimed.map { events[$0] })
        let sequences = try await connection.rows(
            "SELECT nextval('events_seq') FROM generate_series(1, \(claimed.count))", logger
        ).map { try $0.decode(Int64.self) }
        var nextSequence = sequences.makeIterator()

        var results: [AppendResult] = []
        results.reserveCapacity(events.count)
        for (index, event) in events.enumerated() {
            guard claimed.contains(index) else {
                results.append(.duplicate)
                continue
            }
            if let userId = event.userId, try await isSuppressed(userId) {
                results.append(.suppressed)
                continue
            }
            let resolved = policy.enabled ? try await resolve(event) : event.userId
            guard let sequence = nextSequence.next() else { throw StoreError(.corrupt, "the events sequence ran out") }
            pendingEvents.append(PendingEvent(sequence: sequence, event: event, resolvedUserId: resolved))
            if policy.enabled { try await apply(event, sequence: sequence, resolvedUserId: resolved) }
            results.append(.stored(sequence: sequence))
        }
        try await flush()
        try await writeTraits()  // after flush: it inserts the persons these update
        return results
    }

    // MARK: Buffered writes

    /// Inserts the buffered persons and events.
    func flush() async throws {
        if !pendingPersons.isEmpty {
            try await connection.run(
                """
                INSERT INTO persons (user_id, traits, first_seen)
                SELECT u, convert_to('{}', 'UTF8'), f FROM unnest(\(pendingPersons.map(\.userId))::text[],
                    \(pendingPersons.map(\.firstSeen))::int8[]) AS t(u, f)
                ON CONFLICT (user_id) DO NOTHING
                """, logger)
            pendingPersons = []
        }
        if !pendingEvents.isEmpty { try await insertPendingEvents() }
        try await flushMerges()
    }

    /// Writes the traits identify calls changed: at the end of the transaction and before an alias (which
    /// reads and rewrites persons' traits), not at every flush — a refusal flushes, and a batch alternating
    /// identifies and refusals would otherwise write a person's 64 KB of traits once per event.
    func writeTraits() async throws {
        guard !dirtyTraits.isEmpty else { return }
        defer { dirtyTraits = [] }
        var users: [String] = []
        var written: [ByteBuffer] = []
        for userId in dirtyTraits {
            guard var traits = personTraits[userId], traits.needsStoring else { continue }  // dirty ones are cached
            let dropped = traits.markStored()  // kept cached: each dropped key is counted once
            if dropped > 0 { droppedTraits[userId, default: 0] += dropped }
            personTraits[userId] = traits
            users.append(userId)
            written.append(ByteBuffer(bytes: traits.json))
        }
        guard !users.isEmpty else { return }
        try await connection.run(
            """
            UPDATE persons p SET traits = t.traits
            FROM unnest(\(users)::text[], \(written)::bytea[]) AS t(u, traits)
            WHERE p.user_id = t.u
            """, logger)
    }

    func insertPendingEvents() async throws {
        let rows = pendingEvents
        pendingEvents = []
        _ = try await connection.rows(
            PostgresStatements.InsertEvents(rows: rows.map { ($0.sequence, $0.event, $0.resolvedUserId) }), logger)
    }

    /// Writes the pending merges: identities, the anonymous events they resolve (stored before the event that
    /// merged them, as a merge one at a time would), the merging events, and the activity entries.
    func flushMerges() async throws {
        guard !pendingMerges.isEmpty else { return }
        let merges = pendingMerges
        pendingMerges = []
        try await connection.run(
            """
            INSERT INTO identities (anonymous_id, user_id, merged_at, message_id)
            SELECT * FROM unnest(\(merges.map(\.anonymousId))::text[], \(merges.map(\.userId))::text[],
                \(merges.map(\.mergedAt))::int8[], \(merges.map(\.messageId))::text[])
            """, logger)
        let counted = try await connection.rows(
            """
            WITH merged AS (
                UPDATE events e SET resolved_user_id = m.u
                FROM unnest(\(merges.map(\.anonymousId))::text[], \(merges.map(\.userId))::text[],
                    \(merges.map(\.cutoff))::int8[], \(merges.map(\.sequence))::int8[]) AS m(a, u, c, s)
                WHERE e.anonymous_id = m.a AND e.resolved_user_id IS NULL AND e.received_at >= m.c AND e.seq < m.s
                RETURNING e.anonymous_id)
            SELECT anonymous_id, count(*) FROM merged GROUP BY anonymous_id
            """, logger)
        var mergedCounts: [String: Int] = [:]
        for row in counted {
            let (anonymousId, count) = try row.decode((String, Int).self)
            mergedCounts[anonymousId] = count
        }
        try await connection.run(
            """
            UPDATE events SET merged_anonymous_id = m.a
            FROM unnest(\(merges.map(\.sequence))::int8[], \(merges.map(\.anonymousId))::text[]) AS m(s, a)
            WHERE events.seq = m.s
            """, logger)
        try await connection.run(
            """
            INSERT INTO activity (kind, at, anonymous_id, user_id, events_merged, message_id)
            SELECT \(ActivityEntry.Kind.anonymousMerge.rawValue), * FROM unnest(\(merges.map(\.mergedAt))::int8[],
                \(merges.map(\.anonymousId))::text[], \(merges.map(\.userId))::text[],
                \(merges.map { mergedCounts[$0.anonymousId] ?? 0 })::int8[], \(merges.map(\.messageId))::text[])
            """, logger)
    }

    // MARK: Lookups

    /// Looks up what identity needs about the batch's ids in one query.
    func prefetch(_ events: [NewEvent]) async throws {
        let userIds = Array(Set(events.compactMap(\.userId)))
        let anonymousIds = policy.enabled ? Array(Set(events.compactMap(\.anonymousId))) : []
        let countedUserIds = policy.enabled ? userIds : []
        let rows = try await connection.rows(
            """
            SELECT 's', user_id, NULL::text, NULL::bigint FROM suppressions WHERE user_id = ANY(\(userIds)::text[])
            UNION ALL SELECT 'a', user_id, kept_user_id, NULL FROM person_aliases WHERE user_id = ANY(\(userIds)::text[])
            UNION ALL SELECT 'p', user_id, NULL, NULL FROM persons WHERE user_id = ANY(\(userIds)::text[])
            UNION ALL SELECT 'o', anonymous_id, user_id, merged_at FROM identities WHERE anonymous_id = ANY(\(anonymousIds)::text[])
            UNION ALL SELECT 'c', user_id, NULL, count(*) FROM identities WHERE user_id = ANY(\(countedUserIds)::text[])
                GROUP BY user_id
            """, logger)
        var suppressedIds = Set<String>()
        var kept: [String: String] = [:]
        var known = Set<String>()
        for row in rows {
            let (kind, id, other, mergedAt) = try row.decode((String, String, String?, Int64?).self)
            switch kind {
            case "s": suppressedIds.insert(id)
            case "a": kept[id] = other
            case "p": known.insert(id)
            case "c": anonymousIdCounts[id] = Int(mergedAt ?? 0)
            default: owners[id] = (other, mergedAt ?? 0)
            }
        }
        for userId in userIds {
            suppressed[userId] = suppressedIds.contains(userId)
            canonicalIds[userId] = kept[userId] ?? userId
            if kept[userId] == nil, known.contains(userId) { persons.insert(userId) }
            if policy.enabled, kept[userId] == nil, anonymousIdCounts[userId] == nil { anonymousIdCounts[userId] = 0 }
        }
        for anonymousId in anonymousIds where owners[anonymousId] == nil { owners[anonymousId] = (nil, 0) }
    }

    /// Persons whose traits are held at once. A commit can carry identifies of thousands of persons, each with
    /// up to 64 KB of traits; past this many they are written and forgotten, so memory stays bounded.
    static let cachedTraitsLimit = 64

    /// Loads the traits of the persons the batch's identify calls update (the first `cachedTraitsLimit`;
    /// others are read when needed), in one query.
    func prefetchTraits(_ events: [NewEvent]) async throws {
        guard policy.enabled else { return }
        var userIds = Set<String>()
        for event in events where event.type == .identify && userIds.count < Self.cachedTraitsLimit {
            if let userId = event.userId.flatMap({ canonicalIds[$0] }) { userIds.insert(userId) }
        }
        guard !userIds.isEmpty else { return }
        for row in try await connection.rows(
            "SELECT user_id, traits FROM persons WHERE user_id = ANY(\(Array(userIds))::text[])", logger)
        {
            var (userId, stored) = try row.decode((String, ByteBuffer).self)
            let json = stored.readBytes(length: stored.readableBytes) ?? []  // all readable bytes: cannot fail
            personTraits[userId] = TraitsMerge(stored: json, limits: policy.traitsLimits)
        }
        for userId in userIds where personTraits[userId] == nil {  // new persons
            personTraits[userId] = TraitsMerge(stored: [], limits: policy.traitsLimits)
        }
    }

    func isSuppressed(_ userId: String) async throws -> Bool {
        if let known = suppressed[userId] { return known }
        let found = try await !connection.rows("SELECT 1 FROM suppressions WHERE user_id = \(userId)", logger).isEmpty
        suppressed[userId] = found
        return found
    }

    /// The user id a person is known by: the id itself, or the id it was merged into.
    func canonical(_ userId: String) async throws -> String {
        if let known = canonicalIds[userId] { return known }
        let kept = try await connection.rows("SELECT kept_user_id FROM person_aliases WHERE user_id = \(userId)", logger)
            .first?.decode(String.self) ?? userId
        canonicalIds[userId] = kept
        return kept
    }

    func personExists(_ userId: String) async throws -> Bool {
        if persons.contains(userId) { return true }
        let found = try await !connection.rows("SELECT 1 FROM persons WHERE user_id = \(userId)", logger).isEmpty
        if found { persons.insert(userId) }
        return found
    }

    func owner(of anonymousId: String) async throws -> (userId: String?, mergedAt: Int64) {
        if let known = owners[anonymousId] { return known }
        let row = try await connection.rows(
            "SELECT user_id, merged_at FROM identities WHERE anonymous_id = \(anonymousId)", logger
        ).first
        let owner: (userId: String?, mergedAt: Int64) = try row.map { try $0.decode((String?, Int64).self) } ?? (nil, 0)
        owners[anonymousId] = owner
        return owner
    }

    func anonymousIdCount(of userId: String) async throws -> Int {
        if let known = anonymousIdCounts[userId] { return known }
        let count = try await connection.rows("SELECT count(*) FROM identities WHERE user_id = \(userId)", logger)
            .first?.decode(Int.self) ?? 0
        anonymousIdCounts[userId] = count
        return count
    }

    func clearMemo() {
        suppressed = [:]
        canonicalIds = [:]
        persons = []
        owners = [:]
        anonymousIdCounts = [:]
        personTraits = [:]  // callers write traits first, so none is dirty
    }

    // MARK: Identity (the rules of SQLiteIdentity)

    /// The person an event belongs to as it arrives.
    func resolve(_ event: NewEvent) async throws -> String? {
        if let userId = event.userId { return try await canonical(userId) }
        guard let anonymousId = event.anonymousId else { return nil }
        let owner = try await owner(of: anonymousId)
        guard let userId = owner.userId else { return nil }
        if let window = policy.lateWindow, event.receivedAt > Timestamp(milliseconds: owner.mergedAt) + window { return nil }
        return userId
    }

    /// Acts on what the stored event means for identity.
    func apply(_ event: NewEvent, sequence: Int64, resolvedUserId: String?) async throws {
        if !event.blockedIds.isEmpty, isMergeTrigger(event) {
            let blocked = event.blockedIds[0]
            try await flush()
            try await refuse(
                .blockedId, anonymousId: blocked.field == "anonymousId" ? blocked.value : event.anonymousId,
                userId: blocked.field == "userId" ? blocked.value : event.userId, messageId: event.messageId,
                at: event.receivedAt)
        }
        if event.type == .alias, let previousId = event.previousId, let userId = event.userId {
            try await flush()
            try await alias(previousId: previousId, userId: userId, event: event, sequence: sequence)
            return
        }
        guard let userId = resolvedUserId, event.userId != nil else { return }
        ensurePerson(userId, at: event.receivedAt)
        if event.type == .identify {
            try await mergeTraits(of: event, into: userId)
        }
        if let anonymousId = event.anonymousId, event.type == .identify || policy.mergeOnAnyEvent {
            try await merge(anonymousId: anonymousId, into: userId, event: event, sequence: sequence)
        }
    }

    func isMergeTrigger(_ event: NewEvent) -> Bool {
        switch event.type {
        case .identify, .alias: true
        default: policy.mergeOnAnyEvent && (event.userId != nil || event.anonymousId != nil)
        }
    }

    /// Buffered: the person row is inserted with the next flush.
    func ensurePerson(_ userId: String, at: Timestamp) {
        guard !persons.contains(userId) else { return }
        persons.insert(userId)
        pendingPersons.append((userId, at.milliseconds))
    }

    /// Later identify calls win per key, within `identity.max_traits` and 64 KB (`TraitsMerge`). Buffered:
    /// `flush` writes the result.
    func mergeTraits(of event: NewEvent, into userId: String) async throws {
        if personTraits[userId] == nil, personTraits.count >= Self.cachedTraitsLimit {
            try await flush()  // inserts the persons `writeTraits` updates
            try await writeTraits()
            personTraits = [:]
        }
        var traits: TraitsMerge
        if let known = personTraits[userId] {
            traits = known
        } else {
            // A person created in this transaction and not flushed yet has no row: no traits.
            traits = TraitsMerge(stored: try await storedTraits(of: userId), limits: policy.traitsLimits)
        }
        traits.merge(traitsOf: event.body)
        personTraits[userId] = traits
        dirtyTraits.insert(userId)
    }

    func storedTraits(of userId: String) async throws -> [UInt8] {
        guard var stored = try await connection.rows("SELECT traits FROM persons WHERE user_id = \(userId)", logger)
            .first?.decode(ByteBuffer.self)
        else { return [] }
        return stored.readBytes(length: stored.readableBytes) ?? []  // all readable bytes: cannot fail
    }

    /// Attaches an anonymous id and its stored events to the person (written by the next `flush`), or
    /// records why not.
    func merge(anonymousId: String, into userId: String, event: NewEvent, sequence: Int64) async throws {
        let owner = try await owner(of: anonymousId).userId
        if owner == userId { return }  // merged before: nothing new
        if owner != nil {
            try await flush()
            try await refuse(.anonymousIdTaken, anonymousId: anonymousId, userId: userId, messageId: event.messageId, at: event.receivedAt)
            return
        }
        let count = try await anonymousIdCount(of: userId)
        if count >= policy.maxAnonymousIds {
            try await flush()
            try await refuse(.tooManyAnonymousIds, anonymousId: anonymousId, userId: userId, messageId: event.messageId, at: event.receivedAt)
            return
        }
        anonymousIdCounts[userId] = count + 1
        owners[anonymousId] = (userId, event.receivedAt.milliseconds)
        pendingMerges.append(
            PendingMerge(
                anonymousId: anonymousId, userId: userId, sequence: sequence, mergedAt: event.receivedAt.milliseconds,
                cutoff: (event.receivedAt - policy.anonymousTTL).milliseconds, messageId: event.messageId))
    }

    /// `alias`: `previousId` is an anonymous id (merge it), or a known user id (two identified users).
    func alias(previousId: String, userId: String, event: NewEvent, sequence: Int64) async throws {
        try await writeTraits()  // a person merge reads and rewrites stored traits; the caller flushed the persons
        defer { clearMemo() }  // aliases rewrite who is who
        let previous = try await canonical(previousId)
        let user = try await canonical(userId)
        guard try await personExists(previous) else {
            ensurePerson(user, at: event.receivedAt)
            try await flush()
            try await merge(anonymousId: previousId, into: user, event: event, sequence: sequence)
            return
        }
        if previous == user { return }
        guard try await personExists(user) else {
            // A new id for a known person: it becomes another name of that person.
            try await connection.run(
                """
                INSERT INTO person_aliases (user_id, kept_user_id) VALUES (\(user), \(previous))
                ON CONFLICT (user_id) DO UPDATE SET kept_user_id = excluded.kept_user_id
                """, logger)
            try await connection.run("UPDATE events SET resolved_user_id = \(previous) WHERE seq = \(sequence)", logger)
            try await record(.personMerge, anonymousId: nil, userId: previous, mergedUserId: user, messageId: event.messageId, at: event.receivedAt)
            return
        }
        guard policy.allowUserMerge else {
            try await refuse(
                .userMergeNotAllowed, anonymousId: nil, userId: user, mergedUserId: previous, messageId: event.messageId,
                at: event.receivedAt)
            return
        }
        try await mergePersons(previous, user, event: event)
    }

    /// Two identified users become one person; the older one's id is kept.
    func mergePersons(_ first: String, _ second: String, event: NewEvent) async throws {
        let firstSeen = try await connection.rows("SELECT first_seen FROM persons WHERE user_id = \(first)", logger)
            .first?.decode(Int64.self) ?? 0
        let secondSeen = try await connection.rows("SELECT first_seen FROM persons WHERE user_id = \(second)", logger)
            .first?.decode(Int64.self) ?? 0
        let (kept, merged) = firstSeen <= secondSeen ? (first, second) : (second, first)
        // The kept person's traits win; the merged person's fill the keys it lacks, within the caps.
        var combined = TraitsMerge(stored: try await storedTraits(of: kept), limits: policy.traitsLimits)
        combined.fill(from: try await storedTraits(of: merged))
        if combined.droppedKeys > 0 { droppedTraits[kept, default: 0] += combined.droppedKeys }
        try await connection.run(
            """
            UPDATE persons SET traits = \(ByteBuffer(bytes: combined.json)),
                first_seen = least(first_seen, \(min(firstSeen, secondSeen))) WHERE user_id = \(kept)
            """, logger)
        try await connection.run("DELETE FROM persons WHERE user_id = \(merged)", logger)
        try await connection.run("UPDATE identities SET user_id = \(kept) WHERE user_id = \(merged)", logger)
        try await connection.run("UPDATE person_aliases SET kept_user_id = \(kept) WHERE kept_user_id = \(merged)", logger)
        try await connection.run(
            """
            INSERT INTO person_aliases (user_id, kept_user_id) VALUES (\(merged), \(kept))
            ON CONFLICT (user_id) DO UPDATE SET kept_user_id = excluded.kept_user_id
            """, logger)
        let moved = try await connection.count(
            "UPDATE events SET resolved_user_id = \(kept) WHERE resolved_user_id = \(merged)", logger)
        try await record(
            .personMerge, anonymousId: nil, userId: kept, mergedUserId: merged, eventsMerged: moved, messageId: event.messageId,
            at: event.receivedAt)
    }

    /// Records a refusal, unless the same refusal is the latest entry for this anonymous id.
    func refuse(
        _ reason: MergeRefusal, anonymousId: String?, userId: String?, mergedUserId: String? = nil, messageId: String,
        at: Timestamp
    ) async throws {
        if let anonymousId,
            let last = try await connection.rows(
                "SELECT kind, user_id, reason FROM activity WHERE anonymous_id = \(anonymousId) ORDER BY id DESC LIMIT 1", logger
            ).first,
            case let (kind, lastUser, lastReason) = try last.decode((String, String?, String?).self),
            kind == ActivityEntry.Kind.mergeRefused.rawValue, lastUser == userId, lastReason == reason.rawValue
        {
            return
        }
        try await record(.mergeRefused, anonymousId: anonymousId, userId: userId, mergedUserId: mergedUserId, messageId: messageId, reason: reason, at: at)
    }

    func record(
        _ kind: ActivityEntry.Kind, anonymousId: String?, userId: String?, mergedUserId: String? = nil, eventsMerged: Int = 0,
        messageId: String?, reason: MergeRefusal? = nil, at: Timestamp
    ) async throws {
        try await connection.run(
            """
            INSERT INTO activity (kind, at, anonymous_id, user_id, merged_user_id, events_merged, message_id, reason)
            VALUES (\(kind.rawValue), \(at.milliseconds), \(anonymousId), \(userId), \(mergedUserId), \(eventsMerged),
                \(messageId), \(reason?.rawValue))
            """, logger)
    }
}
