import Crypto
import SwitchyardCore

/// Maps batches to webhook POSTs (SPEC §4 `webhook`, vendor-formats §4.4).
///
/// - `maxBatchEvents == 1`: one request per event, whose body is the event's stored message byte for
///   byte. A batch of N events (the pipeline may still hand over several, e.g. a replay) gives N requests,
///   each naming its own event in `eventIndexes`.
/// - otherwise: one request per batch, body `[message1,message2,…]` (the stored bytes joined by `,`).
///
/// Headers, in this order: `Content-Type: application/json`, `User-Agent: switchyard/<version>`, the
/// configured `headers` sorted by name (one with the name of a default replaces that default, so an
/// operator can set their own `User-Agent`), `webhook-id`, `webhook-timestamp` (integer seconds of this
/// attempt) and, when secrets are configured, `webhook-signature` (see ``WebhookSigner``).
///
/// `webhook-id` is the idempotency key and is the same on every retry of the same request:
/// - one object: `msg_` + the messageId in ``encodedMessageId(_:)`` form;
/// - an array (even of one event): `msg_` + the first 32 hex digits of SHA-256 of the batch's messageIds
///   joined by `\n`. Receivers of arrays dedupe each element by its own `messageId`.
///
/// Answers are read with the default table (``HTTPClassification``): 2xx delivered; 408, 429, 5xx but
/// 501 retried (honouring `Retry-After`); 413 split; 410 disables the destination; 3xx and other 4xx
/// dead-letter (redirects are never followed).
public struct WebhookAdapter: HTTPDestinationAdapter {
    public let settings: WebhookSettings
    /// `batch.max_events` of the destination: 1 sends objects, more sends arrays.
    public let maxBatchEvents: Int
    let signer: WebhookSigner
    let fixedHeaders: [(name: String, value: String)]

    public init(settings: WebhookSettings, maxBatchEvents: Int) {
        self.settings = settings
        self.maxBatchEvents = maxBatchEvents
        signer = WebhookSigner(secrets: settings.secrets)
        var headers: [(name: String, value: String)] = [
            ("Content-Type", "application/json"),
            ("User-Agent", "switchyard/\(SwitchyardVersion.current)"),
        ]
        for name in settings.headers.keys.sorted() {
            let value = settings.headers[name] ?? ""
            if let index = headers.firstIndex(where: { $0.name.lowercased() == name.lowercased() }) {
                headers[index] = (name, value)
            } else {
                headers.append((name, value))
            }
        }
        fixedHeaders = headers
    }

    public func requests(for batch: DeliveryBatch, now: Timestamp) throws -> [OutgoingRequest] {
        guard !batch.events.isEmpty else { return [] }
        // Standard Webhooks wants integer seconds; floor keeps pre-1970 clocks (tests) consistent.
        let seconds = now.milliseconds >= 0 ? now.milliseconds / 1000 : (now.milliseconds - 999) / 1000
        if maxBatchEvents == 1 {
            return batch.events.enumerated().map { index, event in
                request(
                    id: Self.webhookId(messageId: event.messageId), seconds: seconds, body: event.body,
                    indexes: [index])
            }
        }
        var body: [UInt8] = [UInt8(ascii: "[")]
        body.reserveCapacity(batch.bodyBytes + batch.events.count + 1)
        for (index, event) in batch.events.enumerated() {
            if index > 0 { body.append(UInt8(ascii: ",")) }
            body.append(contentsOf: event.body)
        }
        body.append(UInt8(ascii: "]"))
        let id = Self.webhookId(batchMessageIds: batch.events.map(\.messageId))
        return [request(id: id, seconds: seconds, body: body, indexes: Array(batch.events.indices))]
    }

    private func request(id: String, seconds: Int64, body: [UInt8], indexes: [Int]) -> OutgoingRequest {
        var headers = fixedHeaders
        headers.append(("webhook-id", id))
        headers.append(("webhook-timestamp", String(seconds)))
        let signature = signer.signature(id: id, timestamp: seconds, body: body)
        if !signature.isEmpty { headers.append(("webhook-signature", signature)) }
        return OutgoingRequest(url: settings.url, headers: headers, body: body, eventIndexes: indexes)
    }

    /// `webhook-id` of a request carrying one event as an object: `msg_` + ``encodedMessageId(_:)``.
    public static func webhookId(messageId: String) -> String {
        "msg_" + encodedMessageId(messageId)
    }

    /// `webhook-id` of a request carrying an array: `msg_` + 32 hex digits of SHA-256 of the messageIds
    /// joined by `\n`. The same events in the same order always give the same id.
    public static func webhookId(batchMessageIds messageIds: [String]) -> String {
        let digest = SHA256.hash(data: Array(messageIds.joined(separator: "\n").utf8))
        let hex = digest.map { byte in
            let digits = Array("0123456789abcdef".utf8)
            return String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]], as: UTF8.self)
        }.joined()
        return "msg_" + hex.prefix(32)
    }

    /// A messageId in the characters Standard Webhooks ids may use safely (`[A-Za-z0-9_-]`, never `.`):
    /// letters, digits and `-` are kept, `_` becomes `__`, and every other UTF-8 byte becomes `_` + two
    /// lowercase hex digits (`a.b` → `a_2eb`). The mapping is one-to-one, so two messageIds never share
    /// a `webhook-id`; UUIDs (the usual messageId) pass unchanged.
    public static func encodedMessageId(_ messageId: String) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(messageId.utf8.count)
        for byte in messageId.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"):
                out.append(byte)
            case UInt8(ascii: "_"):
                out.append(contentsOf: [UInt8(ascii: "_"), UInt8(ascii: "_")])
            default:
                out.append(contentsOf: [UInt8(ascii: "_"), digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
