/// Which ingest path a request came in on.
public enum IngestEndpoint: Sendable, Equatable {
    /// `/v1/track` and friends: the body is one event and the path decides its type.
    case single(EventType)
    /// `/v1/batch`: `{"batch":[...], "context":{}, "integrations":{}, "sentAt":...}`.
    case batch
}

/// A request body that is valid JSON, with its write key found; the first step of ingest.
///
/// Scanning validates the whole body once, in time linear in its size and without building a tree,
/// so the write key can be checked before anything is normalised: an unknown key costs this scan.
public struct IngestBody: Sendable {
    /// The body, with each lone surrogate escape replaced by `\ufffd` (same length, so every range
    /// below still holds).
    public private(set) var bytes: [UInt8]
    /// `writeKey` from the body, when the sender put it there.
    public let writeKey: String?
    let document: Range<Int>
    let members: [JSONMember]
    /// What the scan found (duplicate keys, lone surrogates, huge numbers), in input order.
    let findings: [JSONFinding]

    init(bytes: [UInt8], writeKey: String?, document: Range<Int>, members: [JSONMember], findings: [JSONFinding]) {
        self.bytes = bytes
        self.writeKey = writeKey
        self.document = document
        self.members = members
        self.findings = findings
    }
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
///
/// What is stored reads the same in every JSON parser (Python, JavaScript, Go, DuckDB): keys are
/// classified after decoding escapes (`"user\u0049d"` is `userId`), an object with a repeated key is
/// refused (`duplicate_key`), a number no double can hold is refused (`invalid_number`), and a lone
/// surrogate escape is refused in an id, `messageId`, `type`, `event`, `name`, `previousId` or
/// `groupId` (`invalid_unicode`) and replaced by U+FFFD anywhere else.
public struct IngestParser: Sendable {
    public var rules: IngestRules

    /// The most bytes the events of one request may take as stored, as a multiple of
    /// `maxRequestBytes`: batch-level `context` is copied into every event, so without this bound a
    /// small request could make the gateway hold hundreds of times its size.
    public static let storedExpansionLimit = 8

    public init(rules: IngestRules) { self.rules = rules }

    /// Validates `body` as one JSON object and finds its `writeKey`, normalising nothing.
    public func scan(_ body: [UInt8]) throws(IngestRejection) -> IngestBody {
        var body = body
        let scanned = try body.withUnsafeBufferPointer { (bytes) throws(IngestRejection) -> IngestBody in
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
            let findings = scanner.findings
            // A repeated top-level key (two `writeKey`s, two `batch`es) makes the whole request ambiguous.
            if !findings.isEmpty {
                let duplicates = Set(findings.lazy.filter { $0.kind == .duplicateKey }.map(\.offset))
                if members.contains(where: { duplicates.contains($0.key.lowerBound) }) {
                    throw IngestRejection.duplicateKey
                }
            }
            var writeKey: String?
            if let member = members.first(where: { Self.key(bytes, $0.key, is: "writeKey") }),
                bytes[member.value.lowerBound] == UInt8(ascii: "\"")
            {
                writeKey = JSONText.decodeString(bytes, member.value)
            }
            return IngestBody(bytes: [], writeKey: writeKey, document: document, members: members, findings: findings)
        }
        for finding in scanned.findings where finding.kind == .loneSurrogate {
            // A lone `\ud800`-style escape becomes `\ufffd`: six bytes for six, so the scanned ranges stay valid.
            body.replaceSubrange((finding.offset + 2)..<(finding.offset + 6), with: "fffd".utf8)
        }
        return IngestBody(
            bytes: body, writeKey: scanned.writeKey, document: scanned.document, members: scanned.members,
            findings: scanned.findings)
    }

    /// Scans and normalises in one step (tests, the CLI); the gateway checks the write key in between.
    public func parse(
        _ body: [UInt8], endpoint: IngestEndpoint, receivedAt: Timestamp, clientIP: String?
    ) throws(IngestRejection) -> ParsedIngest {
        try parse(scan(body), endpoint: endpoint, receivedAt: receivedAt, clientIP: clientIP)
    }

    /// Normalises the events of a scanned body.
    public func parse(
        _ body: IngestBody, endpoint: IngestEndpoint, receivedAt: Timestamp, clientIP: String?
    ) throws(IngestRejection) -> ParsedIngest {
        try body.bytes.withUnsafeBufferPointer { (bytes) throws(IngestRejection) -> ParsedIngest in
            let scanner = JSONScanner(bytes)
            let members = body.members
            var normaliser = EventNormaliser(
                bytes: bytes, scanner: scanner, rules: rules, receivedAt: receivedAt, clientIP: clientIP)

            switch endpoint {
            case .single(let type):
                guard body.document.count <= rules.maxEventBytes else {
                    throw IngestRejection(
                        .eventTooLarge, "the event is \(body.document.count) bytes; the limit is \(rules.maxEventBytes)")
                }
                let event = try normaliser.normalise(
                    members: members, impliedType: type, findings: body.findings[...])
                return ParsedIngest(writeKey: body.writeKey, events: [event], indexes: [0], rejected: [])

            case .batch:
                guard let batchMember = members.first(where: { Self.key(bytes, $0.key, is: "batch") }) else {
                    throw IngestRejection(.invalidBatch, "a batch request needs a \"batch\" array of events")
                }
                guard bytes[batchMember.value.lowerBound] == UInt8(ascii: "[") else {
                    throw IngestRejection(.invalidBatch, "\"batch\" must be an array of events")
                }
                // Findings outside the events (in the batch-level context, say) spoil every event.
                for finding in body.findings where !batchMember.value.contains(finding.offset) {
                    if let rejection = IngestRejection(finding) { throw rejection }
                }
                for member in members {
                    if Self.key(bytes, member.key, is: "context") {
                        normaliser.batchContext = try objectOrNull(bytes, member.value, field: "context")
                    } else if Self.key(bytes, member.key, is: "integrations") {
                        normaliser.batchIntegrations = try objectOrNull(bytes, member.value, field: "integrations")
                    } else if Self.key(bytes, member.key, is: "sentAt") {
                        normaliser.batchSentAt = try normaliser.timestamp(member.value, field: "sentAt")
                    }
                }
                let shared = (normaliser.batchContext?.count ?? 0) + (normaliser.batchIntegrations?.count ?? 0)
                guard shared <= rules.maxEventBytes else {
                    throw IngestRejection(
                        .eventTooLarge,
                        "the batch-level context and integrations take \(shared) bytes, more than an event may "
                            + "(\(rules.maxEventBytes)); each event would be refused")
                }
                let elements = scanner.elements(ofArrayIn: batchMember.value, limit: rules.maxBatchEvents + 1)
                guard !elements.isEmpty else { throw IngestRejection(.emptyBatch, "the batch has no events") }
                guard elements.count <= rules.maxBatchEvents else {
                    throw IngestRejection(
                        .tooManyEvents,
                        "the batch has more than \(rules.maxBatchEvents) events; the limit is \(rules.maxBatchEvents) per request")
                }
                normaliser.prepareBatchContext()
                let storedLimit = rules.maxRequestBytes.multipliedReportingOverflow(by: Self.storedExpansionLimit)
                let maxStoredBytes = storedLimit.overflow ? Int.max : storedLimit.partialValue
                var storedBytes = 0
                var result = ParsedIngest(writeKey: body.writeKey, events: [], indexes: [], rejected: [])
                result.events.reserveCapacity(elements.count)
                var nextFinding = body.findings.startIndex
                for (index, element) in elements.enumerated() {
                    // Findings are in input order, as are the elements: each element takes the run inside it.
                    while nextFinding < body.findings.endIndex, body.findings[nextFinding].offset < element.lowerBound {
                        nextFinding += 1
                    }
                    let firstFinding = nextFinding
                    while nextFinding < body.findings.endIndex, body.findings[nextFinding].offset < element.upperBound {
                        nextFinding += 1
                    }
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
                            members: scanner.members(ofObjectIn: element), impliedType: nil,
                            findings: body.findings[firstFinding..<nextFinding])
                        storedBytes += event.body.count
                        guard storedBytes <= maxStoredBytes else {
                            throw IngestRejection(
                                .requestTooLarge,
                                "the events take more than \(maxStoredBytes) bytes as stored (batch-level context is "
                                    + "copied into each); send fewer events per request")
                        }
                        result.events.append(event)
                        result.indexes.append(index)
                    } catch where error.code == .requestTooLarge {
                        throw error
                    } catch {
                        result.rejected.append((index, error))
                    }
                }
                return result
            }
        }
    }

    /// Whether the key literal at `range` is `name`, after decoding escapes.
    static func key(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, is name: StaticString) -> Bool {
        if JSONText.key(bytes, range, equals: name) { return true }
        guard JSONText.hasEscape(bytes, range) else { return false }
        return JSONText.decodeString(bytes, range) == name.description
    }
}

extension IngestRejection {
    static let duplicateKey = IngestRejection(
        .duplicateKey, "an object has the same key twice; JSON readers disagree on which value wins")
    static let invalidNumber = IngestRejection(
        .invalidNumber, "a number is outside the range of a 64-bit floating point value")

    /// The rejection a scan finding causes wherever it is, or nil for one that is repaired instead.
    init?(_ finding: JSONFinding) {
        switch finding.kind {
        case .duplicateKey: self = .duplicateKey
        case .nonFiniteNumber: self = .invalidNumber
        case .loneSurrogate: return nil
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
    /// The batch context's members and their decoded keys, read once per request, not per event.
    var batchContextMembers: [(member: JSONMember, key: [UInt8])] = []
    var batchIntegrationsMembers: [(member: JSONMember, key: [UInt8])] = []

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

    mutating func prepareBatchContext() {
        batchContextMembers = decodedMembers(batchContext)
        batchIntegrationsMembers = decodedMembers(batchIntegrations)
    }

    func decodedMembers(_ object: Range<Int>?) -> [(member: JSONMember, key: [UInt8])] {
        guard let object else { return [] }
        return scanner.members(ofObjectIn: object).map { ($0, JSONText.decodedKey(bytes, $0.key)) }
    }

    func classify(_ members: [JSONMember]) -> Fields {
        var fields = Fields()
        for member in members {
            let key = member.key
            if JSONText.hasEscape(bytes, key) {
                // Classified as every reader will see it: `"user\u0049d"` is `userId`.
                classifyEscaped(member, into: &fields)
                continue
            }
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

    func classifyEscaped(_ member: JSONMember, into fields: inout Fields) {
        switch JSONText.decodeString(bytes, member.key) {
        case "type": fields.type = member.value
        case "name": fields.name = member.value
        case "event": fields.event = member.value
        case "userId": fields.userId = member.value
        case "sentAt": fields.sentAt = member.value
        case "traits": fields.traits = member.value
        case "context": fields.context = member.value
        case "groupId": fields.groupId = member.value
        case "writeKey", "receivedAt": break
        case "messageId": fields.messageId = member.value
        case "timestamp": fields.timestamp = member.value
        case "previousId": fields.previousId = member.value
        case "properties": fields.properties = member.value
        case "anonymousId": fields.anonymousId = member.value
        case "integrations": fields.integrations = member.value
        case "originalTimestamp": fields.originalTimestamp = member.value
        default: fields.passthrough.append(member)
        }
    }

    mutating func normalise(members: [JSONMember], impliedType: EventType?, findings: ArraySlice<JSONFinding>)
        throws(IngestRejection) -> NewEvent
    {
        for finding in findings {
            if let rejection = IngestRejection(finding) { throw rejection }
        }
        let fields = classify(members)
        if !findings.isEmpty {
            // Ids and names are compared and indexed: a replaced character would make two senders' ids equal.
            let strict = [
                fields.type, fields.userId, fields.anonymousId, fields.messageId, fields.event, fields.name,
                fields.previousId, fields.groupId,
            ]
            for case let range? in strict where findings.contains(where: { range.contains($0.offset) }) {
                throw IngestRejection(
                    .invalidUnicode,
                    "ids, messageId, type, event and name must be valid Unicode: a \\u escape of an unpaired surrogate is not")
            }
        }

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
            // Parsed instants lie within years 0001–9999, so this cannot overflow; it can leave that range.
            corrected = Timestamp(milliseconds: receivedAt.milliseconds - (sentAt.milliseconds - original.milliseconds))
            guard corrected.isRepresentable else {
                throw IngestRejection(
                    .invalidTimestamp,
                    "timestamp corrected by sentAt (the sender's clock skew) falls outside years 0001-9999; check sentAt")
            }
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
            // Top-level keys are stored decoded, so code downstream that looks for a key by its bytes
            // (the warehouse drops a sender's `resolvedUserId`) sees what every JSON reader sees.
            if JSONText.hasEscape(bytes, member.key) {
                out.key(JSONText.decodeString(bytes, member.key))
            } else {
                out.raw(slice(member.key))
                out.raw(":")
            }
            out.raw(slice(member.value))
        }
        if let properties { copy(member: "properties", properties, into: &out) }
        if let traits { copy(member: "traits", traits, into: &out) }
        out.raw(",\"context\":")
        writeMerged(context, batchContextMembers, addIP: clientIP, into: &out)
        if integrations != nil || batchIntegrations != nil {
            out.raw(",\"integrations\":")
            writeMerged(integrations, batchIntegrationsMembers, addIP: nil, into: &out)
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
        // The limit applies to the event as stored: batch context and enrichment count.
        guard out.bytes.count <= rules.maxEventBytes else {
            throw IngestRejection(
                .eventTooLarge,
                "the event is \(out.bytes.count) bytes as stored (with the batch context and the fields the gateway "
                    + "adds); the limit is \(rules.maxEventBytes)")
        }

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
        throw IngestRejection(
            .invalidTimestamp, "\(field) must be an ISO-8601 date-time string in years 0001-9999 like 2026-11-29T05:25:25.000Z")
    }

    /// Writes `primary` with the members of `fallback` it lacks, plus `"ip"` when neither has one.
    /// Keys are compared decoded (`"\u0069p"` is `ip`), so the result never repeats a key.
    func writeMerged(
        _ primary: Range<Int>?, _ fallback: [(member: JSONMember, key: [UInt8])], addIP: String?,
        into out: inout JSONWriter
    ) {
        let own = primary.map { scanner.members(ofObjectIn: $0) } ?? []
        out.raw("{")
        var first = true
        var hasIP = false
        var ownKeys = Set<[UInt8]>()
        if !fallback.isEmpty { ownKeys.reserveCapacity(own.count) }
        for member in own {
            if !first { out.comma() }
            first = false
            out.raw(slice(member.key))
            out.raw(":")
            out.raw(slice(member.value))
            if !fallback.isEmpty || addIP != nil {
                let key = JSONText.decodedKey(bytes, member.key)
                if key.elementsEqual("ip".utf8) { hasIP = true }
                if !fallback.isEmpty { ownKeys.insert(key) }
            }
        }
        for (member, key) in fallback where !ownKeys.contains(key) {
            if !first { out.comma() }
            first = false
            out.raw(slice(member.key))
            out.raw(":")
            out.raw(slice(member.value))
            if key.elementsEqual("ip".utf8) { hasIP = true }
        }
        if let addIP, !hasIP {
            if !first { out.comma() }
            out.raw("\"ip\":")
            out.string(addIP)
        }
        out.raw("}")
    }
}
