import SwitchyardCore

/// The `posthog` destination: an ``HTTPDestination`` of ``PostHogAdapter`` that also dead-letters the
/// events PostHog would drop without an error (over ``PostHogAdapter/maxEventBytes``, or not mappable).
///
/// PostHog answers 200 for a batch and silently discards an event over 1 MB, so such an event must never
/// count as delivered. `deliver` sets those events aside, sends the rest through the HTTP destination and
/// merges the outcomes, with indexes in the caller's batch:
///
/// | the rest | outcome |
/// |---|---|
/// | none left (every event set aside) | `deadLetterAll` |
/// | delivered | `deadLetter` of the set-aside events |
/// | `deadLetter(indexes)` | `deadLetter` of those events and the set-aside ones (`deadLetterAll` if that is every event) |
/// | `deadLetterAll` | `deadLetterAll` |
/// | `retrySome(indexes)` | `retrySome` of those events and the set-aside ones (judged again next attempt) |
/// | retry, split, disable | unchanged: the whole batch comes back and the set-aside events are judged again |
public struct PostHogDestination: Destination {
    public let adapter: PostHogAdapter
    let http: HTTPDestination<PostHogAdapter>

    public init(adapter: PostHogAdapter, context: DestinationContext) {
        self.adapter = adapter
        http = HTTPDestination(adapter: adapter, context: context)
    }

    public func deliver(_ batch: DeliveryBatch) async -> DeliveryOutcome {
        await deliver(batch, transcript: nil)
    }

    /// The requests for the events PostHog would take; the set-aside ones are in none (as in `deliver`).
    public func preview(_ batch: DeliveryBatch) throws -> [OutgoingRequest]? {
        let kept = batch.events.indices.filter { adapter.rejection(of: batch.events[$0]) == nil }
        guard !kept.isEmpty else { return [] }
        return try http.preview(DeliveryBatch(events: kept.map { batch.events[$0] }, attempt: batch.attempt))?.map {
            var request = $0
            request.eventIndexes = request.eventIndexes.map { kept[$0] }
            return request
        }
    }

    public func deliver(_ batch: DeliveryBatch, transcript: DeliveryTranscript?) async -> DeliveryOutcome {
        var kept: [Int] = []
        var setAside: [Int] = []
        var reasons: [String] = []
        for (index, event) in batch.events.enumerated() {
            if let rejection = adapter.rejection(of: event) {
                setAside.append(index)
                if !reasons.contains(rejection.reason) { reasons.append(rejection.reason) }
            } else {
                kept.append(index)
            }
        }
        if setAside.isEmpty { return await http.deliver(batch, transcript: transcript) }
        let asideReason = "not sent to PostHog: " + reasons.joined(separator: "; ")
        if kept.isEmpty { return .deadLetterAll(reason: asideReason, status: nil) }

        // The sub-batch's requests name sub-batch positions; the transcript gets the caller's.
        let sent = transcript.map { _ in DeliveryTranscript() }
        let outcome = await http.deliver(
            DeliveryBatch(events: kept.map { batch.events[$0] }, attempt: batch.attempt), transcript: sent)
        for var exchange in sent?.exchanges ?? [] {
            exchange.request.eventIndexes = exchange.request.eventIndexes.map { kept[$0] }
            transcript?.record(exchange)
        }
        switch outcome {
        case .delivered:
            return .deadLetter(indexes: setAside, reason: asideReason, status: nil)
        case .deadLetter(let indexes, let reason, let status):
            let failed = Set(indexes.map { kept[$0] }).union(setAside)
            let combined = reason + "; " + asideReason
            if failed.count == batch.events.count { return .deadLetterAll(reason: combined, status: status) }
            return .deadLetter(indexes: failed.sorted(), reason: combined, status: status)
        case .deadLetterAll(let reason, let status):
            return .deadLetterAll(reason: reason + "; " + asideReason, status: status)
        case .retrySome(let indexes, let after, let reason, let status):
            // As `HTTPDestination` combines them: the set-aside events wait with the throttled ones and are
            // dead-lettered on the next attempt, rather than counted as accepted now.
            return .retrySome(
                indexes: Set(indexes.map { kept[$0] }).union(setAside).sorted(), after: after,
                reason: reason + "; " + asideReason, status: status)
        case .retry, .split, .disable:
            return outcome
        }
    }
}
