import Foundation
import Logging
import NIOCore
import PostgresNIO
import SwitchyardCore

/// One append transaction on PostgreSQL: dedupe, identity and the insert. Identity's rules are
/// `IdentityEngine`'s (SPEC §3); this only loads the facts it asks for and writes its changes.
///
/// Every statement is a network round trip, so the common path is batched: the dedupe claims of the whole
/// batch are one statement, the identity facts one query, the events (and the persons they create) one
/// `unnest` insert, and consecutive anonymous merges and activity entries one statement each. The append
/// lock makes this transaction the only writer, so the facts stay true until it commits.
final class PostgresAppend {
    let connection: PostgresConnection
    let logger: Logger
    let policy: IdentityPolicy

    /// Persons' traits as this transaction's changes left them; `dirtyTraits` are written by `writeTraits`.
    /// A storm of identifies for one person costs one read of its traits and one write.
    var personTraits: [String: TraitsMerge] = [:]
    var dirtyTraits: Set<String> = []
    /// Trait keys dropped by the caps, per person, over the whole transaction (reported once it commits).
    var droppedTraits: [String: Int] = [:]
    /// The identity changes this transaction applied (counted on `/metrics` once it commits).
    var changes: [IdentityChange] = []
    /// Persons whose traits are held at once. A commit can carry identifies of thousands of persons, each with
    /// up to 64 KB of traits; past this many they are written and forgotten, so memory stays bounded.
    static let cachedTraitsLimit = 64

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
        let claimedIndexes = claimed.sorted()
        let claimedEvents = claimedIndexes.map { events[$0] }
        let engine = IdentityEngine(policy: policy)
        let decisions = engine.decide(claimedEvents, facts: try await loadFacts(engine.factsRequest(for: claimedEvents)))

        var results = [AppendResult](repeating: .duplicate, count: events.count)
        var sequences = [Int64?](repeating: nil, count: claimedEvents.count)
        var rows: [(sequence: Int64, event: NewEvent, resolvedUserId: String?)] = []
        let storedCount = decisions.events.filter { $0 != .suppressed }.count
        var nextSequence = try await connection.rows(
            "SELECT nextval('events_seq') FROM generate_series(1, \(storedCount))", logger
        ).map { try $0.decode(Int64.self) }.makeIterator()
        for (position, decision) in decisions.events.enumerated() {
            guard case .stored(let resolved) = decision else {
                results[claimedIndexes[position]] = .suppressed
                continue
            }
            guard let sequence = nextSequence.next() else { throw StoreError(.corrupt, "the events sequence ran out") }
            sequences[position] = sequence
            rows.append((sequence, claimedEvents[position], resolved))
            results[claimedIndexes[position]] = .stored(sequence: sequence)
        }
        if !rows.isEmpty { _ = try await connection.rows(PostgresStatements.InsertEvents(rows: rows), logger) }
        try await apply(decisions.changes, sequences: sequences)
        changes = decisions.changes
        return results
    }

    // MARK: Facts

    /// Everything on record about the requested ids, in one query.
    func loadFacts(_ request: IdentityFactsRequest) async throws -> IdentityFacts {
        let userIds = Array(request.userIds)
        let anonymousIds = Array(request.anonymousIds)
        let rows = try await connection.rows(
            """
            SELECT 's', user_id, NULL::text, NULL::bigint, NULL::bigint, NULL::text
                FROM suppressions WHERE user_id = ANY(\(userIds)::text[])
            UNION ALL SELECT 'a', user_id, kept_user_id, NULL, NULL, NULL
                FROM person_aliases WHERE user_id = ANY(\(userIds)::text[])
            UNION ALL SELECT 'p', p.user_id, NULL, p.first_seen, (SELECT count(*) FROM identities i WHERE i.user_id = p.user_id), NULL
                FROM persons p WHERE p.user_id = ANY(\(userIds)::text[])
                    OR p.user_id IN (SELECT kept_user_id FROM person_aliases WHERE user_id = ANY(\(userIds)::text[]))
            UNION ALL SELECT 'o', anonymous_id, user_id, merged_at, CASE WHEN contested THEN 1 ELSE 0 END, NULL
                FROM identities WHERE anonymous_id = ANY(\(anonymousIds)::text[])
            UNION ALL SELECT 't', anonymous_id, NULL, NULL, NULL, NULL
                FROM anonymous_traits WHERE anonymous_id = ANY(\(anonymousIds)::text[])
            UNION ALL SELECT * FROM (
                SELECT DISTINCT ON (anonymous_id) 'l', anonymous_id, user_id, NULL::bigint, NULL::bigint, kind || ' ' || coalesce(reason, '')
                FROM activity WHERE anonymous_id = ANY(\(anonymousIds)::text[]) ORDER BY anonymous_id, id DESC) latest
            """, logger)
        var facts = IdentityFacts()
        for row in rows {
            let (kind, id, other, first, second, text) = try row.decode((String, String, String?, Int64?, Int64?, String?).self)
            switch kind {
            case "s": facts.suppressedUserIds.insert(id)
            case "a": if let other { facts.keptUserIds[id] = other }
            case "p":
                facts.persons[id] = PersonFacts(
                    firstSeen: Timestamp(milliseconds: first ?? 0), anonymousIdCount: Int(clamping: second ?? 0))
            case "o":
                if let other {
                    facts.owners[id] = AnonymousIdOwner(
                        userId: other, mergedAt: Timestamp(milliseconds: first ?? 0), contested: (second ?? 0) != 0)
                }
            case "t": facts.anonymousIdsWithTraits.insert(id)
            default:
                let parts = (text ?? "").split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
                guard let entryKind = parts.first.flatMap({ ActivityEntry.Kind(rawValue: String($0)) }) else { continue }
                let reason = parts.count > 1 ? MergeRefusal(rawValue: String(parts[1])) : nil
                facts.latestEntries[id] = LatestActivity(kind: entryKind, userId: other, reason: reason)
            }
        }
        return facts
    }

    // MARK: Changes

    /// Writes the decided changes in order, batching runs of persons, anonymous merges and entries.
    func apply(_ changes: [IdentityChange], sequences: [Int64?]) async throws {
        var persons: [(userId: String, firstSeen: Int64)] = []
        var merges: [(merge: AnonymousMerge, sequence: Int64)] = []
        var entries: [ActivityEntry] = []
        func flush() async throws {
            if !persons.isEmpty { try await insertPersons(persons) }
            if !merges.isEmpty { try await mergeAnonymousIds(merges) }
            if !entries.isEmpty { try await record(entries) }
            persons = []
            merges = []
            entries = []
        }
        for change in changes {
            switch change {
            case .createPerson(let userId, let firstSeen):
                persons.append((userId, firstSeen.milliseconds))
                continue
            case .mergeAnonymousId(let merge):
                // Merges are batched among themselves; entries recorded before them go first (log order).
                if !entries.isEmpty { try await flush() }
                // The triggering event is always stored: a suppressed one triggers nothing.
                merges.append((merge, sequences[merge.eventIndex] ?? Int64.max))
                continue
            case .record(let entry):
                entries.append(entry)
                continue
            case .updateTraits(let userId, .identify(let message)):
                // Traits touch only their own row; a person created in this commit is inserted first.
                if !persons.isEmpty { try await flush() }
                try await mergeTraits(of: userId) { $0.merge(traitsOf: message) }
                continue
            default:
                break
            }
            try await flush()
            switch change {
            case .contest(let anonymousId):
                try await connection.run("UPDATE identities SET contested = true WHERE anonymous_id = \(anonymousId)", logger)
            case .addUserId(let userId, let keptUserId):
                try await connection.run(
                    """
                    INSERT INTO person_aliases (user_id, kept_user_id) VALUES (\(userId), \(keptUserId))
                    ON CONFLICT (user_id) DO UPDATE SET kept_user_id = excluded.kept_user_id
                    """, logger)
            case .mergePersons(let merge):
                try await mergePersons(merge)
            case .updateTraits(let userId, .adoptAnonymousTraits(let anonymousId)):
                let adopted = try await bytes("DELETE FROM anonymous_traits WHERE anonymous_id = \(anonymousId) RETURNING traits")
                try await mergeTraits(of: userId) { $0.merge(object: adopted) }
            case .keepAnonymousTraits(let anonymousId, let message):
                var kept = TraitsMerge(
                    stored: try await bytes("SELECT traits FROM anonymous_traits WHERE anonymous_id = \(anonymousId)"),
                    limits: policy.traitsLimits)
                kept.merge(traitsOf: message)
                try await connection.run(
                    """
                    INSERT INTO anonymous_traits (anonymous_id, traits) VALUES (\(anonymousId), \(ByteBuffer(bytes: kept.json)))
                    ON CONFLICT (anonymous_id) DO UPDATE SET traits = excluded.traits
                    """, logger)
            case .createPerson, .mergeAnonymousId, .record, .updateTraits(_, .identify):
                break  // handled above
            }
        }
        try await flush()
        try await writeTraits()
    }

    func insertPersons(_ persons: [(userId: String, firstSeen: Int64)]) async throws {
        try await connection.run(
            """
            INSERT INTO persons (user_id, traits, first_seen)
            SELECT u, convert_to('{}', 'UTF8'), f FROM unnest(\(persons.map(\.userId))::text[],
                \(persons.map(\.firstSeen))::int8[]) AS t(u, f)
            ON CONFLICT (user_id) DO NOTHING
            """, logger)
    }

    /// Writes anonymous merges: identities, the anonymous events they attach (stored before the event that
    /// merged them), the merging events, and the activity entries.
    func mergeAnonymousIds(_ batch: [(merge: AnonymousMerge, sequence: Int64)]) async throws {
        let merges = batch.map(\.merge)
        let triggers = batch.map(\.sequence)
        try await connection.run(
            """
            INSERT INTO identities (anonymous_id, user_id, merged_at, message_id)
            SELECT * FROM unnest(\(merges.map(\.anonymousId))::text[], \(merges.map(\.userId))::text[],
                \(merges.map(\.mergedAt.milliseconds))::int8[], \(merges.map(\.messageId))::text[])
            """, logger)
        let counted = try await connection.rows(
            """
            WITH merged AS (
                UPDATE events e SET resolved_user_id = m.u
                FROM unnest(\(merges.map(\.anonymousId))::text[], \(merges.map(\.userId))::text[],
                    \(merges.map(\.attachSince.milliseconds))::int8[], \(triggers)::int8[]) AS m(a, u, c, s)
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
            FROM unnest(\(triggers)::int8[], \(merges.map(\.anonymousId))::text[]) AS m(s, a)
            WHERE events.seq = m.s
            """, logger)
        try await record(
            merges.map {
                ActivityEntry(
                    id: 0, kind: .anonymousMerge, at: $0.mergedAt, anonymousId: $0.anonymousId, userId: $0.userId,
                    eventsMerged: mergedCounts[$0.anonymousId] ?? 0, messageId: $0.messageId)
            })
    }

    /// Two persons become one, as `PersonMerge` says.
    func mergePersons(_ merge: PersonMerge) async throws {
        try await writeTraits()  // the merge reads both persons' stored traits
        personTraits = [:]
        let (kept, merged) = (merge.keptUserId, merge.mergedUserId)
        var combined = TraitsMerge(stored: try await storedTraits(of: kept), limits: policy.traitsLimits)
        combined.fill(from: try await storedTraits(of: merged))
        if combined.droppedKeys > 0 { droppedTraits[kept, default: 0] += combined.droppedKeys }
        try await connection.run(
            """
            UPDATE persons SET traits = \(ByteBuffer(bytes: combined.json)), first_seen = \(merge.firstSeen.milliseconds)
            WHERE user_id = \(kept)
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
        try await record([
            ActivityEntry(
                id: 0, kind: .personMerge, at: merge.at, anonymousId: nil, userId: kept, mergedUserId: merged,
                eventsMerged: moved, messageId: merge.messageId)
        ])
    }

    /// Inserts activity entries in order (ids follow the order of the array).
    func record(_ entries: [ActivityEntry]) async throws {
        try await connection.run(
            """
            INSERT INTO activity (kind, at, anonymous_id, user_id, merged_user_id, events_merged, message_id, reason)
            SELECT * FROM unnest(\(entries.map(\.kind.rawValue))::text[], \(entries.map(\.at.milliseconds))::int8[],
                \(NullableArray(entries.map(\.anonymousId)))::text[], \(NullableArray(entries.map(\.userId)))::text[],
                \(NullableArray(entries.map(\.mergedUserId)))::text[], \(entries.map { Int64($0.eventsMerged) })::int8[],
                \(NullableArray(entries.map(\.messageId)))::text[], \(NullableArray(entries.map { $0.reason?.rawValue }))::text[])
            """, logger)
    }

    // MARK: Traits

    /// Updates a person's traits in memory; `writeTraits` stores them.
    func mergeTraits(of userId: String, _ update: (inout TraitsMerge) -> Void) async throws {
        if personTraits[userId] == nil, personTraits.count >= Self.cachedTraitsLimit {
            try await writeTraits()
            personTraits = [:]
        }
        var traits: TraitsMerge
        if let known = personTraits[userId] {
            traits = known
        } else {
            traits = TraitsMerge(stored: try await storedTraits(of: userId), limits: policy.traitsLimits)
        }
        update(&traits)
        personTraits[userId] = traits
        dirtyTraits.insert(userId)
    }

    func storedTraits(of userId: String) async throws -> [UInt8] {
        try await bytes("SELECT traits FROM persons WHERE user_id = \(userId)")
    }

    /// The bytea of the first row's first column; none when there is no row.
    func bytes(_ query: PostgresQuery) async throws -> [UInt8] {
        guard var stored = try await connection.rows(query, logger).first?.decode(ByteBuffer.self) else { return [] }
        return stored.readBytes(length: stored.readableBytes) ?? []  // all readable bytes: cannot fail
    }

    /// Writes the traits changed since the last write.
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
}
