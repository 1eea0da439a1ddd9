import Benchmark
import Foundation
import SampleEvents
import SwitchyardCore
import SwitchyardStore

// The serial commit: `SQLiteEventStore.append` with `synchronous = FULL` (every commit syncs the WAL) on a
// new database in a temporary folder (TMPDIR; it must be a real disk, not tmpfs, for the sync to mean anything),
// identity on, at 1, 100 and 1000 events per commit. Events are parsed before the measurement starts, with
// fresh message ids each iteration so that every event is inserted. A name ends with the events per commit;
// scripts/bench-micro divides by it to report per event.
let benchmarks: @Sendable () -> Void = {
    for size in [1, 100, 1000] {
        let commit = CommitFixture(size: size)
        Benchmark(
            "commit append x\(size)",
            configuration: .init(
                metrics: [.wallClock, .mallocCountTotal], timeUnits: .nanoseconds,
                units: [.mallocCountTotal: .count], warmupIterations: 3,
                maxDuration: .seconds(3), maxIterations: 2000,
                setup: { try commit.open() }, teardown: { try await commit.close() })
        ) { benchmark in
            let events = commit.nextEvents()
            benchmark.startMeasurement()
            let results = try await commit.store().append(events, dedupeWindow: .seconds(86_400))
            benchmark.stopMeasurement()
            precondition(results.count == size, "one result per event")
            blackHole(results)
        }
    }
}

/// One benchmark's store and its run counter.
///
/// `@unchecked Sendable`: the benchmark runner calls setup, the iterations and teardown one after another,
/// never concurrently, so the mutable state is never shared between threads at the same time.
final class CommitFixture: @unchecked Sendable {
    let size: Int
    private var directory: URL?
    private var opened: SQLiteEventStore?
    private var run = 0

    init(size: Int) { self.size = size }

    func open() throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("switchyard-micro-\(size)-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.directory = directory
        opened = try SQLiteEventStore(
            path: directory.appendingPathComponent("events.sqlite").path, synchronous: .full,
            identity: IdentityPolicy())
    }

    func store() -> SQLiteEventStore {
        guard let opened else { fatalError("internal inconsistency: the benchmark ran before its setup") }
        return opened
    }

    func nextEvents() -> [NewEvent] {
        run += 1
        return SampleEvents.parsedBatch(count: size, run: run)
    }

    func close() async throws {
        try await opened?.close()
        opened = nil
        if let directory { try FileManager.default.removeItem(at: directory) }
    }
}
