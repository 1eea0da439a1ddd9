import Foundation
import Logging
import NIOCore
import PostgresNIO
import SwitchyardCore

/// One append transaction on PostgreSQL: dedupe, identity and the insert. Identity's rules are
/// `IdentityEngine`'s (SPEC §3); this only loads the facts it asks for and writes its changes.
///
/// Every statement is a network round trip, so the common path is batched: the identity locks, the block of
/// sequences, the dedupe claims of the whole batch and the identity facts are one statement
/// (`switchyard_append_begin`), the events (and the persons they create) one `unnest` insert, and consecutive
/// anonymous merges and activity entries one statement each. Other nodes append at the same time; the locks
/// of the identities this batch touches keep its facts true until it commits (SPEC §8, "Nodes append
/// concurrently"). Runs in a READ COMMITTED transaction that has not written before.
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
        // The first event with a (source, messageId) claims it; later ones in the batch are duplicates.
        var firstIndex: [String: Int] = [:]
        for (index, event) in events.enumerated() where firstIndex[event.source + "\u{0}" + event.messageId] == nil {
            firstIndex[event.source + "\u{0}" + event.messageId] = index
        }
        let candidates = firstIndex.values.sorted()
        let engine = IdentityEngine(policy: policy)
        // Facts (and locks) for every event of the batch, duplicates included: a superset of what the claimed
        // ones need, known before the claims, so locks, claims and facts are one round trip.
        let request = engine.factsRequest(for: events)
        let rows = try await connection.rows(
            PostgresStatements.BeginAppend(
                userIds: request.userIds.sorted(), anonymousIds: request.anonymousIds.sorted(),
                count: Int32(clamping: events.count),
                sources: candidates.map { events[$0].source }, messageIds: candidates.map { events[$0].messageId },
                receivedAt: candidates.map { events[$0].receivedAt.milliseconds },
                windowMilliseconds: dedupeWindow.milliseconds),
            logger)
        var firstSequence: Int64 = 0
        var claimed = Set<Int>()
        var facts = IdentityFacts()
        for row in rows {
            switch row.0 {
            case "q": firstSequence = row.3 ?? 0
            case "d":
                if let index = firstIndex[(row.1 ?? "") + "\u{0}" + (row.2 ?? "")] { claimed.insert(index) }
            default: Self.add(row, to: &facts)
            }
        }
        guard !claimed.isEmpty else { return events.map { _ in .duplicate } }
        guard firstSequence > 0 else { throw StoreError(.corrupt, "no sequences were reserved for the append") }
        let claimedIndexes = claimed.sorted()
        let claimedEvents = claimedIndexes.map { events[$0] }
        let decisions = engine.decide(claimedEvents, facts: facts)

        var results = [AppendResult](repeating: .duplicate, count: events.count)
        var sequences = [Int64?](repeating: nil, count: claimedEvents.count)
        var rowsToInsert: [(sequence: Int64, event: NewEvent, resolvedUserId: String?)] = []
        // The reserved block: one sequence per event of the batch, more than the stored ones ever need.
        var nextSequence = firstSequence
        for (position, decision) in decisions.events.enumerated() {
            guard case .stored(let resolved) = decision else {
                results[claimedIndexes[position]] = .suppressed
                continue
            }
            let sequence = nextSequence
            nextSequence += 1
            sequences[position] = sequence
            rowsToInsert.append((sequence, claimedEvents[position], resolved))
            results[claimedIndexes[position]] = .stored(sequence: sequence)
        }
        if !rowsToInsert.isEmpty { _ = try await connection.rows(PostgresStatements.InsertEvents(rows: rowsToInsert), logger) }
        try await apply(decisions.changes, sequences: sequences)
        changes = decisions.changes
        return results
    }

    // MARK: Facts

    /// Adds one facts row of `switchyard_append_begin` (kind, id, other, first, second, text).
    static func add(_ row: PostgresStatements.BeginAppend.Row, to facts: inout IdentityFacts) {
        let (kind, id, other, first, second, text) = row
        guard let id else { return }
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
        case "l":
            let parts = (text ?? "").split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
            guard let entryKind = parts.first.flatMap({ ActivityEntry.Kind(rawValue: String($0)) }) else { return }
            let reason = parts.count > 1 ? MergeRefusal(rawValue: String(parts[1])) : nil
            facts.latestEntries[id] = LatestActivity(kind: entryKind, userId: other, reason: reason)
        default: break
        }
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
