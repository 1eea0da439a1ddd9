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
/// whichever reads it first. The follower gives them ``catchUpDelay`` to do so and reads the log itself only
/// when they published nothing meanwhile or are far behind (``readsItself(publishedBefore:publishedAfter:head:farBehind:)``).
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
    /// How long the workers may stay behind the head while the follower still leaves them the items.
    let farBehind: Duration

    public init(
        hub: LiveHub, store: any EventStore, signal: EventLogSignal, clock: any WallClock, logger: Logger,
        identityInterval: Duration = .milliseconds(250), catchUpDelay: Duration = .milliseconds(100),
        farBehind: Duration = .seconds(5)
    ) {
        self.farBehind = farBehind
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
        var unreached: (head: Int64, since: ContinuousClock.Instant)?
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let mark = signal.head
            guard hub.isObserved else {
                position = mark
                lastEntryId = nil
                unreached = nil
                await cancelWhenGracefulShutdownQuietly { await self.signal.wait(beyond: mark, timeout: .milliseconds(200)) }
                continue
            }
            var readsLog = false
            if position < mark {
                let before = hub.ingestPublishedThrough
                await cancelWhenGracefulShutdownQuietly { try? await Task.sleep(for: self.catchUpDelay) }
                let after = hub.ingestPublishedThrough
                if let after { position = max(position, min(after, mark)) }
                // How long the workers have been behind: since a head they have not reached yet was seen.
                if let waiting = unreached, let after, after >= waiting.head { unreached = nil }
                if unreached == nil, (after ?? position) < mark { unreached = (mark, .now) }
                // Else the workers are reading the log and not far behind: they publish what is left.
                readsLog = Self.readsItself(
                    publishedBefore: before, publishedAfter: after,
                    behindFor: unreached.map { ContinuousClock.now - $0.since }, farBehind: farBehind)
            }
            do {
                // Up to the head of before the delay: later commits get their own delay.
                while readsLog, position < mark {
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

    /// Whether the follower reads the log for `ingest` items itself after its ``catchUpDelay``: only when the
    /// destination workers published none meanwhile (there are none, or none holds a lease here, or all are
    /// paused or stuck retrying) or have been behind for more than `farBehind` (a backlog: the live view then
    /// shows new arrivals without waiting for it). Reading what the workers read anyway doubled the log's
    /// reads and cost ingest ~15 % of its CPU while someone watched (`BENCHMARKS.md`, live view).
    static func readsItself(
        publishedBefore: Int64?, publishedAfter: Int64?, behindFor: Duration?, farBehind: Duration
    ) -> Bool {
        guard let after = publishedAfter, after != publishedBefore else { return true }
        return (behindFor ?? .zero) > farBehind
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
