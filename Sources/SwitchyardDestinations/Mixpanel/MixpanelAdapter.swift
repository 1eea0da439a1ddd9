import CompressNIO
import Foundation
import NIOCore
import SwitchyardCore

/// Maps batches to Mixpanel's ingestion API (SPEC §4 `mixpanel`, vendor-formats §1.9) and reads its
/// answers. What each Segment call becomes is ``MixpanelEventMapper``'s table.
///
/// Requests, in this order, each carrying at most the ``Limits``:
/// - `POST {base}/import?strict=1[&project_id=ID]`: the events as a JSON array, gzipped
///   (`Content-Type: application/json`, `Content-Encoding: gzip`), `Authorization: Basic` per
///   ``MixpanelSettings/importAuth``. At most 2000 events and 10 MB of uncompressed JSON each; an
///   event over 1 MB goes alone (Mixpanel refuses it, and it is dead-lettered without taking other
///   events along).
/// - `POST {base}/engage?verbose=1&ip=0`: profile updates, form `data=<JSON array>`, ≤ 2000.
/// - `POST {base}/groups?verbose=1`: group profile updates, form `data=<JSON array>`, ≤ 200.
///
/// Every request has `User-Agent: switchyard/<version>`. `eventIndexes[i]` is the batch position of
/// the i-th record of the body (an event that becomes two records, e.g. a merge and a track, is
/// listed twice), so a failed record maps back to its event.
///
/// Answers (``classify(_:for:)``):
///
/// | answer | outcome |
/// | --- | --- |
/// | `/import` 2xx | delivered |
/// | `/import` 400 with `failed_records` | those events dead-lettered (by `index`, else by `insert_id`/`$insert_id`); the rest were ingested and are not resent |
/// | `/import` 400 without `failed_records` | the request's events dead-lettered |
/// | `/engage`, `/groups` 2xx with `status: 1` (or body `1`) | delivered |
/// | `/engage`, `/groups` 2xx with `status: 0` (or body `0`) | the request's events dead-lettered with Mixpanel's `error` |
/// | 401, 403 | the request's events dead-lettered; the reason names the credential to fix (replay after fixing) |
/// | 413, request of several events | split the batch |
/// | 413, request of one event | that event dead-lettered (it cannot get smaller) |
/// | 408, 429, 5xx but 501 | retry, honouring `Retry-After` |
/// | anything else | ``HTTPClassification`` (other 4xx and 501 dead-letter, 410 disables) |
public struct MixpanelAdapter: HTTPDestinationAdapter {
    /// Mixpanel's per-request limits (vendor-formats §1.2). Tests shrink them.
    public struct Limits: Sendable, Equatable {
        /// Events per `/import` request: 2000.
        public var importEvents: Int
        /// Uncompressed JSON bytes per request: 10 MB (10,000,000, the stricter reading of "10MB").
        public var requestBytes: Int
        /// Uncompressed JSON bytes above which an event travels alone: 1 MB (1,000,000).
        public var eventBytes: Int
        /// Profile updates per `/engage` request: 2000.
        public var engageRecords: Int
        /// Group updates per `/groups` request: 200.
        public var groupRecords: Int

        public init(
            importEvents: Int = 2000, requestBytes: Int = 10_000_000, eventBytes: Int = 1_000_000,
            engageRecords: Int = 2000, groupRecords: Int = 200
        ) {
            precondition(
                importEvents > 0 && engageRecords > 0 && groupRecords > 0, "a request carries at least one record")
            self.importEvents = importEvents
            self.requestBytes = requestBytes
            self.eventBytes = eventBytes
            self.engageRecords = engageRecords
            self.groupRecords = groupRecords
        }
    }

    public let settings: MixpanelSettings
    public let limits: Limits
    let mapper: MixpanelEventMapper

    public init(settings: MixpanelSettings, limits: Limits = Limits()) {
        self.settings = settings
        self.limits = limits
        mapper = MixpanelEventMapper(settings: settings)
    }

    /// A record's compact JSON and the batch position of the event it came from.
    struct EncodedRecord {
        var json: [UInt8]
        var eventIndex: Int
    }

    public func requests(for batch: DeliveryBatch, now: Timestamp) throws -> [OutgoingRequest] {
        var encoded: [MixpanelRecord.Endpoint: [EncodedRecord]] = [:]
        for (index, event) in batch.events.enumerated() {
            for record in try mapper.records(for: event) {
                encoded[record.endpoint, default: []].append(
                    EncodedRecord(json: JSONValue.object(record.object).bytes, eventIndex: index))
            }
        }
        var requests: [OutgoingRequest] = []
        for chunk in chunks(encoded[.importEvents] ?? [], maxRecords: limits.importEvents) {
            requests.append(try importRequest(chunk))
        }
        for chunk in chunks(encoded[.engage] ?? [], maxRecords: limits.engageRecords) {
            requests.append(formRequest(path: "/engage?verbose=1&ip=0", chunk))
        }
        for chunk in chunks(encoded[.groups] ?? [], maxRecords: limits.groupRecords) {
            requests.append(formRequest(path: "/groups?verbose=1", chunk))
        }
        return requests
    }

    /// Cuts `records` into request-sized runs, keeping their order: at most `maxRecords` and
    /// `limits.requestBytes` of JSON array each; a record over `limits.eventBytes` alone.
    func chunks(_ records: [EncodedRecord], maxRecords: Int) -> [[EncodedRecord]] {
        var chunks: [[EncodedRecord]] = []
        var current: [EncodedRecord] = []
        var bytes = 2  // `[` and `]`
        for record in records {
            let alone = record.json.count > limits.eventBytes
            if !current.isEmpty,
                alone || current.count >= maxRecords || bytes + 1 + record.json.count > limits.requestBytes
            {
                chunks.append(current)
                current = []
                bytes = 2
            }
            bytes += record.json.count + (current.isEmpty ? 0 : 1)
            current.append(record)
            if alone {
                chunks.append(current)
                current = []
                bytes = 2
            }
        }
        if !current.isEmpty { chunks.append(current) }
        return chunks
    }

    static func jsonArray(_ records: [EncodedRecord]) -> [UInt8] {
        var body: [UInt8] = [UInt8(ascii: "[")]
        body.reserveCapacity(records.reduce(2) { $0 + $1.json.count + 1 })
        for (position, record) in records.enumerated() {
            if position > 0 { body.append(UInt8(ascii: ",")) }
            body.append(contentsOf: record.json)
        }
        body.append(UInt8(ascii: "]"))
        return body
    }

    var userAgent: (name: String, value: String) { ("User-Agent", "switchyard/\(SwitchyardVersion.current)") }

    func importRequest(_ records: [EncodedRecord]) throws -> OutgoingRequest {
        var url = settings.baseURL + "/import?strict=1"
        let credentials: String
        switch settings.importAuth {
        case .projectToken:
            credentials = settings.token + ":"
        case .apiSecret(let secret):
            credentials = secret + ":"
        case .serviceAccount(let username, let secret, let projectID):
            credentials = username + ":" + secret
            url += "&project_id=" + Self.percentEncoded(projectID)
        }
        var json = ByteBuffer(bytes: Self.jsonArray(records))
        let compressed = try json.compress(with: .gzip())
        return OutgoingRequest(
            url: url,
            headers: [
                ("Content-Type", "application/json"), ("Content-Encoding", "gzip"), userAgent,
                ("Authorization", "Basic " + Data(credentials.utf8).base64EncodedString()),
            ],
            body: Array(compressed.readableBytesView), eventIndexes: records.map(\.eventIndex))
    }

    func formRequest(path: String, _ records: [EncodedRecord]) -> OutgoingRequest {
        let data = String(decoding: Self.jsonArray(records), as: UTF8.self)
        return OutgoingRequest(
            url: settings.baseURL + path,
            headers: [("Content-Type", "application/x-www-form-urlencoded"), userAgent],
            body: Array(("data=" + Self.percentEncoded(data)).utf8), eventIndexes: records.map(\.eventIndex))
    }

    /// `application/x-www-form-urlencoded` value encoding: `A-Z a-z 0-9 - . _ ~` kept, every other
    /// UTF-8 byte as `%XX` (uppercase hex; a space is `%20`).
    static func percentEncoded(_ text: String) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count * 2)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.append(byte)
            default:
                out.append(contentsOf: [UInt8(ascii: "%"), digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
