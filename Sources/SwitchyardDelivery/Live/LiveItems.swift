import SwitchyardCore
import SwitchyardDestinations
import SwitchyardStore

/// Builds the live view's items (SPEC §6 "Live view"): the JSON of each kind and the facts filters use.
/// Called only while the hub is watched.
enum LiveItems {
    /// `ingest` items of `events[range]`, read from the log: one run, each item made when read.
    static func ingest(_ events: [StoredEvent], _ range: Range<Int>) -> any LiveItemRun {
        IngestRun(events: events.liveKept(range))
    }

    final class IngestRun: LiveItemRun {
        let events: ArraySlice<StoredEvent>
        init(events: ArraySlice<StoredEvent>) { self.events = events }
        var kind: LiveItem.Kind { .ingest }
        var count: Int { events.count }
        func item(at index: Int) -> LiveItem {
            LiveItem(kind: .ingest, content: IngestContent(stored: events[events.startIndex + index]))
        }
        func compacted(_ range: Range<Int>) -> any LiveItemRun {
            IngestRun(events: ArraySlice(Array(events.dropFirst(range.lowerBound).prefix(range.count))))
        }
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

        var facts: LiveFacts { LiveItems.facts([EventSummary(stored)]) }
    }

    /// `route` items: what one destination decided for each of `events` (`decisions` in the same order),
    /// one run per round, each item made when read.
    final class RouteRun: LiveItemRun {
        let events: ArraySlice<StoredEvent>
        let decisions: ArraySlice<ShownRoute>
        let destination: String
        let at: Timestamp

        init(events: ArraySlice<StoredEvent>, decisions: ArraySlice<ShownRoute>, destination: String, at: Timestamp) {
            self.events = events
            self.decisions = decisions
            self.destination = destination
            self.at = at
        }

        var kind: LiveItem.Kind { .route }
        var count: Int { events.count }

        func item(at index: Int) -> LiveItem {
            let (decision, reason) = decisions[decisions.startIndex + index].shown
            return LiveItem(
                kind: .route,
                content: RouteContent(
                    stored: events[events.startIndex + index], destination: destination, decision: decision,
                    reason: reason, at: at))
        }

        func compacted(_ range: Range<Int>) -> any LiveItemRun {
            RouteRun(
                events: ArraySlice(Array(events.dropFirst(range.lowerBound).prefix(range.count))),
                decisions: ArraySlice(Array(decisions.dropFirst(range.lowerBound).prefix(range.count))),
                destination: destination, at: at)
        }
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
            var facts = LiveItems.facts([EventSummary(stored)])
            facts.destination = destination
            return facts
        }
    }

    /// `delivery`: one request of an attempt (or, for a destination that sends none, the attempt), with
    /// every secret masked. What it shows is kept small (the events' ids and facts, the bodies as far as
    /// they are shown); the masking and the JSON are done when a subscriber reads it.
    static func delivery(
        destination: String, events: [StoredEvent], outcome: String, attempt: Int, exchange: DeliveryExchange?,
        error: String?, secrets: [String], at: Timestamp
    ) -> LiveItem {
        LiveItem(
            kind: .delivery,
            content: DeliveryContent(
                destination: destination, events: events.map(EventSummary.init), outcome: outcome, attempt: attempt,
                exchange: exchange.map { exchange in
                    KeptExchange(
                        request: exchange.request.kept(secrets: secrets),
                        response: exchange.response?.kept(secrets: secrets),
                        durationMs: exchange.duration.milliseconds,
                        error: exchange.failure ?? reasonText(exchange.outcome))
                },
                error: error, secrets: secrets, at: at))
    }

    struct KeptExchange: Sendable {
        var request: ShownRequest
        var response: ShownResponse?
        var durationMs: Int64
        var error: String?
    }

    struct DeliveryContent: LiveItemContent {
        let destination: String
        let events: [EventSummary]
        let outcome: String
        let attempt: Int
        let exchange: KeptExchange?
        let error: String?
        let secrets: [String]
        let at: Timestamp

        var data: [UInt8] {
            var members: [(String, JSONValue)] = [
                ("at", .string(at.iso8601)), ("destination", .string(destination)),
                ("messageIds", .array(events.map { .string($0.messageId) })),
                ("outcome", .string(outcome)), ("attempt", .number(String(attempt))),
            ]
            if let exchange {
                members.append(("request", exchange.request.shown(secrets: secrets)))
                members.append(("response", exchange.response.map { $0.shown(secrets: secrets) } ?? .null))
                members.append(("durationMs", .number(String(exchange.durationMs))))
                members.append(("error", exchange.error.map { .string(SecretMask.redact($0, secrets: secrets)) } ?? .null))
            } else {
                members.append(("request", .null))
                members.append(("response", .null))
                members.append(("error", error.map { .string(SecretMask.redact($0, secrets: secrets)) } ?? .null))
            }
            return JSONValue.object(JSONObject(members)).bytes
        }

        var facts: LiveFacts {
            var facts = LiveItems.facts(events)
            facts.destination = destination
            return facts
        }
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

    /// What filters match of an event, kept by a delivery item instead of the event (whose body may be large).
    struct EventSummary: Sendable {
        var messageId: String
        var source: String
        var type: EventType
        var eventName: String?
        var userId: String?
        var anonymousId: String?
        var resolvedUserId: String?

        init(_ stored: StoredEvent) {
            let event = stored.event
            messageId = event.messageId
            source = event.source
            type = event.type
            eventName = event.eventName
            userId = event.userId
            anonymousId = event.anonymousId
            resolvedUserId = stored.resolvedUserId
        }
    }

    static func facts(_ events: [EventSummary]) -> LiveFacts {
        var facts = LiveFacts()
        // Sets beside the ordered lists: a delivery item covers a whole batch (hundreds of events and people),
        // and `contains` on the lists made that quadratic.
        var sources = Set<String>(), names = Set<String>(), users = Set<String>()
        for event in events {
            if sources.insert(event.source).inserted { facts.sources.append(event.source) }
            if !facts.types.contains(event.type) { facts.types.append(event.type) }
            if let name = event.eventName, names.insert(name).inserted { facts.eventNames.append(name) }
            for user in [event.userId, event.anonymousId, event.resolvedUserId] {
                if let user, users.insert(user).inserted { facts.users.append(user) }
            }
        }
        return facts
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
