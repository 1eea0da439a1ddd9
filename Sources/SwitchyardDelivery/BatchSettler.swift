import Logging
import ServiceLifecycle
import SwitchyardCore
import SwitchyardDestinations
import SwitchyardStore

/// Sends a round's batches to one destination and sees each through until it settles: delivered,
/// dead-lettered, split on 413 — retried with backoff in between (SPEC §4 `retry`).
///
/// Everything it waits on comes in from outside: the ``DeliveryClock`` (so retry timing is tested on a
/// manual clock), the rate limit, the jitter's random source, and what it asks of the worker that owns
/// it (``Owner``). It records nothing in the store: the worker records a round once every batch of it
/// settled.
///
/// Per attempt that fails:
/// - `retry`: the whole batch waits (``RetryPolicy/next(afterAttempt:retryAfter:firstAttempt:now:using:)``
///   says how long, or gives up: `max_attempts`, `max_age`) and goes again.
/// - `retrySome`: only the throttled events wait and go again; the others count delivered. With
///   ``defersThrottled`` the throttled events do not hold the batch (nor the worker's round) up: they settle
///   as ``DeferredEvent``s that the worker puts back in the replay queue until their pause is over, so the
///   destination's other events go on (SPEC §4: throttling pauses that user or device only).
/// - `split`: each half is settled in turn, as a batch of its own (attempts counted afresh, the age from
///   the batch's first attempt).
/// - `deadLetter` / `deadLetterAll`: those events become dead letters, the rest count delivered.
/// - `disable`: the destination stops until an operator re-enables it; nothing of the round is
///   recorded, so it is sent again then.
struct BatchSettler: Sendable {
    typealias Item = (event: DeliveryEvent, source: StoredEvent)

    /// What the settler asks of the worker that owns the destination.
    struct Owner: Sendable {
        /// Whether this node may still send for the destination (it holds the lease).
        var holdsLease: @Sendable () -> Bool = { true }
        /// Which of these log sequences are still stored; an erasure while a batch waited for its retry
        /// removes the rest from it (SPEC §3). nil when the store did not answer.
        var storedSequences: @Sendable ([Int64]) async -> Set<Int64>? = { _ in nil }
        /// Stops sending to the destination until an operator re-enables it (410), recording why.
        var disable: @Sendable (String) async -> Void = { _ in }
    }

    /// What a round's batches came to, for the worker to record.
    struct Settled: Sendable, Equatable {
        var delivered = 0
        var deadLetters: [NewDeadLetter] = []
        var deferred: [DeferredEvent] = []
    }

    enum BatchResult: Sendable, Equatable {
        case settled(delivered: Int, deadLetters: [NewDeadLetter], deferred: [DeferredEvent] = [])
        /// The destination got disabled: the batch stays queued.
        case disabled
        /// Shutdown, a lapsed lease or the end of the shutdown grace cut it off: the batch stays queued.
        case interrupted
    }

    var name: String
    var destination: any Destination
    var retry: RetryPolicy
    var clock: any DeliveryClock
    var rateLimit: DeliveryRateLimit?
    var sending: SendingStatus
    var metrics: DeliveryMetrics
    var hub: LiveHub
    /// Masked wherever the live view shows the destination's requests.
    var secrets: [String] = []
    var shutdownGrace: ShutdownGrace
    var logger: Logger
    /// Throttled events (`retrySome`) settle as deferred instead of being waited for.
    var defersThrottled = false
    var owner = Owner()
    /// The jitter's random source, one per batch.
    var makeGenerator: @Sendable () -> any RandomNumberGenerator = { SystemRandomNumberGenerator() }

    var isStopping: Bool { Task.isShuttingDownGracefully || Task.isCancelled }

    /// Sends the round's batches concurrently and waits until each settles. nil when the destination got
    /// disabled or the gateway is stopping: then nothing is recorded and the round is sent again later.
    ///
    /// `starts` gives, per batch, when it was first tried and its attempts so far (deferred events sent again);
    /// absent, a batch starts now at attempt 1.
    func deliver(
        _ batches: [[Item]], released: Bool = false, starts: [(firstAttempt: Timestamp, attempts: Int)?] = []
    ) async -> Settled? {
        let results = await withTaskGroup(of: (Int, BatchResult).self) { group in
            for (index, batch) in batches.enumerated() {
                let start = index < starts.count ? starts[index] : nil
                group.addTask {
                    let result = await self.settle(
                        batch, firstAttempt: start?.firstAttempt ?? self.clock.now(), attempt: (start?.attempts ?? 0) + 1,
                        released: released)
                    return (index, result)
                }
            }
            var results = [BatchResult?](repeating: nil, count: batches.count)
            for await (index, result) in group { results[index] = result }
            return results.compactMap { $0 }
        }
        var settled = Settled()
        for result in results {
            switch result {
            case .settled(let delivered, let deadLetters, let deferred):
                settled.delivered += delivered
                settled.deadLetters += deadLetters
                settled.deferred += deferred
            case .disabled, .interrupted:
                return nil
            }
        }
        return settled
    }

    /// Sends one batch until it settles: retries with backoff, splits on 413, dead-letters what cannot be
    /// delivered or what outlived `retry.max_age` / `max_attempts`.
    func settle(_ batch: [Item], firstAttempt: Timestamp, attempt: Int = 1, released: Bool = false) async -> BatchResult {
        var batch = batch
        var attempt = max(attempt, 1)
        var generator = makeGenerator()
        // Events of the batch accepted by an earlier attempt while others were throttled (`retrySome`).
        var acceptedEarlier = 0
        while true {
            if isStopping || !owner.holdsLease() { return .interrupted }
            await throttle(batch.count)
            if isStopping { return .interrupted }
            let delivery = DeliveryBatch(events: batch.map(\.event), attempt: attempt)
            // Only a watched live view gets a transcript: otherwise nothing of the requests is kept.
            let transcript = hub.isObserved ? DeliveryTranscript() : nil
            // Cut off by the shutdown grace: not recorded, so the batch stays queued for the next start.
            guard
                let outcome = await shutdownGrace.runUntilExpired({
                    await self.destination.deliver(delivery, transcript: transcript)
                })
            else {
                return .interrupted
            }
            // Decided before the live view hears of the attempt, so it says what will happen.
            let next: RetryPolicy.NextAttempt?
            switch outcome {
            case .retry(let after, _, _):
                next = retry.next(
                    afterAttempt: attempt, retryAfter: after, firstAttempt: firstAttempt, now: clock.now(),
                    using: &generator)
            case .retrySome(let indexes, let after, _, _) where indexes.contains(where: batch.indices.contains):
                next = retry.next(
                    afterAttempt: attempt, retryAfter: after, firstAttempt: firstAttempt, now: clock.now(),
                    using: &generator)
            default:
                next = nil
            }
            if let transcript {
                publishDelivery(
                    batch, attempt: attempt, outcome: outcome, exchanges: transcript.exchanges, released: released,
                    givingUp: next.map { $0 == .giveUp }
                        ?? retry.givesUp(attempts: attempt, firstAttempt: firstAttempt, now: clock.now()))
            }
            switch outcome {
            case .delivered:
                metrics.delivered(name, batch.count)
                return .settled(delivered: acceptedEarlier + batch.count, deadLetters: [])

            case .deadLetter(let indexes, let reason, let status):
                let dead = Set(indexes.filter { batch.indices.contains($0) })
                let letters = batch.enumerated().filter { dead.contains($0.offset) }.map {
                    NewDeadLetter(event: $0.element.source, attempts: attempt, lastStatus: status, lastError: reason)
                }
                metrics.delivered(name, batch.count - letters.count)
                metrics.deadLettered(name, letters.count)
                sending.record(error: reason)
                logger.warning(
                    "events were dead-lettered",
                    metadata: [
                        "switchyard.events": "\(letters.count)",
                        "switchyard.status": "\(status.map(String.init) ?? "none")",
                    ])
                return .settled(delivered: acceptedEarlier + batch.count - letters.count, deadLetters: letters)

            case .deadLetterAll(let reason, let status):
                return deadLetterAll(
                    batch, attempts: attempt, status: status, reason: reason, acceptedEarlier: acceptedEarlier)

            case .split:
                guard batch.count > 1 else {
                    return deadLetterAll(
                        batch, attempts: attempt, status: 413,
                        reason: "the event is too large for the destination (HTTP 413)",
                        acceptedEarlier: acceptedEarlier)
                }
                let middle = batch.count / 2
                let first = await settle(Array(batch[..<middle]), firstAttempt: firstAttempt, released: released)
                guard case .settled(let firstDelivered, let firstDead, let firstDeferred) = first else { return first }
                let second = await settle(Array(batch[middle...]), firstAttempt: firstAttempt, released: released)
                guard case .settled(let secondDelivered, let secondDead, let secondDeferred) = second else { return second }
                return .settled(
                    delivered: acceptedEarlier + firstDelivered + secondDelivered, deadLetters: firstDead + secondDead,
                    deferred: firstDeferred + secondDeferred)

            case .disable(let reason, _):
                logger.error(
                    "destination disabled; an operator must re-enable it", metadata: ["switchyard.reason": "\(reason)"])
                sending.record(error: reason)
                await owner.disable(reason)
                return .disabled

            case .retrySome(let indexes, _, let reason, let status):
                // Only the throttled events wait and go again; the others were accepted.
                let throttled = Set(indexes.filter { batch.indices.contains($0) })
                guard !throttled.isEmpty, let next else {
                    metrics.delivered(name, batch.count)
                    return .settled(delivered: acceptedEarlier + batch.count, deadLetters: [])
                }
                metrics.delivered(name, batch.count - throttled.count)
                acceptedEarlier += batch.count - throttled.count
                batch = batch.enumerated().filter { throttled.contains($0.offset) }.map(\.element)
                guard case .after(let wait) = next else {
                    return giveUp(
                        batch, attempt: attempt, status: status, reason: reason, acceptedEarlier: acceptedEarlier)
                }
                if defersThrottled {
                    metrics.failed(name)
                    sending.attemptFailed(reason: reason)
                    let notBefore = clock.now() + wait
                    logger.debug(
                        "throttled events wait in the replay queue",
                        metadata: ["switchyard.events": "\(batch.count)", "switchyard.delay_ms": "\(wait.milliseconds)"])
                    return .settled(
                        delivered: acceptedEarlier, deadLetters: [],
                        deferred: batch.map {
                            DeferredEvent(event: $0.source, notBefore: notBefore, firstAttempt: firstAttempt, attempts: attempt)
                        })
                }
                guard await waitForRetry(batch, wait: wait, attempt: attempt, reason: reason) else {
                    return .interrupted
                }
                attempt += 1
                batch = await stillStored(batch)
                if batch.isEmpty { return .settled(delivered: acceptedEarlier, deadLetters: []) }

            case .retry(_, let reason, let status):
                guard case .after(let wait) = next else {
                    return giveUp(
                        batch, attempt: attempt, status: status, reason: reason, acceptedEarlier: acceptedEarlier)
                }
                guard await waitForRetry(batch, wait: wait, attempt: attempt, reason: reason) else {
                    return .interrupted
                }
                attempt += 1
                batch = await stillStored(batch)
                if batch.isEmpty { return .settled(delivered: acceptedEarlier, deadLetters: []) }
            }
        }
    }

    /// Counts the failed attempt, then waits `wait` with the batch counted as retrying. False when the
    /// gateway started stopping meanwhile (the batch stays queued).
    private func waitForRetry(_ batch: [Item], wait: Duration, attempt: Int, reason: String) async -> Bool {
        metrics.failed(name)
        sending.attemptFailed(reason: reason)
        logger.debug(
            "delivery will be retried",
            metadata: [
                "switchyard.attempt": "\(attempt)", "switchyard.events": "\(batch.count)",
                "switchyard.delay_ms": "\(wait.milliseconds)",
            ])
        sending.retrying(batch.count)
        metrics.retrying(name, batch.count)
        await clock.sleep(for: wait)
        sending.retrying(-batch.count)
        metrics.retrying(name, -batch.count)
        return !isStopping
    }

    private func giveUp(_ batch: [Item], attempt: Int, status: Int?, reason: String, acceptedEarlier: Int)
        -> BatchResult
    {
        metrics.failed(name)
        sending.attemptFailed(reason: reason)
        return deadLetterAll(
            batch, attempts: attempt, status: status, reason: "gave up after \(attempt) attempts: \(reason)",
            acceptedEarlier: acceptedEarlier)
    }

    /// What of `batch` is still stored: an erasure while it waited drops that person's events (SPEC §3).
    /// Unknown (the store did not answer): sent as it was.
    private func stillStored(_ batch: [Item]) async -> [Item] {
        guard let stored = await owner.storedSequences(batch.map(\.source.sequence)), stored.count < batch.count
        else { return batch }
        return batch.filter { stored.contains($0.source.sequence) }
    }

    /// Tells the live view what an attempt sent and what came of it: one `delivery` item per request, or
    /// one for the attempt when the destination sends no requests (the warehouse writes files).
    func publishDelivery(
        _ batch: [Item], attempt: Int, outcome batchOutcome: DeliveryOutcome, exchanges: [DeliveryExchange],
        released: Bool, givingUp: Bool
    ) {
        let now = clock.now()
        func label(_ outcome: DeliveryOutcome) -> String {
            switch outcome {
            case .delivered: released ? "released" : "delivered"
            case .retry, .retrySome: givingUp ? "dead_lettered" : "retrying"
            // A batch of one that is too large cannot be split further: it is dead-lettered.
            case .split: batch.count > 1 ? "retrying" : "dead_lettered"
            case .deadLetter, .deadLetterAll: "dead_lettered"
            // Disabled: the events stay queued until an operator re-enables the destination.
            case .disable: "retrying"
            }
        }
        guard !exchanges.isEmpty else {
            hub.publish(
                LiveItems.delivery(
                    destination: name, events: batch.map(\.source), outcome: label(batchOutcome), attempt: attempt,
                    exchange: nil, error: LiveItems.reasonText(batchOutcome), secrets: secrets, at: now))
            return
        }
        for exchange in exchanges {
            let events = exchange.request.eventIndexes.filter(batch.indices.contains).map { batch[$0].source }
            hub.publish(
                LiveItems.delivery(
                    destination: name, events: events, outcome: label(exchange.outcome), attempt: attempt,
                    exchange: exchange, error: nil, secrets: secrets, at: now))
        }
    }

    func deadLetterAll(
        _ batch: [Item], attempts: Int, status: Int?, reason: String, acceptedEarlier: Int = 0
    ) -> BatchResult {
        metrics.deadLettered(name, batch.count)
        sending.record(error: reason)
        logger.warning(
            "events were dead-lettered",
            metadata: [
                "switchyard.events": "\(batch.count)", "switchyard.status": "\(status.map(String.init) ?? "none")",
            ])
        return .settled(
            delivered: acceptedEarlier,
            deadLetters: batch.map {
                NewDeadLetter(event: $0.source, attempts: attempts, lastStatus: status, lastError: reason)
            })
    }

    /// Waits for the destination's rate limit to allow `count` events.
    func throttle(_ count: Int) async {
        guard let rateLimit else { return }
        while let wait = rateLimit.take(count, at: clock.elapsed()) {
            await clock.sleep(for: wait)
            if isStopping { return }
        }
    }
}
