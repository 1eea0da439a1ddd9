import SwitchyardCore

/// Request bodies and parsed events shaped like what analytics.js sends, shared by the benchmark targets.
///
/// Each event is 500–560 bytes of JSON: a `page`, `track` or `identify` with both a `userId` and the
/// `anonymousId` that person always uses (every person keeps one anonymous id), a `context` with `library`,
/// `page` and `userAgent`, and the `properties` or `traits` of a small shop. Message ids are unique
/// per `run` and index, so the store's dedupe never answers instead of the insert.
public enum SampleEvents {
    /// 2026-12-03T12:00:00Z, the `receivedAt` of every parsed event (the bodies' `timestamp`s are the same).
    public static let receivedAt = Timestamp(milliseconds: 1_796_299_200_000)

    /// How many people the events are spread over: person `i % persons` sends event `i`.
    public static let persons = 50

    /// One event object. `index` picks the person and the type (every tenth is an `identify`, then alternately
    /// `track` and `page`).
    public static func event(_ index: Int, run: Int = 0, writeKey: Bool = false) -> String {
        let person = index % persons
        let ids =
            #""userId":"user-\#(pad(person, 5))","anonymousId":"4f1c2b9e-6d3a-4e8b-9a1f-\#(pad(person, 12))","#
            + #""messageId":"ajs-next-\#(pad(run, 8))-\#(pad(index, 8))-7c3e9d41b2a6","#
            + #""timestamp":"2026-12-03T12:00:00.000Z","#
        let context =
            #""context":{"library":{"name":"analytics.js","version":"next-1.70.0"},"#
            + #""page":{"path":"/products/monopoly","url":"https://shop.example.com/products/monopoly"},"#
            + #""userAgent":"Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"}"#
        let key = writeKey ? #","writeKey":"bench-key""# : ""
        if index % 10 == 0 {
            return #"{"type":"identify","#
                + #""traits":{"email":"person\#(person)@example.com","plan":"pro","name":"Person \#(person)"},"#
                + ids + context + key + "}"
        } else if index % 2 == 1 {
            return #"{"type":"track","event":"Product Viewed","#
                + #""properties":{"product_id":"507f1f77bcf86cd799439011","name":"Monopoly: 3rd Edition","#
                + #""price":18.99},"#
                + ids + context + key + "}"
        } else {
            return #"{"type":"page","name":"Monopoly: 3rd Edition","#
                + #""properties":{"path":"/products/monopoly","category":"Games"},"#
                + ids + context + key + "}"
        }
    }

    /// A `/v1/track` body: one `track` event with its `writeKey`.
    public static func trackBody() -> [UInt8] {
        Array(event(1, writeKey: true).utf8)
    }

    /// A `/v1/batch` body of `count` events, as analytics.js's batching sends it.
    public static func batchBody(count: Int, run: Int = 0) -> [UInt8] {
        let events = (0..<count).map { event($0, run: run) }.joined(separator: ",")
        return Array(#"{"batch":[\#(events)],"sentAt":"2026-12-03T12:00:00.250Z","writeKey":"bench-key"}"#.utf8)
    }

    /// The events of `batchBody(count:run:)`, parsed as the gateway parses them, with `source` set.
    public static func parsedBatch(count: Int, run: Int = 0) -> [NewEvent] {
        let parser = IngestParser(rules: IngestRules())
        do {
            var events = try parser.parse(
                batchBody(count: count, run: run), endpoint: .batch, receivedAt: receivedAt, clientIP: "203.0.113.7"
            ).events
            precondition(events.count == count, "every sample event is valid")
            for index in events.indices { events[index].source = "web" }
            return events
        } catch {
            fatalError("internal inconsistency: a sample batch was refused: \(error)")
        }
    }

    /// The identity facts of the steady state: every person is on record and owns its one anonymous id.
    public static func steadyFacts(for events: [NewEvent]) -> IdentityFacts {
        var facts = IdentityFacts()
        for event in events {
            guard let userId = event.userId, let anonymousId = event.anonymousId else { continue }
            facts.persons[userId] = PersonFacts(firstSeen: receivedAt, anonymousIdCount: 1)
            facts.owners[anonymousId] = AnonymousIdOwner(userId: userId, mergedAt: receivedAt)
        }
        return facts
    }

    static func pad(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
