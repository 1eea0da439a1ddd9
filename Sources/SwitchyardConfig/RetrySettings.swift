import SwitchyardCore

/// A destination's `retry:`: exponential backoff with jitter, then dead letter (SPEC §4).
///
/// The delay before attempt `n + 1` is `min(maxBackoff, initialBackoff × 2ⁿ⁻¹)` with jitter, or the
/// destination's `Retry-After` when that is longer. An event is dead-lettered once it has been
/// failing for `maxAge`, or after `maxAttempts` attempts when that is set. Constraint:
/// `initialBackoff <= maxBackoff`.
public struct RetrySettings: Sendable, Equatable {
    /// `initial_backoff`: default `1s`.
    public var initialBackoff: Duration
    /// `max_backoff`: default `5m`.
    public var maxBackoff: Duration
    /// `max_age`: give up after this long since the first attempt; default `4h`.
    public var maxAge: Duration
    /// `max_attempts`: give up after this many attempts; `nil` (default) means only `max_age` counts.
    public var maxAttempts: Int?

    static let keys: Set<String> = ["initial_backoff", "max_backoff", "max_age", "max_attempts"]

    /// Creates retry settings; every default is the one documented on its property.
    public init(
        initialBackoff: Duration = .seconds(1),
        maxBackoff: Duration = .seconds(300),
        maxAge: Duration = .seconds(4 * 3600),
        maxAttempts: Int? = nil
    ) {
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.maxAge = maxAge
        self.maxAttempts = maxAttempts
    }

    init(_ mapping: ConfigMapping) throws {
        try mapping.rejectUnknownKeys(allowed: Self.keys)
        let defaults = RetrySettings()
        self.init(
            initialBackoff: try mapping.duration("initial_backoff", default: defaults.initialBackoff),
            maxBackoff: try mapping.duration("max_backoff", default: defaults.maxBackoff),
            maxAge: try mapping.duration("max_age", default: defaults.maxAge),
            maxAttempts: try mapping.optionalInt("max_attempts", in: 1...Int.max)
        )
        if initialBackoff > maxBackoff {
            let node = mapping["initial_backoff"] ?? mapping["max_backoff"] ?? mapping.node
            throw node.error(
                "initial_backoff (\(initialBackoff.configText)) must not exceed max_backoff (\(maxBackoff.configText))"
            )
        }
    }
}
