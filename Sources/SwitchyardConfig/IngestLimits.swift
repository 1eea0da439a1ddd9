import SwitchyardCore

/// Size limits for ingest requests (SPEC §2), under `server.limits`.
///
/// Sizes are measured on the decompressed body. Constraint: `maxEventSize <= maxRequestSize`.
public struct IngestLimits: Sendable, Equatable {
    /// `max_event_size`: largest single event; default `32KB` (32,000 bytes).
    public var maxEventSize: ByteSize
    /// `max_request_size`: largest request body after decompression; default `500KB` (500,000 bytes).
    public var maxRequestSize: ByteSize
    /// `max_batch_events`: most events in one `/v1/batch`; default 2500, at least 1.
    public var maxBatchEvents: Int

    /// The keys of `server.limits`.
    static let keys: Set<String> = ["max_event_size", "max_request_size", "max_batch_events"]

    /// Creates limits; the defaults are SPEC §2's.
    public init(
        maxEventSize: ByteSize = .kilobytes(32),
        maxRequestSize: ByteSize = .kilobytes(500),
        maxBatchEvents: Int = 2500
    ) {
        self.maxEventSize = maxEventSize
        self.maxRequestSize = maxRequestSize
        self.maxBatchEvents = maxBatchEvents
    }

    init(_ mapping: ConfigMapping) throws {
        try mapping.rejectUnknownKeys(allowed: Self.keys)
        let defaults = IngestLimits()
        self.init(
            maxEventSize: try mapping.size("max_event_size", default: defaults.maxEventSize),
            maxRequestSize: try mapping.size("max_request_size", default: defaults.maxRequestSize),
            maxBatchEvents: try mapping.int("max_batch_events", default: defaults.maxBatchEvents, in: 1...Int.max)
        )
        for key in ["max_event_size", "max_request_size"] {
            if let node = mapping[key], try node.size().bytes == 0 {
                throw node.error("must be greater than 0")
            }
        }
        if maxEventSize > maxRequestSize {
            let node = mapping["max_event_size"] ?? mapping["max_request_size"] ?? mapping.node
            throw node.error(
                "max_event_size (\(maxEventSize)) must not exceed max_request_size (\(maxRequestSize))"
            )
        }
    }
}
