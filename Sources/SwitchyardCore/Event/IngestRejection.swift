/// Why ingest refused a request or one event of a batch.
///
/// `code` is stable snake_case: it is the API's `error` value and a metric label. `message` tells the
/// sender how to fix the cause and never echoes payload values.
public struct IngestRejection: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, CaseIterable {
        case invalidJSON = "invalid_json"
        case invalidType = "invalid_type"
        case invalidTimestamp = "invalid_timestamp"
        case invalidMessageId = "invalid_message_id"
        case missingType = "missing_type"
        case unknownType = "unknown_type"
        case missingId = "missing_id"
        case missingEvent = "missing_event"
        case missingPreviousId = "missing_previous_id"
        case missingGroupId = "missing_group_id"
        case invalidBatch = "invalid_batch"
        case emptyBatch = "empty_batch"
        case eventTooLarge = "event_too_large"
        case requestTooLarge = "request_too_large"
        case tooManyEvents = "too_many_events"
        case duplicateKey = "duplicate_key"
        case invalidUnicode = "invalid_unicode"
        case invalidNumber = "invalid_number"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }

    /// Size rejections are `413`; everything else about the body is `400`.
    public var isSizeLimit: Bool {
        switch code {
        case .eventTooLarge, .requestTooLarge, .tooManyEvents: true
        default: false
        }
    }
}
