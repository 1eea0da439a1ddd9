import Synchronization

/// Notices a horizon that stays put (`PostgresSchema.visibleBelowHorizon`): newer events are stored, yet
/// the head readers can reach does not move, because some transaction on the server — any database of it —
/// has been running since before them (a long transaction, a session idle in a transaction, a prepared
/// transaction). Nothing is lost; delivery waits. Fed by `headSequence`, which delivery calls about once a
/// second per destination for its lag.
final class HorizonWatch: Sendable {
    /// How long the horizon may stay put, with newer events waiting, before it counts as waiting.
    static let patience: Duration = .seconds(30)

    struct State {
        var head: Int64 = 0
        var since: ContinuousClock.Instant?
        var warned: ContinuousClock.Instant?
    }
    let state = Mutex(State())

    /// Records a reading; returns how long readers have been waiting, when longer than `patience`.
    func observe(head: Int64, newest: Int64, at now: ContinuousClock.Instant) -> Duration? {
        state.withLock { state in
            guard newest > head else {
                state.since = nil
                return nil
            }
            if state.since == nil || head != state.head {
                state.head = head
                state.since = now
            }
            guard let since = state.since, now - since >= Self.patience else { return nil }
            return now - since
        }
    }

    /// True at most once per `patience`, so a long wait is logged now and then, not on every reading.
    func shouldWarn(at now: ContinuousClock.Instant) -> Bool {
        state.withLock { state in
            if let warned = state.warned, now - warned < Self.patience { return false }
            state.warned = now
            return true
        }
    }
}
