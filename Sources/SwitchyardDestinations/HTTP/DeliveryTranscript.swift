import Synchronization
import SwitchyardCore

/// One request of a delivery attempt and what came of it, as the live view shows it (SPEC §6 `delivery`).
public struct DeliveryExchange: Sendable {
    /// The request exactly as sent (secrets not masked yet: ``OutgoingRequest/shown(secrets:)`` does that).
    public var request: OutgoingRequest
    /// The answer; nil when none came (connection refused, timeout).
    public var response: HTTPResult?
    /// Why no answer came.
    public var failure: String?
    public var duration: Duration
    /// The adapter's reading of this answer; `.retry` when none came.
    public var outcome: DeliveryOutcome

    public init(
        request: OutgoingRequest, response: HTTPResult?, failure: String?, duration: Duration, outcome: DeliveryOutcome
    ) {
        self.request = request
        self.response = response
        self.failure = failure
        self.duration = duration
        self.outcome = outcome
    }
}

/// Collects the exchanges of one delivery attempt. The pipeline passes one only while the live view is
/// watched, so an unwatched delivery keeps no copy of what it sent.
public final class DeliveryTranscript: Sendable {
    let recorded = Mutex<[DeliveryExchange]>([])

    public init() {}

    public func record(_ exchange: DeliveryExchange) {
        recorded.withLock { $0.append(exchange) }
    }

    public var exchanges: [DeliveryExchange] { recorded.withLock { $0 } }
}
