import Foundation
import Logging
import SwitchyardCore

/// A destination that speaks HTTP: an adapter's requests, sent through the shared sender, classified by
/// the adapter. Requests of one batch go out in order; the first that must be retried, split or disabled
/// decides the batch (earlier requests are safe to send again: every event carries its idempotency key).
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
            case .retry, .split, .disable, .retrySome:
                return outcome
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
        if failed.isEmpty { return .delivered }
        let reason = reasons.joined(separator: "; ")
        if failed.count == batch.events.count { return .deadLetterAll(reason: reason, status: lastStatus) }
        return .deadLetter(indexes: failed.sorted(), reason: reason, status: lastStatus)
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
