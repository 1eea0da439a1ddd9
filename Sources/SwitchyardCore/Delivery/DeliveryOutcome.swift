/// What a destination made of one batch: a value, not an error. Destinations never throw for a
/// destination-side failure; they classify it into one of these and the pipeline acts on it.
public enum DeliveryOutcome: Sendable, Equatable {
    /// Every event was accepted.
    case delivered
    /// Nothing (or not everything) was accepted and sending again may succeed: network errors, 408, 429,
    /// 5xx. `after` is the destination's own wish (`Retry-After`), which the pipeline honours, clamped.
    case retry(after: Duration?, reason: String, status: Int?)
    /// The events at `indexes` were not accepted *yet* — the vendor throttles their user or device
    /// (Amplitude's `throttled_events`) — and the others were accepted. The pipeline sends only those
    /// again, after `after` (clamped like `retry`), while the rest of the destination goes on.
    case retrySome(indexes: [Int], after: Duration?, reason: String, status: Int?)
    /// The batch is too large for the destination (413): send it again in two halves.
    case split
    /// The events at `indexes` (positions in the batch) can never be accepted; the others were.
    case deadLetter(indexes: [Int], reason: String, status: Int?)
    /// No event of the batch can ever be accepted as sent (another 4xx).
    case deadLetterAll(reason: String, status: Int?)
    /// The destination says it is gone (410) or misconfigured beyond retrying: stop sending to it until an
    /// operator re-enables it. The batch stays queued.
    case disable(reason: String, status: Int?)
}
