import ServiceLifecycle
import Synchronization

/// How long sends in flight may go on once the gateway stops (`server.shutdown_grace`).
///
/// On graceful shutdown a worker starts no new send, but one already waiting on a stalled destination
/// would hold the process for as long as the destination stalls. The grace counts from the moment the
/// gateway starts stopping (SIGTERM: ``clock`` hears of it first, before ingest and the HTTP server wind
/// down); at its end less a reserve — a tenth of the grace, at most 1 s, to record progress and close the
/// store — every send still in flight is cancelled. Its batch is not recorded, so it stays queued and is
/// sent again after the restart (nothing is lost, the idempotency key is the same).
final class ShutdownGrace: Sendable {
    let grace: Duration
    /// Advanced to 1 when the grace has run out.
    let expired = EventLogSignal()
    /// When the gateway started stopping, as first heard.
    let began = Mutex<ContinuousClock.Instant?>(nil)

    init(grace: Duration) {
        self.grace = grace
    }

    var hasExpired: Bool { expired.head > 0 }

    /// When sends in flight are cut off, for a shutdown that began at `start`.
    func deadline(from start: ContinuousClock.Instant) -> ContinuousClock.Instant {
        start + grace - min(grace / 10, .seconds(1))
    }

    /// Records that the gateway started stopping now, unless it was recorded earlier.
    func shutdownBegan() {
        began.withLock { began in
            if began == nil { began = .now }
        }
    }

    /// Waits for graceful shutdown, then until the grace runs out, then expires it. Returns early when
    /// cancelled (the service ended first).
    func expireAfterShutdownAndGrace() async {
        do {
            try await gracefulShutdown()
            shutdownBegan()
            let start = began.withLock { $0 } ?? .now
            try await Task.sleep(until: deadline(from: start), clock: .continuous)
        } catch {
            return  // cancelled: everything stopped within the grace
        }
        expired.advance(to: 1)
    }

    /// Runs `body`, cancelling it when the grace runs out. nil when it was cut off that way (or the
    /// caller was cancelled), else `body`'s result.
    func runUntilExpired<T: Sendable>(_ body: @escaping @Sendable () async -> T) async -> T? {
        if hasExpired { return nil }
        return await withTaskGroup(of: T?.self) { group in
            group.addTask { await body() }
            group.addTask {
                await self.expired.waitForHead(beyond: 0)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return Task.isCancelled || hasExpired ? nil : first
        }
    }

    /// A service that only notes when the gateway starts stopping. Run it last in the service group, so it
    /// is the first to hear of a SIGTERM (services stop in reverse order).
    struct Clock: Service {
        let grace: ShutdownGrace

        func run() async throws {
            try? await gracefulShutdown()  // cancelled: the group is going away, nothing to note
            grace.shutdownBegan()
        }
    }
}
