import SwitchyardCore

/// A destination's `batch:`: how many events go out together. A batch is sent when it reaches
/// `maxEvents` or `maxBytes`, or when its oldest event has waited `maxWait`. Adapters may cap these
/// further at their vendor's limits (e.g. Mixpanel's 2000 events per `/import`).
public struct BatchSettings: Sendable, Equatable {
    /// `max_events`: default 100, 1 to 100,000. A webhook with 1 sends one JSON object per request.
    public var maxEvents: Int
    /// `max_bytes`: encoded size cap; default `1MiB`, more than 0.
    public var maxBytes: ByteSize
    /// `max_wait`: default `1s`.
    public var maxWait: Duration

    static let keys: Set<String> = ["max_events", "max_bytes", "max_wait"]

    /// Creates batch settings; every default is the one documented on its property.
    public init(maxEvents: Int = 100, maxBytes: ByteSize = .mebibytes(1), maxWait: Duration = .seconds(1)) {
        self.maxEvents = maxEvents
        self.maxBytes = maxBytes
        self.maxWait = maxWait
    }

    init(_ mapping: ConfigMapping) throws {
        try mapping.rejectUnknownKeys(allowed: Self.keys)
        let defaults = BatchSettings()
        let maxBytes = try mapping.size("max_bytes", default: defaults.maxBytes)
        if maxBytes.bytes == 0, let node = mapping["max_bytes"] {
            throw node.error("must be greater than 0")
        }
        self.init(
            // Bounded: a round reads max_events × concurrency events into memory.
            maxEvents: try mapping.int("max_events", default: defaults.maxEvents, in: 1...100_000),
            maxBytes: maxBytes,
            maxWait: try mapping.duration("max_wait", default: defaults.maxWait)
        )
    }
}
