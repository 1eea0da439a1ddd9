import SwitchyardCore
import SwitchyardStore
import SwitchyardTesting
import Testing

@testable import SwitchyardDelivery

@Suite struct BatchSettlerTests {
    let start = Timestamp(milliseconds: 1_800_000_000_000)

    /// Full jitter: each wait is drawn from `0 ... min(max_backoff, initial × 2^(n−1))` by the injected
    /// random source, so a seeded source gives the same waits the policy computes from the same seed.
    @Test func retriesWaitTheJitteredBackoffAndDeliverOnTheSixthAttempt() async throws {
        let parts = SettlerParts()
        let retry = RetryPolicy(initialBackoff: .seconds(1), maxBackoff: .seconds(8), maxAge: .seconds(3600))
        let destination = ScriptedDestination(
            clock: parts.clock, script: Array(repeating: .retry(after: nil, reason: "HTTP 503", status: 503), count: 5))
        let settler = parts.settler(destination, retry: retry, makeGenerator: { SplitMix64(seed: 42) })

        let result = await advancingTime(parts.clock) {
            await settler.settle(batch("m1", "m2"), firstAttempt: parts.clock.now())
        }

        #expect(result == .settled(delivered: 2, deadLetters: []))
        var generator = SplitMix64(seed: 42)
        let expected = (1...5).map { retry.delay(afterAttempt: $0, retryAfter: nil, using: &generator) }
        #expect(parts.clock.requestedSleeps == expected)
        let ceilings: [Duration] = [.seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(8)]
        for (wait, ceiling) in zip(parts.clock.requestedSleeps, ceilings) {
            #expect(wait >= .zero && wait <= ceiling)
        }
        let calls = await destination.calls
        #expect(calls.map(\.attempt) == [1, 2, 3, 4, 5, 6])
        #expect(calls.allSatisfy { $0.messageIds == ["m1", "m2"] })
        // Each attempt starts when its wait ends, not before.
        var at = Duration.zero
        for (call, wait) in zip(calls.dropFirst(), expected) {
            at += wait
            #expect(call.at == at)
        }
        #expect(parts.failedAttempts == 5)
        #expect(parts.counted("delivered") == 2)
        #expect(parts.sending.snapshot == SendingStatus.Snapshot(failed: 5, retrying: 0, lastError: "HTTP 503"))
    }

    @Test func theLargestJitterDoublesUpToMaxBackoff() async throws {
        let parts = SettlerParts()
        let retry = RetryPolicy(initialBackoff: .milliseconds(500), maxBackoff: .seconds(3), maxAge: .seconds(3600))
        let destination = ScriptedDestination(
            clock: parts.clock, script: Array(repeating: .retry(after: nil, reason: "timeout", status: nil), count: 6))
        let settler = parts.settler(destination, retry: retry)

        _ = await advancingTime(parts.clock) { await settler.settle(batch("m1"), firstAttempt: parts.clock.now()) }

        #expect(
            parts.clock.requestedSleeps == [
                .milliseconds(500), .seconds(1), .seconds(2), .seconds(3), .seconds(3), .seconds(3),
            ])
    }

    /// `Retry-After` replaces the jittered wait: not sooner, not later — but clamped to the larger of
    /// `max_backoff` and 5 minutes, and never negative.
    @Test(arguments: [
        (Duration.seconds(30), Duration.seconds(8), Duration.seconds(30)),
        (.seconds(7200), .seconds(8), .seconds(300)),
        (.seconds(7200), .seconds(600), .seconds(600)),
        (.seconds(-5), .seconds(8), .zero),
    ])
    func retryAfterIsHonouredAndClamped(asked: Duration, maxBackoff: Duration, waited: Duration) async throws {
        let parts = SettlerParts()
        let retry = RetryPolicy(initialBackoff: .seconds(1), maxBackoff: maxBackoff, maxAge: .seconds(86_400))
        let destination = ScriptedDestination(
            clock: parts.clock, script: [.retry(after: asked, reason: "HTTP 429", status: 429)])
        let settler = parts.settler(destination, retry: retry)

        let result = await advancingTime(parts.clock) {
            await settler.settle(batch("m1"), firstAttempt: parts.clock.now())
        }

        #expect(result == .settled(delivered: 1, deadLetters: []))
        #expect(parts.clock.requestedSleeps == [waited])
        #expect(await destination.calls.map(\.at) == [.zero, waited])
    }

    /// `max_age: 10s`, waits 1, 2, 4, then 8 would land at 15 s: the last attempt is made at 10 s
    /// instead, and when that fails too the batch is given up — no attempt starts after max_age.
    @Test func maxAgeMakesOneLastAttemptAtTheDeadlineThenGivesUp() async throws {
        let parts = SettlerParts()
        let retry = RetryPolicy(initialBackoff: .seconds(1), maxBackoff: .seconds(60), maxAge: .seconds(10))
        let destination = ScriptedDestination(
            clock: parts.clock, script: [], then: .retry(after: nil, reason: "connection refused", status: nil))
        let settler = parts.settler(destination, retry: retry)

        let result = await advancingTime(parts.clock) {
            await settler.settle(batch("m1", "m2"), firstAttempt: parts.clock.now())
        }

        #expect(parts.clock.requestedSleeps == [.seconds(1), .seconds(2), .seconds(4), .seconds(3)])
        #expect(await destination.calls.map(\.at) == [.zero, .seconds(1), .seconds(3), .seconds(7), .seconds(10)])
        let letters = try #require(result.deadLetters)
        #expect(letters.map(\.event.event.messageId) == ["m1", "m2"])
        #expect(letters.allSatisfy { $0.attempts == 5 && $0.lastStatus == nil })
        #expect(letters.allSatisfy { $0.lastError == "gave up after 5 attempts: connection refused" })
        #expect(result.delivered == 0)
        #expect(parts.counted("dead_lettered") == 2)
        #expect(parts.sending.snapshot.lastError == "gave up after 5 attempts: connection refused")
        #expect(parts.sending.snapshot.retrying == 0)
    }

    /// A destination asking to be called after the deadline is not called sooner: the batch is given up
    /// at once.
    @Test func aRetryAfterPastMaxAgeGivesUpWithoutWaiting() async throws {
        let parts = SettlerParts()
        let retry = RetryPolicy(initialBackoff: .seconds(1), maxBackoff: .seconds(60), maxAge: .seconds(10))
        let destination = ScriptedDestination(
            clock: parts.clock, script: [.retry(after: .seconds(1), reason: "HTTP 503", status: 503)],
            then: .retry(after: .seconds(30), reason: "HTTP 429", status: 429))
        let settler = parts.settler(destination, retry: retry)

        let result = await advancingTime(parts.clock) {
            await settler.settle(batch("m1"), firstAttempt: parts.clock.now())
        }

        #expect(parts.clock.requestedSleeps == [.seconds(1)])
        #expect(await destination.calls.count == 2)
        let letter = try #require(result.deadLetters?.first)
        #expect(letter.attempts == 2 && letter.lastStatus == 429)
        #expect(letter.lastError == "gave up after 2 attempts: HTTP 429")
    }

    @Test func maxAttemptsGivesUpAfterThatManyAttempts() async throws {
        let parts = SettlerParts()
        let retry = RetryPolicy(
            initialBackoff: .seconds(1), maxBackoff: .seconds(60), maxAge: .seconds(3600), maxAttempts: 3)
        let destination = ScriptedDestination(
            clock: parts.clock, script: [], then: .retry(after: nil, reason: "HTTP 500", status: 500))
        let settler = parts.settler(destination, retry: retry)

        let result = await advancingTime(parts.clock) {
            await settler.settle(batch("m1"), firstAttempt: parts.clock.now())
        }

        #expect(await destination.calls.map(\.attempt) == [1, 2, 3])
        #expect(parts.clock.requestedSleeps == [.seconds(1), .seconds(2)])
        let letter = try #require(result.deadLetters?.first)
        #expect(letter.attempts == 3 && letter.lastStatus == 500)
        #expect(letter.lastError == "gave up after 3 attempts: HTTP 500")
        #expect(parts.failedAttempts == 3)
    }

    /// 413 halves the batch until each part fits; a single event still too large is dead-lettered.
    @Test func a413SplitsTheBatchAndDeadLettersASingleEventStillTooLarge() async throws {
        let parts = SettlerParts()
        let destination = ScriptedDestination(clock: parts.clock) { batch, _ in
            let ids = batch.events.map(\.messageId)
            return ids.count > 2 || ids.contains("m4") ? .split : .delivered
        }
        let settler = parts.settler(destination, retry: RetryPolicy())

        let result = await settler.settle(batch("m1", "m2", "m3", "m4"), firstAttempt: parts.clock.now())

        #expect(
            await destination.calls.map(\.messageIds) == [
                ["m1", "m2", "m3", "m4"], ["m1", "m2"], ["m3", "m4"], ["m3"], ["m4"],
            ])
        #expect(result.delivered == 3)
        let letter = try #require(result.deadLetters?.first)
        #expect(result.deadLetters?.count == 1)
        #expect(letter.event.event.messageId == "m4" && letter.lastStatus == 413)
        #expect(letter.lastError == "the event is too large for the destination (HTTP 413)")
        #expect(parts.clock.requestedSleeps.isEmpty)
    }

    /// A vendor's partial failure dead-letters only the failed events; indexes outside the batch (a
    /// hostile answer) are ignored.
    @Test func aPartialDeadLetterKeepsOnlyTheFailedEvents() async throws {
        let parts = SettlerParts()
        let destination = ScriptedDestination(
            clock: parts.clock, script: [.deadLetter(indexes: [1, 7, -1], reason: "invalid event", status: 400)])
        let settler = parts.settler(destination, retry: RetryPolicy())

        let result = await settler.settle(batch("m1", "m2", "m3"), firstAttempt: parts.clock.now())

        #expect(result.delivered == 2)
        let letters = try #require(result.deadLetters)
        #expect(letters.map(\.event.event.messageId) == ["m2"])
        #expect(letters.first?.attempts == 1 && letters.first?.lastStatus == 400)
        #expect(letters.first?.lastError == "invalid event")
        #expect(parts.counted("delivered") == 2 && parts.counted("dead_lettered") == 1)
    }

    /// One device over the vendor's throttle: only its events wait (the vendor's Retry-After) and go
    /// again; the others were accepted and count delivered.
    @Test func retrySomeResendsOnlyTheThrottledEvents() async throws {
        let parts = SettlerParts()
        let destination = ScriptedDestination(
            clock: parts.clock,
            script: [.retrySome(indexes: [1, 3], after: .seconds(2), reason: "throttled device", status: 429)])
        let settler = parts.settler(destination, retry: RetryPolicy())

        let task = Task { await settler.settle(batch("m1", "m2", "m3", "m4"), firstAttempt: parts.clock.now()) }
        await parts.clock.waitForSleepers(1)
        // While they wait: the two accepted count delivered, the two throttled count retrying.
        #expect(parts.counted("delivered") == 2)
        #expect(parts.sending.snapshot.retrying == 2)
        #expect(parts.clock.pendingSleeps == [.seconds(2)])
        parts.clock.advance(by: .seconds(2))
        let result = await task.value

        #expect(result == .settled(delivered: 4, deadLetters: []))
        let calls = await destination.calls
        #expect(calls.map(\.messageIds) == [["m1", "m2", "m3", "m4"], ["m2", "m4"]])
        #expect(calls.map(\.attempt) == [1, 2])
        #expect(calls.map(\.at) == [.zero, .seconds(2)])
        #expect(parts.counted("delivered") == 4)
        #expect(parts.sending.snapshot.retrying == 0)
    }

    /// As the worker runs it (`defersThrottled`): throttled events do not hold the batch up — they settle
    /// deferred until the pause is over, keeping their first attempt and attempt count; nothing sleeps.
    @Test func deferredThrottledEventsSettleAtOnceWithTheirPause() async throws {
        let parts = SettlerParts()
        let destination = ScriptedDestination(
            clock: parts.clock,
            script: [.retrySome(indexes: [1, 3], after: .seconds(30), reason: "throttled device", status: 429)])
        var settler = parts.settler(destination, retry: RetryPolicy())
        settler.defersThrottled = true
        let firstAttempt = parts.clock.now() - .seconds(5)

        let result = await settler.settle(batch("m1", "m2", "m3", "m4"), firstAttempt: firstAttempt, attempt: 2)

        guard case .settled(let delivered, let letters, let deferred) = result else {
            Issue.record("expected settled, got \(result)")
            return
        }
        #expect(delivered == 2 && letters.isEmpty)
        #expect(deferred.map(\.event.event.messageId) == ["m2", "m4"])
        #expect(deferred.allSatisfy { $0.notBefore == parts.clock.now() + .seconds(30) })
        #expect(deferred.allSatisfy { $0.firstAttempt == firstAttempt && $0.attempts == 2 })
        #expect(parts.clock.requestedSleeps.isEmpty, "nothing waited")
        #expect(await destination.calls.map(\.attempt) == [2], "the attempt count carries on")
        #expect(parts.counted("delivered") == 2)
    }

    /// The throttled events are narrowed again by a later answer, and given up alone at max_attempts:
    /// the accepted ones still count delivered.
    @Test func throttledEventsGivenUpAreTheOnlyDeadLetters() async throws {
        let parts = SettlerParts()
        let retry = RetryPolicy(
            initialBackoff: .seconds(1), maxBackoff: .seconds(60), maxAge: .seconds(3600), maxAttempts: 3)
        let destination = ScriptedDestination(
            clock: parts.clock,
            script: [
                .retrySome(indexes: [0, 2], after: nil, reason: "throttled", status: 429),
                .retrySome(indexes: [1], after: nil, reason: "throttled", status: 429),
            ], then: .retry(after: nil, reason: "HTTP 429", status: 429))
        let settler = parts.settler(destination, retry: retry)

        let result = await advancingTime(parts.clock) {
            await settler.settle(batch("m1", "m2", "m3"), firstAttempt: parts.clock.now())
        }

        #expect(await destination.calls.map(\.messageIds) == [["m1", "m2", "m3"], ["m1", "m3"], ["m3"]])
        #expect(result.delivered == 2)
        let letters = try #require(result.deadLetters)
        #expect(letters.map(\.event.event.messageId) == ["m3"])
        #expect(letters.first?.lastError == "gave up after 3 attempts: HTTP 429")
    }

    /// A throttled device waits while the round's other batch goes out at once.
    @Test func aThrottledBatchDoesNotHoldBackTheOthersInFlight() async throws {
        let parts = SettlerParts()
        let destination = ScriptedDestination(clock: parts.clock) { batch, _ in
            batch.attempt == 1 && batch.events.contains { $0.messageId == "a1" }
                ? .retrySome(indexes: [0], after: .seconds(30), reason: "throttled device", status: 429) : .delivered
        }
        let settler = parts.settler(destination, retry: RetryPolicy())

        let task = Task { await settler.deliver([batch("a1", "a2"), batch("b1", "b2")]) }
        await parts.clock.waitForSleepers(1)
        await eventually("the other batch is sent while the throttled one waits") {
            await destination.calls.contains { $0.messageIds == ["b1", "b2"] }
        }
        #expect(parts.counted("delivered") == 3)
        parts.clock.advance(by: .seconds(30))
        let settled = await task.value

        #expect(settled?.delivered == 4)
        #expect(await destination.calls.last == .init(messageIds: ["a1"], attempt: 2, at: .seconds(30)))
    }

    /// `rate_limit: 10` with three batches of 10 in flight at once: one batch per second.
    @Test func theRateLimitSpacesBatchesInFlight() async throws {
        let parts = SettlerParts()
        let destination = ScriptedDestination(clock: parts.clock, script: [])
        let settler = parts.settler(destination, retry: RetryPolicy(), rateLimit: 10)
        let batches = ["a", "b", "c"].map { prefix in batch((1...10).map { "\(prefix)\($0)" }) }

        let settled = await advancingTime(parts.clock) { await settler.deliver(batches) }

        #expect(settled?.delivered == 30)
        #expect(await destination.calls.map(\.at).sorted() == [.zero, .seconds(1), .seconds(2)])
    }

    @Test func anErasureWhileWaitingLeavesOnlyWhatIsStillStored() async throws {
        let parts = SettlerParts()
        let destination = ScriptedDestination(
            clock: parts.clock, script: [.retry(after: .seconds(5), reason: "HTTP 503", status: 503)])
        // m2 (sequence 2) was erased while the batch waited.
        let owner = BatchSettler.Owner(storedSequences: { sequences in Set(sequences.filter { $0 != 2 }) })
        let settler = parts.settler(destination, retry: RetryPolicy(), owner: owner)

        let result = await advancingTime(parts.clock) {
            await settler.settle(batch("m1", "m2", "m3"), firstAttempt: parts.clock.now())
        }

        #expect(await destination.calls.map(\.messageIds) == [["m1", "m2", "m3"], ["m1", "m3"]])
        #expect(result == .settled(delivered: 2, deadLetters: []))
    }

    @Test func aLostLeaseSendsNothing() async throws {
        let parts = SettlerParts()
        let destination = ScriptedDestination(clock: parts.clock, script: [])
        let settler = parts.settler(destination, retry: RetryPolicy(), owner: .init(holdsLease: { false }))

        #expect(await settler.deliver([batch("m1")]) == nil)
        #expect(await destination.calls.isEmpty)
    }

    @Test func a410DisablesTheDestinationAndLeavesTheRoundQueued() async throws {
        let parts = SettlerParts()
        let disabled = Locked<[String]>([])
        let destination = ScriptedDestination(
            clock: parts.clock, script: [.disable(reason: "HTTP 410 Gone", status: 410)])
        let settler = parts.settler(
            destination, retry: RetryPolicy(),
            owner: .init(disable: { reason in disabled.withLock { $0.append(reason) } }))

        #expect(await settler.deliver([batch("m1")]) == nil)
        #expect(disabled.withLock { $0 } == ["HTTP 410 Gone"])
        #expect(parts.sending.snapshot.lastError == "HTTP 410 Gone")
    }

    /// Cancelled (the gateway stopping) while a batch waits for its retry: it returns at once, and the
    /// batch stays queued.
    @Test func cancellationEndsARetryWaitAtOnce() async throws {
        let parts = SettlerParts()
        let destination = ScriptedDestination(
            clock: parts.clock, script: [.retry(after: .seconds(3600), reason: "HTTP 503", status: 503)])
        let settler = parts.settler(destination, retry: RetryPolicy())

        let task = Task { await settler.settle(batch("m1"), firstAttempt: parts.clock.now()) }
        await parts.clock.waitForSleepers(1)
        task.cancel()

        #expect(await task.value == .interrupted)
        #expect(await destination.calls.count == 1)
        #expect(parts.sending.snapshot.retrying == 0)
    }
}

extension BatchSettler.BatchResult {
    var delivered: Int? {
        if case .settled(let delivered, _, _) = self { return delivered }
        return nil
    }

    var deadLetters: [NewDeadLetter]? {
        if case .settled(_, let deadLetters, _) = self { return deadLetters }
        return nil
    }
}
