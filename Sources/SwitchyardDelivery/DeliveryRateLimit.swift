import SwitchyardCore
import Synchronization

/// A destination's `rate_limit` (events per second), shared by the batches it sends at once: a token
/// bucket read on a delivery clock's monotonic time, so a stepped wall clock never stalls it.
final class DeliveryRateLimit: Sendable {
    let bucket: Mutex<TokenBucket>

    init(eventsPerSecond rate: Double) {
        bucket = Mutex(TokenBucket(eventsPerSecond: rate))
    }

    /// Takes `count` events at `elapsed` (a ``DeliveryClock/elapsed()`` reading). nil when they may go
    /// now, else how long to wait before asking again.
    func take(_ count: Int, at elapsed: Duration) -> Duration? {
        bucket.withLock { $0.take(count, nowNanoseconds: elapsed.wholeNanoseconds) }
    }
}
