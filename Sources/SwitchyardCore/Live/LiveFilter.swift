/// The query filters of `GET /api/live` and `switchyard tail` (SPEC §6): `source`, `destination`, `type`,
/// `event` (a glob) and `user` (matches `userId`, `anonymousId` or `resolvedUserId`). Absent ones match all.
///
/// Which items a filter applies to:
/// - `gap` items always pass: a subscriber must learn it missed something, whatever it watches.
/// - `identity` items (merges, refusals, erasures) are about people, not events: only `user` filters them.
/// - `ingest` items have no destination: `destination` lets them through, so a view of one destination
///   still shows the events its route and delivery items are about.
/// - Everything else must have the filtered value; a delivery item of a batch passes when any of its
///   events does.
public struct LiveFilter: Sendable, Equatable {
    public var source: String?
    public var destination: String?
    public var type: EventType?
    public var event: Glob?
    public var user: String?

    public init(
        source: String? = nil, destination: String? = nil, type: EventType? = nil, event: Glob? = nil,
        user: String? = nil
    ) {
        self.source = source
        self.destination = destination
        self.type = type
        self.event = event
        self.user = user
    }

    public var matchesEverything: Bool {
        source == nil && destination == nil && type == nil && event == nil && user == nil
    }

    public func matches(_ item: LiveItem) -> Bool {
        if matchesEverything { return true }  // without making the item's facts
        let facts = item.facts
        switch item.kind {
        case .gap:
            return true
        case .identity:
            return user.map { facts.users.contains($0) } ?? true
        case .ingest, .route, .delivery:
            if let source, !facts.sources.contains(source) { return false }
            if let destination, item.kind != .ingest, facts.destination != destination { return false }
            if let type, !facts.types.contains(type) { return false }
            if let event, !facts.eventNames.contains(where: event.matches) { return false }
            if let user, !facts.users.contains(user) { return false }
            return true
        }
    }
}
