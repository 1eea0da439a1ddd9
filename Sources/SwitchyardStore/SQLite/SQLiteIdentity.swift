import Foundation
import GRDB
import SwitchyardCore

/// Identity resolution inside the append transaction (SPEC §3). One instance per transaction.
///
/// Per event: the user id is made canonical (a user merged into another person resolves to the kept
/// id); an anonymous-only event resolves to the person its anonymous id merged into, within the late
/// window. Then merge triggers act — `identify` with both ids, `alias` (of an anonymous id, or of two
/// users), and any event with both ids when `merge_on_any_event` — or are refused with an activity entry.
struct SQLiteIdentity {
    let db: Database
    let policy: IdentityPolicy
    /// Lookups memoised for this transaction: a batch usually carries many events of the same few people.
    /// Only this transaction writes while it runs, so they stay true; the rare paths that change them
    /// (person merges, aliases) clear them.
    let memo = Memo()

    final class Memo {
        var suppressed: [String: Bool] = [:]
        var canonical: [String: String] = [:]
        var persons: Set<String> = []
        var owners: [String: String] = [:]
        /// Traits of the persons this transaction's identify calls update, written by `writeTraits`: a
        /// storm of identifies for one person costs one read and one write of its traits, not one each.
        var traits: [String: TraitsMerge] = [:]
        /// Trait keys dropped by the caps, per person, over the whole transaction (never cleared).
        var droppedTraits: [String: Int] = [:]

        /// Forgets the lookups; traits are written and forgotten by `writeTraits` instead.
        func clear() {
            suppressed = [:]
            canonical = [:]
            persons = []
            owners = [:]
        }
    }

    init(_ db: Database, policy: IdentityPolicy) throws {
        self.db = db
        self.policy = policy
    }

    func isSuppressed(_ userId: String) throws -> Bool {
        if let known = memo.suppressed[userId] { return known }
        let suppressed = try lookUpSuppressed(userId)
        memo.suppressed[userId] = suppressed
        return suppressed
    }

    func lookUpSuppressed(_ userId: String) throws -> Bool {
        try Bool.fetchOne(
            try db.cachedStatement(sql: "SELECT 1 FROM suppressions WHERE user_id = ?"), arguments: [userId]) ?? false
    }

    /// The user id a person is known by: the id itself, or the id it was merged into.
    func canonical(_ userId: String) throws -> String {
        if let known = memo.canonical[userId] { return known }
        let kept = try lookUpCanonical(userId)
        memo.canonical[userId] = kept
        return kept
    }

    func lookUpCanonical(_ userId: String) throws -> String {
        try String.fetchOne(
            try db.cachedStatement(sql: "SELECT kept_user_id FROM person_aliases WHERE user_id = ?"),
            arguments: [userId]) ?? userId
    }

    func personExists(_ userId: String) throws -> Bool {
        if memo.persons.contains(userId) { return true }
        return try Bool.fetchOne(try db.cachedStatement(sql: "SELECT 1 FROM persons WHERE user_id = ?"), arguments: [userId])
            ?? false
    }

    /// Looks up everything identity needs to know about the event's ids in one statement, so an event
    /// of a person not seen yet in this transaction costs one query instead of four.
    func prefetch(_ event: NewEvent) throws {
        let userId = event.userId
        let anonymousId = event.anonymousId
        let needUser = userId.map { memo.suppressed[$0] == nil || memo.canonical[$0] == nil } ?? false
        let needOwner = anonymousId.map { memo.owners[$0] == nil } ?? false
        guard needUser || needOwner else { return }
        let statement = try db.cachedStatement(
            sql: """
                SELECT
                    (SELECT 1 FROM suppressions WHERE user_id = ?1),
                    (SELECT kept_user_id FROM person_aliases WHERE user_id = ?1),
                    (SELECT 1 FROM persons WHERE user_id = ?1),
                    (SELECT user_id FROM identities WHERE anonymous_id = ?2)
                """)
        guard let row = try Row.fetchOne(statement, arguments: [userId, anonymousId]) else { return }
        if let userId {
            memo.suppressed[userId] = (row[0] as Int?) != nil
            let kept: String? = row[1]
            memo.canonical[userId] = kept ?? userId
            if kept == nil, (row[2] as Int?) != nil { memo.persons.insert(userId) }
        }
        if let anonymousId, let owner: String = row[3] { memo.owners[anonymousId] = owner }
    }

    /// The person an event belongs to as it arrives.
    func resolve(_ event: NewEvent) throws -> String? {
        if let userId = event.userId { return try canonical(userId) }
        guard let anonymousId = event.anonymousId else { return nil }
        guard
            let row = try Row.fetchOne(
                try db.cachedStatement(sql: "SELECT user_id, merged_at FROM identities WHERE anonymous_id = ?"),
                arguments: [anonymousId])
        else { return nil }
        let mergedAt = Timestamp(milliseconds: row[1])
        if let window = policy.lateWindow, event.receivedAt > mergedAt + window { return nil }
        return row[0]
    }

    /// Acts on what the stored event means for identity.
    mutating func apply(_ event: NewEvent, sequence: Int64, resolvedUserId: String?) throws {
        if !event.blockedIds.isEmpty, isMergeTrigger(event, ignoringBlocked: true) {
            let blocked = event.blockedIds[0]
            try refuse(
                .blockedId, anonymousId: blocked.field == "anonymousId" ? blocked.value : event.anonymousId,
                userId: blocked.field == "userId" ? blocked.value : event.userId, messageId: event.messageId,
                at: event.receivedAt)
        }
        if event.type == .alias, let previousId = event.previousId, let userId = event.userId {
            try alias(previousId: previousId, userId: userId, event: event, sequence: sequence)
            return
        }
        guard let userId = resolvedUserId, event.userId != nil else { return }
        try ensurePerson(userId, at: event.receivedAt)
        if event.type == .identify {
            try mergeTraits(of: event, into: userId)
        }
        if let anonymousId = event.anonymousId, event.type == .identify || policy.mergeOnAnyEvent {
            try merge(anonymousId: anonymousId, into: userId, event: event, sequence: sequence)
        }
    }

    func isMergeTrigger(_ event: NewEvent, ignoringBlocked: Bool) -> Bool {
        switch event.type {
        case .identify, .alias: return true
        default:
            guard policy.mergeOnAnyEvent else { return false }
            // Both ids were sent, one of them blocked.
            return (event.userId != nil || event.anonymousId != nil) && ignoringBlocked
        }
    }

    func ensurePerson(_ userId: String, at: Timestamp) throws {
        guard !memo.persons.contains(userId) else { return }
        memo.persons.insert(userId)
        try db.cachedStatement(
            sql: "INSERT INTO persons (user_id, traits, first_seen) VALUES (?, ?, ?) ON CONFLICT (user_id) DO NOTHING"
        ).execute(arguments: [userId, Data("{}".utf8), at.milliseconds])
    }

    /// Persons whose traits the memo holds at once. A commit can carry identifies of thousands of persons,
    /// each with up to 64 KB of traits; past this many they are written and forgotten, so memory stays bounded.
    static let cachedTraitsLimit = 64

    /// Later identify calls win per key, within `identity.max_traits` and 64 KB (`TraitsMerge`). Kept in the
    /// memo: `writeTraits` stores the result.
    func mergeTraits(of event: NewEvent, into userId: String) throws {
        if memo.traits[userId] == nil, memo.traits.count >= Self.cachedTraitsLimit { try writeTraits() }
        var traits = try memo.traits[userId] ?? TraitsMerge(stored: storedTraits(of: userId), limits: policy.traitsLimits)
        traits.merge(traitsOf: event.body)
        memo.traits[userId] = traits
    }

    func storedTraits(of userId: String) throws -> [UInt8] {
        try Data.fetchOne(
            try db.cachedStatement(sql: "SELECT traits FROM persons WHERE user_id = ?"), arguments: [userId]
        ).map { [UInt8]($0) } ?? []
    }

    /// Stores the traits identify calls changed and forgets them; before anything that reads or rewrites
    /// persons' traits (aliases), and at the end of the transaction.
    func writeTraits() throws {
        let statement = try db.cachedStatement(sql: "UPDATE persons SET traits = ? WHERE user_id = ?")
        for (userId, var traits) in memo.traits where traits.needsStoring {
            try statement.execute(arguments: [Data(traits.json), userId])
            countDropped(traits.markStored(), of: userId)
        }
        memo.traits = [:]
    }

    func countDropped(_ count: Int, of userId: String) {
        if count > 0 { memo.droppedTraits[userId, default: 0] += count }
    }

    /// Ends the transaction's identity work: writes pending traits, returns the trait keys dropped per person.
    func finish() throws -> [String: Int] {
        try writeTraits()
        return memo.droppedTraits
    }

    /// Attaches an anonymous id and its stored events to the person, or records why not.
    func merge(anonymousId: String, into userId: String, event: NewEvent, sequence: Int64) throws {
        let owner = try memo.owners[anonymousId]
            ?? String.fetchOne(
                try db.cachedStatement(sql: "SELECT user_id FROM identities WHERE anonymous_id = ?"), arguments: [anonymousId])
        if let owner { memo.owners[anonymousId] = owner }
        if owner == userId { return }  // merged before: nothing new
        if owner != nil {
            try refuse(.anonymousIdTaken, anonymousId: anonymousId, userId: userId, messageId: event.messageId, at: event.receivedAt)
            return
        }
        let count = try Int.fetchOne(
            try db.cachedStatement(sql: "SELECT count(*) FROM identities WHERE user_id = ?"), arguments: [userId]) ?? 0
        if count >= policy.maxAnonymousIds {
            try refuse(.tooManyAnonymousIds, anonymousId: anonymousId, userId: userId, messageId: event.messageId, at: event.receivedAt)
            return
        }
        try db.execute(
            sql: "INSERT INTO identities (anonymous_id, user_id, merged_at, message_id) VALUES (?, ?, ?, ?)",
            arguments: [anonymousId, userId, event.receivedAt.milliseconds, event.messageId])
        memo.owners[anonymousId] = userId
        try db.execute(
            sql: """
                UPDATE events SET resolved_user_id = ?
                WHERE anonymous_id = ? AND resolved_user_id IS NULL AND received_at >= ?
                """,
            arguments: [userId, anonymousId, (event.receivedAt - policy.anonymousTTL).milliseconds])
        let merged = db.changesCount
        try db.execute(sql: "UPDATE events SET merged_anonymous_id = ? WHERE seq = ?", arguments: [anonymousId, sequence])
        try record(
            .anonymousMerge, anonymousId: anonymousId, userId: userId, eventsMerged: merged, messageId: event.messageId,
            at: event.receivedAt)
    }

    /// `alias`: `previousId` is an anonymous id (merge it), or a known user id (two identified users).
    mutating func alias(previousId: String, userId: String, event: NewEvent, sequence: Int64) throws {
        try writeTraits()  // a person merge reads and rewrites the stored traits
        defer { memo.clear() }  // aliases rewrite who is who
        let previous = try canonical(previousId)
        let user = try canonical(userId)
        let previousIsUser = try personExists(previous)
        guard previousIsUser else {
            try ensurePerson(user, at: event.receivedAt)
            try merge(anonymousId: previousId, into: user, event: event, sequence: sequence)
            return
        }
        if previous == user { return }
        guard try personExists(user) else {
            // A new id for a known person: it becomes another name of that person.
            try db.execute(
                sql: "INSERT INTO person_aliases (user_id, kept_user_id) VALUES (?, ?) ON CONFLICT (user_id) DO UPDATE SET kept_user_id = excluded.kept_user_id",
                arguments: [user, previous])
            try db.execute(sql: "UPDATE events SET resolved_user_id = ? WHERE seq = ?", arguments: [previous, sequence])
            try record(
                .personMerge, anonymousId: nil, userId: previous, mergedUserId: user, messageId: event.messageId,
                at: event.receivedAt)
            return
        }
        guard policy.allowUserMerge else {
            try refuse(.userMergeNotAllowed, anonymousId: nil, userId: user, mergedUserId: previous, messageId: event.messageId, at: event.receivedAt)
            return
        }
        try mergePersons(previous, user, event: event)
    }

    /// Two identified users become one person; the older one's id is kept.
    func mergePersons(_ first: String, _ second: String, event: NewEvent) throws {
        let firstSeen = try Int64.fetchOne(db, sql: "SELECT first_seen FROM persons WHERE user_id = ?", arguments: [first]) ?? 0
        let secondSeen = try Int64.fetchOne(db, sql: "SELECT first_seen FROM persons WHERE user_id = ?", arguments: [second]) ?? 0
        let (kept, merged) = firstSeen <= secondSeen ? (first, second) : (second, first)
        // The kept person's traits win; the merged person's fill the keys it lacks, within the caps.
        var traits = TraitsMerge(stored: try storedTraits(of: kept), limits: policy.traitsLimits)
        traits.fill(from: try storedTraits(of: merged))
        countDropped(traits.droppedKeys, of: kept)
        try db.execute(
            sql: "UPDATE persons SET traits = ?, first_seen = min(first_seen, ?) WHERE user_id = ?",
            arguments: [Data(traits.json), min(firstSeen, secondSeen), kept])
        try db.execute(sql: "DELETE FROM persons WHERE user_id = ?", arguments: [merged])
        try db.execute(sql: "UPDATE identities SET user_id = ? WHERE user_id = ?", arguments: [kept, merged])
        try db.execute(sql: "UPDATE person_aliases SET kept_user_id = ? WHERE kept_user_id = ?", arguments: [kept, merged])
        try db.execute(
            sql: "INSERT INTO person_aliases (user_id, kept_user_id) VALUES (?, ?) ON CONFLICT (user_id) DO UPDATE SET kept_user_id = excluded.kept_user_id",
            arguments: [merged, kept])
        try db.execute(sql: "UPDATE events SET resolved_user_id = ? WHERE resolved_user_id = ?", arguments: [kept, merged])
        let moved = db.changesCount
        try record(.personMerge, anonymousId: nil, userId: kept, mergedUserId: merged, eventsMerged: moved, messageId: event.messageId, at: event.receivedAt)
    }

    /// Records a refusal, unless the same refusal is the latest entry for this anonymous id (a shared
    /// device sending both ids on every event would otherwise flood the log).
    func refuse(
        _ reason: MergeRefusal, anonymousId: String?, userId: String?, mergedUserId: String? = nil, messageId: String,
        at: Timestamp
    ) throws {
        if let anonymousId,
            let last = try Row.fetchOne(
                try db.cachedStatement(sql: "SELECT kind, user_id, reason FROM activity WHERE anonymous_id = ? ORDER BY id DESC LIMIT 1"),
                arguments: [anonymousId]),
            last[0] == ActivityEntry.Kind.mergeRefused.rawValue, last[1] == userId, last[2] == reason.rawValue
        {
            return
        }
        try record(.mergeRefused, anonymousId: anonymousId, userId: userId, mergedUserId: mergedUserId, messageId: messageId, reason: reason, at: at)
    }

    func record(
        _ kind: ActivityEntry.Kind, anonymousId: String?, userId: String?, mergedUserId: String? = nil, eventsMerged: Int = 0,
        messageId: String?, reason: MergeRefusal? = nil, at: Timestamp
    ) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO activity (kind, at, anonymous_id, user_id, merged_user_id, events_merged, message_id, reason)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: [
            kind.rawValue, at.milliseconds, anonymousId, userId, mergedUserId, eventsMerged, messageId, reason?.rawValue,
        ])
    }
}
