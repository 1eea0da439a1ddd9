/// The ids a commit's identity decisions depend on: what a store loads before `IdentityEngine.decide`.
///
/// For every id asked for, the store answers with what it has on record; an id missing from the answer
/// means "nothing on record" (not a person, not merged, not suppressed). Loading only these keeps one
/// query per commit on a networked back end, and lets a cache of `IdentityFacts` answer instead.
public struct IdentityFactsRequest: Sendable, Equatable {
    /// User ids: suppressions, the id each is kept under (`person_aliases`), and the persons of both the ids
    /// and their kept ids.
    public var userIds: Set<String>
    /// Anonymous ids: owners (`identities`), contested marks, the latest activity entry, stored traits.
    public var anonymousIds: Set<String>

    public init(userIds: Set<String> = [], anonymousIds: Set<String> = []) {
        self.userIds = userIds
        self.anonymousIds = anonymousIds
    }
}

/// What the store has on record about a commit's ids, as `IdentityEngine` reads and updates it.
///
/// A value: `IdentityEngine.decide` returns the facts as they stand after the commit, so a cache in front
/// of the store (facts that survive commits) can keep them; merges, person merges and erasures are the
/// changes that invalidate entries of another process's cache.
public struct IdentityFacts: Sendable, Equatable {
    /// User ids erased and not unsuppressed: their events are not stored.
    public var suppressedUserIds: Set<String>
    /// A user id merged into another person (alias or person merge) → the id that person is kept under.
    public var keptUserIds: [String: String]
    /// Persons on record by their kept user id.
    public var persons: [String: PersonFacts]
    /// Anonymous ids merged into a person.
    public var owners: [String: AnonymousIdOwner]
    /// The latest activity entry recorded for an anonymous id: a refusal repeated on every event of a shared
    /// device is recorded once, not once per event.
    public var latestEntries: [String: LatestActivity]
    /// Anonymous ids with traits kept for them (an `identify` without `userId`): a merge joins them to the person.
    public var anonymousIdsWithTraits: Set<String>

    public init(
        suppressedUserIds: Set<String> = [], keptUserIds: [String: String] = [:], persons: [String: PersonFacts] = [:],
        owners: [String: AnonymousIdOwner] = [:], latestEntries: [String: LatestActivity] = [:],
        anonymousIdsWithTraits: Set<String> = []
    ) {
        self.suppressedUserIds = suppressedUserIds
        self.keptUserIds = keptUserIds
        self.persons = persons
        self.owners = owners
        self.latestEntries = latestEntries
        self.anonymousIdsWithTraits = anonymousIdsWithTraits
    }
}

/// What identity needs to know about one person.
public struct PersonFacts: Sendable, Equatable {
    /// When the person was first seen: a person merge keeps the older person's id.
    public var firstSeen: Timestamp
    /// Anonymous ids merged into the person (`identity.max_anonymous_ids`).
    public var anonymousIdCount: Int

    public init(firstSeen: Timestamp, anonymousIdCount: Int = 0) {
        self.firstSeen = firstSeen
        self.anonymousIdCount = anonymousIdCount
    }
}

/// The person an anonymous id merged into.
public struct AnonymousIdOwner: Sendable, Equatable {
    /// The kept user id of the person (a person merge rewrites it).
    public var userId: String
    /// When the merge happened: the late window counts from it.
    public var mergedAt: Timestamp
    /// Another person claimed the id after the merge (SPEC §3, contested anonymous ids): events carrying only
    /// this id stay anonymous.
    public var contested: Bool

    public init(userId: String, mergedAt: Timestamp, contested: Bool = false) {
        self.userId = userId
        self.mergedAt = mergedAt
        self.contested = contested
    }
}

/// The parts of an activity entry that decide whether a refusal repeats it.
public struct LatestActivity: Sendable, Equatable {
    public var kind: ActivityEntry.Kind
    public var userId: String?
    public var reason: MergeRefusal?

    public init(kind: ActivityEntry.Kind, userId: String?, reason: MergeRefusal?) {
        self.kind = kind
        self.userId = userId
        self.reason = reason
    }
}
