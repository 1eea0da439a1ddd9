import SwitchyardCore

/// The `identity:` section: how anonymous activity merges into people (SPEC §3).
public struct IdentitySettings: Sendable {
    /// The id values that never take part in a merge, SPEC §3's list. Compared case-insensitively
    /// where sensible (by the identity code, not here).
    public static let defaultBlockedIDs: [String] = [
        "", "anonymous", "null", "undefined", "nil", "none", "0", "-1", "guest", "unknown", "n/a", "NaN",
        "[object Object]", "00000000-0000-0000-0000-000000000000",
    ]

    /// `enabled`: resolve identity at ingest (persons, merges, late events, holds); default `true`.
    /// `false` stores and forwards events as they come, for a gateway that only fans out.
    public var enabled: Bool
    /// `anonymous_ttl`: never-merged anonymous activity is deleted after this long; default `30d`.
    public var anonymousTTL: Duration
    /// `late_window`: how long after a merge an event carrying only the merged anonymous id is still
    /// resolved to the person; `nil` is `forever`, the default.
    public var lateWindow: Duration?
    /// `allow_user_merge`: whether an `alias` of two identified users merges the two people;
    /// default `false` (refused and recorded).
    public var allowUserMerge: Bool
    /// `merge_on_any_event`: whether any event carrying both `userId` and `anonymousId` merges, not
    /// only `identify` and `alias`; default `true`.
    public var mergeOnAnyEvent: Bool
    /// `blocked_ids`: replaces ``defaultBlockedIDs`` when given (list every value you want blocked).
    public var blockedIDs: [String]
    /// `max_anonymous_ids`: most anonymous ids per person; further merges are refused; default 100,
    /// at least 1.
    public var maxAnonymousIDs: Int
    /// `max_traits`: most trait keys kept per person (and per anonymous id); keys past it are dropped
    /// and counted; default 1,000, at least 1. Stored traits are also capped at 64 KB.
    public var maxTraits: Int

    static let keys: Set<String> = [
        "enabled", "anonymous_ttl", "late_window", "allow_user_merge", "merge_on_any_event", "blocked_ids", "max_anonymous_ids",
        "max_traits",
    ]

    /// Creates identity settings; every default is the one documented on its property.
    public init(
        enabled: Bool = true,
        anonymousTTL: Duration = .seconds(30 * 86_400),
        lateWindow: Duration? = nil,
        allowUserMerge: Bool = false,
        mergeOnAnyEvent: Bool = true,
        blockedIDs: [String] = IdentitySettings.defaultBlockedIDs,
        maxAnonymousIDs: Int = 100,
        maxTraits: Int = 1000
    ) {
        self.enabled = enabled
        self.anonymousTTL = anonymousTTL
        self.lateWindow = lateWindow
        self.allowUserMerge = allowUserMerge
        self.mergeOnAnyEvent = mergeOnAnyEvent
        self.blockedIDs = blockedIDs
        self.maxAnonymousIDs = maxAnonymousIDs
        self.maxTraits = maxTraits
    }

    init(_ mapping: ConfigMapping) throws {
        try mapping.rejectUnknownKeys(allowed: Self.keys)
        let defaults = IdentitySettings()
        var lateWindow: Duration? = nil
        if let node = mapping["late_window"], node.scalarText != "forever" {
            guard let text = node.scalarText, let duration = DurationText.parse(text) else {
                throw node.expected("a duration like 5m, or forever")
            }
            lateWindow = duration
        }
        self.init(
            enabled: try mapping.bool("enabled", default: defaults.enabled),
            anonymousTTL: try mapping.duration("anonymous_ttl", default: defaults.anonymousTTL),
            lateWindow: lateWindow,
            allowUserMerge: try mapping.bool("allow_user_merge", default: defaults.allowUserMerge),
            mergeOnAnyEvent: try mapping.bool("merge_on_any_event", default: defaults.mergeOnAnyEvent),
            blockedIDs: try mapping.stringList("blocked_ids", default: defaults.blockedIDs),
            maxAnonymousIDs: try mapping.int("max_anonymous_ids", default: defaults.maxAnonymousIDs, in: 1...Int.max),
            maxTraits: try mapping.int("max_traits", default: defaults.maxTraits, in: 1...1_000_000)
        )
    }
}
