import SwitchyardCore
import Testing

@testable import SwitchyardDelivery

@Suite struct DeliveryClockTests {
    @Test func aSleeperWakesWhenItsDeadlinePassesAndNotBefore() async throws {
        let clock = ManualDeliveryClock(Timestamp(milliseconds: 1_000))
        let woke = Task {
            await clock.sleep(for: .seconds(5))
            return clock.elapsed()
        }
        await clock.waitForSleepers(1)
        clock.advance(by: .milliseconds(4_999))
        #expect(clock.sleeperCount == 1)
        clock.advance(by: .milliseconds(1))
        #expect(await woke.value == .seconds(5))
        #expect(clock.now() == Timestamp(milliseconds: 6_000))
        #expect(clock.sleeperCount == 0)
    }

    @Test func advancingToTheNextDeadlineWakesTheSoonestSleeperOnly() async throws {
        let clock = ManualDeliveryClock()
        let long = Task { await clock.sleep(for: .seconds(10)) }
        let short = Task { await clock.sleep(for: .seconds(3)) }
        await clock.waitForSleepers(2)
        #expect(clock.pendingSleeps == [.seconds(3), .seconds(10)])
        #expect(clock.advanceToNextDeadline() == .seconds(3))
        await short.value
        #expect(clock.sleeperCount == 1)
        #expect(clock.advanceToNextDeadline() == .seconds(7))
        await long.value
        #expect(clock.advanceToNextDeadline() == nil)
    }

    @Test func aZeroOrNegativeSleepReturnsAtOnce() async throws {
        let clock = ManualDeliveryClock()
        await clock.sleep(for: .zero)
        await clock.sleep(for: .seconds(-1))
        #expect(clock.requestedSleeps == [.zero, .seconds(-1)])
        #expect(clock.elapsed() == .zero)
    }

    @Test func cancellationWakesASleeper() async throws {
        let clock = ManualDeliveryClock()
        let sleeper = Task { await clock.sleep(for: .seconds(3600)) }
        await clock.waitForSleepers(1)
        sleeper.cancel()
        await sleeper.value
        #expect(clock.sleeperCount == 0)
        #expect(clock.elapsed() == .zero)
    }

    @Test func theSystemClockReadsItsWallClockAndSleepsNotAtAllForZero() async throws {
        let wall = ManualWallClock(Timestamp(milliseconds: 42))
        let clock = SystemDeliveryClock(wall: wall)
        #expect(clock.now() == Timestamp(milliseconds: 42))
        let before = clock.elapsed()
        await clock.sleep(for: .zero)
        #expect(clock.elapsed() >= before)
    }
}

@Suite struct RetryPolicyNextAttemptTests {
    let first = Timestamp(milliseconds: 1_800_000_000_000)

    /// (attempt, seconds since the first attempt, Retry-After, what follows), for
    /// `initial 1s, max 60s, max_age 10s, max_attempts 6` and the largest jitter.
    @Test(
        arguments: [
            (1, 0, nil, RetryPolicy.NextAttempt.after(.seconds(1))),
            (3, 3, nil, .after(.seconds(4))),
            // 8 s would end at 15 s: the last attempt is at the deadline.
            (4, 7, nil, .after(.seconds(3))),
            (5, 10, nil, .giveUp),
            (2, 11, nil, .giveUp),
            (2, 1, .seconds(9), .after(.seconds(9))),
            // Asked to wait past the deadline: no attempt sooner than asked, so none.
            (2, 1, .seconds(10), .giveUp),
            (6, 1, nil, .giveUp),
        ] as [(Int, Int64, Duration?, RetryPolicy.NextAttempt)])
    func nextAttempt(attempt: Int, secondsIn: Int64, retryAfter: Duration?, expected: RetryPolicy.NextAttempt) {
        let policy = RetryPolicy(
            initialBackoff: .seconds(1), maxBackoff: .seconds(60), maxAge: .seconds(10), maxAttempts: 6)
        var generator = LargestGenerator()
        let next = policy.next(
            afterAttempt: attempt, retryAfter: retryAfter, firstAttempt: first, now: first + .seconds(secondsIn),
            using: &generator)
        #expect(next == expected)
    }

    /// Config values are hostile too: an enormous max_age must not overflow the deadline.
    @Test func anEnormousMaxAgeSaturates() {
        let policy = RetryPolicy(initialBackoff: .seconds(1), maxBackoff: .seconds(60), maxAge: .seconds(Int64.max))
        var generator = LargestGenerator()
        #expect(
            policy.next(
                afterAttempt: 40, retryAfter: nil, firstAttempt: first, now: first + .seconds(5), using: &generator)
                == .after(.seconds(60)))
    }
}
