/// Which ingest path a request came in on.
public enum IngestEndpoint: Sendable, Equatable {
    /// `/v1/track` and friends: the body is one event and the path decides its type.
    case single(EventType)
    /// `/v1/batch`: `{"batch":[...], "context":{}, "integrations":{}, "sentAt":...}`.
    case batch
}

/// The outcome of parsing one ingest request.
public struct ParsedIngest: Sendable {
    /// `writeKey` from the body, when the sender put it there.
    public var writeKey: String?
    /// The valid events, in request order, with an empty `source` for the caller to set after auth.
    public var events: [NewEvent]
    /// For each element of `events`, its index in the request's batch (0 for a single event).
    public var indexes: [Int]
    /// Batch elements that were refused, with why.
    public var rejected: [(index: Int, rejection: IngestRejection)]
}

/// Validates and enriches Segment messages on the raw bytes (SPEC §2).
///
/// Only the fields ingest needs are decoded (type, ids, messageId, names, timestamps, context keys);
/// `properties`, `traits` and unknown fields are copied byte for byte. Enrichment:
/// - `messageId`: a random UUID when missing or empty;
/// - `receivedAt`: the arrival time;
/// - `originalTimestamp`: the sender's `timestamp` (or its `originalTimestamp`, as RudderStack SDKs send);
/// - `timestamp = receivedAt − (sentAt − originalTimestamp)` when `sentAt` is known, else the original
///   timestamp, else `receivedAt`;
/// - `context.ip`: the connection's address when the sender gave none;
/// - batch-level `context`, `integrations` and `sentAt` apply to each event; the event's own keys win;
/// - `writeKey` is removed, so a destination never sees a credential.
public struct IngestParser: Sendable {
    public var rules: IngestRules

    public init(rules: IngestRules) { self.rules = rules }

    public func parse(
        _ body: [UInt8], endpoint: IngestEndpoint, receivedAt: Timestamp, clientIP: String?
    ) throws(IngestRejection) -> ParsedIngest {
        try body.withUnsafeBufferPointer { (bytes) throws(IngestRejection) -> ParsedIngest in
            var scanner = JSONScanner(bytes)
            let document: Range<Int>
            do {
                document = try scanner.scanDocument()
            } catch {
                throw IngestRejection(.invalidJSON, "the body is not valid JSON: \(error)")
            }
            guard bytes[document.lowerBound] == UInt8(ascii: "{") else {
                throw IngestRejection(.invalidJSON, "the body must be a JSON object")
            }
            let members = scanner.members(ofObjectIn: document)
            var writeKey: String?
            if let member = members.last(where: { JSONText.key(bytes, $0.key, equals: "writeKey") }),
                bytes[member.value.lowerBound] == UInt8(ascii: "\"")
            {
                writeKey = JSONText.decodeString(bytes, member.value)
            }
            var normaliser = EventNormaliser(
                bytes: bytes, scanner: scanner, rules: rules, receivedAt: receivedAt, clientIP: clientIP)

            switch endpoint {
            case .single(let type):
                guard document.count <= rules.maxEventBytes else {
                    throw IngestRejection(
                        .eventTooLarge, "the event is \(document.count) bytes; the limit is \(rules.maxEventBytes)")
                }
                let event = try normaliser.normalise(members: members, impliedType: type)
                return ParsedIngest(writeKey: writeKey, events: [event], indexes: [0], rejected: [])

            case .batch:
                guard let batchMember = members.last(where: { JSONText.key(bytes, $0.key, equals: "batch") }) else {
                    throw IngestRejection(.invalidBatch, "a batch request needs a \"batch\" array of events")
                }
                guard bytes[batchMember.value.lowerBound] == UInt8(ascii: "[") else {
                    throw IngestRejection(.invalidBatch, "\"batch\" must be an array of events")
                }
                for member in members {
                    if JSONText.key(bytes, member.key, equals: "context") {
                        normaliser.batchContext = try objectOrNull(bytes, member.value, field: "context")
                    } else if JSONText.key(bytes, member.key, equals: "integrations") {
                        normaliser.batchIntegrations = try objectOrNull(bytes, member.value, field: "integrations")
                    } else if JSONText.key(bytes, member.key, equals: "sentAt") {
                        normaliser.batchSentAt = try normaliser.timestamp(member.value, field: "sentAt")
                    }
                }
                let elements = scanner.elements(ofArrayIn: batchMember.value)
                guard !elements.isEmpty else { throw IngestRejection(.emptyBatch, "the batch has no events") }
                guard elements.count <= rules.maxBatchEvents else {
                    throw IngestRejection(
                        .tooManyEvents,
                        "the batch has \(elements.count) events; the limit is \(rules.maxBatchEvents) per request")
                }
                var result = ParsedIngest(writeKey: writeKey, events: [], indexes: [], rejected: [])
                result.events.reserveCapacity(elements.count)
                for (index, element) in elements.enumerated() {
                    do throws(IngestRejection) {
                        guard element.count <= rules.maxEventBytes else {
                            throw IngestRejection(
                                .eventTooLarge,
                                "the event is \(element.count) bytes; the limit is \(rules.maxEventBytes)")
                        }
                        guard bytes[element.lowerBound] == UInt8(ascii: "{") else {
                            throw IngestRejection(.invalidType, "each batch element must be a JSON object")
                        }
                        let event = try normaliser.normalise(
                            members: scanner.members(ofObjectIn: element), impliedType: nil)
                        result.events.append(event)
                        result.indexes.append(index)
                    } catch {
                        result.rejected.append((index, error))
                    }
                }
                return result
            }
        }
    }
}

func objectOrNull(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, field: String) throws(IngestRejection)
    -> Range<Int>?
{
    switch bytes[range.lowerBound] {
    case UInt8(ascii: "{"): return range
    case UInt8(ascii: "n"): return nil
    default: throw IngestRejection(.invalidType, "\(field) must be an object")
    }
}

/// Normalises one event object; holds the request-wide parts (batch context, arrival time, client address).
struct EventNormaliser: ~Copyable {
    let bytes: UnsafeBufferPointer<UInt8>
    let scanner: JSONScanner
    let rules: IngestRules
    let receivedAt: Timestamp
    let clientIP: String?
    var batchContext: Range<Int>?
    var batchIntegrations: Range<Int>?
    var batchSentAt: Timestamp?

    init(bytes: UnsafeBufferPointer<UInt8>, scanner: borrowing JSONScanner, rules: IngestRules, receivedAt: Timestamp, clientIP: String?) {
        self.bytes = bytes
        self.scanner = JSONScanner(bytes)
        self.rules = rules
        self.receivedAt = receivedAt
        self.clientIP = clientIP
    }

    /// Fields ingest reads; every other member is copied through unchanged.
    struct Fields {
        var type: Range<Int>?
        var userId: Range<Int>?
        var anonymousId: Range<Int>?
        var messageId: Range<Int>?
        var event: Range<Int>?
        var name: Range<Int>?
        var previousId: Range<Int>?
        var groupId: Range<Int>?
        var timestamp: Range<Int>?
        var originalTimestamp: Range<Int>?
        var sentAt: Range<Int>?
        var context: Range<Int>?
        var integrations: Range<Int>?
        var properties: Range<Int>?
        var traits: Range<Int>?
        var passthrough: [JSONMember] = []
    }

    func classify(_ members: [JSONMember]) -> Fields {
        var fields = Fields()
        for member in members {
            let key = member.key
            // Dispatch on length first: most keys are rejected by one comparison.
            switch key.count - 2 {
            case 4 where JSONText.key(bytes, key, equals: "type"): fields.type = member.value
            case 4 where JSONText.key(bytes, key, equals: "name"): fields.name = member.value
            case 5 where JSONText.key(bytes, key, equals: "event"): fields.event = member.value
            case 6 where JSONText.key(bytes, key, equals: "userId"): fields.userId = member.value
            case 6 where JSONText.key(bytes, key, equals: "sentAt"): fields.sentAt = member.value
            case 6 where JSONText.key(bytes, key, equals: "traits"): fields.traits = member.value
            case 7 where JSONText.key(bytes, key, equals: "context"): fields.context = member.value
            case 7 where JSONText.key(bytes, key, equals: "groupId"): fields.groupId = member.value
            case 8 where JSONText.key(bytes, key, equals: "writeKey"): break
            case 9 where JSONText.key(bytes, key, equals: "messageId"): fields.messageId = member.value
            case 9 where JSONText.key(bytes, key, equals: "timestamp"): fields.timestamp = member.value
            case 10 where JSONText.key(bytes, key, equals: "previousId"): fields.previousId = member.value
            case 10 where JSONText.key(bytes, key, equals: "receivedAt"): break  // ours to set
            case 10 where JSONText.key(bytes, key, equals: "properties"): fields.properties = member.value
            case 11 where JSONText.key(bytes, key, equals: "anonymousId"): fields.anonymousId = member.value
            case 12 where JSONText.key(bytes, key, equals: "integrations"): fields.integrations = member.value
            case 17 where JSONText.key(bytes, key, equals: "originalTimestamp"): fields.originalTimestamp = member.value
            default: fields.passthrough.append(member)
            }
        }
        return fields
    }

    mutating func normalise(members: [JSONMember], impliedType: EventType?) throws(IngestRejection) -> NewEvent {
        let fields = classify(members)

        let type: EventType
        if let impliedType {
            type = impliedType
        } else {
            guard let range = fields.type, let text = string(range) else {
                throw IngestRejection(.missingType, "each batch event needs a \"type\" (track, page, screen, identify, group or alias)")
            }
            guard let parsed = EventType(rawValue: text) else {
                throw IngestRejection(.unknownType, "type must be one of track, page, screen, identify, group or alias")
            }
            type = parsed
        }

        var blocked: [BlockedIdentifier] = []
        let userId = try identifier(fields.userId, field: "userId", blocked: &blocked)
        let anonymousId = try identifier(fields.anonymousId, field: "anonymousId", blocked: &blocked)
        guard userId != nil || anonymousId != nil else {
            if blocked.isEmpty {
                throw IngestRejection(.missingId, "the event needs a userId or an anonymousId")
            }
            throw IngestRejection(
                .missingId, "the event needs a userId or an anonymousId; blocked placeholder values do not count")
        }

        var messageId = try identifier(fields.messageId, field: "messageId") ?? ""
        if messageId.isEmpty {
            messageId = MessageId.random()
        } else if messageId.utf8.count > 100 {
            throw IngestRejection(.invalidMessageId, "messageId must be at most 100 characters")
        }

        var eventName: String?
        switch type {
        case .track:
            guard let range = fields.event, bytes[range.lowerBound] != UInt8(ascii: "n") else {
                throw IngestRejection(.missingEvent, "a track call needs an \"event\" name")
            }
            guard let name = string(range) else { throw IngestRejection(.invalidType, "event must be a string") }
            guard !name.isEmpty else { throw IngestRejection(.missingEvent, "a track call needs a non-empty \"event\" name") }
            eventName = name
        case .page, .screen:
            if let range = fields.name, bytes[range.lowerBound] != UInt8(ascii: "n") {
                guard let name = string(range) else { throw IngestRejection(.invalidType, "name must be a string") }
                eventName = name
            }
        default:
            break
        }
        if type != .track, let range = fields.event, bytes[range.lowerBound] != UInt8(ascii: "\""),
            bytes[range.lowerBound] != UInt8(ascii: "n")
        {
            throw IngestRejection(.invalidType, "event must be a string")
        }

        var previousId: String?
        if type == .alias {
            var aliasBlocked: [BlockedIdentifier] = []
            previousId = try identifier(fields.previousId, field: "previousId", blocked: &aliasBlocked)
            guard previousId != nil else {
                throw IngestRejection(
                    .missingPreviousId,
                    aliasBlocked.isEmpty
                        ? "an alias call needs a \"previousId\"" : "an alias call needs a \"previousId\" that is not a blocked placeholder value")
            }
            guard userId != nil else {
                throw IngestRejection(.missingId, "an alias call needs the new \"userId\"")
            }
        } else {
            previousId = try identifier(fields.previousId, field: "previousId")
        }
        let groupId = try identifier(fields.groupId, field: "groupId")
        if type == .group, groupId == nil {
            throw IngestRejection(.missingGroupId, "a group call needs a \"groupId\"")
        }

        let properties = try objectOrNull(fields.properties, field: "properties")
        let traits = try objectOrNull(fields.traits, field: "traits")
        let context = try objectOrNull(fields.context, field: "context")
        let integrations = try objectOrNull(fields.integrations, field: "integrations")

        var original = try timestamp(fields.timestamp, field: "timestamp")
        if original == nil { original = try timestamp(fields.originalTimestamp, field: "originalTimestamp") }
        let sentAt = try timestamp(fields.sentAt, field: "sentAt") ?? batchSentAt
        let corrected: Timestamp
        if let original, let sentAt {
            corrected = Timestamp(milliseconds: receivedAt.milliseconds - (sentAt.milliseconds - original.milliseconds))
        } else {
            corrected = original ?? receivedAt
        }

        var out = JSONWriter(capacity: members.last.map { $0.value.upperBound - members[0].key.lowerBound + 200 } ?? 256)
        out.raw("{\"type\":")
        out.string(type.rawValue)
        out.raw(",\"messageId\":")
        out.string(messageId)
        if let userId {
            out.raw(",\"userId\":")
            out.string(userId)
        }
        if let anonymousId {
            out.raw(",\"anonymousId\":")
            out.string(anonymousId)
        }
        if let previousId {
            out.raw(",\"previousId\":")
            out.string(previousId)
        }
        if let groupId {
            out.raw(",\"groupId\":")
            out.string(groupId)
        }
        if type == .track, let eventName {
            out.raw(",\"event\":")
            out.string(eventName)
        } else if let range = fields.event {
            copy(member: "event", range, into: &out)
        }
        if let range = fields.name { copy(member: "name", range, into: &out) }
        for member in fields.passthrough {
            out.comma()
            out.raw(slice(member.key))
            out.raw(":")
            out.raw(slice(member.value))
        }
        if let properties { copy(member: "properties", properties, into: &out) }
        if let traits { copy(member: "traits", traits, into: &out) }
        out.raw(",\"context\":")
        writeMerged(context, batchContext, addIP: clientIP, into: &out)
        if integrations != nil || batchIntegrations != nil {
            out.raw(",\"integrations\":")
            writeMerged(integrations, batchIntegrations, addIP: nil, into: &out)
        }
        if let original {
            out.raw(",\"originalTimestamp\":")
            out.string(original.iso8601)
        }
        if let sentAt {
            out.raw(",\"sentAt\":")
            out.string(sentAt.iso8601)
        }
        out.raw(",\"timestamp\":")
        out.string(corrected.iso8601)
        out.raw(",\"receivedAt\":")
        out.string(receivedAt.iso8601)
        out.raw("}")

        return NewEvent(
            source: "", messageId: messageId, type: type, userId: userId, anonymousId: anonymousId,
            eventName: eventName, previousId: previousId, groupId: groupId, timestamp: corrected,
            receivedAt: receivedAt, blockedIds: blocked, body: out.bytes)
    }

    func slice(_ range: Range<Int>) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(rebasing: bytes[range])
    }

    func copy(member name: String, _ range: Range<Int>, into out: inout JSONWriter) {
        out.comma()
        out.key(name)
        out.raw(slice(range))
    }

    func string(_ range: Range<Int>) -> String? {
        guard bytes[range.lowerBound] == UInt8(ascii: "\"") else { return nil }
        return JSONText.decodeString(bytes, range)
    }

    /// Reads an id: a string, or a number (some SDKs send numeric user ids; they become strings).
    /// `null` and absent are nil. With `blocked`, a blocked value is nil and recorded there.
    func identifier(_ range: Range<Int>?, field: String, blocked: inout [BlockedIdentifier]) throws(IngestRejection)
        -> String?
    {
        guard let value = try identifier(range, field: field) else { return nil }
        if rules.isBlocked(value) {
            blocked.append(BlockedIdentifier(field: field, value: value))
            return nil
        }
        return value
    }

    func identifier(_ range: Range<Int>?, field: String) throws(IngestRejection) -> String? {
        guard let range else { return nil }
        switch bytes[range.lowerBound] {
        case UInt8(ascii: "\""): return JSONText.decodeString(bytes, range)
        case UInt8(ascii: "n"): return nil
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return String(decoding: slice(range), as: UTF8.self)
        default: throw IngestRejection(.invalidType, "\(field) must be a string")
        }
    }

    func objectOrNull(_ range: Range<Int>?, field: String) throws(IngestRejection) -> Range<Int>? {
        guard let range else { return nil }
        return try SwitchyardCore.objectOrNull(bytes, range, field: field)
    }

    func timestamp(_ range: Range<Int>?, field: String) throws(IngestRejection) -> Timestamp? {
        guard let range else { return nil }
        switch bytes[range.lowerBound] {
        case UInt8(ascii: "n"): return nil
        case UInt8(ascii: "\""):
            if let value = Timestamp(iso8601: JSONText.decodeString(bytes, range)) { return value }
        default: break
        }
        throw IngestRejection(.invalidTimestamp, "\(field) must be an ISO-8601 date-time string like 2026-11-29T05:25:25.000Z")
    }

    /// Writes `primary` with the members of `fallback` it lacks, plus `"ip"` when neither has one.
    func writeMerged(_ primary: Range<Int>?, _ fallback: Range<Int>?, addIP: String?, into out: inout JSONWriter) {
        let own = primary.map { scanner.members(ofObjectIn: $0) } ?? []
        out.raw("{")
        var first = true
        for member in own {
            if !first { out.comma() }
            first = false
            out.raw(slice(member.key))
            out.raw(":")
            out.raw(slice(member.value))
        }
        var hasIP = own.contains { JSONText.key(bytes, $0.key, equals: "ip") }
        if let fallback {
            for member in scanner.members(ofObjectIn: fallback)
            where !own.contains(where: { slice($0.key).elementsEqual(slice(member.key)) }) {
                if !first { out.comma() }
                first = false
                out.raw(slice(member.key))
                out.raw(":")
                out.raw(slice(member.value))
                if JSONText.key(bytes, member.key, equals: "ip") { hasIP = true }
            }
        }
        if let addIP, !hasIP {
            if !first { out.comma() }
            out.raw("\"ip\":")
            out.string(addIP)
        }
        out.raw("}")
    }
}
