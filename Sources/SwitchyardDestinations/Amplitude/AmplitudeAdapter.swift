import SwitchyardCore

/// Maps batches to Amplitude requests and reads the answers (SPEC §4 `amplitude`, vendor-formats §2).
///
/// Requests: `POST {baseURL}/2/httpapi` (or `/batch` with `use_batch_api`), headers `Content-Type:
/// application/json` and `User-Agent: switchyard/<version>`, body
/// `{"api_key":KEY,"events":[…],"options":{"min_id_length":N}}` (`min_id_length`, default 1, in every
/// request: Amplitude's own minimum of 5 would refuse user ids such as `"42"`). Events follow ``AmplitudeEventMapping``; a batch becomes as few requests as fit Amplitude's
/// limits: at most 2000 events and under 1 MB of body on HTTP V2 (20 MB on the Batch API). `insert_id`
/// (= `messageId`) is the idempotency key: Amplitude ignores a repeat within 7 days, so sending a
/// request again never double-counts.
///
/// `eventIndexes[i]` of a request is the batch position of its `events[i]`: a group call, which makes
/// two Amplitude events, appears twice. An alias that merged no anonymous id is in no request (nothing
/// to tell Amplitude) and so counts as delivered.
///
/// Answers are read by ``AmplitudeAnswer``. Amplitude ingests nothing of a request it answers 400 or
/// 429 for, even when it names only some events, so ``AmplitudeDestination`` (what the registry builds)
/// sends the others again; ``classify(_:for:)`` is the one-shot reading for a request sent once.
public struct AmplitudeAdapter: HTTPDestinationAdapter {
    public let settings: AmplitudeSettings
    let mapping: AmplitudeEventMapping
    let headers: [(name: String, value: String)]

    /// Most events per request (Amplitude: up to 2000, on both APIs).
    public static let maxEventsPerRequest = 2000

    public init(settings: AmplitudeSettings) {
        self.settings = settings
        mapping = AmplitudeEventMapping(pageEventName: settings.pageEventName)
        headers = [("Content-Type", "application/json"), ("User-Agent", "switchyard/\(SwitchyardVersion.current)")]
    }

    /// Most body bytes per request: under 1 MB on HTTP V2, 20 MB on the Batch API (decimal megabytes,
    /// the stricter reading).
    public var maxRequestBytes: Int { settings.useBatchAPI ? 20_000_000 : 1_000_000 - 1 }

    public var url: String { settings.baseURL + settings.eventsPath }

    public func requests(for batch: DeliveryBatch, now: Timestamp) throws -> [OutgoingRequest] {
        try chunks(of: events(for: batch)).map(request(carrying:))
    }

    /// The Amplitude events of `batch`, in batch order.
    public func events(for batch: DeliveryBatch) throws -> [AmplitudeEvent] {
        var events: [AmplitudeEvent] = []
        events.reserveCapacity(batch.events.count)
        for (index, event) in batch.events.enumerated() {
            events += try mapping.events(for: event, batchIndex: index)
        }
        return events
    }

    /// `events` cut, in order, into runs that each fit one request. An event too large for any request
    /// still gets one of its own: Amplitude's 413 then dead-letters it alone.
    public func chunks(of events: [AmplitudeEvent]) -> [[AmplitudeEvent]] {
        let envelope = envelopeBytes(eventBytes: 0)
        var chunks: [[AmplitudeEvent]] = []
        var current: [AmplitudeEvent] = []
        var size = envelope
        for event in events {
            let added = event.json.count + (current.isEmpty ? 0 : 1)
            if !current.isEmpty, current.count == Self.maxEventsPerRequest || size + added > maxRequestBytes {
                chunks.append(current)
                current = []
                size = envelope
            }
            size += event.json.count + (current.isEmpty ? 0 : 1)
            current.append(event)
        }
        if !current.isEmpty { chunks.append(current) }
        return chunks
    }

    /// The request carrying `events` (in this order).
    public func request(carrying events: [AmplitudeEvent]) -> OutgoingRequest {
        var writer = JSONWriter(capacity: envelopeBytes(eventBytes: events.reduce(0) { $0 + $1.json.count + 1 }))
        writer.raw("{\"api_key\":")
        writer.string(settings.apiKey)
        writer.raw(",\"events\":[")
        for (index, event) in events.enumerated() {
            if index > 0 { writer.comma() }
            writer.raw(event.json)
        }
        writer.raw("],\"options\":{\"min_id_length\":")
        writer.integer(settings.minIDLength)
        writer.raw("}}")
        return OutgoingRequest(url: url, headers: headers, body: writer.bytes, eventIndexes: events.map(\.batchIndex))
    }

    /// Body bytes of a request around `eventBytes` of events and their commas.
    func envelopeBytes(eventBytes: Int) -> Int {
        // {"api_key":"…","events":[…],"options":{"min_id_length":N}}; the key is escaped at most 6×.
        64 + settings.apiKey.utf8.count * 6 + eventBytes
    }

    /// The one-shot reading of an answer, for a request sent once: ``AmplitudeAnswer`` with its
    /// per-event parts made batch outcomes — rejected events dead-lettered (the others counted as
    /// delivered, which Amplitude did **not** ingest: ``AmplitudeDestination`` sends them again before it
    /// settles); a 429 naming throttled events → `.retrySome` of **every** event of the request after
    /// the pause, since Amplitude ingested none of it (its SDKs resend the others at once, which only
    /// ``AmplitudeDestination`` does); the batch's other requests still count as accepted.
    public func classify(_ response: HTTPResult, for request: OutgoingRequest) -> DeliveryOutcome {
        let events = request.eventIndexes.map { AmplitudeEvent(batchIndex: $0, userId: nil, deviceId: nil, json: []) }
        switch AmplitudeAnswer(response, events: events, useBatchAPI: settings.useBatchAPI) {
        case .accepted:
            return .delivered
        case .rejected(let reasons, let status):
            let indexes = Set(reasons.keys.map { request.eventIndexes[$0] }).sorted()
            return .deadLetter(indexes: indexes, reason: Self.rejectionReason(reasons, status: status), status: status)
        case .throttled(_, _, let after):
            return .retrySome(
                indexes: Set(request.eventIndexes).sorted(), after: after,
                reason: "Amplitude throttled users or devices of this request (HTTP 429)", status: 429)
        case .request(let outcome):
            return outcome
        }
    }

    /// One reason for the dead letters of a 400: `Amplitude rejected N events (HTTP 400): why; why`. At most
    /// five distinct reasons are named (the answer is the vendor's, and this text is stored with every
    /// dead letter), then `and N more`.
    static func rejectionReason(_ reasons: [Int: String], status: Int) -> String {
        var distinct: [String] = []
        var more = Set<String>()
        for position in reasons.keys.sorted() {
            guard let reason = reasons[position], !distinct.contains(reason) else { continue }
            if distinct.count < 5 { distinct.append(reason) } else { more.insert(reason) }
        }
        let noun = reasons.count == 1 ? "event" : "events"
        let rest = more.isEmpty ? "" : "; and \(more.count) more"
        return "Amplitude rejected \(reasons.count) \(noun) (HTTP \(status)): " + distinct.joined(separator: "; ")
            + rest
    }
}
