import Logging
import SwitchyardCore

/// The Amplitude destination: ``AmplitudeAdapter``'s requests, sent through the shared sender, with the
/// resends Amplitude's partial answers call for.
///
/// Amplitude ingests nothing of a request it answers 400 or 429 for, even when the answer names only
/// some of its events ("remove those events and resend the rest"). The pipeline settles whole batches,
/// so this destination does the resending itself, request by request, in order:
///
/// 1. send the request's events;
/// 2. 400 naming events → those become dead letters; send the others again at once;
/// 3. 429 naming throttled events → those whose user or device is over its daily quota become dead
///    letters, the others are set aside to wait; send the rest again at once;
/// 4. repeat until a request is accepted or nothing is left of it. Every round removes at least one
///    event, so a request of `n` events takes at most `n + 1` sends.
///
/// Then the batch settles:
///
/// | set aside by a 429 | dead letters | outcome |
/// |---|---|---|
/// | none | none | `.delivered` |
/// | none | some | `.deadLetter(indexes:)` (`.deadLetterAll` when every event) |
/// | some | none | `.retrySome(indexes: the throttled events, after: 30 s (HTTP V2) / 15 s (Batch API), or a longer Retry-After)` |
/// | some | some | `.retrySome(indexes: the throttled events and the dead letters, after: the pause)` |
///
/// `retrySome` lets the pipeline settle the accepted events now and send only the throttled ones again,
/// so one user or device over Amplitude's limit pauses its own events, not the destination. The
/// pipeline takes one outcome per batch and `retrySome` has no room for dead letters, so when both
/// occur the dead letters wait with the throttled events: the next attempt sends them again, Amplitude
/// refuses them again and they are dead-lettered then (an event over its daily quota is answered the
/// same way). Nothing is lost and no throttled event is counted as delivered; the cost is one more
/// request for events that were refused.
///
/// An answer about a whole request — no answer, 408, 5xx (`.retry`), 413 (`.split`), 410 (`.disable`) —
/// decides the batch at once (throttled events set aside earlier in the batch then wait at least their
/// pause); 401/403 and request-level 400s dead-letter that request's events and the next request is
/// sent.
public struct AmplitudeDestination: Destination {
    public let adapter: AmplitudeAdapter
    let context: DestinationContext

    public init(adapter: AmplitudeAdapter, context: DestinationContext) {
        self.adapter = adapter
        self.context = context
    }

    public func deliver(_ batch: DeliveryBatch) async -> DeliveryOutcome {
        await deliver(batch, transcript: nil)
    }

    /// The first request of each chunk, as `deliver` sends them before any answer.
    public func preview(_ batch: DeliveryBatch) throws -> [OutgoingRequest]? {
        adapter.chunks(of: try adapter.events(for: batch)).map { adapter.request(carrying: $0) }
    }

    public func deliver(_ batch: DeliveryBatch, transcript: DeliveryTranscript?) async -> DeliveryOutcome {
        let events: [AmplitudeEvent]
        do {
            events = try adapter.events(for: batch)
        } catch {
            return .deadLetterAll(reason: "the events could not be encoded: \(error)", status: nil)
        }
        var settlement = Settlement()
        for chunk in adapter.chunks(of: events) {
            if let decided = await send(chunk, into: &settlement, transcript: transcript) {
                return settlement.deciding(decided)
            }
        }
        return settlement.outcome(batchSize: batch.events.count)
    }

    /// Sends one request's events until they are all accepted, dead or set aside; returns an outcome
    /// only when an answer decides the whole batch.
    func send(
        _ chunk: [AmplitudeEvent], into settlement: inout Settlement, transcript: DeliveryTranscript? = nil
    ) async -> DeliveryOutcome? {
        var pending = chunk
        while !pending.isEmpty {
            let request = adapter.request(carrying: pending)
            let result: HTTPResult
            let started = ContinuousClock.now
            do {
                result = try await context.sender.send(request, timeout: context.timeout)
            } catch {
                let outcome = DeliveryOutcome.retry(
                    after: nil,
                    reason: "no answer from \(HTTPDestination<AmplitudeAdapter>.host(request.url)): \(error)",
                    status: nil)
                transcript?.record(
                    DeliveryExchange(
                        request: request, response: nil, failure: "\(error)", duration: .now - started, outcome: outcome
                    ))
                return outcome
            }
            let answer = AmplitudeAnswer(result, events: pending, useBatchAPI: adapter.settings.useBatchAPI)
            transcript?.record(
                DeliveryExchange(
                    request: request, response: result, failure: nil, duration: .now - started,
                    outcome: Self.requestOutcome(answer, events: pending)))
            context.logger.debug(
                "destination answered",
                metadata: [
                    "switchyard.destination": "\(context.name)", "switchyard.status": "\(result.status)",
                    "switchyard.events": "\(pending.count)",
                ])
            switch answer {
            case .accepted:
                return nil
            case .rejected(let reasons, let status):
                settlement.dead(
                    reasons.keys.map { pending[$0].batchIndex },
                    reason: AmplitudeAdapter.rejectionReason(reasons, status: status), status: status)
                pending = pending.enumerated().filter { reasons[$0.offset] == nil }.map(\.element)
            case .throttled(let waiting, let overQuota, let after):
                if !overQuota.isEmpty {
                    let noun = overQuota.count == 1 ? "event" : "events"
                    settlement.dead(
                        overQuota.map { pending[$0].batchIndex },
                        reason: "Amplitude dropped \(overQuota.count) \(noun) (HTTP 429): its user or device exceeded "
                            + "Amplitude's daily event quota",
                        status: 429)
                }
                settlement.wait(waiting.map { pending[$0].batchIndex }, after: after)
                let removed = Set(waiting + overQuota)
                pending = pending.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
            case .request(.deadLetterAll(let reason, let status)):
                settlement.dead(pending.map(\.batchIndex), reason: reason, status: status)
                return nil
            case .request(.delivered):
                return nil
            case .request(let outcome):
                return outcome
            }
        }
        return nil
    }

    /// One answer as the live view labels its request: accepted, events dead, or to be sent again.
    /// Indexes are batch positions of the request's `events`, as the live view shows them.
    static func requestOutcome(_ answer: AmplitudeAnswer, events: [AmplitudeEvent]) -> DeliveryOutcome {
        func batchIndexes(_ positions: some Sequence<Int>) -> [Int] {
            Set(positions.map { events[$0].batchIndex }).sorted()
        }
        switch answer {
        case .accepted:
            return .delivered
        case .rejected(let reasons, let status):
            return .deadLetter(
                indexes: batchIndexes(reasons.keys), reason: "Amplitude rejected events (HTTP \(status))",
                status: status)
        case .throttled(let waiting, let overQuota, let after):
            return .retrySome(
                indexes: batchIndexes(waiting + overQuota), after: after,
                reason: "Amplitude throttled events (HTTP 429); the others are sent again at once", status: 429)
        case .request(let outcome):
            return outcome
        }
    }

    /// What one batch's requests came to so far.
    struct Settlement {
        var dead: [Int: (reason: String, status: Int?)] = [:]
        var waiting = Set<Int>()
        var pause: Duration = .zero

        mutating func dead(_ indexes: [Int], reason: String, status: Int?) {
            for index in indexes where dead[index] == nil { dead[index] = (reason, status) }
        }

        mutating func wait(_ indexes: [Int], after: Duration) {
            guard !indexes.isEmpty else { return }
            waiting.formUnion(indexes)
            pause = max(pause, after)
        }

        /// A whole-batch answer after some events were set aside: a retry waits at least their pause.
        func deciding(_ outcome: DeliveryOutcome) -> DeliveryOutcome {
            guard !waiting.isEmpty, case .retry(let after, let reason, let status) = outcome else { return outcome }
            return .retry(after: max(after ?? .zero, pause), reason: reason, status: status)
        }

        func outcome(batchSize: Int) -> DeliveryOutcome {
            // A group call's second event may be dead while its first waits: the wait wins, and dead
            // letters wait with the throttled events (see the type's table).
            if !waiting.isEmpty {
                let noun = waiting.count == 1 ? "event" : "events"
                var reason =
                    "Amplitude throttled the users or devices of \(waiting.count) \(noun) (HTTP 429); "
                    + "the others were accepted"
                let refused = Set(dead.keys).subtracting(waiting)
                if !refused.isEmpty {
                    reason += "; \(refused.count) refused, sent again with them to be dead-lettered then"
                }
                return .retrySome(indexes: waiting.union(refused).sorted(), after: pause, reason: reason, status: 429)
            }
            guard !dead.isEmpty else { return .delivered }
            var reasons: [String] = []
            for index in dead.keys.sorted() {
                if let reason = dead[index]?.reason, !reasons.contains(reason) { reasons.append(reason) }
            }
            let status = dead[dead.keys.max() ?? 0]?.status ?? nil
            let reason = reasons.joined(separator: "; ")
            if dead.count == batchSize { return .deadLetterAll(reason: reason, status: status) }
            return .deadLetter(indexes: dead.keys.sorted(), reason: reason, status: status)
        }
    }
}
