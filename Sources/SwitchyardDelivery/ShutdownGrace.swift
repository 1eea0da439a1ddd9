import ServiceLifecycle

/// How long sends in flight may go on once the gateway stops (`server.shutdown_grace`).
///
/// On graceful shutdown a worker starts no new send, but one already waiting on a stalled destination
/// would hold the process for as long as the destination stalls. Once the grace has passed since
/// shutdown began, every send still in flight is cancelled; its batch is not recorded, so it stays
/// queued and is sent again after the restart (nothing is lost, the idempotency key is the same).
final class ShutdownGrace: Sendable {
    let grace: Duration
    /// Advanced to 1 when the grace has run out.
    let expired = EventLogSignal()

    init(grace: Duration) {
        self.grace = grace
    }

    var hasExpired: Bool { expired.head > 0 }

    /// Waits for graceful shutdown, then for the grace, then expires it. Returns early when cancelled
    /// (the service ended first).
    func expireAfterShutdownAndGrace() async {
        do {
            try await gracefulShutdown()
            try await Task.sleep(for: grace)
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
}
