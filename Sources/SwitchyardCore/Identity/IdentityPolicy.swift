/// The identity rules the store applies while it appends (SPEC §3), taken from `identity:` in the config.
public struct IdentityPolicy: Sendable, Equatable {
    /// Resolve identity at all; off, events are stored as they come (no persons, merges or holds release).
    public var enabled: Bool
    /// After a merge, events carrying only the merged anonymous id resolve to the person for this long
    /// (nil: forever, the default; Customer.io uses 5 minutes).
    public var lateWindow: Duration?
    /// A merge attaches the anonymous id's events received within this window (the retention of
    /// never-identified activity). Default 30 days.
    public var anonymousTTL: Duration
    /// `alias` of two identified users merges them (the older person's id kept) instead of being refused.
    public var allowUserMerge: Bool
    /// Any event carrying both ids merges them, not only `identify`/`alias`.
    public var mergeOnAnyEvent: Bool
    /// A person collects at most this many anonymous ids; further merges are refused.
    public var maxAnonymousIds: Int
    /// A person keeps at most this many trait keys (`identity.max_traits`); further keys are dropped and
    /// counted. Stored traits are also capped at `TraitsMerge.maxStoredBytes`.
    public var maxTraits: Int

    public init(
        enabled: Bool = true, lateWindow: Duration? = nil, anonymousTTL: Duration = .seconds(30 * 86_400), allowUserMerge: Bool = false,
        mergeOnAnyEvent: Bool = true, maxAnonymousIds: Int = 100, maxTraits: Int = 1000
    ) {
        self.enabled = enabled
        self.lateWindow = lateWindow
        self.anonymousTTL = anonymousTTL
        self.allowUserMerge = allowUserMerge
        self.mergeOnAnyEvent = mergeOnAnyEvent
        self.maxAnonymousIds = maxAnonymousIds
        self.maxTraits = maxTraits
    }

    /// The caps on each person's stored traits.
    public var traitsLimits: TraitsMerge.Limits { TraitsMerge.Limits(maxKeys: maxTraits) }
}

/// Why a merge did not happen. Every refusal is recorded as a `merge_refused` activity, never silent.
public enum MergeRefusal: String, Sendable, CaseIterable {
    /// The anonymous id already belongs to another person: anonymous ids are single-use.
    case anonymousIdTaken = "anonymous_id_taken"
    /// One id is a placeholder value (`anonymous`, `null`, `0`, …) that never identifies anyone.
    case blockedId = "blocked_id"
    /// An `alias` joins two identified users and `identity.allow_user_merge` is off.
    case userMergeNotAllowed = "user_merge_not_allowed"
    /// The person already has `identity.max_anonymous_ids` anonymous ids.
    case tooManyAnonymousIds = "too_many_anonymous_ids"

    public var explanation: String {
        switch self {
        case .anonymousIdTaken: "the anonymous id already belongs to another person; it is now contested: events carrying only it stay anonymous"
        case .blockedId: "a placeholder id value never takes part in a merge"
        case .userMergeNotAllowed: "alias of two identified users; set identity.allow_user_merge to merge them"
        case .tooManyAnonymousIds: "the person has reached identity.max_anonymous_ids"
        }
    }
}
