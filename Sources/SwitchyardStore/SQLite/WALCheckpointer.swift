import Dispatch
import GRDB
import Synchronization

/// Copies the write-ahead log back into the database file from its own connection and thread, so the writer
/// never does it inside a commit.
///
/// SQLite's default has the committing connection checkpoint once the WAL passes 1000 pages: the commit that
/// crosses it also copies those pages and syncs the database file while every queued request waits. Measured
/// with `scripts/bench-micro` (commit of 1000 events): ~3 µs per event of the serial commit. Here a passive
/// checkpoint — it never blocks the writer or readers — runs after commits, at most every `interval`; the
/// writer keeps SQLite's own checkpoint at `writerFallbackPages` in case this one falls behind (a reader
/// holding an old snapshot, a stalled disk), so the WAL stays bounded either way.
final class WALCheckpointer: Sendable {
    static let writerFallbackPages = 10_000
    /// Checkpoints and `stop` run one at a time on this queue (a checkpoint on a closed connection crashes
    /// SQLite), on a dispatch thread: the sync they wait for must not block Swift's cooperative pool.
    let queue = DispatchQueue(label: "switchyard.wal-checkpoint")
    let connection: Mutex<DatabaseQueue?>
    let interval: DispatchTimeInterval
    let dirty = Atomic<Bool>(false)

    init(path: String, synchronous: String, interval: DispatchTimeInterval = .milliseconds(100)) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            // Only a synced database file lets SQLite restart the WAL over the copied pages.
            try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
        }
        connection = Mutex(try DatabaseQueue(path: path, configuration: configuration))
        self.interval = interval
        scheduleNext()
    }

    /// One round after `interval`, as long as the store is open (a dropped store ends the rounds too).
    func scheduleNext() {
        queue.asyncAfter(deadline: .now() + interval) { [weak self] in
            guard let self, self.connection.withLock({ $0 != nil }) else { return }
            self.checkpointIfDirty()
            self.scheduleNext()
        }
    }

    /// A commit added pages to the WAL.
    func noteCommit() {
        dirty.store(true, ordering: .relaxed)
    }

    /// Runs on `queue`.
    func checkpointIfDirty() {
        guard dirty.exchange(false, ordering: .relaxed) else { return }
        connection.withLock { connection in
            guard let connection else { return }
            // Busy (the writer's fallback checkpoint is running): the next round tries again.
            do {
                _ = try connection.writeWithoutTransaction { try $0.checkpoint(.passive) }
            } catch {
                dirty.store(true, ordering: .relaxed)
            }
        }
    }

    /// Waits for a running checkpoint, then closes the connection. Awaited, not blocking: a checkpoint can
    /// take a while on a slow disk, and a blocked thread of Swift's small cooperative pool stalls every task.
    func stop() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            queue.async {
                continuation.resume(
                    with: Result {
                        try self.connection.withLock { connection in
                            try connection?.close()
                            connection = nil
                        }
                    })
            }
        }
    }
}
