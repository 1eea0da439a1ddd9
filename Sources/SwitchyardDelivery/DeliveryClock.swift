import ServiceLifecycle
import SwitchyardCore
import Synchronization

/// The time delivery runs on: wall time for ages and dead letters, a monotonic reading for rate limits,
/// and the waits between attempts. Injected so retry timing, `Retry-After`, `retry.max_age` and rate
/// limits are tested by advancing a ``ManualDeliveryClock`` instead of sleeping.
public protocol DeliveryClock: WallClock {
    /// Time since an arbitrary fixed start that never goes back (a wall clock may be stepped).
    func elapsed() -> Duration

    /// Waits `duration`, returning early when the task is cancelled or the gateway starts a graceful
    /// shutdown. Never throws: the caller looks at `Task.isCancelled` / `isShuttingDownGracefully`.
    func sleep(for duration: Duration) async
}

/// Wall time from a ``WallClock`` (the system's, or a test's manual one), real waits on the continuous
/// clock.
public struct SystemDeliveryClock: DeliveryClock {
    let wall: any WallClock
    let start: ContinuousClock.Instant

    public init(wall: any WallClock = SystemWallClock()) {
        self.wall = wall
        start = .now
    }

    public func now() -> Timestamp { wall.now() }

    public func elapsed() -> Duration { .now - start }

    public func sleep(for duration: Duration) async {
        guard duration > .zero else { return }
        // Cancelled or shutting down: the caller checks which and stops, so the error says nothing more.
        await cancelWhenGracefulShutdownQuietly { try? await Task.sleep(for: duration) }
    }
}

/// A delivery clock that moves only when a test advances it. A sleeper wakes once the clock has been
/// advanced past its deadline (or is cancelled, or the gateway stops); both readings move together.
public final class ManualDeliveryClock: DeliveryClock {
    struct Sleeper {
        var id: Int
        var deadline: Duration
        var requested: Duration
        var continuation: CheckedContinuation<Void, Never>
    }

    struct State {
        var now: Timestamp
        var elapsed: Duration = .zero
        var sleepers: [Sleeper] = []
        var nextId = 0
        /// Every wait asked for, in order, including those of zero length (which return at once).
        var requested: [Duration] = []
        /// Tests waiting for a number of sleepers to be asleep.
        var watchers: [(id: Int, count: Int, continuation: CheckedContinuation<Void, Never>)] = []
    }

    let state: Mutex<State>

    public init(_ start: Timestamp = Timestamp(milliseconds: 1_800_000_000_000)) {
        state = Mutex(State(now: start))
    }

    public func now() -> Timestamp { state.withLock { $0.now } }

    public func elapsed() -> Duration { state.withLock { $0.elapsed } }

    /// The waits asked for so far, in order.
    public var requestedSleeps: [Duration] { state.withLock { $0.requested } }

    /// How many tasks are asleep now.
    public var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    /// What the tasks asleep now asked for, soonest deadline first.
    public var pendingSleeps: [Duration] {
        state.withLock { $0.sleepers.sorted { $0.deadline < $1.deadline }.map(\.requested) }
    }

    public func sleep(for duration: Duration) async {
        let (id, asleep): (Int, Bool) = state.withLock { state in
            state.requested.append(duration)
            state.nextId += 1
            return (state.nextId, duration > .zero)
        }
        guard asleep else { return }
        await cancelWhenGracefulShutdownQuietly {
            await withTaskCancellationHandler {
                await withCheckedContinuation { continuation in
                    let resumeNow: Bool = self.state.withLock { state in
                        if Task.isCancelled { return true }
                        state.sleepers.append(
                            Sleeper(
                                id: id, deadline: state.elapsed + duration, requested: duration,
                                continuation: continuation))
                        Self.notifyWatchers(&state)
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            } onCancel: {
                self.wake { $0.id == id }
            }
        }
    }

    /// Moves both readings forward by `duration` and wakes every sleeper whose deadline has passed.
    public func advance(by duration: Duration) {
        state.withLock { state in
            state.now = state.now + duration
            state.elapsed += duration
        }
        let elapsed = elapsed()
        wake { $0.deadline <= elapsed }
    }

    /// Advances to the soonest sleeper's deadline and wakes it (and any due with it). Returns the time
    /// advanced, nil when nobody sleeps.
    @discardableResult
    public func advanceToNextDeadline() -> Duration? {
        let step: Duration? = state.withLock { state in
            state.sleepers.map(\.deadline).min().map { max(.zero, $0 - state.elapsed) }
        }
        if let step { advance(by: step) }
        return step
    }

    /// Returns once at least `count` tasks are asleep on this clock, or when cancelled.
    public func waitForSleepers(_ count: Int = 1) async {
        let id = state.withLock { state in
            state.nextId += 1
            return state.nextId
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let ready: Bool = state.withLock { state in
                    if Task.isCancelled || state.sleepers.count >= count { return true }
                    state.watchers.append((id, count, continuation))
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            let watcher = state.withLock { state in
                state.watchers.firstIndex { $0.id == id }.map { state.watchers.remove(at: $0) }
            }
            watcher?.continuation.resume()
        }
    }

    private func wake(where due: (Sleeper) -> Bool) {
        let woken: [Sleeper] = state.withLock { state in
            let woken = state.sleepers.filter(due)
            state.sleepers.removeAll(where: due)
            return woken
        }
        for sleeper in woken { sleeper.continuation.resume() }
    }

    private static func notifyWatchers(_ state: inout State) {
        let count = state.sleepers.count
        let ready = state.watchers.filter { $0.count <= count }
        state.watchers.removeAll { $0.count <= count }
        // Resuming inside the lock is safe: the resumed task runs later, on its own executor.
        for watcher in ready { watcher.continuation.resume() }
    }
}
