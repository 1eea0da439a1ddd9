/// What `IdentityEngine` decided for one commit: how each event is stored, and the changes a store applies
/// in the same transaction, in order.
public struct IdentityDecisions: Sendable, Equatable {
    /// One per event given to `decide`, in the same order.
    public var events: [EventIdentity]
    /// Applied after the commit's events are inserted, in this order (a store may batch consecutive changes
    /// of one kind). `createPerson` changes come first, so a store may insert persons before the events.
    public var changes: [IdentityChange]
    /// The facts as they stand once the changes are applied.
    public var facts: IdentityFacts

    public init(events: [EventIdentity], changes: [IdentityChange], facts: IdentityFacts) {
        self.events = events
        self.changes = changes
        self.facts = facts
    }
}

/// How one event is stored.
public enum EventIdentity: Sendable, Equatable {
    /// Its user id was erased: the event is not stored (`AppendResult.suppressed`).
    case suppressed
    /// Stored under this person (nil: anonymous).
    case stored(resolvedUserId: String?)
}

/// One change of the identity records. Events are named by their index in the commit (`eventIndex`), which
/// the store maps to the sequence it gave the event.
public enum IdentityChange: Sendable, Equatable {
    /// Inserts the person (no traits yet) unless it exists.
    case createPerson(userId: String, firstSeen: Timestamp)
    /// Attaches an anonymous id to a person: records the owner, resolves the anonymous id's events stored
    /// before the triggering event and received at or after `attachSince` (the retention of anonymous
    /// activity) that belong to nobody yet, marks the triggering event as the one that merged, and records an
    /// `anonymous_merge` entry counting the events attached.
    case mergeAnonymousId(AnonymousMerge)
    /// Another person claimed an owned anonymous id: events carrying only it stay anonymous from now on.
    case contest(anonymousId: String)
    /// A new user id for a known person (alias): it resolves to `keptUserId` from now on.
    case addUserId(userId: String, keptUserId: String)
    /// Two persons become one (alias with `identity.allow_user_merge`): the merged person's ids, anonymous ids
    /// and events move to the kept one; its traits fill the keys the kept one lacks (`TraitsMerge.fill`);
    /// the earlier first-seen is kept; a `person_merge` entry counts the events moved.
    case mergePersons(PersonMerge)
    /// Updates a person's traits.
    case updateTraits(userId: String, TraitsUpdate)
    /// Merges the `traits` of an identify message without `userId` into the traits kept for its anonymous id.
    case keepAnonymousTraits(anonymousId: String, message: [UInt8])
    /// Records an activity entry (refusals, and a person merge that moves no events); the store assigns `id`.
    case record(ActivityEntry)
}

/// An anonymous id joining a person.
public struct AnonymousMerge: Sendable, Equatable {
    public var anonymousId: String
    public var userId: String
    /// The event that triggered the merge.
    public var eventIndex: Int
    public var mergedAt: Timestamp
    /// Stored events of the anonymous id received before this are outside the retention window: not attached.
    public var attachSince: Timestamp
    public var messageId: String

    public init(anonymousId: String, userId: String, eventIndex: Int, mergedAt: Timestamp, attachSince: Timestamp, messageId: String) {
        self.anonymousId = anonymousId
        self.userId = userId
        self.eventIndex = eventIndex
        self.mergedAt = mergedAt
        self.attachSince = attachSince
        self.messageId = messageId
    }
}

/// Two identified persons becoming one.
public struct PersonMerge: Sendable, Equatable {
    /// The older person: its id is kept.
    public var keptUserId: String
    public var mergedUserId: String
    /// The earlier first-seen of the two.
    public var firstSeen: Timestamp
    public var at: Timestamp
    public var messageId: String

    public init(keptUserId: String, mergedUserId: String, firstSeen: Timestamp, at: Timestamp, messageId: String) {
        self.keptUserId = keptUserId
        self.mergedUserId = mergedUserId
        self.firstSeen = firstSeen
        self.at = at
        self.messageId = messageId
    }
}

/// How a person's traits change (SPEC §3: later identify wins per key, within `identity.max_traits`).
public enum TraitsUpdate: Sendable, Equatable {
    /// The `traits` object of an identify message wins per key (`TraitsMerge.merge(traitsOf:)`).
    case identify(message: [UInt8])
    /// The traits kept for an anonymous id join the person, winning per key (they were sent by the same
    /// visitor, usually after the person's older traits), and are then forgotten for the anonymous id. The
    /// merging identify's own traits are applied after them and win.
    case adoptAnonymousTraits(anonymousId: String)
}
