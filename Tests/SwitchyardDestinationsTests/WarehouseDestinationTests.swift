import Crypto
import Foundation
import Logging
import SwitchyardCore
import SwitchyardDestinations
import SwitchyardTesting
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// 2026-11-29T05:25:25.000Z
let warehouseStart = Timestamp(milliseconds: 1_795_929_925_000)

func warehouseEvent(
    _ messageId: String, source: String = "website", type: EventType = .track, receivedAt: Timestamp = warehouseStart,
    resolvedUserId: String? = nil, padding: Int = 0
) -> DeliveryEvent {
    let properties = padding > 0 ? #","properties":{"pad":"\#(String(repeating: "x", count: padding))"}"# : ""
    let body =
        #"{"type":"\#(type.rawValue)","messageId":"\#(messageId)","anonymousId":"anon-1"\#(properties),"#
        + #""timestamp":"\#(receivedAt.iso8601)","receivedAt":"\#(receivedAt.iso8601)"}"#
    return DeliveryEvent(
        sequence: 0, source: source, messageId: messageId, type: type, receivedAt: receivedAt, timestamp: receivedAt,
        resolvedUserId: resolvedUserId, body: Array(body.utf8))
}

/// The destination's files as a test sees them.
struct WarehouseFolder {
    let root: String

    var visible: [String] { files(under: root, endingIn: ".ndjson.gz") }
    var temporary: [String] { files(under: root, endingIn: ".tmp") }
    var manifests: [String] { files(under: root + "/_manifests", endingIn: ".json") }

    /// Lines of a visible file, decompressed by the system's `gzip`, independent of our zlib use.
    func gunzip(_ relative: String) throws -> [String] {
        let result = try run("gzip", ["-dc", root + "/" + relative])
        #expect(result.status == 0, "gzip -dc \(relative): \(result.errors)")
        return result.output.split(separator: "\n").map(String.init)
    }
}

@Suite struct WarehouseDestinationTests {
    func make(
        _ root: String, maxBytes: ByteSize = .mebibytes(64), maxAge: Duration = .seconds(300),
        nodeId: String = "node-a",
        clock: ManualWallClock, logger: Logger = quietLogger
    ) throws -> WarehouseDestination {
        try WarehouseDestination(
            settings: WarehouseSettings(path: root, rotateMaxBytes: maxBytes, rotateMaxAge: maxAge),
            context: testContext(name: "warehouse", nodeId: nodeId, clock: clock, logger: logger))
    }

    @Test func filesStayHiddenUntilRotationIsDueThenArePublishedWithAManifest() async throws {
        let root = try makeTemporaryFolder()
        defer { removeFolder(root) }
        let folder = WarehouseFolder(root: root)
        let clock = ManualWallClock(warehouseStart)
        let warehouse = try make(root, clock: clock)

        let first = (0..<3).map { warehouseEvent("t-\($0)", resolvedUserId: $0 == 0 ? "user-1" : nil) }
        let later = warehouseStart + .seconds(200)
        let second = [
            warehouseEvent("t-3", receivedAt: later), warehouseEvent("p-0", type: .page, receivedAt: later),
            warehouseEvent("i-0", source: "ios", receivedAt: later),
        ]
        #expect(await warehouse.deliver(DeliveryBatch(events: first)) == .delivered)
        #expect(try await warehouse.commit(force: false) == false)
        clock.advance(by: .seconds(200))
        #expect(await warehouse.deliver(DeliveryBatch(events: second)) == .delivered)
        #expect(try await warehouse.commit(force: false) == false)
        #expect(folder.visible.isEmpty, "nothing visible before rotation")
        #expect(folder.manifests.isEmpty)
        #expect(folder.temporary.count == 3, "one open file per source/table/date: \(folder.temporary)")
        #expect(folder.temporary.allSatisfy { ($0.split(separator: "/").last ?? "").hasPrefix(".") })

        // The oldest file reaches max_age (5m) 300 s after it was opened.
        clock.advance(by: .seconds(99))
        #expect(try await warehouse.commit(force: false) == false)
        clock.advance(by: .seconds(1))
        #expect(try await warehouse.commit(force: false) == true)

        #expect(folder.temporary.isEmpty)
        let visible = folder.visible
        #expect(visible.count == 3)
        let tracks = try #require(visible.first { $0.hasPrefix("website/tracks/dt=2026-11-29/") })
        let name = String(tracks.split(separator: "/").last ?? "")
        #expect(
            name.range(of: #"^1795929925000-node-a-[0-9a-f]{8}\.ndjson\.gz$"#, options: .regularExpression) != nil,
            "\(name)")
        let lines = try folder.gunzip(tracks)
        #expect(lines.count == 4)
        #expect(lines[0].hasSuffix(#","resolvedUserId":"user-1"}"#))
        #expect(lines[1].hasSuffix(#","resolvedUserId":null}"#))
        #expect(try lines.map { try JSONValue.parse($0)["messageId"]?.stringValue } == ["t-0", "t-1", "t-2", "t-3"])
        #expect(visible.contains { $0.hasPrefix("website/pages/dt=2026-11-29/") })
        #expect(visible.contains { $0.hasPrefix("ios/tracks/dt=2026-11-29/") })

        let manifests = folder.manifests
        #expect(manifests == [name.replacingOccurrences(of: ".ndjson.gz", with: ".json")], "named after the first file")
        let manifest = try readJSON(root + "/_manifests/" + manifests[0])
        let entries = try #require(manifest["files"]?.arrayValue)
        #expect(entries.compactMap { $0["path"]?.stringValue } == visible)
        for entry in entries {
            let path = try #require(entry["path"]?.stringValue)
            let bytes = try #require(FileManager.default.contents(atPath: root + "/" + path))
            #expect(entry["bytes"] == .number(String(bytes.count)))
            #expect(entry["sha256"]?.stringValue == sha256Hex(Array(bytes)))
            #expect(entry["rows"] == .number(String(try folder.gunzip(path).count)))
        }
        let tracksEntry = try #require(entries.first { $0["path"]?.stringValue == tracks })
        #expect(tracksEntry["min_timestamp"]?.stringValue == warehouseStart.iso8601)
        #expect(tracksEntry["max_timestamp"]?.stringValue == later.iso8601)

        // Nothing open any more: committing is trivially true and writes no second manifest.
        #expect(try await warehouse.commit(force: false) == true)
        #expect(folder.manifests.count == 1)
        await warehouse.shutdown()
    }

    @Test func rotatesWhenAFileReachesMaxBytes() async throws {
        let root = try makeTemporaryFolder()
        defer { removeFolder(root) }
        let clock = ManualWallClock(warehouseStart)
        let warehouse = try make(root, maxBytes: ByteSize(bytes: 2000), clock: clock)
        #expect(await warehouse.deliver(DeliveryBatch(events: [warehouseEvent("a", padding: 900)])) == .delivered)
        #expect(try await warehouse.commit(force: false) == false)
        #expect(await warehouse.deliver(DeliveryBatch(events: [warehouseEvent("b", padding: 900)])) == .delivered)
        #expect(try await warehouse.commit(force: false) == true)
        #expect(WarehouseFolder(root: root).visible.count == 1)
        await warehouse.shutdown()
    }

    @Test func forceRotatesAtOnceAndEmptyCommitsAreTrue() async throws {
        let root = try makeTemporaryFolder()
        defer { removeFolder(root) }
        let warehouse = try make(root, clock: ManualWallClock(warehouseStart))
        #expect(try await warehouse.commit(force: false) == true, "no open file: nothing to make durable")
        #expect(await warehouse.deliver(DeliveryBatch(events: [warehouseEvent("a")])) == .delivered)
        #expect(try await warehouse.commit(force: true) == true)
        #expect(WarehouseFolder(root: root).visible.count == 1)
        #expect(WarehouseFolder(root: root).manifests.count == 1)
        await warehouse.shutdown()
    }

    @Test func tooManyOpenFilesMakeRotationDue() async throws {
        let root = try makeTemporaryFolder()
        defer { removeFolder(root) }
        let warehouse = try make(root, clock: ManualWallClock(warehouseStart))
        let events = (0..<WarehouseDestination.maxOpenFiles).map {
            warehouseEvent("e\($0)", receivedAt: warehouseStart - .seconds(86_400 * Int64($0)))
        }
        #expect(await warehouse.deliver(DeliveryBatch(events: events)) == .delivered)
        #expect(try await warehouse.commit(force: false) == true)
        #expect(WarehouseFolder(root: root).visible.count == WarehouseDestination.maxOpenFiles)
        await warehouse.shutdown()
    }

    @Test(arguments: [
        (Duration.seconds(300), Duration.seconds(75)),
        (.seconds(1), .milliseconds(250)),
        (.milliseconds(200), .milliseconds(100)),
    ])
    func commitIntervalIsAQuarterOfMaxAgeAtLeast100ms(_ maxAge: Duration, _ interval: Duration) throws {
        let root = try makeTemporaryFolder()
        defer { removeFolder(root) }
        #expect(try make(root, maxAge: maxAge, clock: ManualWallClock(warehouseStart)).commitInterval == interval)
    }

    @Test func mergeRowsGoToTheirOwnTable() async throws {
        let root = try makeTemporaryFolder()
        defer { removeFolder(root) }
        let folder = WarehouseFolder(root: root)
        let warehouse = try make(root, clock: ManualWallClock(warehouseStart))
        try await warehouse.appendMerge(
            anonymousId: "anon-1", userId: "user-7", mergedAt: warehouseStart, messageId: "m-1", source: "website")
        #expect(try await warehouse.commit(force: true))
        let path = try #require(folder.visible.first)
        #expect(path.hasPrefix("website/identity_merges/dt=2026-11-29/"))
        #expect(
            try folder.gunzip(path)
                == [
                    #"{"anonymousId":"anon-1","userId":"user-7","mergedAt":"2026-11-29T05:25:25.000Z","messageId":"m-1"}"#
                ])
        await warehouse.shutdown()
    }

    @Test func anEventThatMergedBringsItsMergeRow() async throws {
        let root = try makeTemporaryFolder()
        defer { removeFolder(root) }
        let folder = WarehouseFolder(root: root)
        let warehouse = try make(root, clock: ManualWallClock(warehouseStart))
        var identify = warehouseEvent("i-1", type: .identify, resolvedUserId: "user-7")
        identify.identityMerge = IdentityMerge(
            anonymousId: "anon-1", userId: "user-7", mergedAt: warehouseStart + .milliseconds(5), messageId: "i-1")
        #expect(await warehouse.deliver(DeliveryBatch(events: [identify])) == .delivered)
        #expect(try await warehouse.commit(force: true))
        let merges = try #require(folder.visible.first { $0.hasPrefix("website/identity_merges/dt=2026-11-29/") })
        #expect(
            try folder.gunzip(merges)
                == [
                    #"{"anonymousId":"anon-1","userId":"user-7","mergedAt":"2026-11-29T05:25:25.005Z","messageId":"i-1"}"#
                ])
        #expect(folder.visible.contains { $0.hasPrefix("website/identifies/dt=2026-11-29/") })
        await warehouse.shutdown()
    }

    /// SPEC §4 "Merges reach every destination once": a warehouse whose filter leaves the identify out
    /// still gets the merge row, and nothing of the message.
    @Test func aMergeOnlyEventWritesOnlyItsMergeRow() async throws {
        let root = try makeTemporaryFolder()
        defer { removeFolder(root) }
        let folder = WarehouseFolder(root: root)
        let warehouse = try make(root, clock: ManualWallClock(warehouseStart))
        var identify = warehouseEvent("i-1", type: .identify, resolvedUserId: "user-7")
        identify.identityMerge = IdentityMerge(
            anonymousId: "anon-1", userId: "user-7", mergedAt: warehouseStart, messageId: "i-1")
        identify.mergeOnly = true
        // A mergeOnly event without a merge (nothing to record) is delivered and writes nothing.
        var bare = warehouseEvent("t-1")
        bare.mergeOnly = true
        #expect(await warehouse.deliver(DeliveryBatch(events: [identify, bare])) == .delivered)
        #expect(try await warehouse.commit(force: true))
        let visible = folder.visible
        #expect(visible.count == 1)
        let merges = try #require(visible.first)
        #expect(merges.hasPrefix("website/identity_merges/dt=2026-11-29/"))
        #expect(
            try folder.gunzip(merges)
                == [
                    #"{"anonymousId":"anon-1","userId":"user-7","mergedAt":"2026-11-29T05:25:25.000Z","messageId":"i-1"}"#
                ])
        let manifest = try #require(folder.manifests.first)
        let listed = try String(contentsOfFile: root + "/_manifests/" + manifest, encoding: .utf8)
        #expect(listed.contains(#""rows":1"#) && !listed.contains("/identifies/"))
        await warehouse.shutdown()
    }

    /// A merge that comes twice before a rotation (a resend; the same merge on a `mergeOnly` copy and on
    /// the event) is one row; after a rotation a resend may land in a new file (readers dedupe there).
    @Test func aMergeSentTwiceIsOneRowInItsFile() async throws {
        let root = try makeTemporaryFolder()
        defer { removeFolder(root) }
        let folder = WarehouseFolder(root: root)
        let warehouse = try make(root, clock: ManualWallClock(warehouseStart))
        let merge = IdentityMerge(anonymousId: "anon-1", userId: "user-7", mergedAt: warehouseStart, messageId: "i-1")
        var first = warehouseEvent("i-1", type: .identify, resolvedUserId: "user-7")
        first.identityMerge = merge
        var again = first
        again.mergeOnly = true
        #expect(await warehouse.deliver(DeliveryBatch(events: [first, again])) == .delivered)
        #expect(await warehouse.deliver(DeliveryBatch(events: [first], attempt: 2)) == .delivered)
        try await warehouse.appendMerge(
            anonymousId: "anon-1", userId: "user-7", mergedAt: warehouseStart, messageId: "i-1", source: "website")
        #expect(try await warehouse.commit(force: true))
        let merges = try #require(folder.visible.first { $0.contains("/identity_merges/") })
        #expect(try folder.gunzip(merges).count == 1)
        let identifies = try #require(folder.visible.first { $0.contains("/identifies/") })
        #expect(try folder.gunzip(identifies).count == 2)  // events are not deduplicated: messageId is their key
        await warehouse.shutdown()
    }

    @Test func aBodyThatIsNotAnObjectIsDeadLetteredAlone() async throws {
        let root = try makeTemporaryFolder()
        defer { removeFolder(root) }
        let warehouse = try make(root, clock: ManualWallClock(warehouseStart))
        var broken = warehouseEvent("b")
        broken.body = Array("[1,2]".utf8)
        let outcome = await warehouse.deliver(
            DeliveryBatch(events: [warehouseEvent("a"), broken, warehouseEvent("c")]))
        guard case .deadLetter(let indexes, _, _) = outcome else {
            Issue.record("expected a dead letter of one event, got \(outcome)")
            return
        }
        #expect(indexes == [1])
        #expect(try await warehouse.commit(force: true))
        let path = try #require(WarehouseFolder(root: root).visible.first)
        #expect(try WarehouseFolder(root: root).gunzip(path).count == 2)
        await warehouse.shutdown()
    }

    @Test func leftoverTemporaryFilesAreRemovedAtStartUnlessALiveWriterHoldsThem() throws {
        let root = try makeTemporaryFolder()
        defer { removeFolder(root) }
        let manager = FileManager.default
        let dataFolder = root + "/website/tracks/dt=2026-11-29"
        try manager.createDirectory(atPath: dataFolder, withIntermediateDirectories: true)
        try manager.createDirectory(atPath: root + "/_manifests", withIntermediateDirectories: true)
        let crashed = [
            dataFolder + "/.1795929925000-node-a-0a1b2c3d.ndjson.gz.tmp",
            root + "/_manifests/.1795929925000-node-a-0a1b2c3d.json.tmp",
            dataFolder + "/.1795900000000-node-c-0a1b2c3d.ndjson.gz.tmp",
        ]
        let heldByALiveWriter = dataFolder + "/.1795929925000-node-b-0a1b2c3d.ndjson.gz.tmp"
        let justCreated = dataFolder + "/.1795929925000-node-d-0a1b2c3d.ndjson.gz.tmp"
        let notOurs = root + "/.something.tmp"
        let published = dataFolder + "/1795929000000-node-a-01234567.ndjson.gz"
        let now = Date()
        for path in crashed + [heldByALiveWriter, justCreated, notOurs, published] {
            #expect(manager.createFile(atPath: path, contents: Data("x".utf8)))
            try manager.setAttributes([.modificationDate: now.addingTimeInterval(-60)], ofItemAtPath: path)
        }
        try manager.setAttributes([.modificationDate: now.addingTimeInterval(-1)], ofItemAtPath: justCreated)
        // Another process's writer: an open descriptor holding the lock, as `WarehouseFile` keeps one.
        let live = open(heldByALiveWriter, O_WRONLY | O_CLOEXEC)
        try #require(live >= 0)
        defer { close(live) }
        try #require(flock(live, LOCK_EX | LOCK_NB) == 0)

        let logs = CapturedLogs()
        let clock = ManualWallClock(Timestamp(milliseconds: Int64(now.timeIntervalSince1970 * 1000)))
        _ = try make(root, clock: clock, logger: logs.logger)

        for path in crashed { #expect(!manager.fileExists(atPath: path), "removed \(path)") }
        for path in [heldByALiveWriter, justCreated, notOurs, published] {
            #expect(manager.fileExists(atPath: path), "kept \(path)")
        }
        let warning = try #require(logs.entries.value.first { $0.level == .warning })
        #expect(warning.metadata["switchyard.files"] == "3")
        #expect(warning.metadata["switchyard.destination"] == "warehouse")
    }

    @Test func twoNodesSharingAPathNeverTouchEachOthersFiles() async throws {
        let root = try makeTemporaryFolder()
        defer { removeFolder(root) }
        let clock = ManualWallClock(warehouseStart)
        let nodeA = try make(root, nodeId: "node-a", clock: clock)
        #expect(await nodeA.deliver(DeliveryBatch(events: [warehouseEvent("a")])) == .delivered)
        let nodeB = try make(root, nodeId: "node-b", clock: clock)  // starting B keeps A's open file
        #expect(await nodeB.deliver(DeliveryBatch(events: [warehouseEvent("b")])) == .delivered)
        #expect(try await nodeA.commit(force: true))
        #expect(try await nodeB.commit(force: true))
        let names = WarehouseFolder(root: root).visible.map { String($0.split(separator: "/").last ?? "") }
        #expect(names.count == 2)
        #expect(names.contains { $0.contains("-node-a-") } && names.contains { $0.contains("-node-b-") })
        #expect(WarehouseFolder(root: root).manifests.count == 2)
        await nodeA.shutdown()
        await nodeB.shutdown()
    }

    @Test func aPathThatIsAFileIsRefusedAtStart() throws {
        let root = try makeTemporaryFolder()
        defer { removeFolder(root) }
        let path = root + "/warehouse"
        #expect(FileManager.default.createFile(atPath: path, contents: Data()))
        do {
            _ = try make(path, clock: ManualWallClock(warehouseStart))
            Issue.record("expected an error")
        } catch let error as WarehouseError {
            #expect(error.code == "write_failed")
            #expect(error.message.contains(path) && error.message.contains("Not a directory"), "\(error)")
        }
    }

    @Test func aPathThatBecomesAFileMakesDeliveriesRetry() async throws {
        let root = try makeTemporaryFolder()
        defer { removeFolder(root) }
        let path = root + "/warehouse"
        let warehouse = try make(path, clock: ManualWallClock(warehouseStart))
        try FileManager.default.removeItem(atPath: path)
        #expect(FileManager.default.createFile(atPath: path, contents: Data()))
        let outcome = await warehouse.deliver(DeliveryBatch(events: [warehouseEvent("a")]))
        guard case .retry(nil, let reason, nil) = outcome else {
            Issue.record("expected a retry, got \(outcome)")
            return
        }
        #expect(reason.contains("Not a directory"), "\(reason)")
        // The failed batch was never credited, so there is nothing to commit and nothing lost.
        #expect(try await warehouse.commit(force: true))
        #expect(WarehouseFolder(root: root).visible.isEmpty)
        #expect(WarehouseFolder(root: root).temporary.isEmpty)
        await warehouse.shutdown()
    }

    @Test func aFailedWriteDiscardsUncommittedBatchesAndTheNextCommitSaysSo() async throws {
        let root = try makeTemporaryFolder()
        defer { removeFolder(root) }
        let folder = WarehouseFolder(root: root)
        let warehouse = try make(root, clock: ManualWallClock(warehouseStart))
        #expect(await warehouse.deliver(DeliveryBatch(events: [warehouseEvent("a", source: "ios")])) == .delivered)
        // A file where the `website` folder belongs: this batch's `website` event cannot be written.
        #expect(FileManager.default.createFile(atPath: root + "/website", contents: Data()))
        let outcome = await warehouse.deliver(
            DeliveryBatch(events: [warehouseEvent("b", source: "ios"), warehouseEvent("c", source: "website")]))
        guard case .retry = outcome else {
            Issue.record("expected a retry, got \(outcome)")
            return
        }
        #expect(folder.temporary.isEmpty, "open files are deleted, not left half-written")
        // The pipeline retries the failed batch before it commits; that works once the folder is back…
        try FileManager.default.removeItem(atPath: root + "/website")
        #expect(
            await warehouse.deliver(
                DeliveryBatch(events: [warehouseEvent("b", source: "ios"), warehouseEvent("c", source: "website")]))
                == .delivered)
        // …but the commit reports the loss of the first batch, and drops the retried one too: the pipeline
        // delivers everything since its last recorded commit again.
        let error = await #expect(throws: WarehouseError.self) { try await warehouse.commit(force: true) }
        #expect(error?.code == "uncommitted_discarded")
        #expect(folder.temporary.isEmpty)
        do {
            _ = try await warehouse.commit(force: true)
        } catch {
            Issue.record("the discard is reported once: \(error)")
        }
        #expect(folder.visible.isEmpty)
        #expect(folder.manifests.isEmpty)
        await warehouse.shutdown()
    }

    @Test func aFailedRotationThrowsAndPublishesNothing() async throws {
        let root = try makeTemporaryFolder()
        defer { removeFolder(root) }
        let folder = WarehouseFolder(root: root)
        let warehouse = try make(root, clock: ManualWallClock(warehouseStart))
        #expect(await warehouse.deliver(DeliveryBatch(events: [warehouseEvent("a")])) == .delivered)
        // The open file's folder disappears (an operator cleaning up): the rename cannot happen.
        try FileManager.default.removeItem(atPath: root + "/website")
        do {
            _ = try await warehouse.commit(force: true)
            Issue.record("expected the commit to throw")
        } catch let error as WarehouseError {
            #expect(error.code == "write_failed")
        }
        #expect(folder.visible.isEmpty)
        #expect(folder.manifests.isEmpty)
        #expect(folder.temporary.isEmpty)
        // The next delivery starts a new file and works.
        #expect(await warehouse.deliver(DeliveryBatch(events: [warehouseEvent("a")])) == .delivered)
        #expect(try await warehouse.commit(force: true))
        #expect(folder.visible.count == 1)
        await warehouse.shutdown()
    }

    @Test func shutdownDeletesFilesThatWereNeverCommitted() async throws {
        let root = try makeTemporaryFolder()
        defer { removeFolder(root) }
        let warehouse = try make(root, clock: ManualWallClock(warehouseStart))
        #expect(await warehouse.deliver(DeliveryBatch(events: [warehouseEvent("a")])) == .delivered)
        #expect(WarehouseFolder(root: root).temporary.count == 1)
        await warehouse.shutdown()
        #expect(WarehouseFolder(root: root).temporary.isEmpty)
        #expect(WarehouseFolder(root: root).visible.isEmpty)
    }

    @Test func largeFilesStreamThroughAndDecompressIntact() async throws {
        let root = try makeTemporaryFolder()
        defer { removeFolder(root) }
        let warehouse = try make(root, clock: ManualWallClock(warehouseStart))
        var generator = SystemRandomNumberGenerator()
        for batch in 0..<20 {
            let events = (0..<500).map { index in
                // Random ids keep the data from compressing to nothing, so output is written while appending.
                warehouseEvent("\(batch)-\(index)-\(MessageId.random(using: &generator))", padding: 50)
            }
            #expect(await warehouse.deliver(DeliveryBatch(events: events)) == .delivered)
        }
        #expect(try await warehouse.commit(force: true))
        let folder = WarehouseFolder(root: root)
        let path = try #require(folder.visible.first)
        let lines = try folder.gunzip(path)
        #expect(lines.count == 10_000)
        #expect(lines.first?.contains(#""messageId":"0-0-"#) == true)
        #expect(lines.last?.contains(#""messageId":"19-499-"#) == true)
        await warehouse.shutdown()
    }
}
