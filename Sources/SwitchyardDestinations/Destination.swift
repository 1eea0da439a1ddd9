import Logging
import SwitchyardCore

/// One configured destination: takes batches and says what became of them.
///
/// The delivery pipeline calls `deliver` for one batch at a time per in-flight slot, in log order, and
/// acts on the outcome (retry, split, dead-letter…). After a `.delivered` batch it calls `commit(force:)`
/// and records progress on disk only when that returns true — so a destination that buffers (the
/// warehouse keeps a file open until it rotates) is never credited with events that are not durable.
public protocol Destination: Sendable {
    /// Sends or writes `batch`. Never throws: failures are classified into the outcome.
    func deliver(_ batch: DeliveryBatch) async -> DeliveryOutcome

    /// Makes everything delivered so far durable. Returns false when it keeps buffering (nothing is due
    /// yet); `force` (shutdown) always finishes and returns true unless it throws.
    func commit(force: Bool) async throws -> Bool

    /// How long the pipeline may sit idle before calling `commit(force: false)` again; nil when commits
    /// are immediate.
    var commitInterval: Duration? { get }

    /// Releases resources (open files). Called once, after the last `commit(force: true)`.
    func shutdown() async

    /// Whether the destination records merges as data (a warehouse row, a vendor's merge call): then the
    /// pipeline hands it the merge an event carries even when its filter leaves the event out
    /// (``DeliveryEvent/mergeOnly``; SPEC §4 "Merges reach every destination once"). A webhook does not: its
    /// receivers see merges in the identify and alias messages they choose to take.
    var recordsMerges: Bool { get }

    /// ``deliver(_:)``, recording each request and its answer in `transcript` when one is given (the live
    /// view is watched). Destinations that send no requests (the warehouse) record nothing.
    func deliver(_ batch: DeliveryBatch, transcript: DeliveryTranscript?) async -> DeliveryOutcome

    /// The requests ``deliver(_:)`` would send for `batch` now, built by the same code, sending nothing
    /// (`POST /api/destinations/{name}/preview`); nil for a destination that sends no requests.
    func preview(_ batch: DeliveryBatch) throws -> [OutgoingRequest]?
}

extension Destination {
    public func commit(force: Bool) async throws -> Bool { true }
    public var commitInterval: Duration? { nil }
    public func shutdown() async {}
    public var recordsMerges: Bool { false }
    public func deliver(_ batch: DeliveryBatch, transcript: DeliveryTranscript?) async -> DeliveryOutcome {
        await deliver(batch)
    }
    public func preview(_ batch: DeliveryBatch) throws -> [OutgoingRequest]? { nil }
}

/// What a destination type gets to build an instance.
public struct DestinationContext: Sendable {
    /// The destination's `name` from the config.
    public var name: String
    /// This node's id; file names carry it so several nodes never write the same file.
    public var nodeId: String
    public var sender: HTTPSender
    public var clock: any WallClock
    public var logger: Logger
    /// `timeout` from the config: for one request.
    public var timeout: Duration
    /// `batch.max_events`: the webhook sends one object when it is 1, an array otherwise.
    public var maxBatchEvents: Int

    public init(
        name: String, nodeId: String, sender: HTTPSender, clock: any WallClock, logger: Logger, timeout: Duration,
        maxBatchEvents: Int
    ) {
        self.name = name
        self.nodeId = nodeId
        self.sender = sender
        self.clock = clock
        self.logger = logger
        self.timeout = timeout
        self.maxBatchEvents = maxBatchEvents
    }
}

/// A destination type that can build instances from its settings.
public protocol DestinationType: DestinationTypeSettings {
    func makeDestination(context: DestinationContext) throws -> any Destination
}
