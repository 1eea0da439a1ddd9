import SwitchyardCore
import SwitchyardDestinations
import SwitchyardStore

/// Builds the live view's items (SPEC §6 "Live view"): the JSON of each kind and the facts filters use.
/// Called only while the hub is watched.
enum LiveItems {
    /// `ingest`: the stored event, as destinations get it, and who it is about. Made when read.
    static func ingest(_ stored: StoredEvent) -> LiveItem {
        LiveItem(kind: .ingest, content: IngestContent(stored: stored))
    }

    struct IngestContent: LiveItemContent {
        let stored: StoredEvent

        var data: [UInt8] {
            let event = stored.event
            var writer = JSONWriter(capacity: event.body.count + 300)
            writer.raw("{")
            writer.key("at")
            writer.string(event.receivedAt.iso8601)
            writer.raw(",")
            writer.key("source")
            writer.string(event.source)
            writer.raw(",")
            writer.key("sequence")
            writer.integer(stored.sequence)
            writer.raw(",")
            writer.key("messageId")
            writer.string(event.messageId)
            writer.raw(",")
            writer.key("type")
            writer.string(event.type.rawValue)
            if let name = event.eventName {
                writer.raw(",")
                writer.key(event.type == .track ? "event" : "name")
                writer.string(name)
            }
            writer.raw(",")
            writer.key("userId")
            writer.optionalString(event.userId)
            writer.raw(",")
            writer.key("anonymousId")
            writer.optionalString(event.anonymousId)
            writer.raw(",")
            writer.key("resolvedUserId")
            writer.optionalString(stored.resolvedUserId)
            writer.raw(",")
            writer.key("message")
            writer.raw(event.body)
            writer.raw("}")
            return writer.bytes
        }

        var facts: LiveFacts { LiveItems.facts([stored]) }
    }

    /// `route`: what one destination decided for one event. Made when read: one per event and destination.
    static func route(
        _ stored: StoredEvent, destination: String, decision: String, reason: String?, at: Timestamp
    ) -> LiveItem {
        LiveItem(
            kind: .route,
            content: RouteContent(stored: stored, destination: destination, decision: decision, reason: reason, at: at))
    }

    struct RouteContent: LiveItemContent {
        let stored: StoredEvent
        let destination: String
        let decision: String
        let reason: String?
        let at: Timestamp

        var data: [UInt8] {
            var writer = JSONWriter(capacity: 200 + stored.event.messageId.utf8.count + destination.utf8.count)
            writer.raw("{")
            writer.key("at")
            writer.string(at.iso8601)
            writer.comma()
            writer.key("messageId")
            writer.string(stored.event.messageId)
            writer.comma()
            writer.key("destination")
            writer.string(destination)
            writer.comma()
            writer.key("decision")
            writer.string(decision)
            writer.comma()
            writer.key("reason")
            writer.optionalString(reason)
            writer.comma()
            writer.key("type")
            writer.string(stored.event.type.rawValue)
            writer.comma()
            writer.key("sequence")
            writer.integer(stored.sequence)
            writer.raw("}")
            return writer.bytes
        }

        var facts: LiveFacts {
            var facts = LiveItems.facts([stored])
            facts.destination = destination
            return facts
        }
    }

    /// `delivery`: one request of an attempt (or, for a destination that sends none, the attempt), with
    /// every secret masked.
    static func delivery(
        destination: String, events: [StoredEvent], outcome: String, attempt: Int, exchange: DeliveryExchange?,
        error: String?, secrets: [String], at: Timestamp
    ) -> LiveItem {
        var facts = facts(events)
        facts.destination = destination
        var members: [(String, JSONValue)] = [
            ("at", .string(at.iso8601)), ("destination", .string(destination)),
            ("messageIds", .array(events.map { .string($0.event.messageId) })),
            ("outcome", .string(outcome)), ("attempt", .number(String(attempt))),
        ]
        if let exchange {
            members.append(("request", exchange.request.shown(secrets: secrets)))
            members.append(("response", exchange.response.map { $0.shown(secrets: secrets) } ?? .null))
            members.append(("durationMs", .number(String(milliseconds(exchange.duration)))))
            let reason = exchange.failure ?? reasonText(exchange.outcome)
            members.append(("error", reason.map { .string(SecretMask.redact($0, secrets: secrets)) } ?? .null))
        } else {
            members.append(("request", .null))
            members.append(("response", .null))
            members.append(("error", error.map { .string(SecretMask.redact($0, secrets: secrets)) } ?? .null))
        }
        return LiveItem(kind: .delivery, data: JSONValue.object(JSONObject(members)).bytes, facts: facts)
    }

    /// `identity`: an activity entry (merge, refusal, person merge, erasure), shaped as in `/api/activity`.
    static func identity(_ entry: ActivityEntry) -> LiveItem {
        var members: [(String, JSONValue)] = [
            ("kind", .string(entry.kind.rawValue)), ("at", .string(entry.at.iso8601)),
            ("anonymousId", entry.anonymousId.map(JSONValue.string) ?? .null),
            ("userId", entry.userId.map(JSONValue.string) ?? .null),
            ("eventsMerged", .number(String(entry.eventsMerged))),
            ("messageId", entry.messageId.map(JSONValue.string) ?? .null),
        ]
        if let merged = entry.mergedUserId { members.append(("mergedUserId", .string(merged))) }
        if let reason = entry.reason {
            members.append(("reason", .string(reason.rawValue)))
            members.append(("explanation", .string(reason.explanation)))
        }
        let users = [entry.anonymousId, entry.userId, entry.mergedUserId].compactMap { $0 }
        return LiveItem(
            kind: .identity, data: JSONValue.object(JSONObject(members)).bytes, facts: LiveFacts(users: users))
    }

    static func facts(_ events: [StoredEvent]) -> LiveFacts {
        var facts = LiveFacts()
        // Sets beside the ordered lists: a delivery item covers a whole batch (hundreds of events and people),
        // and `contains` on the lists made that quadratic.
        var sources = Set<String>(), names = Set<String>(), users = Set<String>()
        for stored in events {
            let event = stored.event
            if sources.insert(event.source).inserted { facts.sources.append(event.source) }
            if !facts.types.contains(event.type) { facts.types.append(event.type) }
            if let name = event.eventName, names.insert(name).inserted { facts.eventNames.append(name) }
            for user in [event.userId, event.anonymousId, stored.resolvedUserId] {
                if let user, users.insert(user).inserted { facts.users.append(user) }
            }
        }
        return facts
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    static func reasonText(_ outcome: DeliveryOutcome) -> String? {
        switch outcome {
        case .delivered: nil
        case .retry(_, let reason, _), .deadLetterAll(let reason, _), .disable(let reason, _): reason
        case .deadLetter(_, let reason, _), .retrySome(_, _, let reason, _): reason
        case .split: "the destination answered 413: the batch is split in halves"
        }
    }
}
