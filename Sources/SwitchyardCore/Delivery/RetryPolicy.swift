/// When to try a failed batch again and when to give up (SPEC §4).
///
/// Backoff is exponential with full jitter: before attempt `n + 1` the pipeline waits a uniformly random
/// time in `0 ... min(maxBackoff, initialBackoff × 2^(n−1))`. With the defaults (1 s doubling to 5 min):
///
/// | after attempt | wait at most |
/// |---|---|
/// | 1 | 1 s |
/// | 2 | 2 s |
/// | 5 | 16 s |
/// | 9 and later | 5 min |
///
/// A destination's `Retry-After` replaces the jittered wait, so the pipeline never retries sooner than
/// asked; it is clamped to `max(maxBackoff, 5 min)` so a hostile or broken value cannot park a batch
/// for days. It gives up — dead letters the batch — once `maxAge` has passed since
/// the batch's first attempt, or after `maxAttempts` attempts when set.
public struct RetryPolicy: Sendable, Equatable {
    public var initialBackoff: Duration
    public var maxBackoff: Duration
    public var maxAge: Duration
    public var maxAttempts: Int?

    public init(
        initialBackoff: Duration = .seconds(1), maxBackoff: Duration = .seconds(300), maxAge: Duration = .seconds(4 * 3600),
        maxAttempts: Int? = nil
    ) {
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.maxAge = maxAge
        self.maxAttempts = maxAttempts
    }

    /// The upper bound of the wait after `attempt` failed attempts (1-based).
    public func ceiling(afterAttempt attempt: Int) -> Duration {
        // In whole milliseconds, stopping at the maximum before doubling could overflow.
        let maximum = max(maxBackoff.milliseconds, 0)
        var ceiling = min(max(initialBackoff.milliseconds, 0), maximum)
        var doublings = attempt > 1 ? attempt - 1 : 0
        while doublings > 0, ceiling > 0, ceiling < maximum {
            ceiling = ceiling > maximum / 2 ? maximum : ceiling * 2
            doublings -= 1
        }
        return .milliseconds(ceiling)
    }

    /// How long to wait before the next attempt.
    public func delay(
        afterAttempt attempt: Int, retryAfter: Duration?, using generator: inout some RandomNumberGenerator
    ) -> Duration {
        if let retryAfter { return min(max(retryAfter, .zero), max(maxBackoff, .seconds(300))) }
        let ceiling = ceiling(afterAttempt: attempt).milliseconds
        guard ceiling > 0 else { return .zero }
        return .milliseconds(Int64.random(in: 0...ceiling, using: &generator))
    }

    /// Whether a batch first tried at `firstAttempt`, tried `attempts` times, is given up at `now`.
    public func givesUp(attempts: Int, firstAttempt: Timestamp, now: Timestamp) -> Bool {
        if let maxAttempts, attempts >= maxAttempts { return true }
        return now - firstAttempt >= maxAge
    }
}
