/// Identity facts kept across commits, so a commit of known people loads nothing (issue 15: the serial commit
/// spent ~3 µs per event on fact look-ups, one or two indexed queries per id).
///
/// It holds what `IdentityEngine.decide` returned as the facts after each commit, per id, including "nothing on
/// record" (most ids ask for absent rows: no suppression, no alias). Only the process that writes every change
/// may keep one: an entry is true until a change the engine does not describe per id, so the owner calls
/// `removeAll()` on a person merge (it rewrites other ids' owners and aliases), an erasure, a lifted suppression,
/// a purge of activity or kept traits, a rolled-back commit, and whenever another process may have written.
///
/// Bounded: past `capacity` ids (default 100,000, ~15 MB) the whole cache is dropped; refilling costs one
/// load per id.
public struct IdentityFactsCache: Sendable {
    struct User: Sendable {
        var suppressed: Bool
        var keptUserId: String?
    }

    struct Anonymous: Sendable {
        var owner: AnonymousIdOwner?
        var hasTraits: Bool
        var latest: LatestActivity?
    }

    var users: [String: User] = [:]
    /// By kept user id; `.some(nil)`: no such person on record.
    var persons: [String: PersonFacts?] = [:]
    var anonymous: [String: Anonymous] = [:]
    public let capacity: Int

    public init(capacity: Int = 100_000) {
        self.capacity = max(0, capacity)
    }

    /// Ids held (users, persons and anonymous ids).
    public var count: Int { users.count + persons.count + anonymous.count }

    /// The facts the cache can answer for `request`, and the part of the request it cannot.
    public func lookup(_ request: IdentityFactsRequest) -> (known: IdentityFacts, missing: IdentityFactsRequest) {
        var known = IdentityFacts()
        var missing = IdentityFactsRequest()
        for userId in request.userIds {
            guard let user = users[userId], let person = persons[user.keptUserId ?? userId] else {
                missing.userIds.insert(userId)
                continue
            }
            if user.suppressed { known.suppressedUserIds.insert(userId) }
            if let kept = user.keptUserId { known.keptUserIds[userId] = kept }
            if let person { known.persons[user.keptUserId ?? userId] = person }
        }
        for anonymousId in request.anonymousIds {
            guard let entry = anonymous[anonymousId] else {
                missing.anonymousIds.insert(anonymousId)
                continue
            }
            if let owner = entry.owner { known.owners[anonymousId] = owner }
            if entry.hasTraits { known.anonymousIdsWithTraits.insert(anonymousId) }
            if let latest = entry.latest { known.latestEntries[anonymousId] = latest }
        }
        return (known, missing)
    }

    /// Keeps what `facts` says about the ids of `request`: the facts a store loaded for it, or the facts
    /// `decide` returned after a commit of it.
    public mutating func remember(_ facts: IdentityFacts, for request: IdentityFactsRequest) {
        if count + 2 * request.userIds.count + request.anonymousIds.count > capacity { removeAll() }
        for userId in request.userIds {
            let kept = facts.keptUserIds[userId]
            users[userId] = User(suppressed: facts.suppressedUserIds.contains(userId), keptUserId: kept)
            persons[kept ?? userId] = .some(facts.persons[kept ?? userId])
        }
        for anonymousId in request.anonymousIds {
            anonymous[anonymousId] = Anonymous(
                owner: facts.owners[anonymousId], hasTraits: facts.anonymousIdsWithTraits.contains(anonymousId),
                latest: facts.latestEntries[anonymousId])
        }
    }

    public mutating func removeAll() {
        users = [:]
        persons = [:]
        anonymous = [:]
    }
}

extension IdentityFacts {
    /// Adds facts about other ids (a cache's answer and a store's load of the rest). Where both name a
    /// person, both read the same record, so either value serves.
    public mutating func add(_ other: IdentityFacts) {
        suppressedUserIds.formUnion(other.suppressedUserIds)
        keptUserIds.merge(other.keptUserIds) { mine, _ in mine }
        persons.merge(other.persons) { mine, _ in mine }
        owners.merge(other.owners) { mine, _ in mine }
        latestEntries.merge(other.latestEntries) { mine, _ in mine }
        anonymousIdsWithTraits.formUnion(other.anonymousIdsWithTraits)
    }
}
