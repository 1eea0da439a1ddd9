import SwitchyardCore

/// A destination's `filter:`: which events it receives. Every condition that is set must hold; an
/// empty list means "no condition". Globs use `*` (any run of characters) and `?` (one character).
public struct EventFilterSettings: Sendable, Equatable {
    /// The Segment message types a filter may name.
    public static let eventTypes = ["track", "page", "screen", "identify", "group", "alias"]

    /// `types`: message types to accept, a subset of ``eventTypes``; empty (default) accepts all.
    public var types: [String]
    /// `events`: globs on the `event` name (track) or `name` (page/screen); empty accepts all.
    public var events: [String]
    /// `exclude_events`: globs on the same names; a match is refused even if `events` accepts it.
    public var excludeEvents: [String]
    /// `paths`: globs on `context.page.path`; empty accepts all.
    public var paths: [String]
    /// `identified`: `true` only events of known people, `false` only anonymous ones, `nil` (default) both.
    public var identified: Bool?

    static let keys: Set<String> = ["types", "events", "exclude_events", "paths", "identified"]

    /// Creates a filter; the defaults accept every event.
    public init(
        types: [String] = [],
        events: [String] = [],
        excludeEvents: [String] = [],
        paths: [String] = [],
        identified: Bool? = nil
    ) {
        self.types = types
        self.events = events
        self.excludeEvents = excludeEvents
        self.paths = paths
        self.identified = identified
    }

    /// True when no condition is set.
    public var acceptsEverything: Bool {
        types.isEmpty && events.isEmpty && excludeEvents.isEmpty && paths.isEmpty && identified == nil
    }

    init(_ mapping: ConfigMapping) throws {
        try mapping.rejectUnknownKeys(allowed: Self.keys)
        let types = try mapping.sequence("types").map { try $0.word(oneOf: Self.eventTypes) }
        self.init(
            types: types,
            events: try Self.globs(mapping, "events"),
            excludeEvents: try Self.globs(mapping, "exclude_events"),
            paths: try Self.globs(mapping, "paths"),
            identified: try mapping.optionalBool("identified")
        )
    }

    private static func globs(_ mapping: ConfigMapping, _ key: String) throws -> [String] {
        try mapping.sequence(key).map { try $0.nonEmptyString() }
    }
}
