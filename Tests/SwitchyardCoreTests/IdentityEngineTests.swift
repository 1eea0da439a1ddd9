import SwitchyardCore
import Testing

/// The identity rules (SPEC §3) with no database: one row per case, each a commit's events, the facts on
/// record, and what the engine decides — how each event resolves and the changes, written compactly.
@Suite("Identity engine")
struct IdentityEngineTests {
    static let t0 = Timestamp(milliseconds: 1_764_000_000_000)

    static func event(
        _ type: EventType = .track, user: String? = nil, anon: String? = nil, previous: String? = nil, at seconds: Int = 0,
        blocked: [BlockedIdentifier] = [], traits: String? = nil
    ) -> NewEvent {
        let body = traits.map { #"{"type":"\#(type.rawValue)","traits":\#($0)}"# } ?? #"{"type":"\#(type.rawValue)"}"#
        return NewEvent(
            source: "web", messageId: "m\(seconds)", type: type, userId: user, anonymousId: anon, eventName: nil,
            previousId: previous, timestamp: t0 + .seconds(seconds), receivedAt: t0 + .seconds(seconds), blockedIds: blocked,
            body: Array(body.utf8))
    }

    static func owned(_ anonymousId: String, by userId: String, at seconds: Int = -60, contested: Bool = false)
        -> [String: AnonymousIdOwner]
    {
        [anonymousId: AnonymousIdOwner(userId: userId, mergedAt: t0 + .seconds(seconds), contested: contested)]
    }

    static func person(_ seconds: Int = -3600, ids: Int = 0) -> PersonFacts {
        PersonFacts(firstSeen: t0 + .seconds(seconds), anonymousIdCount: ids)
    }

    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var policy = IdentityPolicy()
        var facts = IdentityFacts()
        var events: [NewEvent]
        /// Per event: the resolved user id, `-` for anonymous, `suppressed`.
        var resolved: [String]
        var changes: [String]
        var testDescription: String { name }
    }

    static func tuned(_ change: (inout IdentityPolicy) -> Void) -> IdentityPolicy {
        var policy = IdentityPolicy()
        change(&policy)
        return policy
    }

    static let cases: [Case] = [
        // Triggers
        Case(
            name: "identify with both ids merges a fresh anonymous id",
            events: [event(.identify, user: "u1", anon: "A")], resolved: ["u1"],
            changes: ["person u1", "merge A>u1 #0", "traits u1 identify"]),
        Case(
            name: "identify of an id merged before changes only traits",
            facts: IdentityFacts(persons: ["u1": person(ids: 1)], owners: owned("A", by: "u1")),
            events: [event(.identify, user: "u1", anon: "A")], resolved: ["u1"], changes: ["traits u1 identify"]),
        Case(
            name: "alias of an anonymous id merges it",
            events: [event(.alias, user: "u1", previous: "A")], resolved: ["u1"], changes: ["person u1", "merge A>u1 #0"]),
        Case(
            name: "any event with both ids merges by default",
            events: [event(.track, user: "u1", anon: "A")], resolved: ["u1"], changes: ["person u1", "merge A>u1 #0"]),
        Case(
            name: "any event with both ids does not merge when merge_on_any_event is off",
            policy: tuned { $0.mergeOnAnyEvent = false },
            events: [event(.track, user: "u1", anon: "A")], resolved: ["u1"], changes: ["person u1"]),
        Case(
            name: "an event with only a user id creates the person",
            events: [event(.page, user: "u1")], resolved: ["u1"], changes: ["person u1"]),
        Case(
            name: "an anonymous event of a never merged id stays anonymous",
            events: [event(.page, anon: "A")], resolved: ["-"], changes: []),
        // Late events
        Case(
            name: "late event inside the window resolves to the person",
            policy: tuned { $0.lateWindow = .seconds(300) },
            facts: IdentityFacts(persons: ["u1": person(ids: 1)], owners: owned("A", by: "u1", at: -60)),
            events: [event(.page, anon: "A")], resolved: ["u1"], changes: []),
        Case(
            name: "late event outside the window stays anonymous",
            policy: tuned { $0.lateWindow = .seconds(300) },
            facts: IdentityFacts(persons: ["u1": person(ids: 1)], owners: owned("A", by: "u1", at: -600)),
            events: [event(.page, anon: "A")], resolved: ["-"], changes: []),
        Case(
            name: "the largest late window does not overflow",
            policy: tuned { $0.lateWindow = .seconds(Int64.max / 1000) },
            facts: IdentityFacts(owners: owned("A", by: "u1", at: -600)),
            events: [event(.page, anon: "A")], resolved: ["u1"], changes: []),
        // Refusals
        Case(
            name: "a taken anonymous id is refused and becomes contested",
            facts: IdentityFacts(persons: ["u1": person(ids: 1)], owners: owned("A", by: "u1")),
            events: [event(.identify, user: "u2", anon: "A"), event(.page, anon: "A", at: 1)], resolved: ["u2", "-"],
            changes: ["person u2", "refuse anonymous_id_taken A u2", "contest A", "traits u2 identify"]),
        Case(
            name: "a contested id stays anonymous and a repeated refusal is not recorded again",
            facts: IdentityFacts(
                persons: ["u1": person(ids: 1), "u2": person()], owners: owned("A", by: "u1", contested: true),
                latestEntries: ["A": LatestActivity(kind: .mergeRefused, userId: "u2", reason: .anonymousIdTaken)]),
            events: [event(.track, user: "u2", anon: "A"), event(.page, anon: "A", at: 1)], resolved: ["u2", "-"],
            changes: []),
        Case(
            name: "the owner's own events still resolve after the contest",
            facts: IdentityFacts(persons: ["u1": person(ids: 1)], owners: owned("A", by: "u1", contested: true)),
            events: [event(.track, user: "u1", anon: "A")], resolved: ["u1"], changes: []),
        Case(
            name: "a blocked anonymous id is refused and the event stored under the user id",
            events: [event(.identify, user: "u1", blocked: [BlockedIdentifier(field: "anonymousId", value: "anonymous")])],
            resolved: ["u1"], changes: ["person u1", "refuse blocked_id anonymous u1", "traits u1 identify"]),
        Case(
            name: "a blocked user id is refused and the event stays anonymous",
            events: [event(.track, anon: "A", blocked: [BlockedIdentifier(field: "userId", value: "null")])],
            resolved: ["-"], changes: ["refuse blocked_id A null"]),
        Case(
            name: "more than max_anonymous_ids is refused",
            policy: tuned { $0.maxAnonymousIds = 1 },
            facts: IdentityFacts(persons: ["u1": person(ids: 1)]),
            events: [event(.identify, user: "u1", anon: "B")], resolved: ["u1"],
            changes: ["refuse too_many_anonymous_ids B u1", "traits u1 identify"]),
        Case(
            name: "the cap counts merges of the same commit",
            policy: tuned { $0.maxAnonymousIds = 1 },
            events: [event(.track, user: "u1", anon: "A"), event(.track, user: "u1", anon: "B", at: 1)], resolved: ["u1", "u1"],
            changes: ["person u1", "merge A>u1 #0", "refuse too_many_anonymous_ids B u1"]),
        Case(
            name: "alias of two users is refused unless allow_user_merge",
            facts: IdentityFacts(persons: ["old": person(-7200), "new": person(-60)]),
            events: [event(.alias, user: "new", previous: "old")], resolved: ["new"],
            changes: ["refuse user_merge_not_allowed - new"]),
        // Person merges and alias variants
        Case(
            name: "alias of two users with allow_user_merge keeps the older person",
            policy: tuned { $0.allowUserMerge = true },
            facts: IdentityFacts(persons: ["old": person(-7200, ids: 1), "new": person(-60, ids: 1)], owners: owned("B", by: "new")),
            events: [event(.alias, user: "old", previous: "new"), event(.track, user: "new", at: 1), event(.page, anon: "B", at: 2)],
            resolved: ["old", "old", "old"], changes: ["persons old<new"]),
        Case(
            name: "alias giving a known person a new user id",
            facts: IdentityFacts(persons: ["u1": person()]),
            events: [event(.alias, user: "u9", previous: "u1"), event(.track, user: "u9", at: 1)], resolved: ["u1", "u1"],
            changes: ["user u9>u1", "entry person_merge u1<u9"]),
        Case(
            name: "a user id kept under another person resolves to it",
            facts: IdentityFacts(keptUserIds: ["u9": "u1"], persons: ["u1": person()]),
            events: [event(.identify, user: "u9", anon: "A")], resolved: ["u1"], changes: ["merge A>u1 #0", "traits u1 identify"]),
        Case(
            name: "alias then identify of one anonymous id in one commit merges once (analytics.js sign-up)",
            events: [
                event(.page, anon: "A"), event(.alias, user: "u1", previous: "A", at: 1),
                event(.identify, user: "u1", anon: "A", at: 2, traits: #"{"email":"a@b"}"#), event(.page, anon: "A", at: 3),
            ],
            resolved: ["-", "u1", "u1", "u1"], changes: ["person u1", "merge A>u1 #1", "traits u1 identify"]),
        Case(
            name: "identify then a second identify of the same id by another user in one commit",
            events: [event(.identify, user: "u1", anon: "A"), event(.identify, user: "u2", anon: "A", at: 1)],
            resolved: ["u1", "u2"],
            changes: [
                "person u1", "person u2", "merge A>u1 #0", "traits u1 identify", "refuse anonymous_id_taken A u2", "contest A",
                "traits u2 identify",
            ]),
        // Traits
        Case(
            name: "traits of an identify without userId are kept with the anonymous id and join on merge",
            events: [
                event(.identify, anon: "A", traits: #"{"plan":"free"}"#),
                event(.identify, user: "u1", anon: "A", at: 1, traits: #"{"plan":"pro"}"#),
            ],
            resolved: ["-", "u1"],
            changes: ["person u1", "anonymous-traits A", "merge A>u1 #1", "traits u1 adopt A", "traits u1 identify"]),
        Case(
            name: "traits kept earlier join the person on merge",
            facts: IdentityFacts(anonymousIdsWithTraits: ["A"]),
            events: [event(.track, user: "u1", anon: "A")], resolved: ["u1"],
            changes: ["person u1", "merge A>u1 #0", "traits u1 adopt A"]),
        Case(
            name: "an anonymous identify without traits keeps nothing",
            events: [event(.identify, anon: "A")], resolved: ["-"], changes: []),
        Case(
            name: "an identify without userId that resolves to a person updates its traits",
            facts: IdentityFacts(persons: ["u1": person(ids: 1)], owners: owned("A", by: "u1")),
            events: [event(.identify, anon: "A", traits: #"{"plan":"pro"}"#)], resolved: ["u1"], changes: ["traits u1 identify"]),
        // Suppression and switching off
        Case(
            name: "events of an erased user id are not stored",
            facts: IdentityFacts(suppressedUserIds: ["u1"]),
            events: [event(.identify, user: "u1", anon: "A"), event(.page, anon: "A", at: 1)], resolved: ["suppressed", "-"],
            changes: []),
        Case(
            name: "identity switched off stores events as they come",
            policy: tuned { $0.enabled = false },
            facts: IdentityFacts(owners: owned("A", by: "u1")),
            events: [event(.identify, user: "u2", anon: "A"), event(.page, anon: "A", at: 1)], resolved: ["u2", "-"],
            changes: []),
    ]

    @Test(arguments: cases)
    func decides(_ row: Case) {
        let decisions = IdentityEngine(policy: row.policy).decide(row.events, facts: row.facts)
        #expect(decisions.events.map(Self.describe) == row.resolved)
        #expect(decisions.changes.map(Self.describe) == row.changes)
    }

    @Test
    func asksForTheIdsOfTheCommit() {
        let request = IdentityEngine(policy: IdentityPolicy()).factsRequest(for: [
            Self.event(.identify, user: "u1", anon: "A"), Self.event(.alias, user: "u2", previous: "P"),
            Self.event(.track, user: "u3", blocked: [BlockedIdentifier(field: "anonymousId", value: "null")]),
        ])
        #expect(request.userIds == ["u1", "u2", "u3", "P"])
        #expect(request.anonymousIds == ["A", "P", "null"])
    }

    @Test
    func theFactsAfterACommitAnswerTheNextOne() {
        let engine = IdentityEngine(policy: IdentityPolicy())
        let first = engine.decide([Self.event(.alias, user: "u1", previous: "A")], facts: IdentityFacts())
        let second = engine.decide([Self.event(.identify, user: "u1", anon: "A", at: 1)], facts: first.facts)
        #expect(second.changes.map(Self.describe) == ["traits u1 identify"])
        #expect(first.facts.owners["A"]?.userId == "u1")
        #expect(first.facts.persons["u1"]?.anonymousIdCount == 1)
    }

    static func describe(_ event: EventIdentity) -> String {
        switch event {
        case .suppressed: "suppressed"
        case .stored(let userId): userId ?? "-"
        }
    }

    static func describe(_ change: IdentityChange) -> String {
        switch change {
        case .createPerson(let userId, _): "person \(userId)"
        case .mergeAnonymousId(let merge): "merge \(merge.anonymousId)>\(merge.userId) #\(merge.eventIndex)"
        case .contest(let anonymousId): "contest \(anonymousId)"
        case .addUserId(let userId, let kept): "user \(userId)>\(kept)"
        case .mergePersons(let merge): "persons \(merge.keptUserId)<\(merge.mergedUserId)"
        case .updateTraits(let userId, .identify): "traits \(userId) identify"
        case .updateTraits(let userId, .adoptAnonymousTraits(let anonymousId)): "traits \(userId) adopt \(anonymousId)"
        case .keepAnonymousTraits(let anonymousId, _): "anonymous-traits \(anonymousId)"
        case .record(let entry):
            if let reason = entry.reason {
                "refuse \(reason.rawValue) \(entry.anonymousId ?? "-") \(entry.userId ?? "-")"
            } else {
                "entry \(entry.kind.rawValue) \(entry.userId ?? "-")<\(entry.mergedUserId ?? "-")"
            }
        }
    }
}
