/// The identity rules of SPEC §3, once, for every store: given a commit's events in order and the facts on
/// record about their ids, how each event is stored and which identity records change.
///
/// Pure: no I/O, no clock (every time is an event's `receivedAt`). A store calls `factsRequest(for:)`,
/// loads those facts, calls `decide`, then inserts the events and applies the changes in its append
/// transaction — the shape of postgres-nio's `PoolStateMachine`: decisions as values, I/O in a thin shell.
/// Events of one commit see the effects of the earlier ones (an `alias` then an `identify` of the same
/// anonymous id in one `/v1/batch` merge once), because the engine updates its facts as it goes.
///
/// Per event, in order:
/// 1. Suppressed user id (erased): not stored.
/// 2. Resolution: a user id resolves to the id its person is kept under; an anonymous-only event resolves to
///    the person its anonymous id merged into — unless the id is contested, or the event arrived more than
///    `identity.late_window` after the merge.
/// 3. Triggers: an `identify` with both ids, an `alias` (of an anonymous id, or of two users), and any event
///    with both ids when `identity.merge_on_any_event` — merged, or refused with a recorded reason:
///    | refusal                  | when                                                                     |
///    |--------------------------|--------------------------------------------------------------------------|
///    | `blocked_id`             | a trigger carried a placeholder id (it was removed at ingest)            |
///    | `anonymous_id_taken`     | the anonymous id belongs to another person; it becomes contested         |
///    | `too_many_anonymous_ids` | the person has `identity.max_anonymous_ids` already                      |
///    | `user_merge_not_allowed` | alias of two persons while `identity.allow_user_merge` is off            |
///    A refusal identical to the latest entry of its anonymous id is not recorded again.
/// 4. Traits: an identify updates the person it resolves to; one that resolves to nobody keeps its traits
///    with its anonymous id, and they join the person on merge.
public struct IdentityEngine: Sendable {
    public let policy: IdentityPolicy

    public init(policy: IdentityPolicy) {
        self.policy = policy
    }

    /// The facts `decide` reads for these events.
    public func factsRequest(for events: [NewEvent]) -> IdentityFactsRequest {
        var request = IdentityFactsRequest()
        for event in events {
            if let userId = event.userId { request.userIds.insert(userId) }
            guard policy.enabled else { continue }
            if let anonymousId = event.anonymousId { request.anonymousIds.insert(anonymousId) }
            if event.type == .alias, let previousId = event.previousId {
                // A user id or an anonymous id: which one is on record decides.
                request.userIds.insert(previousId)
                request.anonymousIds.insert(previousId)
            }
            for blocked in event.blockedIds where blocked.field == "anonymousId" {
                request.anonymousIds.insert(blocked.value)  // its refusal is compared with the latest entry
            }
        }
        return request
    }

    /// Decides a commit. `facts` must answer `factsRequest(for: events)`.
    public func decide(_ events: [NewEvent], facts: IdentityFacts) -> IdentityDecisions {
        var commit = Commit(policy: policy, facts: facts)
        for (index, event) in events.enumerated() {
            commit.take(event, at: index)
        }
        return IdentityDecisions(events: commit.events, changes: commit.creations + commit.changes, facts: commit.facts)
    }

    /// One commit being decided.
    struct Commit {
        let policy: IdentityPolicy
        var facts: IdentityFacts
        var events: [EventIdentity] = []
        var creations: [IdentityChange] = []
        var changes: [IdentityChange] = []

        init(policy: IdentityPolicy, facts: IdentityFacts) {
            self.policy = policy
            self.facts = facts
        }

        mutating func take(_ event: NewEvent, at index: Int) {
            if let userId = event.userId, facts.suppressedUserIds.contains(userId) {
                events.append(.suppressed)
                return
            }
            guard policy.enabled else {
                events.append(.stored(resolvedUserId: event.userId))
                return
            }
            events.append(.stored(resolvedUserId: resolve(event)))
            apply(event, at: index)
        }

        func kept(_ userId: String) -> String {
            facts.keptUserIds[userId] ?? userId
        }

        /// The person an event belongs to as it arrives.
        func resolve(_ event: NewEvent) -> String? {
            if let userId = event.userId { return kept(userId) }
            guard let anonymousId = event.anonymousId, let owner = facts.owners[anonymousId] else { return nil }
            // A shared device: guessing which person sent it would misattribute.
            if owner.contested { return nil }
            // A difference of times (saturating), not `mergedAt + window`, which overflows near the largest window.
            if let window = policy.lateWindow, event.receivedAt - owner.mergedAt > window { return nil }
            return kept(owner.userId)
        }

        var resolved: String? {
            guard case .stored(let userId) = events.last else { return nil }
            return userId
        }

        mutating func apply(_ event: NewEvent, at index: Int) {
            if let blocked = event.blockedIds.first, isMergeTrigger(event) {
                refuse(
                    .blockedId, anonymousId: blocked.field == "anonymousId" ? blocked.value : event.anonymousId,
                    userId: blocked.field == "userId" ? blocked.value : event.userId, event: event)
            }
            if event.type == .alias, let previousId = event.previousId, let userId = event.userId {
                alias(previousId: previousId, userId: userId, event: event, at: index)
                return
            }
            guard let userId = resolved else {
                keepAnonymousTraits(event)
                return
            }
            guard event.userId != nil else {
                // An anonymous identify resolved by its anonymous id (a late event) updates that person.
                if event.type == .identify { changes.append(.updateTraits(userId: userId, .identify(message: event.body))) }
                return
            }
            ensurePerson(userId, at: event.receivedAt)
            if let anonymousId = event.anonymousId, event.type == .identify || policy.mergeOnAnyEvent {
                merge(anonymousId: anonymousId, into: userId, event: event, at: index)
            }
            // After the merge: the identify's own traits win over the ones the anonymous id brought.
            if event.type == .identify { changes.append(.updateTraits(userId: userId, .identify(message: event.body))) }
        }

        /// Anonymous identifies that resolve to nobody: their traits wait for the merge.
        mutating func keepAnonymousTraits(_ event: NewEvent) {
            guard event.type == .identify, event.userId == nil, let anonymousId = event.anonymousId,
                !TraitsMerge.traitsMembers(of: event.body).isEmpty
            else { return }
            changes.append(.keepAnonymousTraits(anonymousId: anonymousId, message: event.body))
            facts.anonymousIdsWithTraits.insert(anonymousId)
        }

        func isMergeTrigger(_ event: NewEvent) -> Bool {
            switch event.type {
            case .identify, .alias: true
            // The blocked id was removed, so only one id is left: this is the event that had both.
            default: policy.mergeOnAnyEvent && (event.userId != nil || event.anonymousId != nil)
            }
        }

        mutating func ensurePerson(_ userId: String, at time: Timestamp) {
            guard facts.persons[userId] == nil else { return }
            facts.persons[userId] = PersonFacts(firstSeen: time)
            creations.append(.createPerson(userId: userId, firstSeen: time))
        }

        /// Attaches an anonymous id to the person, or records why not.
        mutating func merge(anonymousId: String, into userId: String, event: NewEvent, at index: Int) {
            if let owner = facts.owners[anonymousId] {
                if owner.userId == userId { return }  // merged before: nothing new
                refuse(.anonymousIdTaken, anonymousId: anonymousId, userId: userId, event: event)
                if !owner.contested {
                    facts.owners[anonymousId]?.contested = true
                    changes.append(.contest(anonymousId: anonymousId))
                }
                return
            }
            let count = facts.persons[userId]?.anonymousIdCount ?? 0
            guard count < policy.maxAnonymousIds else {
                refuse(.tooManyAnonymousIds, anonymousId: anonymousId, userId: userId, event: event)
                return
            }
            facts.persons[userId]?.anonymousIdCount = count + 1
            facts.owners[anonymousId] = AnonymousIdOwner(userId: userId, mergedAt: event.receivedAt)
            facts.latestEntries[anonymousId] = LatestActivity(kind: .anonymousMerge, userId: userId, reason: nil)
            changes.append(
                .mergeAnonymousId(
                    AnonymousMerge(
                        anonymousId: anonymousId, userId: userId, eventIndex: index, mergedAt: event.receivedAt,
                        attachSince: event.receivedAt - policy.anonymousTTL, messageId: event.messageId)))
            if facts.anonymousIdsWithTraits.remove(anonymousId) != nil {
                changes.append(.updateTraits(userId: userId, .adoptAnonymousTraits(anonymousId: anonymousId)))
            }
        }

        /// `alias`: `previousId` is an anonymous id (merge it), or a known user id (two identified users).
        mutating func alias(previousId: String, userId: String, event: NewEvent, at index: Int) {
            let previous = kept(previousId)
            let user = kept(userId)
            guard facts.persons[previous] != nil else {
                ensurePerson(user, at: event.receivedAt)
                merge(anonymousId: previousId, into: user, event: event, at: index)
                return
            }
            if previous == user { return }
            guard let userFacts = facts.persons[user], let previousFacts = facts.persons[previous] else {
                // A new id for a known person: it becomes another name of that person.
                facts.keptUserIds[user] = previous
                events[index] = .stored(resolvedUserId: previous)
                changes.append(.addUserId(userId: user, keptUserId: previous))
                record(.personMerge, anonymousId: nil, userId: previous, mergedUserId: user, event: event)
                return
            }
            guard policy.allowUserMerge else {
                refuse(.userMergeNotAllowed, anonymousId: nil, userId: user, mergedUserId: previous, event: event)
                return
            }
            let previousIsKept = previousFacts.firstSeen <= userFacts.firstSeen
            let (keptId, mergedId) = previousIsKept ? (previous, user) : (user, previous)
            let keptFacts = previousIsKept ? previousFacts : userFacts
            let mergedFacts = previousIsKept ? userFacts : previousFacts
            facts.persons[keptId] = PersonFacts(
                firstSeen: min(keptFacts.firstSeen, mergedFacts.firstSeen),
                anonymousIdCount: keptFacts.anonymousIdCount + mergedFacts.anonymousIdCount)
            facts.persons[mergedId] = nil
            for (id, target) in facts.keptUserIds where target == mergedId { facts.keptUserIds[id] = keptId }
            facts.keptUserIds[mergedId] = keptId
            for (anonymousId, owner) in facts.owners where owner.userId == mergedId { facts.owners[anonymousId]?.userId = keptId }
            changes.append(
                .mergePersons(
                    PersonMerge(
                        keptUserId: keptId, mergedUserId: mergedId, firstSeen: min(keptFacts.firstSeen, mergedFacts.firstSeen),
                        at: event.receivedAt, messageId: event.messageId)))
        }

        /// Records a refusal, unless the same refusal is the latest entry for this anonymous id (a shared
        /// device sending both ids on every event would otherwise flood the log).
        mutating func refuse(
            _ reason: MergeRefusal, anonymousId: String?, userId: String?, mergedUserId: String? = nil, event: NewEvent
        ) {
            if let anonymousId, facts.latestEntries[anonymousId] == LatestActivity(kind: .mergeRefused, userId: userId, reason: reason) {
                return
            }
            record(.mergeRefused, anonymousId: anonymousId, userId: userId, mergedUserId: mergedUserId, reason: reason, event: event)
        }

        mutating func record(
            _ kind: ActivityEntry.Kind, anonymousId: String?, userId: String?, mergedUserId: String? = nil,
            reason: MergeRefusal? = nil, event: NewEvent
        ) {
            if let anonymousId { facts.latestEntries[anonymousId] = LatestActivity(kind: kind, userId: userId, reason: reason) }
            changes.append(
                .record(
                    ActivityEntry(
                        id: 0, kind: kind, at: event.receivedAt, anonymousId: anonymousId, userId: userId,
                        mergedUserId: mergedUserId, messageId: event.messageId, reason: reason)))
        }
    }
}
