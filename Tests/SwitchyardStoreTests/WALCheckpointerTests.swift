import Foundation
import SwitchyardCore
import SwitchyardStore
import Testing

/// The WAL is copied into the database file off the commit path (issue 15), and a closed store stops it.
@Suite("WAL checkpointer")
struct WALCheckpointerTests {
    static func fileSize(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
    }

    @Test
    func committedPagesReachTheDatabaseFileWithoutTheWriterCheckpointing() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wal-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("events.db").path
        let store = try SQLiteEventStore(path: path)
        let before = Self.fileSize(path)
        let padding = String(repeating: "x", count: 1000)
        for round in 0..<4 {
            let events = (0..<500).map { index in
                NewEvent(
                    source: "web", messageId: "m\(round)-\(index)", type: .track, userId: "u\(index % 50)", anonymousId: nil,
                    eventName: "Clicked", timestamp: StoreContractTests.t0, receivedAt: StoreContractTests.t0,
                    body: Array(#"{"type":"track","p":"\#(padding)"}"#.utf8))
            }
            _ = try await store.append(events, dedupeWindow: .seconds(60))
        }
        // 2,000 events of ~1 KB: ~2 MB of pages, far below the writer's own checkpoint (10,000 pages, ~40 MB).
        let deadline = ContinuousClock.now + .seconds(30)
        while Self.fileSize(path) < before + 1_500_000, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(Self.fileSize(path) >= before + 1_500_000, "the database file grew: the WAL was checkpointed")
        #expect(try await store.eventCount() == 2000)
        try await store.close()
        // Reopened, everything is there (the checkpoint kept the WAL and the file consistent).
        let reopened = try SQLiteEventStore(path: path)
        #expect(try await reopened.eventCount() == 2000)
        try await reopened.close()
    }
}
