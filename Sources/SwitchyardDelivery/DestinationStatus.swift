/// A destination's state as the admin API and the UI show it (SPEC §6).
public struct DestinationStatus: Sendable, Equatable {
    public enum State: String, Sendable {
        case active
        case disabled
    }

    public var name: String
    public var type: String
    public var state: State
    /// Events delivered since the destination was first configured.
    public var delivered: Int64
    /// Attempts that failed and were (or will be) retried.
    public var failed: Int64
    /// Events in batches now waiting to be retried.
    public var retrying: Int
    /// Events parked for identity (`anonymous: hold`).
    public var held: Int
    /// Anonymous events dropped by `anonymous: drop`.
    public var dropped: Int64 = 0
    /// Held events dropped after `hold_ttl`.
    public var holdExpired: Int64 = 0
    public var deadLettered: Int
    /// Events in the log not yet handled for this destination (includes ones its filter will skip).
    public var lagEvents: Int64
    /// Age of the oldest event not yet handled.
    public var lagSeconds: Double
    /// Why it is disabled, or the last failure.
    public var lastError: String?
    /// The node that holds the destination's delivery lease now (SPEC §8); nil while none does.
    public var deliveredBy: String?

    public init(
        name: String, type: String, state: State = .active, delivered: Int64 = 0, failed: Int64 = 0, retrying: Int = 0,
        held: Int = 0, deadLettered: Int = 0, lagEvents: Int64 = 0, lagSeconds: Double = 0, lastError: String? = nil
    ) {
        self.name = name
        self.type = type
        self.state = state
        self.delivered = delivered
        self.failed = failed
        self.retrying = retrying
        self.held = held
        self.deadLettered = deadLettered
        self.lagEvents = lagEvents
        self.lagSeconds = lagSeconds
        self.lastError = lastError
    }
}
