import Synchronization

/// A clock that only moves when told to; for tests of enrichment, retention and retries.
public final class ManualWallClock: WallClock {
    private let current: Mutex<Timestamp>

    public init(_ start: Timestamp) { current = Mutex(start) }

    public func now() -> Timestamp { current.withLock { $0 } }

    public func advance(by duration: Duration) {
        current.withLock { $0 = $0 + duration }
    }

    public func set(_ timestamp: Timestamp) {
        current.withLock { $0 = timestamp }
    }
}
