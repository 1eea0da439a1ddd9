import SwitchyardCore

extension RetryPolicy {
    /// What follows a failed attempt.
    enum NextAttempt: Sendable, Equatable {
        /// Try again after this wait.
        case after(Duration)
        /// Dead-letter the batch: `max_attempts` reached, or `max_age` passed or would pass first.
        case giveUp
    }

    /// Decides what follows failed attempt number `attempt` of a batch first tried at `firstAttempt`.
    ///
    /// `max_age` is a deadline, `firstAttempt + maxAge`: no attempt starts after it. A wait that would
    /// end past it is cut short so that one last attempt is made at the deadline — unless the
    /// destination asked for that wait (`Retry-After`): it is not called sooner than it asked, so the
    /// batch is given up now instead. A failure at or after the deadline gives up.
    func next(
        afterAttempt attempt: Int, retryAfter: Duration?, firstAttempt: Timestamp, now: Timestamp,
        using generator: inout some RandomNumberGenerator
    ) -> NextAttempt {
        if givesUp(attempts: attempt, firstAttempt: firstAttempt, now: now) { return .giveUp }
        let wait = delay(afterAttempt: attempt, retryAfter: retryAfter, using: &generator)
        // Positive: `givesUp` said the deadline is still ahead (both saturate, so no overflow).
        let left = (firstAttempt + maxAge) - now
        guard wait > left else { return .after(wait) }
        return retryAfter == nil ? .after(left) : .giveUp
    }
}
