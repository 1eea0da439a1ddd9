/// One stored event on its way to one destination.
public struct DeliveryEvent: Sendable, Equatable {
    /// Position in the event log (0 for an event that is not in the log any more, e.g. a replayed dead
    /// letter whose event was purged).
    public var sequence: Int64
    public var source: String
    public var messageId: String
    public var type: EventType
    public var receivedAt: Timestamp
    public var timestamp: Timestamp
    /// The person's user id when identity resolved it, else nil (the warehouse's `resolvedUserId`).
    public var resolvedUserId: String?
    /// The normalised Segment message, exactly as a webhook receives it.
    public var body: [UInt8]
    /// Set on the event whose arrival merged an anonymous id into a person (the warehouse writes an
    /// `identity_merges` row for it).
    public var identityMerge: IdentityMerge?
    /// True when the destination does not take the event itself (its filter or `integrations` leave it
    /// out) but must still learn the merge it carries (SPEC §4 "Merges reach every destination once"):
    /// the destination sends or writes only what records ``identityMerge`` — a warehouse
    /// `identity_merges` row, a vendor's merge call — and nothing of the message.
    public var mergeOnly: Bool
    /// Set on a held event replayed after its anonymous id merged: how long it was parked (receipt to
    /// release). The body then carries it too, as `context.switchyard.heldFor` in seconds.
    public var heldFor: Duration?
    /// True when the event carries both a `userId` and an `anonymousId` that the gateway did not merge
    /// (the id belongs to another person — a shared device — or is blocked). Vendors link ids that arrive
    /// together (Mixpanel `$device_id` + `$user_id`, Amplitude `device_id` + `user_id`, PostHog
    /// `$anon_distinct_id`), so a mapping must not send the anonymous id as a link for such an event.
    public var anonymousIdUnlinked: Bool

    public init(
        sequence: Int64, source: String, messageId: String, type: EventType, receivedAt: Timestamp,
        timestamp: Timestamp, resolvedUserId: String?, body: [UInt8], identityMerge: IdentityMerge? = nil,
        mergeOnly: Bool = false, heldFor: Duration? = nil, anonymousIdUnlinked: Bool = false
    ) {
        self.anonymousIdUnlinked = anonymousIdUnlinked
        self.identityMerge = identityMerge
        self.mergeOnly = mergeOnly
        self.heldFor = heldFor
        self.sequence = sequence
        self.source = source
        self.messageId = messageId
        self.type = type
        self.receivedAt = receivedAt
        self.timestamp = timestamp
        self.resolvedUserId = resolvedUserId
        self.body = body
    }

    /// The message as a tree, for adapters that map fields (vendors). Parsing cannot fail for a stored
    /// event, whose body ingest produced; a corrupt body surfaces as the error.
    public func message() throws(JSONSyntaxError) -> JSONValue {
        try JSONValue.parse(body)
    }
}

/// An anonymous id merged into a person.
public struct IdentityMerge: Sendable, Equatable {
    public var anonymousId: String
    public var userId: String
    public var mergedAt: Timestamp
    /// The message whose arrival merged them.
    public var messageId: String

    public init(anonymousId: String, userId: String, mergedAt: Timestamp, messageId: String) {
        self.anonymousId = anonymousId
        self.userId = userId
        self.mergedAt = mergedAt
        self.messageId = messageId
    }
}

/// A batch handed to a destination, in log order.
public struct DeliveryBatch: Sendable {
    public var events: [DeliveryEvent]
    /// 1 for the first try of these events, then 2, 3, …
    public var attempt: Int

    public init(events: [DeliveryEvent], attempt: Int = 1) {
        self.events = events
        self.attempt = attempt
    }

    /// Total bytes of the events' bodies.
    public var bodyBytes: Int { events.reduce(0) { $0 + $1.body.count } }
}
