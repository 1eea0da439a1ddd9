/// One message of the live view (SPEC §6 "Live view"): its SSE `event:` name, its `id:`, its JSON
/// `data:` and the facts the filters of `GET /api/live` match on.
///
/// Items are built only while someone watches (``LiveHub/isObserved``) and are shared, not copied,
/// between the replay buffer and every subscriber's buffer. The items published per event (`ingest`, and
/// `route` per destination) are published as runs (``LiveItemRun``: one per page of the log or round) and
/// made, JSON and facts, only when a subscriber reads them or a filter asks; a `delivery` item keeps what
/// it shows and masks and encodes it when read. A stalled subscriber drops them unmade: made up front, they
/// cost ingest ~8 % of its CPU while someone watched, one by one ~14 % (`BENCHMARKS.md`, live view).
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

/// Items published together and made one at a time when read: a page of the log's `ingest` items, a
/// round's `route` items. The hub, the replay buffer and each subscriber hold a run and a range of it, so
/// publishing a run costs the same whatever its length, and an item a stalled subscriber drops is never
/// made at all.
///
/// A class, so that holding a run is one reference. It must hold only what its items are made from.
public protocol LiveItemRun: AnyObject, Sendable {
    var kind: LiveItem.Kind { get }
    var count: Int { get }
    /// Item `index` (`0..<count`); its id is the hub's to set.
    func item(at index: Int) -> LiveItem
    /// A run of the items in `range` only, holding nothing of the others: a subscriber that keeps a few
    /// items of a long run must not keep the whole run's memory alive.
    func compacted(_ range: Range<Int>) -> any LiveItemRun
}

/// Items already made, as a run (one item, or a few published together).
final class LiveItemArray: LiveItemRun {
    let items: [LiveItem]
    init(_ items: [LiveItem]) { self.items = items }
    var kind: LiveItem.Kind { items.first?.kind ?? .gap }
    var count: Int { items.count }
    func item(at index: Int) -> LiveItem { items[index] }
    func compacted(_ range: Range<Int>) -> any LiveItemRun { LiveItemArray(Array(items[range])) }
}

extension Array {
    /// Elements `range` of this array for a ``LiveItemRun`` to keep: the slice, sharing this array's storage,
    /// when it is at least half of it; else a copy, so a run never keeps more than twice what it shows alive.
    public func liveKept(_ range: Range<Int>) -> ArraySlice<Element> {
        range.count * 2 >= count ? self[range] : ArraySlice(Array(self[range]))
    }
}

/// A part of a run as the hub's buffers hold it: the run, which of its items, and the id of the first.
struct LiveSegment {
    var run: any LiveItemRun
    var range: Range<Int>
    /// The id of item `range.lowerBound`; the others follow one by one.
    var firstId: UInt64

    var count: Int { range.count }
    /// The id of the last item (the segment is never empty).
    var lastId: UInt64 { firstId + UInt64(range.count - 1) }

    func item(at index: Int) -> LiveItem {
        var item = run.item(at: index)
        item.id = firstId + UInt64(index - range.lowerBound)
        return item
    }

    /// Without its first `k` items (`0 < k < count`).
    func dropFirst(_ k: Int) -> LiveSegment {
        LiveSegment(run: run, range: (range.lowerBound + k)..<range.upperBound, firstId: firstId + UInt64(k))
    }

    /// Its first `k` items (`0 < k <= count`), compacted when they are a small part of the run.
    func prefix(_ k: Int) -> LiveSegment {
        let kept = range.lowerBound..<(range.lowerBound + k)
        guard k * 2 < run.count else { return LiveSegment(run: run, range: kept, firstId: firstId) }
        return LiveSegment(run: run.compacted(kept), range: 0..<k, firstId: firstId)
    }
}
