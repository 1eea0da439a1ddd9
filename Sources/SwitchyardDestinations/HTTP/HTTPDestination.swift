import Foundation
import Logging
import SwitchyardCore

/// A destination that speaks HTTP: an adapter's requests, sent through the shared sender, classified by
/// the adapter. Requests of one batch go out in order and their outcomes combine into the batch's:
///
/// | requests' outcomes | batch outcome |
/// |---|---|
/// | all `delivered` | `delivered` |
/// | some `deadLetter` / `deadLetterAll`, no `retrySome` | `deadLetter` of those events (`deadLetterAll` when every event) |
/// | some `retrySome`, no dead letters | `retrySome` of the throttled events, after the longest pause asked |
/// | `retrySome` and dead letters | `retrySome` of the throttled events **and** the dead letters (below) |
/// | `retry`, `split` or `disable` | that outcome at once, for the whole batch; a `retry` waits at least the pause of events throttled earlier in the batch |
///
/// A batch settles with one outcome, and `retrySome` says nothing about dead letters, so when a batch
/// has both the dead letters wait with the throttled events: the next attempt sends them again, the
/// destination refuses them again, and they are dead-lettered then. That costs one request and loses
/// nothing; the other ways to combine would count either a throttled event or a refused one as
/// delivered. An event of several requests (one Segment call, several vendor records) counts as
/// throttled if any of its requests was throttled, else as dead if any refused it. Requests earlier
/// than a `retry` are safe to send again: every event carries its idempotency key.
public struct HTTPDestination<Adapter: HTTPDestinationAdapter>: Destination {
    let adapter: Adapter
    let context: DestinationContext

    public init(adapter: Adapter, context: DestinationContext) {
        self.adapter = adapter
        self.context = context
    }

    public func deliver(_ batch: DeliveryBatch) async -> DeliveryOutcome {
        await deliver(batch, transcript: nil)
    }

    public func preview(_ batch: DeliveryBatch) throws -> [OutgoingRequest]? {
        try adapter.requests(for: batch, now: context.clock.now())
    }

    public func deliver(_ batch: DeliveryBatch, transcript: DeliveryTranscript?) async -> DeliveryOutcome {
        let requests: [OutgoingRequest]
        do {
            requests = try adapter.requests(for: batch, now: context.clock.now())
        } catch {
            return .deadLetterAll(reason: "the events could not be encoded: \(error)", status: nil)
        }
        var failed = Set<Int>()
        var reasons: [String] = []
        var lastStatus: Int?
        var throttled = Set<Int>()
        var throttledReasons: [String] = []
        var throttledStatus: Int?
        var pause: Duration?
        for request in requests {
            let result: HTTPResult
            let started = ContinuousClock.now
            do {
                result = try await context.sender.send(request, timeout: context.timeout)
            } catch {
                let outcome = DeliveryOutcome.retry(
                    after: nil, reason: "no answer from \(Self.host(request.url)): \(error)", status: nil)
                transcript?.record(
                    DeliveryExchange(
                        request: request, response: nil, failure: "\(error)", duration: .now - started, outcome: outcome))
                return outcome
            }
            let outcome = adapter.classify(result, for: request)
            transcript?.record(
                DeliveryExchange(
                    request: request, response: result, failure: nil, duration: .now - started, outcome: outcome))
            context.logger.debug(
                "destination answered",
                metadata: ["switchyard.destination": "\(context.name)", "switchyard.status": "\(result.status)"])
            switch outcome {
            case .delivered:
                continue
            case .retry(let after, let reason, let status):
                guard !throttled.isEmpty else { return outcome }
                return .retry(after: Self.longer(after, pause), reason: reason, status: status)
            case .split, .disable:
                return outcome
            case .retrySome(let indexes, let after, let reason, let status):
                // Only indexes this request carries: an adapter's answer cannot throttle other events.
                let carried = Set(request.eventIndexes)
                throttled.formUnion(indexes.filter { carried.contains($0) })
                if !throttledReasons.contains(reason) { throttledReasons.append(reason) }
                throttledStatus = status
                pause = Self.longer(pause, after)
            case .deadLetter(let indexes, let reason, let status):
                failed.formUnion(indexes)
                reasons.append(reason)
                lastStatus = status
            case .deadLetterAll(let reason, let status):
                failed.formUnion(request.eventIndexes)
                reasons.append(reason)
                lastStatus = status
            }
        }
        if !throttled.isEmpty {
            var reason = throttledReasons.joined(separator: "; ")
            let refused = failed.subtracting(throttled)
            if !refused.isEmpty {
                reason += "; \(refused.count) refused, sent again with them to be dead-lettered then: "
                    + reasons.joined(separator: "; ")
            }
            return .retrySome(
                indexes: throttled.union(refused).sorted(), after: pause, reason: reason, status: throttledStatus)
        }
        if failed.isEmpty { return .delivered }
        let reason = reasons.joined(separator: "; ")
        if failed.count == batch.events.count { return .deadLetterAll(reason: reason, status: lastStatus) }
        return .deadLetter(indexes: failed.sorted(), reason: reason, status: lastStatus)
    }

    /// The longer of two wishes to wait; nil when neither says.
    static func longer(_ one: Duration?, _ other: Duration?) -> Duration? {
        guard let one else { return other }
        guard let other else { return one }
        return max(one, other)
    }

    /// Scheme, host and port only: URLs may carry tokens and never go into logs or stored errors whole.
    static func host(_ url: String) -> String {
        guard let schemeEnd = url.range(of: "://") else { return "the destination" }
        let rest = url[schemeEnd.upperBound...]
        let authority = rest.prefix { $0 != "/" && $0 != "?" }
        let hostPart = authority.split(separator: "@").last.map(String.init) ?? String(authority)
        return String(url[..<schemeEnd.upperBound]) + hostPart
    }
}

extension HTTPDestination {
    public var recordsMerges: Bool { adapter.recordsMerges }
}
