import Logging
import ServiceLifecycle
import SwitchyardCore
import SwitchyardStore

/// Feeds the live view with what the log and the activity log gain: an `ingest` item per stored event
/// (with the identity the store resolved) and an `identity` item per merge, refusal, person merge and
/// erasure.
///
/// While nobody watches it only follows the commit signal's head (no reads); once someone does, it reads
/// the events after that head as commits come, and the newest activity entries at most every
/// ``identityInterval``. Destination workers publish `ingest` items of what they read too
/// (``LiveHub/publishIngest(_:sequence:run:)``), so an event's `ingest` item comes before its routes
/// whichever reads it first. The follower gives them ``catchUpDelay`` to do so and reads only what none
/// published by then (no destination takes it, or all are behind): reading every commit a second time
/// cost ingest a few percent while a subscriber watched.
public final class LiveLogFollower: Service, Sendable {
    let hub: LiveHub
    let store: any EventStore
    let signal: EventLogSignal
    let clock: any WallClock
    let logger: Logger
    /// How often activity entries are looked for while watched; erasures do not move the log's head.
    let identityInterval: Duration
    /// How long after a commit the follower leaves its `ingest` items to the destination workers.
    let catchUpDelay: Duration

    public init(
        hub: LiveHub, store: any EventStore, signal: EventLogSignal, clock: any WallClock, logger: Logger,
        identityInterval: Duration = .milliseconds(250), catchUpDelay: Duration = .milliseconds(100)
    ) {
        self.catchUpDelay = catchUpDelay
        self.hub = hub
        self.store = store
        self.signal = signal
        self.clock = clock
        self.logger = logger
        self.identityInterval = identityInterval
    }

    public func run() async throws {
        var position = signal.head
        var lastEntryId: Int64?
        var lastIdentityLook = ContinuousClock.now - identityInterval
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let mark = signal.head
            guard hub.isObserved else {
                position = mark
                lastEntryId = nil
                await cancelWhenGracefulShutdownQuietly { await self.signal.wait(beyond: mark, timeout: .milliseconds(200)) }
                continue
            }
            if position < mark {
                await cancelWhenGracefulShutdownQuietly { try? await Task.sleep(for: self.catchUpDelay) }
                if let published = hub.ingestPublishedThrough { position = max(position, min(published, mark)) }
            }
            do {
                // Up to the head of before the delay: later commits get their own delay.
                while position < mark {
                    let events = try await store.events(after: position, limit: 500)
                    guard let last = events.last else { break }
                    hub.publishIngest(events, sequence: \.sequence, run: LiveItems.ingest)
                    position = last.sequence
                }
                if ContinuousClock.now - lastIdentityLook >= identityInterval {
                    lastIdentityLook = .now
                    lastEntryId = try await publishIdentity(after: lastEntryId)
                }
            } catch {
                logger.debug("reading the log for the live view failed", metadata: ["switchyard.error": "\(error)"])
            }
            let seen = max(mark, position)
            await cancelWhenGracefulShutdownQuietly {
                await self.signal.wait(beyond: seen, timeout: self.identityInterval)
            }
        }
        // Stopped before the HTTP server (service order): its live streams must end for it to drain.
        hub.close()
    }

    /// Publishes activity entries newer than `after` and returns the newest id seen. The first look after
    /// someone started watching (`after` nil) publishes only entries of the last few seconds.
    func publishIdentity(after: Int64?) async throws(StoreError) -> Int64? {
        let page = try await store.activity(.identified, before: nil, limit: 50)
        let entries = page.items.compactMap { item -> ActivityEntry? in
            if case .entry(let entry) = item { return entry }
            return nil
        }
        let newest = entries.map(\.id).max()
        let recent = clock.now() - .seconds(5)
        let fresh = entries.filter { entry in
            if let after { return entry.id > after }
            return entry.at >= recent
        }
        for entry in fresh.sorted(by: { $0.id < $1.id }) {
            hub.publish(LiveItems.identity(entry))
        }
        return max(after ?? newest ?? 0, newest ?? 0)
    }
}
