/// One message of the live view (SPEC §6 "Live view"): its SSE `event:` name, its `id:`, its JSON
/// `data:` and the facts the filters of `GET /api/live` match on.
///
/// Items are built only while someone watches (``LiveHub/isObserved``) and are shared, not copied,
/// between the replay buffer and every subscriber's buffer. The JSON and the facts of the items published
/// per event (`ingest`, and `route` per destination) are made only when a subscriber reads the item or a
/// filter asks (``LiveItemContent``): a stalled subscriber drops them unread, and watching costs ingest
/// what was measured as ~8 % of its CPU when each was encoded up front (`BENCHMARKS.md`, live view).
public struct LiveItem: Sendable {
    /// The SSE `event:` name.
    public enum Kind: String, Sendable, CaseIterable {
        case ingest, route, delivery, identity, gap
    }

    enum Content: Sendable {
        case built(data: [UInt8], facts: LiveFacts)
        case deferred(any LiveItemContent)
    }

    /// One reference: an item is copied into the replay buffer and each subscriber's, and a copy of the enum
    /// (an existential inside) went through value-witness calls (~3 % of the gateway's CPU with a stalled
    /// subscriber).
    final class ContentBox: Sendable {
        let content: Content
        init(_ content: Content) { self.content = content }
    }

    /// Assigned by the hub: 1, 2, 3… in publication order within one gateway process.
    public var id: UInt64
    public var kind: Kind
    let box: ContentBox

    public init(id: UInt64 = 0, kind: Kind, data: [UInt8], facts: LiveFacts = LiveFacts()) {
        self.id = id
        self.kind = kind
        box = ContentBox(.built(data: data, facts: facts))
    }

    /// An item whose JSON and facts are made from `content` when asked for. `content` must hold only what it
    /// needs, and nothing large: up to the replay buffer's and every subscriber's capacity of items are kept.
    public init(id: UInt64 = 0, kind: Kind, content: any LiveItemContent) {
        self.id = id
        self.kind = kind
        box = ContentBox(.deferred(content))
    }

    /// One JSON object, the SSE `data:`.
    public var data: [UInt8] {
        switch box.content {
        case .built(let data, _): data
        case .deferred(let content): content.data
        }
    }

    public var facts: LiveFacts {
        switch box.content {
        case .built(_, let facts): facts
        case .deferred(let content): content.facts
        }
    }

    /// The `gap` item a subscriber gets where `missed` items were skipped; it carries the id of the last
    /// skipped item, so a client that reconnects with it resumes after what it was told it missed.
    public static func gap(missed: UInt64, lastSkippedId: UInt64) -> LiveItem {
        var writer = JSONWriter(capacity: 24)
        writer.raw("{")
        writer.key("missed")
        writer.integer(missed)
        writer.raw("}")
        return LiveItem(id: lastSkippedId, kind: .gap, data: writer.bytes)
    }
}

/// What an item is about, for filtering: the events' sources, types, names and the people's ids
/// (`userId`, `anonymousId`, `resolvedUserId`), and the destination of a route or delivery item.
public struct LiveFacts: Sendable, Equatable {
    public var sources: [String]
    public var destination: String?
    public var types: [EventType]
    public var eventNames: [String]
    public var users: [String]

    public init(
        sources: [String] = [], destination: String? = nil, types: [EventType] = [], eventNames: [String] = [],
        users: [String] = []
    ) {
        self.sources = sources
        self.destination = destination
        self.types = types
        self.eventNames = eventNames
        self.users = users
    }
}

/// What a deferred ``LiveItem`` is made from.
public protocol LiveItemContent: Sendable {
    var data: [UInt8] { get }
    var facts: LiveFacts { get }
}
