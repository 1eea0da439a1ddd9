import Foundation
import GRDB
import SwitchyardCore

/// Identity inside the SQLite append transaction: loads the facts `IdentityEngine` asks for and writes the
/// changes it decides. No rule lives here (SPEC §3 is `IdentityEngine`); one instance per transaction.
struct SQLiteIdentity {
    let db: Database
    let policy: IdentityPolicy
    /// Traits of the persons this transaction updates, written by `writeTraits`: a storm of identifies for
    /// one person costs one read and one write of its traits, not one each.
    var traits: [String: TraitsMerge] = [:]
    /// Trait keys dropped by the caps, per person, over the whole transaction.
    var droppedTraits: [String: Int] = [:]

    /// Persons whose traits are held at once. A commit can carry identifies of thousands of persons, each with
    /// up to 64 KB of traits; past this many they are written and forgotten, so memory stays bounded.
    static let cachedTraitsLimit = 64

    init(_ db: Database, policy: IdentityPolicy) {
        self.db = db
        self.policy = policy
    }

    // MARK: Facts

    /// Everything on record about the requested ids: two statements per id, local and indexed.
    func loadFacts(_ request: IdentityFactsRequest) throws -> IdentityFacts {
        var facts = IdentityFacts()
        let user = try db.cachedStatement(
            sql: """
                SELECT (SELECT 1 FROM suppressions WHERE user_id = ?1),
                    (SELECT kept_user_id FROM person_aliases WHERE user_id = ?1)
                """)
        let person = try db.cachedStatement(
            sql: "SELECT first_seen, (SELECT count(*) FROM identities WHERE user_id = ?1) FROM persons WHERE user_id = ?1")
        for userId in request.userIds {
            guard let row = try Row.fetchOne(user, arguments: [userId]) else { continue }
            if (row[0] as Int?) != nil { facts.suppressedUserIds.insert(userId) }
            let kept: String? = row[1]
            if let kept { facts.keptUserIds[userId] = kept }
            let personId = kept ?? userId
            if facts.persons[personId] == nil, let found = try Row.fetchOne(person, arguments: [personId]) {
                facts.persons[personId] = PersonFacts(firstSeen: Timestamp(milliseconds: found[0]), anonymousIdCount: found[1])
            }
        }
        let anonymous = try db.cachedStatement(
            sql: """
                SELECT i.user_id, i.merged_at, i.contested,
                    (SELECT 1 FROM anonymous_traits WHERE anonymous_id = ?1),
                    a.kind, a.user_id, a.reason
                FROM (SELECT 1) LEFT JOIN identities i ON i.anonymous_id = ?1
                LEFT JOIN (SELECT kind, user_id, reason FROM activity WHERE anonymous_id = ?1 ORDER BY id DESC LIMIT 1) a ON 1
                """)
        for anonymousId in request.anonymousIds {
            guard let row = try Row.fetchOne(anonymous, arguments: [anonymousId]) else { continue }
            if let owner: String = row[0] {
                facts.owners[anonymousId] = AnonymousIdOwner(
                    userId: owner, mergedAt: Timestamp(milliseconds: row[1]), contested: (row[2] as Int? ?? 0) != 0)
            }
            if (row[3] as Int?) != nil { facts.anonymousIdsWithTraits.insert(anonymousId) }
            if let kind = (row[4] as String?).flatMap(ActivityEntry.Kind.init(rawValue:)) {
                facts.latestEntries[anonymousId] = LatestActivity(
                    kind: kind, userId: row[5], reason: (row[6] as String?).flatMap(MergeRefusal.init(rawValue:)))
            }
        }
        return facts
    }

    // MARK: Changes

    /// Writes the decided changes; `sequences[i]` is the sequence of the commit's event `i` (nil: not stored).
    mutating func apply(_ changes: [IdentityChange], sequences: [Int64?]) throws {
        for change in changes {
            switch change {
            case .createPerson(let userId, let firstSeen):
                try db.cachedStatement(
                    sql: "INSERT INTO persons (user_id, traits, first_seen) VALUES (?, ?, ?) ON CONFLICT (user_id) DO NOTHING"
                ).execute(arguments: [userId, Data("{}".utf8), firstSeen.milliseconds])
            case .mergeAnonymousId(let merge):
                try mergeAnonymousId(merge, sequence: sequences[merge.eventIndex])
            case .contest(let anonymousId):
                try db.execute(sql: "UPDATE identities SET contested = 1 WHERE anonymous_id = ?", arguments: [anonymousId])
            case .addUserId(let userId, let keptUserId):
                try db.execute(
                    sql: """
                        INSERT INTO person_aliases (user_id, kept_user_id) VALUES (?, ?)
                        ON CONFLICT (user_id) DO UPDATE SET kept_user_id = excluded.kept_user_id
                        """,
                    arguments: [userId, keptUserId])
            case .mergePersons(let merge):
                try mergePersons(merge)
            case .updateTraits(let userId, let update):
                try updateTraits(of: userId, update)
            case .keepAnonymousTraits(let anonymousId, let message):
                var kept = TraitsMerge(stored: try anonymousTraits(of: anonymousId), limits: policy.traitsLimits)
                kept.merge(traitsOf: message)
                try db.execute(
                    sql: """
                        INSERT INTO anonymous_traits (anonymous_id, traits) VALUES (?, ?)
                        ON CONFLICT (anonymous_id) DO UPDATE SET traits = excluded.traits
                        """,
                    arguments: [anonymousId, Data(kept.json)])
            case .record(let entry):
                try record(entry, eventsMerged: entry.eventsMerged)
            }
        }
        try writeTraits()
    }

    func mergeAnonymousId(_ merge: AnonymousMerge, sequence: Int64?) throws {
        try db.execute(
            sql: "INSERT INTO identities (anonymous_id, user_id, merged_at, message_id) VALUES (?, ?, ?, ?)",
            arguments: [merge.anonymousId, merge.userId, merge.mergedAt.milliseconds, merge.messageId])
        let trigger = sequence ?? Int64.max
        try db.execute(
            sql: """
                UPDATE events SET resolved_user_id = ?
                WHERE anonymous_id = ? AND resolved_user_id IS NULL AND received_at >= ? AND seq < ?
                """,
            arguments: [merge.userId, merge.anonymousId, merge.attachSince.milliseconds, trigger])
        let attached = db.changesCount
        if let sequence {
            try db.execute(sql: "UPDATE events SET merged_anonymous_id = ? WHERE seq = ?", arguments: [merge.anonymousId, sequence])
        }
        try record(
            ActivityEntry(
                id: 0, kind: .anonymousMerge, at: merge.mergedAt, anonymousId: merge.anonymousId, userId: merge.userId,
                messageId: merge.messageId),
            eventsMerged: attached)
    }

    mutating func mergePersons(_ merge: PersonMerge) throws {
        try writeTraits()  // the merge reads both persons' stored traits
        let (kept, merged) = (merge.keptUserId, merge.mergedUserId)
        var combined = TraitsMerge(stored: try storedTraits(of: kept), limits: policy.traitsLimits)
        combined.fill(from: try storedTraits(of: merged))
        countDropped(combined.droppedKeys, of: kept)
        try db.execute(
            sql: "UPDATE persons SET traits = ?, first_seen = ? WHERE user_id = ?",
            arguments: [Data(combined.json), merge.firstSeen.milliseconds, kept])
        try db.execute(sql: "DELETE FROM persons WHERE user_id = ?", arguments: [merged])
        try db.execute(sql: "UPDATE identities SET user_id = ? WHERE user_id = ?", arguments: [kept, merged])
        try db.execute(sql: "UPDATE person_aliases SET kept_user_id = ? WHERE kept_user_id = ?", arguments: [kept, merged])
        try db.execute(
            sql: """
                INSERT INTO person_aliases (user_id, kept_user_id) VALUES (?, ?)
                ON CONFLICT (user_id) DO UPDATE SET kept_user_id = excluded.kept_user_id
                """,
            arguments: [merged, kept])
        try db.execute(sql: "UPDATE events SET resolved_user_id = ? WHERE resolved_user_id = ?", arguments: [kept, merged])
        let moved = db.changesCount
        try record(
            ActivityEntry(
                id: 0, kind: .personMerge, at: merge.at, anonymousId: nil, userId: kept, mergedUserId: merged,
                messageId: merge.messageId),
            eventsMerged: moved)
    }

    func record(_ entry: ActivityEntry, eventsMerged: Int) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO activity (kind, at, anonymous_id, user_id, merged_user_id, events_merged, message_id, reason)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: [
            entry.kind.rawValue, entry.at.milliseconds, entry.anonymousId, entry.userId, entry.mergedUserId, eventsMerged,
            entry.messageId, entry.reason?.rawValue,
        ])
    }

    // MARK: Traits

    mutating func updateTraits(of userId: String, _ update: TraitsUpdate) throws {
        if traits[userId] == nil, traits.count >= Self.cachedTraitsLimit { try writeTraits() }
        var person = try traits[userId] ?? TraitsMerge(stored: storedTraits(of: userId), limits: policy.traitsLimits)
        switch update {
        case .identify(let message):
            person.merge(traitsOf: message)
        case .adoptAnonymousTraits(let anonymousId):
            person.merge(object: try anonymousTraits(of: anonymousId))
            try db.execute(sql: "DELETE FROM anonymous_traits WHERE anonymous_id = ?", arguments: [anonymousId])
        }
        traits[userId] = person
    }

    func storedTraits(of userId: String) throws -> [UInt8] {
        try Data.fetchOne(
            try db.cachedStatement(sql: "SELECT traits FROM persons WHERE user_id = ?"), arguments: [userId]
        ).map { [UInt8]($0) } ?? []
    }

    func anonymousTraits(of anonymousId: String) throws -> [UInt8] {
        try Data.fetchOne(
            try db.cachedStatement(sql: "SELECT traits FROM anonymous_traits WHERE anonymous_id = ?"), arguments: [anonymousId]
        ).map { [UInt8]($0) } ?? []
    }

    /// Stores the traits identify calls changed and forgets them.
    mutating func writeTraits() throws {
        let statement = try db.cachedStatement(sql: "UPDATE persons SET traits = ? WHERE user_id = ?")
        for (userId, var person) in traits where person.needsStoring {
            try statement.execute(arguments: [Data(person.json), userId])
            countDropped(person.markStored(), of: userId)
        }
        traits = [:]
    }

    mutating func countDropped(_ count: Int, of userId: String) {
        if count > 0 { droppedTraits[userId, default: 0] += count }
    }
}
