/// The limits and id rules ingest enforces (SPEC §2, §3), taken from the config.
public struct IngestRules: Sendable {
    /// Largest single event, in bytes of JSON. Default 32 KB.
    public var maxEventBytes: Int
    /// Largest request body after decompression. Default 500 KB.
    public var maxRequestBytes: Int
    /// Most events in one batch request. Default 2,500.
    public var maxBatchEvents: Int
    /// Id values that count as missing, compared after trimming white space and lowercasing.
    public var blockedIds: Set<String>

    public static let defaultBlockedIds: [String] = [
        "", "anonymous", "null", "undefined", "nil", "none", "0", "-1", "guest", "unknown", "n/a", "nan",
        "[object object]", "00000000-0000-0000-0000-000000000000",
    ]

    public init(
        maxEventBytes: Int = 32_000, maxRequestBytes: Int = 500_000, maxBatchEvents: Int = 2500,
        blockedIds: [String] = IngestRules.defaultBlockedIds
    ) {
        self.maxEventBytes = maxEventBytes
        self.maxRequestBytes = maxRequestBytes
        self.maxBatchEvents = maxBatchEvents
        self.blockedIds = Set(blockedIds.map(Self.canonicalId))
    }

    /// Whether `id` is a junk value that must never identify anyone.
    public func isBlocked(_ id: String) -> Bool {
        blockedIds.contains(Self.canonicalId(id))
    }

    static func canonicalId(_ id: String) -> String {
        var trimmed = Substring(id)
        while let first = trimmed.first, first.isWhitespace { trimmed.removeFirst() }
        while let last = trimmed.last, last.isWhitespace { trimmed.removeLast() }
        return trimmed.lowercased()
    }
}
