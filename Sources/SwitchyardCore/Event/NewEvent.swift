/// A validated, enriched event ready to be stored: the normalised message bytes plus the fields the
/// store indexes and the pipeline routes on, extracted once at ingest.
public struct NewEvent: Sendable, Equatable {
    /// The name of the source whose write key sent it.
    public var source: String
    public var messageId: String
    public var type: EventType
    public var userId: String?
    public var anonymousId: String?
    /// `event` of a track; `name` of a page or screen.
    public var eventName: String?
    public var previousId: String?
    public var groupId: String?
    /// Skew-corrected event time (SPEC §2).
    public var timestamp: Timestamp
    public var receivedAt: Timestamp
    /// Id values the sender gave that are on the blocked list; they were removed from the message.
    public var blockedIds: [BlockedIdentifier]
    /// The normalised Segment message as JSON: what a webhook receives.
    public var body: [UInt8]

    public init(
        source: String, messageId: String, type: EventType, userId: String?, anonymousId: String?,
        eventName: String?, previousId: String? = nil, groupId: String? = nil, timestamp: Timestamp,
        receivedAt: Timestamp, blockedIds: [BlockedIdentifier] = [], body: [UInt8]
    ) {
        self.source = source
        self.messageId = messageId
        self.type = type
        self.userId = userId
        self.anonymousId = anonymousId
        self.eventName = eventName
        self.previousId = previousId
        self.groupId = groupId
        self.timestamp = timestamp
        self.receivedAt = receivedAt
        self.blockedIds = blockedIds
        self.body = body
    }
}

/// An id field whose value is on the blocked list (`anonymous`, `null`, `0`, …), so it never takes part
/// in a merge.
public struct BlockedIdentifier: Sendable, Equatable {
    public var field: String
    public var value: String

    public init(field: String, value: String) {
        self.field = field
        self.value = value
    }
}
