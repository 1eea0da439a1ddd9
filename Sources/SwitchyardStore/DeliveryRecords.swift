import SwitchyardCore

/// A destination's progress as the store keeps it.
public struct DestinationProgress: Sendable, Equatable {
    /// Every log event with a sequence at or below this has been handled for the destination
    /// (delivered, dead-lettered or filtered out).
    public var position: Int64
    public var deliveredTotal: Int64
    public var deadLetteredTotal: Int64
    /// Anonymous events dropped by `anonymous: drop`.
    public var droppedTotal: Int64
    /// Held events dropped because they outlived `hold_ttl`.
    public var holdExpiredTotal: Int64
    /// Why the destination was disabled (410, …); nil while active.
    public var disabledReason: String?

    public init(
        position: Int64 = 0, deliveredTotal: Int64 = 0, deadLetteredTotal: Int64 = 0, droppedTotal: Int64 = 0,
        holdExpiredTotal: Int64 = 0, disabledReason: String? = nil
    ) {
        self.position = position
        self.deliveredTotal = deliveredTotal
        self.deadLetteredTotal = deadLetteredTotal
        self.droppedTotal = droppedTotal
        self.holdExpiredTotal = holdExpiredTotal
        self.disabledReason = disabledReason
    }
}

/// An event kept for a destination outside the log's order: a dead letter, or an event queued for replay.
/// It carries a copy of the event, so it outlives the log's retention.
public struct QueuedEvent: Sendable, Equatable {
    /// The dead letter's or queue entry's own id.
    public var id: Int64
    public var stored: StoredEvent
    /// For an event deferred after the vendor throttled it: when it was first tried and how many attempts
    /// it had, so `retry.max_age` and `max_attempts` still count from its first send.
    public var firstAttempt: Timestamp?
    public var attempts: Int

    public init(id: Int64, stored: StoredEvent, firstAttempt: Timestamp? = nil, attempts: Int = 0) {
        self.id = id
        self.stored = stored
        self.firstAttempt = firstAttempt
        self.attempts = attempts
    }
}

/// An event the vendor throttled (its user or device is over a rate), put back in the destination's replay
/// queue until `notBefore` so the destination's other events go on meanwhile (SPEC §4).
public struct DeferredEvent: Sendable, Equatable {
    public var event: StoredEvent
    public var notBefore: Timestamp
    public var firstAttempt: Timestamp
    public var attempts: Int

    public init(event: StoredEvent, notBefore: Timestamp, firstAttempt: Timestamp, attempts: Int) {
        self.event = event
        self.notBefore = notBefore
        self.firstAttempt = firstAttempt
        self.attempts = attempts
    }
}

/// A dead letter as listed by the admin API.
public struct DeadLetter: Sendable, Equatable {
    public var id: Int64
    public var event: StoredEvent
    public var attempts: Int
    public var lastStatus: Int?
    public var lastError: String
    public var failedAt: Timestamp

    public init(id: Int64, event: StoredEvent, attempts: Int, lastStatus: Int?, lastError: String, failedAt: Timestamp) {
        self.id = id
        self.event = event
        self.attempts = attempts
        self.lastStatus = lastStatus
        self.lastError = lastError
        self.failedAt = failedAt
    }
}

/// A dead letter to record.
public struct NewDeadLetter: Sendable, Equatable {
    public var event: StoredEvent
    public var attempts: Int
    public var lastStatus: Int?
    public var lastError: String

    public init(event: StoredEvent, attempts: Int, lastStatus: Int?, lastError: String) {
        self.event = event
        self.attempts = attempts
        self.lastStatus = lastStatus
        self.lastError = lastError
    }
}

/// What one round of delivery settled, recorded in one transaction.
public struct DeliverySettlement: Sendable {
    /// The new log position, when it moved.
    public var position: Int64?
    public var delivered: Int
    public var deadLetters: [NewDeadLetter]
    /// Replay-queue entries now handled (delivered or dead-lettered).
    public var replayedIds: [Int64]
    /// Anonymous events parked for this destination until their id merges.
    public var held: [StoredEvent]
    /// Holds now released and handled.
    public var releasedHoldIds: [Int64]
    /// Anonymous events dropped by `anonymous: drop`.
    public var dropped: Int
    /// Throttled events to send again from the replay queue once their pause is over.
    public var deferred: [DeferredEvent]
    public var at: Timestamp
    /// The node whose lease this round ran under: the settlement is refused (`StoreError.Code.leaseLost`) when
    /// another node holds the lease now, so a node that lost it cannot record over the new holder's work.
    public var leaseHolder: String?

    public init(
        position: Int64?, delivered: Int, deadLetters: [NewDeadLetter], replayedIds: [Int64], held: [StoredEvent] = [],
        releasedHoldIds: [Int64] = [], dropped: Int = 0, deferred: [DeferredEvent] = [], at: Timestamp,
        leaseHolder: String? = nil
    ) {
        self.deferred = deferred
        self.leaseHolder = leaseHolder
        self.position = position
        self.delivered = delivered
        self.deadLetters = deadLetters
        self.replayedIds = replayedIds
        self.held = held
        self.releasedHoldIds = releasedHoldIds
        self.dropped = dropped
        self.at = at
    }
}

/// What a node's heartbeat learned.
public struct LeaseRenewal: Sendable, Equatable {
    /// Destinations the node still holds.
    public var held: Set<String>
    /// Ids of the nodes whose heartbeat is current, this one included. A node killed a moment ago is still
    /// among them until its heartbeat runs out; the caller leaves out those it knows to be dead.
    public var nodes: Set<String>
    /// How many nodes have a current heartbeat (at least 1: the caller's).
    public var liveNodes: Int { max(1, nodes.count) }

    public init(held: Set<String>, nodes: Set<String>) {
        self.held = held
        self.nodes = nodes
    }
}
