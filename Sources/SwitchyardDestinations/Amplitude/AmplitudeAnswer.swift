import SwitchyardCore

/// What Amplitude made of one request of events (vendor-formats §2.3), in the terms the resend loop of
/// ``AmplitudeDestination`` needs. Positions are indexes into the request's `events` array.
///
/// | status | body | answer |
/// |---|---|---|
/// | 2xx | — | `accepted` |
/// | 400 | `error` starting `Invalid API key`, or `missing_field: api_key` | `request(.deadLetterAll)`, reason names `api_key` |
/// | 400 | other `missing_field` | `request(.deadLetterAll)`: the request as a whole is bad |
/// | 400 | indexes in `events_with_invalid_fields`, `events_with_missing_fields`, `events_with_invalid_id_lengths`, `silenced_events` | `rejected`: those events never pass; Amplitude ingested none of the request, so the others are sent again |
/// | 400 | no index and no `missing_field` | `request(.deadLetterAll)` |
/// | 401, 403 | — | `request(.deadLetterAll)`, reason names `api_key` (403 is also Amplitude's WAF or region block) |
/// | 408, 5xx but 501 | — | `request(.retry)` (500/502/504 may have ingested some events: `insert_id` dedupes the retry) |
/// | 413 | — | `request(.split)`; one event alone: `request(.deadLetterAll)` |
/// | 429 | `throttled_events` | `throttled`: those whose user or device is in `exceeded_daily_quota_users`/`_devices` are over quota (dead letters), the rest wait the pause (30 s on HTTP V2, 15 s on the Batch API, or `Retry-After` when longer); none of the request was ingested, so the others are sent again at once |
/// | 429 | no `throttled_events` | `request(.retry)` after the pause |
/// | other | — | ``HTTPClassification`` (410 disables, 3xx and other 4xx dead-letter) |
///
/// Reasons never quote ids or event values: they may end up in logs and the dead-letter list.
public enum AmplitudeAnswer: Sendable, Equatable {
    /// Every event of the request was ingested.
    case accepted
    /// The events at these positions can never be accepted, each with why; Amplitude ingested none of
    /// the request.
    case rejected([Int: String], status: Int)
    /// Amplitude throttled the users or devices of the events at `waiting` (send them again after `after`)
    /// and the events at `overQuota` exceeded their user's or device's daily quota; it ingested none of
    /// the request.
    case throttled(waiting: [Int], overQuota: [Int], after: Duration)
    /// An answer about the request as a whole: `.retry`, `.split`, `.deadLetterAll` or `.disable`.
    case request(DeliveryOutcome)

    /// Reads `response` to a request carrying `events`. `useBatchAPI` picks the throttling pause.
    public init(_ response: HTTPResult, events: [AmplitudeEvent], useBatchAPI: Bool) {
        let status = response.status
        let retryAfter = HTTPClassification.retryAfter(response.header("retry-after"))
        let pause = max(useBatchAPI ? Duration.seconds(15) : .seconds(30), retryAfter ?? .zero)
        // A body that is not JSON (a proxy's error page) is read by its status alone.
        let body = (try? JSONValue.parse(response.body)) ?? .null
        let error = body["error"]?.stringValue ?? ""
        let detail = error.isEmpty ? "" : " \(HTTPClassification.excerpt(error))"
        switch status {
        case 200..<300:
            self = .accepted
        case 400:
            let missingField = body["missing_field"]?.stringValue
            if error.hasPrefix("Invalid API key") || missingField == "api_key" {
                self = .request(.deadLetterAll(reason: Self.apiKeyReason(status: 400), status: 400))
            } else if let missingField {
                self = .request(
                    .deadLetterAll(
                        reason: "Amplitude rejected the request (HTTP 400): missing field \(Self.shown(missingField))",
                        status: 400)
                )
            } else {
                let reasons = Self.rejections(body, count: events.count)
                if reasons.isEmpty {
                    self = .request(
                        .deadLetterAll(reason: "Amplitude rejected the request (HTTP 400)\(detail)", status: 400))
                } else {
                    self = .rejected(reasons, status: 400)
                }
            }
        case 401, 403:
            self = .request(.deadLetterAll(reason: Self.apiKeyReason(status: status), status: status))
        case 413:
            if events.count > 1 {
                self = .request(.split)
            } else {
                self = .request(
                    .deadLetterAll(reason: "the event is larger than Amplitude accepts (HTTP 413)", status: 413))
            }
        case 429:
            let throttled = Self.positions(body["throttled_events"], count: events.count)
            guard !throttled.isEmpty else {
                self = .request(
                    .retry(after: pause, reason: "Amplitude throttled the request (HTTP 429)\(detail)", status: 429))
                return
            }
            let users = Set(body["exceeded_daily_quota_users"]?.objectValue?.keys ?? [])
            let devices = Set(body["exceeded_daily_quota_devices"]?.objectValue?.keys ?? [])
            let overQuota = throttled.filter { position in
                events[position].userId.map(users.contains) == true
                    || events[position].deviceId.map(devices.contains) == true
            }
            let over = Set(overQuota)
            self = .throttled(waiting: throttled.filter { !over.contains($0) }, overQuota: overQuota, after: pause)
        default:
            self = .request(HTTPClassification.outcome(status: status, retryAfter: retryAfter, body: error))
        }
    }

    static func apiKeyReason(status: Int) -> String {
        "Amplitude refused the api_key (HTTP \(status)): check api_key (and region or endpoint) of this destination"
    }

    /// Position → reason for every event a 400 names; the first reason found for a position wins.
    static func rejections(_ body: JSONValue, count: Int) -> [Int: String] {
        var reasons: [Int: String] = [:]
        func add(_ positions: [Int], _ reason: String) {
            for position in positions where reasons[position] == nil { reasons[position] = reason }
        }
        for (field, positions) in fieldPositions(body["events_with_invalid_fields"], count: count) {
            add(positions, "invalid value of \(field)")
        }
        for (field, positions) in fieldPositions(body["events_with_missing_fields"], count: count) {
            add(positions, "missing \(field)")
        }
        for (field, positions) in fieldPositions(body["events_with_invalid_id_lengths"], count: count) {
            add(positions, "\(field) is shorter than the minimum id length (set min_id_length to allow it)")
        }
        add(positions(body["silenced_events"], count: count), "its device is silenced by Amplitude (spam protection)")
        return reasons
    }

    /// `{"field": [positions]}` as Amplitude writes these maps (a bare list reads as field `an id`).
    static func fieldPositions(_ value: JSONValue?, count: Int) -> [(String, [Int])] {
        switch value {
        case .object(let object): return object.members.map { (shown($0.key), positions($0.value, count: count)) }
        case .array: return [("an id", positions(value, count: count))]
        default: return []
        }
    }

    /// A name taken from Amplitude's answer, as a reason quotes it: at most 64 characters.
    static func shown(_ name: String) -> String {
        name.unicodeScalars.count > 64 ? HTTPClassification.excerpt(name, limit: 61) + "..." : name
    }

    /// The valid positions in a JSON array of integers, in order, without repeats.
    static func positions(_ value: JSONValue?, count: Int) -> [Int] {
        var seen = Set<Int>()
        return (value?.arrayValue ?? []).compactMap { element in
            // Checked: Amplitude's answer may hold 1e300, -1, 1.5 or NaN where a position belongs.
            guard let number = element.doubleValue, let position = Int(exactly: number), (0..<count).contains(position)
            else { return nil }
            return seen.insert(position).inserted ? position : nil
        }
    }
}
