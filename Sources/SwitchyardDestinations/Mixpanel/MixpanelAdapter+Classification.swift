import CompressNIO
import Foundation
import NIOCore
import SwitchyardCore

extension MixpanelAdapter {
    /// Reads one answer; the table is in ``MixpanelAdapter``'s doc comment.
    public func classify(_ response: HTTPResult, for request: OutgoingRequest) -> DeliveryOutcome {
        let endpoint = Self.endpoint(of: request)
        let status = response.status
        switch status {
        case 200..<300:
            return endpoint == .importEvents ? .delivered : verboseOutcome(response, endpoint: endpoint)
        case 400 where endpoint == .importEvents:
            return failedRecordsOutcome(response, for: request)
        case 401, 403:
            return .deadLetterAll(reason: credentialProblem(response, endpoint: endpoint), status: status)
        case 413 where Set(request.eventIndexes).count <= 1:
            return .deadLetterAll(
                reason: "HTTP 413: the event is over Mixpanel's size limits (1 MB per event)\(Self.detail(response))",
                status: status)
        default:
            return HTTPClassification.outcome(
                status: status, retryAfter: HTTPClassification.retryAfter(response.header("retry-after")),
                body: response.bodyText)
        }
    }

    /// Which API a request went to, from the last path segment of its URL.
    static func endpoint(of request: OutgoingRequest) -> MixpanelRecord.Endpoint {
        let path = request.url.prefix { $0 != "?" }
        if path.hasSuffix("/engage") { return .engage }
        if path.hasSuffix("/groups") { return .groups }
        return .importEvents
    }

    static func name(of endpoint: MixpanelRecord.Endpoint) -> String {
        switch endpoint {
        case .importEvents: return "/import"
        case .engage: return "/engage"
        case .groups: return "/groups"
        }
    }

    /// `: <Mixpanel's error>` from an answer's JSON `error`, else its text; empty when there is none.
    static func detail(_ response: HTTPResult) -> String {
        let json = try? JSONValue.parse(response.body)  // a non-JSON answer is quoted as text instead
        let text = json?["error"]?.stringValue ?? (json == nil ? response.bodyText : "")
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.isEmpty ? "" : ": " + HTTPClassification.excerpt(trimmed)
    }

    /// `/engage` and `/groups` answer 200 even for invalid updates; `verbose=1` makes them say so.
    func verboseOutcome(_ response: HTTPResult, endpoint: MixpanelRecord.Endpoint) -> DeliveryOutcome {
        let text = response.bodyText.trimmingCharacters(in: .whitespacesAndNewlines)
        let json = try? JSONValue.parse(text)  // the non-verbose answer is plain `1` / `0`
        let accepted: Bool
        switch json?["status"] ?? json {
        case .number(let number)?: accepted = number != "0"
        case .string(let word)?: accepted = word == "1" || word.uppercased() == "OK"
        default: accepted = true  // an answer without a status is Mixpanel's success page
        }
        if accepted { return .delivered }
        return .deadLetterAll(
            reason: "Mixpanel \(Self.name(of: endpoint)) refused the updates (status 0)\(Self.detail(response))",
            status: response.status)
    }

    /// A 400 from `/import?strict=1`: the listed records failed, the others were ingested.
    func failedRecordsOutcome(_ response: HTTPResult, for request: OutgoingRequest) -> DeliveryOutcome {
        let json = try? JSONValue.parse(response.body)  // an unreadable 400 still rejects the request
        guard let failed = json?["failed_records"]?.arrayValue, !failed.isEmpty else {
            return .deadLetterAll(
                reason: "Mixpanel /import refused the request (HTTP 400)\(Self.detail(response))", status: 400)
        }
        var positions: Set<Int> = []
        var insertIdPositions: [String: Int]?
        for record in failed {
            if let number = record["index"]?.doubleValue, let index = Int(exactly: number),
                request.eventIndexes.indices.contains(index)
            {
                positions.insert(index)
                continue
            }
            let insertId = (record["insert_id"] ?? record["$insert_id"])?.stringValue
            if insertIdPositions == nil { insertIdPositions = Self.insertIdPositions(in: request) }
            guard let insertId, let position = insertIdPositions?[insertId] else {
                // A failure we cannot place: dead-letter the whole request rather than lose it. The
                // ingested events dedupe by `$insert_id` if the dead letters are replayed.
                return .deadLetterAll(
                    reason:
                        "Mixpanel /import rejected records it did not identify (HTTP 400)\(Self.recordDetail(record))",
                    status: 400)
            }
            positions.insert(position)
        }
        let indexes = Set(positions.map { request.eventIndexes[$0] })
        let reason =
            "Mixpanel /import rejected \(positions.count) of \(request.eventIndexes.count) records (HTTP 400)"
            + Self.recordDetail(failed[0])
        return .deadLetter(indexes: indexes.sorted(), reason: reason, status: 400)
    }

    /// `: <field>: <message>` of a failed record.
    static func recordDetail(_ record: JSONValue) -> String {
        let parts = [record["field"]?.stringValue, record["message"]?.stringValue].compactMap { $0 }
        return parts.isEmpty ? "" : ": " + HTTPClassification.excerpt(parts.joined(separator: ": "))
    }

    /// Positions of the records in `request`'s (gzipped) body by their `$insert_id`, for failed
    /// records that name no usable `index`. Records that share an id belong to the same event.
    static func insertIdPositions(in request: OutgoingRequest) -> [String: Int] {
        var buffer = ByteBuffer(bytes: request.body)
        // Our own gzip; were it unreadable, no failure could be placed and the request is dead-lettered.
        guard let plain = try? buffer.decompress(with: .gzip()),
            let records = try? JSONValue.parse(Array(plain.readableBytesView)).arrayValue
        else { return [:] }
        var positions: [String: Int] = [:]
        for (position, record) in records.enumerated() {
            if let insertId = record["properties"]?["$insert_id"]?.stringValue, positions[insertId] == nil {
                positions[insertId] = position
            }
        }
        return positions
    }

    /// The reason for a 401/403: which setting holds the refused credential.
    func credentialProblem(_ response: HTTPResult, endpoint: MixpanelRecord.Endpoint) -> String {
        let credential: String
        switch (endpoint, settings.importAuth) {
        case (.importEvents, .apiSecret):
            credential = "the API secret (`secret`)"
        case (.importEvents, .serviceAccount):
            credential = "the service account (`service_account`) or its `project_id`"
        default:
            credential = "the project token (`token`)"
        }
        return "Mixpanel \(Self.name(of: endpoint)) refused \(credential) with HTTP \(response.status)"
            + "\(Self.detail(response)); fix the credential, then replay these dead letters"
    }
}
