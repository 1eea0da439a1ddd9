/// A token bucket for per-source rate limits, in events per second. A value type: the caller keeps it
/// behind whatever synchronisation it has and passes monotonic time in, so it is tested without sleeping.
///
/// The bucket holds at most one second's worth of events (`rate`, at least 1). A request passes when the
/// bucket holds its events. A batch larger than the whole bucket passes when the bucket is full and
/// leaves it in debt, so it is not refused forever; the debt is paid before the next request passes.
public struct TokenBucket: Sendable {
    /// The longest wait ``take(_:nowNanoseconds:)`` returns: one day.
    static let longestWait = Duration.seconds(86_400)
    static let longestWaitNanoseconds: Double = 86_400e9

    public let rate: Double
    public let capacity: Double
    var tokens: Double
    var lastNanoseconds: Int64?

    public init(eventsPerSecond rate: Double) {
        precondition(rate > 0, "a rate limit must be positive")
        self.rate = rate
        capacity = max(rate, 1)
        tokens = capacity
    }

    /// Takes `count` events at `now` (nanoseconds on a monotonic clock).
    /// - Returns: nil when allowed, else how long until a request would pass.
    public mutating func take(_ count: Int, nowNanoseconds now: Int64) -> Duration? {
        if let last = lastNanoseconds {
            // In Double: a clock jump or a huge rate saturates at the capacity instead of overflowing.
            tokens = min(capacity, tokens + max(0, Double(now) - Double(last)) / 1e9 * rate)
        }
        lastNanoseconds = now
        let needed = min(Double(count), capacity)
        guard tokens >= needed else {
            // A tiny configured rate (`rate_limit: 1e-300`) asks for a wait past any Int64: cap it.
            let wait = ((needed - tokens) / rate * 1e9).rounded(.up)
            guard wait.isFinite, wait < Self.longestWaitNanoseconds else { return Self.longestWait }
            return .nanoseconds(Int64(wait))
        }
        tokens -= Double(count)
        return nil
    }
}
