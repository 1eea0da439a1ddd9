import CompressNIO
import NIOCore
import SwitchyardCore

/// Maps batches to PostHog `/batch/` requests and reads PostHog's answers (SPEC §4 `posthog`,
/// vendor-formats §3.3).
///
/// Request: `POST {endpoint}/batch/`, headers `Content-Type: application/json`, `Content-Encoding: gzip`,
/// `User-Agent: switchyard/<version>`; body, gzipped:
/// `{"api_key":"phc_…","batch":[event,…],"historical_migration":false}`. Events are mapped by
/// ``PostHogEventMapping``. A batch goes out in several requests, in order, when its events serialize to
/// more than ``maxRequestBytes`` (uncompressed) or when it mixes old and recent events (below).
///
/// No `sent_at`: PostHog's capture moves each event's `timestamp` to `now + (timestamp − sent_at)` when
/// the body has one (its clock-skew correction for devices). Switchyard's `timestamp` is already
/// corrected against the sender's `sentAt` at ingest, and a `sent_at` of the send time would shift it
/// again by the gateway's own clock error — and, kept stable across attempts as a dedupe-friendly body
/// would need, would shift a retry days later by those days. Without `sent_at` PostHog keeps `timestamp`
/// as sent, so every attempt and every replay of an event carries the same bytes.
///
/// `historical_migration` is `true` for a request whose every event is at least
/// ``historicalAge`` (48 h) older than the send time — held events released late, replays — so
/// PostHog routes them as a backfill instead of counting them as a live spike (what Svix does);
/// consecutive events on either side of that line go in separate requests.
///
/// Events PostHog would drop without an error — over ``maxEventBytes`` serialized, or not mappable (see
/// ``rejection(of:)``) — are left out of every request. ``PostHogDestination`` dead-letters them; an
/// `HTTPDestination` of this adapter alone would count them as delivered.
///
/// Answers:
///
/// | status | outcome |
/// |---|---|
/// | 2xx | delivered (PostHog's 200 means "received, key valid") |
/// | 400 | dead letter the request's events (PostHog: the batch is invalid, do not resend) |
/// | 401 | dead letter the request's events, the reason naming the `api_key` |
/// | 408, 429, every 5xx | retry, honouring `Retry-After` (PostHog's SDK retries 5xx including 501) |
/// | 413 | split the batch |
/// | anything else | the default table (``HTTPClassification``): 410 disables, 3xx and other 4xx dead-letter |
public struct PostHogAdapter: HTTPDestinationAdapter {
    /// Largest event, serialized: PostHog discards events over 1 MB without an error; its Python SDK and
    /// RudderStack keep headroom below that, and so do we (vendor-formats §3.3: 900 KiB).
    public static let maxEventBytes = 900 * 1024
    /// Largest uncompressed body per request: the Python SDK's cap, well under PostHog's 20 MB
    /// (vendor-formats §3.3).
    public static let maxRequestBytes = 5 * 1024 * 1024
    /// Events at least this much older than the send time go out with `historical_migration: true`.
    public static let historicalAge: Duration = .seconds(48 * 3600)

    public let settings: PostHogSettings
    /// `{endpoint}/batch/`.
    public let url: String
    let headers: [(name: String, value: String)] = [
        ("Content-Type", "application/json"),
        ("Content-Encoding", "gzip"),
        ("User-Agent", "switchyard/\(SwitchyardVersion.current)"),
    ]

    public init(settings: PostHogSettings) {
        self.settings = settings
        url = settings.baseURL + "/batch/"
    }

    /// The event's PostHog objects, serialized (compact JSON), or why PostHog would not keep them.
    public func encode(_ event: DeliveryEvent) -> Result<[[UInt8]], PostHogEventRejection> {
        let objects: [JSONValue]
        do {
            objects = try PostHogEventMapping.events(for: event)
        } catch {
            return .failure(error)
        }
        let encoded = objects.map(\.bytes)
        if let largest = encoded.map(\.count).max(), largest > Self.maxEventBytes {
            return .failure(
                PostHogEventRejection(
                    "the event is \(largest) bytes as a PostHog event, over the \(Self.maxEventBytes)-byte limit "
                        + "(PostHog drops events over 1 MB without an error)"))
        }
        return .success(encoded)
    }

    /// Why the event cannot be sent, or nil when it can.
    public func rejection(of event: DeliveryEvent) -> PostHogEventRejection? {
        if case .failure(let rejection) = encode(event) { return rejection }
        return nil
    }

    /// Whether `event` goes out as a backfill when sent at `now`: at least ``historicalAge`` old.
    public static func isHistorical(_ event: DeliveryEvent, now: Timestamp) -> Bool {
        now - event.timestamp >= historicalAge
    }

    public func requests(for batch: DeliveryBatch, now: Timestamp) throws -> [OutgoingRequest] {
        // The envelope around the events: `{"api_key":…,"batch":[` … `],"historical_migration":false}`.
        let envelopeBytes = 100 + settings.apiKey.utf8.count * 2
        var requests: [OutgoingRequest] = []
        var events: [[UInt8]] = []
        var indexes: [Int] = []
        var historical = false
        var bytes = envelopeBytes
        for (index, event) in batch.events.enumerated() {
            // Nothing for PostHog (an alias that merged nothing): in no request, so delivered.
            guard case .success(let objects) = encode(event), !objects.isEmpty else { continue }
            let size = objects.reduce(0) { $0 + $1.count + 1 }
            let old = Self.isHistorical(event, now: now)
            if !events.isEmpty, bytes + size > Self.maxRequestBytes || old != historical {
                requests.append(try request(events, indexes: indexes, historical: historical))
                events = []
                indexes = []
                bytes = envelopeBytes
            }
            historical = old
            events.append(contentsOf: objects)
            indexes.append(index)
            bytes += size
        }
        if !events.isEmpty { requests.append(try request(events, indexes: indexes, historical: historical)) }
        return requests
    }

    /// The uncompressed body of a request carrying `events` (each a serialized PostHog event object).
    public func body(_ events: [[UInt8]], historical: Bool) -> [UInt8] {
        var writer = JSONWriter(capacity: events.reduce(200) { $0 + $1.count + 1 })
        writer.raw("{\"api_key\":")
        writer.string(settings.apiKey)
        writer.raw(",\"batch\":[")
        for (position, event) in events.enumerated() {
            if position > 0 { writer.comma() }
            writer.raw(event)
        }
        writer.raw(historical ? "],\"historical_migration\":true}" : "],\"historical_migration\":false}")
        return writer.bytes
    }

    func request(_ events: [[UInt8]], indexes: [Int], historical: Bool) throws -> OutgoingRequest {
        var plain = ByteBuffer(bytes: body(events, historical: historical))
        let compressed = try plain.compress(with: .gzip())
        return OutgoingRequest(
            url: url, headers: headers, body: Array(compressed.readableBytesView), eventIndexes: indexes)
    }

    public func classify(_ response: HTTPResult, for request: OutgoingRequest) -> DeliveryOutcome {
        let status = response.status
        let retryAfter = HTTPClassification.retryAfter(response.header("retry-after"))
        let body = response.bodyText
        let detail = body.isEmpty ? "" : ": \(HTTPClassification.excerpt(body))"
        switch status {
        case 400:
            return .deadLetterAll(reason: "PostHog rejected the batch as invalid (HTTP 400)\(detail)", status: status)
        case 401:
            return .deadLetterAll(
                reason: "PostHog refused the api_key (HTTP 401): set api_key to the project API key (phc_…) "
                    + "of a project at \(HTTPDestination<Self>.host(settings.baseURL))\(detail)",
                status: status)
        case 500..<600:
            return .retry(after: retryAfter, reason: "PostHog answered HTTP \(status)\(detail)", status: status)
        default:
            return HTTPClassification.outcome(status: status, retryAfter: retryAfter, body: body)
        }
    }
}
