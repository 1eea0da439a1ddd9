/// One entry of the activity log that is not an event: merges, refusals, erasures (SPEC §6).
public struct ActivityEntry: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case anonymousMerge = "anonymous_merge"
        case mergeRefused = "merge_refused"
        case personMerge = "person_merge"
        case erasure
    }

    public var id: Int64
    public var kind: Kind
    public var at: Timestamp
    public var anonymousId: String?
    public var userId: String?
    /// For a person merge: the user id that was merged into `userId`.
    public var mergedUserId: String?
    /// Events attached by a merge, or deleted by an erasure.
    public var eventsMerged: Int
    /// The message that triggered it.
    public var messageId: String?
    /// For a refusal.
    public var reason: MergeRefusal?

    public init(
        id: Int64, kind: Kind, at: Timestamp, anonymousId: String?, userId: String?, mergedUserId: String? = nil,
        eventsMerged: Int = 0, messageId: String?, reason: MergeRefusal? = nil
    ) {
        self.id = id
        self.kind = kind
        self.at = at
        self.anonymousId = anonymousId
        self.userId = userId
        self.mergedUserId = mergedUserId
        self.eventsMerged = eventsMerged
        self.messageId = messageId
        self.reason = reason
    }
}

/// A person (SPEC §3): one user id, its anonymous ids, merged traits.
public struct Person: Sendable, Equatable {
    public var userId: String
    public var anonymousIds: [String]
    /// Later `identify` calls win per key.
    public var traits: JSONObject
    public var firstSeen: Timestamp
    public var lastSeen: Timestamp

    public init(userId: String, anonymousIds: [String], traits: JSONObject, firstSeen: Timestamp, lastSeen: Timestamp) {
        self.userId = userId
        self.anonymousIds = anonymousIds
        self.traits = traits
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
    }
}
