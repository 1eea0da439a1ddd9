import Logging
import MetricsTestKit
import SwitchyardCore
import SwitchyardDestinations
import SwitchyardStore
import Testing

@testable import SwitchyardDelivery

/// A destination that answers from a script and records what it was sent and when (on the manual
/// clock). A test double for the `Destination` protocol: the real HTTP paths are tested with loopback
/// servers in the destination and server test targets.
actor ScriptedDestination: Destination {
    struct Call: Sendable, Equatable {
        var messageIds: [String]
        var attempt: Int
        /// ``ManualDeliveryClock/elapsed()`` when the batch arrived.
        var at: Duration
    }

    let clock: ManualDeliveryClock
    let answer: @Sendable (_ batch: DeliveryBatch, _ call: Int) -> DeliveryOutcome
    private(set) var calls: [Call] = []

    /// Answers with `answer(batch, n)` for the `n`th call (0-based).
    init(
        clock: ManualDeliveryClock, answer: @escaping @Sendable (_ batch: DeliveryBatch, _ call: Int) -> DeliveryOutcome
    ) {
        self.clock = clock
        self.answer = answer
    }

    /// Answers with `script` in order, then `then` for ever.
    init(clock: ManualDeliveryClock, script: [DeliveryOutcome], then: DeliveryOutcome = .delivered) {
        self.init(clock: clock) { _, call in call < script.count ? script[call] : then }
    }

    func deliver(_ batch: DeliveryBatch) async -> DeliveryOutcome {
        let call = calls.count
        calls.append(Call(messageIds: batch.events.map(\.messageId), attempt: batch.attempt, at: clock.elapsed()))
        return answer(batch, call)
    }
}

/// A random source that always says the largest value: full jitter then waits its whole ceiling, so a
/// test can name every wait.
struct LargestGenerator: RandomNumberGenerator {
    mutating func next() -> UInt64 { .max }
}

/// The parts a ``BatchSettler`` is built from, on a manual clock.
struct SettlerParts {
    let clock = ManualDeliveryClock()
    let metrics = TestMetrics()
    let sending = SendingStatus()
    let grace = ShutdownGrace(grace: .seconds(10))

    func settler(
        _ destination: any Destination, retry: RetryPolicy, rateLimit: Double? = nil,
        owner: BatchSettler.Owner = .init(),
        makeGenerator: @escaping @Sendable () -> any RandomNumberGenerator = { LargestGenerator() }
    ) -> BatchSettler {
        BatchSettler(
            name: "hook", destination: destination, retry: retry, clock: clock,
            rateLimit: rateLimit.map { DeliveryRateLimit(eventsPerSecond: $0) }, sending: sending,
            metrics: DeliveryMetrics(factory: metrics), hub: LiveHub(), shutdownGrace: grace,
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }), owner: owner,
            makeGenerator: makeGenerator)
    }

    func counted(_ outcome: String) -> Int64 {
        metrics.counterTotal(
            label: "switchyard_delivery_events_total", dimensions: [("destination", "hook"), ("outcome", outcome)])
    }

    var failedAttempts: Int64 {
        metrics.counterTotal(label: "switchyard_delivery_failed_attempts_total", dimensions: [("destination", "hook")])
    }
}

/// A batch of events named by their message ids, with sequences 1, 2, …
func batch(_ ids: String...) -> [BatchSettler.Item] { batch(ids) }

func batch(_ ids: [String]) -> [BatchSettler.Item] {
    ids.enumerated().map { offset, id in
        let time = Timestamp(milliseconds: 1_800_000_000_000)
        let body = Array(#"{"type":"track","event":"Clicked","messageId":"\#(id)"}"#.utf8)
        let stored = StoredEvent(
            sequence: Int64(offset + 1),
            event: NewEvent(
                source: "web", messageId: id, type: .track, userId: "u1", anonymousId: "a1", eventName: "Clicked",
                timestamp: time, receivedAt: time, body: body))
        let event = DeliveryEvent(
            sequence: stored.sequence, source: "web", messageId: id, type: .track, receivedAt: time, timestamp: time,
            resolvedUserId: "u1", body: body)
        return (event, stored)
    }
}

/// Runs `body` while a helper advances `clock` to the soonest sleeper's deadline whenever a task sleeps
/// on it: virtual time, so a retry an hour away takes no real time.
func advancingTime<T: Sendable>(_ clock: ManualDeliveryClock, _ body: @escaping @Sendable () async -> T) async -> T {
    let driver = Task {
        while !Task.isCancelled {
            await clock.waitForSleepers(1)
            clock.advanceToNextDeadline()
        }
    }
    let value = await body()
    driver.cancel()
    return value
}

/// Waits for `condition` (polling), failing the test after `deadline` of real time.
func eventually(
    _ what: Comment, deadline: Duration = .seconds(30), sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: @Sendable () async -> Bool
) async {
    let end = ContinuousClock.now + deadline
    while ContinuousClock.now < end {
        if await condition() { return }
        try? await Task.sleep(for: .milliseconds(5))  // polling; a cancelled test ends at the check below
    }
    Issue.record("timed out waiting: \(what)", sourceLocation: sourceLocation)
}
