import SwitchyardCore

/// The `retention:` section: how long stored activity is kept. The gateway is not a warehouse.
public struct RetentionSettings: Sendable {
    /// `events`: identified activity is deleted after this long; default `30d`.
    /// (Never-merged anonymous activity follows `identity.anonymous_ttl`.)
    public var events: Duration

    static let keys: Set<String> = ["events"]

    /// Creates retention settings; default 30 days.
    public init(events: Duration = .seconds(30 * 86_400)) {
        self.events = events
    }

    init(_ mapping: ConfigMapping) throws {
        try mapping.rejectUnknownKeys(allowed: Self.keys)
        self.init(events: try mapping.duration("events", default: RetentionSettings().events))
    }
}
