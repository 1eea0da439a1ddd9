import Foundation
import Logging
import SwitchyardCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The `warehouse` destination: gzipped NDJSON files under `path` (SPEC §4), one line per event — the
/// stored message with `"resolvedUserId"` added last — in
/// `<path>/<source>/<table>/dt=YYYY-MM-DD/<unixMillis>-<nodeId>-<random8hex>.ndjson.gz`, the table from
/// the event type (`tracks`, `pages`, `screens`, `identifies`, `groups`, `aliases`) and the date the UTC
/// date of `receivedAt`. A seventh table, `identity_merges`, gets one row per merge: for every delivered
/// event that carries ``DeliveryEvent/identityMerge`` (the event whose arrival merged an anonymous id),
/// written in the same batch and made durable by the same commit as the event itself; embedders without
/// the pipeline can call ``appendMerge(anonymousId:userId:mergedAt:messageId:source:)``. An event marked
/// ``DeliveryEvent/mergeOnly`` (the warehouse's filter leaves it out) writes its merge row and nothing
/// else, and counts as delivered. A merge is one row per open file however often it comes (its
/// `messageId` is the key); readers dedupe across files on `messageId`.
///
/// Contract with the pipeline (see ``Destination``):
/// - ``deliver(_:)`` appends to the open file of each source/table/date (one open file per folder, named
///   `.<name>.tmp` so `*.ndjson.gz` globs never see it) and returns `.delivered`. Nothing is durable yet.
///   A body that is not a JSON object is dead-lettered by index (the other events were appended; a merge
///   row the event carries is written all the same, the merge having happened).
///   A failed write (disk full, permission, a file where a folder belongs) returns `.retry` and deletes
///   every open file — also the events of earlier batches not committed yet; the next ``commit(force:)``
///   then throws `uncommitted_discarded` so the pipeline delivers those again.
/// - ``commit(force:)`` rotates when due: any open file holds `rotate.max_bytes` of NDJSON (uncompressed),
///   the oldest open file is `rotate.max_age` old (by the context clock), ``maxOpenFiles`` files are
///   open, or `force`. Rotation finishes every gzip stream, fsyncs each file, renames all of them to
///   their visible names, fsyncs their folders up to `path`, then writes one manifest LAST,
///   `<path>/_manifests/<stem>.json` (temp name, fsync, rename, fsync), listing the files of that
///   rotation. Only then does it return true. Not due: false, files stay open. No open file: true.
///   If it throws, everything delivered since the last `true` must be delivered again: files that
///   could not be finished were deleted (never renamed half-written); files already renamed when a
///   later step failed stay visible but are in no manifest, and their events come again (duplicates
///   share a `messageId`, the warehouse's idempotency key).
/// - On start, leftover temporary files (`.<digits>-….ndjson.gz.tmp`, `_manifests/.<digits>-….json.tmp`)
///   under `path` are deleted and counted in a warning: their events were never acknowledged and come
///   again. Nodes may share a path (file names carry the node id), so a live node's open files must
///   survive another node's start: writers hold an exclusive `flock` on each open temporary file, which
///   the kernel releases when the process dies (also on `kill -9`). A file is deleted when nobody holds
///   its lock and it has not been written for 2 s (the moment between a writer creating and locking
///   it); on a file system without locks, when it has not been written for `max(2 × max_age, 1h)`.
/// - ``shutdown()`` closes and deletes files still open without publishing them.
///
/// Runs on its own serial queue (``BlockingIOExecutor``) because every call blocks on the disk.
public actor WarehouseDestination: Destination {
    /// Open files at which rotation is due whatever their size and age: each holds a zlib stream
    /// (about 300 KiB), and replays of old events can touch many dates.
    public static let maxOpenFiles = 64
    /// The table of merge rows.
    public static let mergesTable = "identity_merges"

    /// `rotate.max_age / 4`, at least 100 ms: how often the pipeline asks an idle warehouse to rotate.
    public nonisolated let commitInterval: Duration?

    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    private nonisolated let executor: BlockingIOExecutor
    private let settings: WarehouseSettings
    private let root: String
    private let nodeComponent: String
    private let clock: any WallClock
    private let logger: Logger
    private var files: [String: WarehouseFile] = [:]
    /// The merge `messageId`s written to each open `identity_merges` file (keyed like ``files``): a
    /// merge sent twice before a rotation (a resend, or the same merge on a `mergeOnly` copy and on the
    /// event itself) is one row. Across files, readers dedupe on `messageId` as for events.
    private var mergesInOpenFiles: [String: Set<String>] = [:]
    /// A batch or merge was accepted since the last commit that returned or threw.
    private var deliveredSinceCommit = false
    /// A write failure deleted appended events; the next commit must throw.
    private var discardedSinceCommit = false

    /// Creates `path` if needed and removes leftover temporary files (see the type's contract).
    ///
    /// Throws ``WarehouseError`` (`write_failed`) when `path` cannot be created or is not a writable
    /// folder, so a wrong path stops start-up with a clear message. Problems that appear later (disk
    /// full, the folder replaced or made read-only) make ``deliver(_:)`` retry instead.
    public init(settings: WarehouseSettings, context: DestinationContext) throws {
        self.settings = settings
        var root = settings.path
        while root.count > 1 && root.hasSuffix("/") { root.removeLast() }
        self.root = root
        nodeComponent = Self.pathComponent(context.nodeId)
        clock = context.clock
        var logger = context.logger
        logger[metadataKey: "switchyard.destination"] = "\(context.name)"
        self.logger = logger
        executor = BlockingIOExecutor(label: "switchyard.warehouse.\(context.name)")
        commitInterval = max(settings.rotateMaxAge / 4, .milliseconds(100))
        try POSIXFiles.makeDirectories(root, mode: settings.folderMode)
        guard POSIXFiles.isWritableDirectory(root) else {
            throw WarehouseError.writeFailed("writing into folder", path: root, errno: EACCES)
        }
        let removed = Self.removeLeftovers(
            root: root, unlockedOlderThan: .seconds(2),
            withoutLocksOlderThan: max(settings.rotateMaxAge * 2, .seconds(3600)),
            now: clock.now())
        if removed > 0 {
            logger.warning(
                "removed unfinished warehouse files left by a stopped process; their events will be delivered again",
                metadata: ["switchyard.files": "\(removed)"])
        }
    }

    public func deliver(_ batch: DeliveryBatch) async -> DeliveryOutcome {
        var rejected: [Int] = []
        do {
            for (index, event) in batch.events.enumerated() {
                if let merge = event.identityMerge { try append(merge, source: event.source) }
                // The destination does not take the message, only the merge it carries (SPEC §4 "Merges
                // reach every destination once"); having written that, the event is delivered.
                if event.mergeOnly { continue }
                guard let line = WarehouseLine.event(event) else {
                    rejected.append(index)
                    continue
                }
                let file = try openFile(source: event.source, table: event.type.table, date: event.receivedAt.utcDate)
                try file.append(line, timestamp: event.timestamp)
            }
        } catch {
            discardOpenFiles(after: error)
            return .retry(after: nil, reason: "warehouse: \(error)", status: nil)
        }
        // Set only now: lines of a batch that failed half-way were never credited, so losing them
        // alone is no reason for the next commit to throw.
        if rejected.count < batch.events.count { deliveredSinceCommit = true }
        if rejected.isEmpty { return .delivered }
        let reason = "warehouse: the stored message is not a JSON object"
        if rejected.count == batch.events.count { return .deadLetterAll(reason: reason, status: nil) }
        return .deadLetter(indexes: rejected, reason: reason, status: nil)
    }

    /// Appends one `identity_merges` row to `<path>/<source>/identity_merges/dt=<UTC date of mergedAt>/`
    /// outside a delivered batch (the pipeline instead sets ``DeliveryEvent/identityMerge``; both write the
    /// same row):
    /// `{"anonymousId":…,"userId":…,"mergedAt":"<ISO-8601>","messageId":…}` (messageId = the message that
    /// triggered the merge, the row's idempotency key).
    ///
    /// Like a delivered event, the row is durable only once a later ``commit(force:)`` returns true. If
    /// that commit throws, or the process dies first, the row is gone and the caller must append it
    /// again; rows are deduplicated downstream by `messageId`.
    /// Throws ``WarehouseError`` when the write fails (the open files are then deleted, as for
    /// ``deliver(_:)``).
    public func appendMerge(
        anonymousId: String, userId: String, mergedAt: Timestamp, messageId: String, source: String
    ) async throws {
        let merge = IdentityMerge(anonymousId: anonymousId, userId: userId, mergedAt: mergedAt, messageId: messageId)
        do {
            try append(merge, source: source)
            deliveredSinceCommit = true
        } catch {
            discardOpenFiles(after: error)
            throw error
        }
    }

    public func commit(force: Bool) async throws -> Bool {
        if discardedSinceCommit {
            // Everything since the last good commit comes again, so files opened after the failure go
            // too; keeping them would write those events twice.
            for file in files.values { file.abandon() }
            files = [:]
            mergesInOpenFiles = [:]
            discardedSinceCommit = false
            deliveredSinceCommit = false
            throw WarehouseError.uncommittedDiscarded
        }
        if files.isEmpty {
            deliveredSinceCommit = false
            return true
        }
        guard force || rotationDue(now: clock.now()) else { return false }
        try rotate()
        return true
    }

    public func shutdown() async {
        for file in files.values { file.abandon() }
        files = [:]
        mergesInOpenFiles = [:]
    }

    // MARK: - Files

    private func openFile(source: String, table: String, date: String) throws -> WarehouseFile {
        let folder = Self.pathComponent(source) + "/" + table + "/dt=" + date
        if let file = files[folder] { return file }
        let now = clock.now()
        let stem = "\(now.milliseconds)-\(nodeComponent)-\(Self.randomHex())"
        let file = try WarehouseFile(
            root: root, folder: folder, stem: stem, openedAt: now, fileMode: settings.fileMode,
            folderMode: settings.folderMode)
        files[folder] = file
        return file
    }

    private func append(_ merge: IdentityMerge, source: String) throws {
        let line = WarehouseLine.merge(
            anonymousId: merge.anonymousId, userId: merge.userId, mergedAt: merge.mergedAt, messageId: merge.messageId)
        let file = try openFile(source: source, table: Self.mergesTable, date: merge.mergedAt.utcDate)
        guard !mergesInOpenFiles[file.folder, default: []].contains(merge.messageId) else { return }
        try file.append(line, timestamp: merge.mergedAt)
        mergesInOpenFiles[file.folder, default: []].insert(merge.messageId)
    }

    private func rotationDue(now: Timestamp) -> Bool {
        if files.count >= Self.maxOpenFiles { return true }
        if files.values.contains(where: { $0.uncompressedBytes >= settings.rotateMaxBytes.bytes }) { return true }
        guard let oldest = files.values.map(\.openedAt).min() else { return false }
        return now - oldest >= settings.rotateMaxAge
    }

    private func discardOpenFiles(after error: any Error) {
        for file in files.values { file.abandon() }
        files = [:]
        mergesInOpenFiles = [:]
        if deliveredSinceCommit { discardedSinceCommit = true }
        deliveredSinceCommit = false
        logger.warning(
            "warehouse write failed; open files deleted, their events will be delivered again",
            metadata: ["switchyard.error": "\(error)"])
    }

    /// Finish all → rename all → sync folders → manifest. See the type's contract for failures.
    private func rotate() throws {
        let rotating = files.values.sorted { $0.relativePath < $1.relativePath }
        files = [:]
        mergesInOpenFiles = [:]
        deliveredSinceCommit = false
        do {
            for file in rotating { try file.finish() }
        } catch {
            for file in rotating { file.abandon() }
            throw error
        }
        for (index, file) in rotating.enumerated() {
            do {
                try file.publish()
            } catch {
                for unpublished in rotating[index...] { unpublished.abandon() }
                throw error
            }
        }
        var folders = Set<String>()
        for file in rotating {
            var folder = file.folder
            while !folder.isEmpty {
                folders.insert(root + "/" + folder)
                folder = folder.lastIndex(of: "/").map { String(folder[..<$0]) } ?? ""
            }
        }
        for folder in folders.sorted(by: >) { try POSIXFiles.syncDirectory(folder) }
        try POSIXFiles.syncDirectory(root)
        let first = rotating.min { ($0.openedAt, $0.stem) < ($1.openedAt, $1.stem) }
        try writeManifest(stem: first?.stem ?? "", files: rotating)
        logger.debug(
            "warehouse files published",
            metadata: [
                "switchyard.files": "\(rotating.count)", "switchyard.rows": "\(rotating.reduce(0) { $0 + $1.rows })",
            ])
    }

    /// `{"files":[{"path","rows","bytes","sha256","min_timestamp","max_timestamp"}]}`, written to a hidden
    /// temporary name, fsynced, renamed, and its folder fsynced.
    private func writeManifest(stem: String, files: [WarehouseFile]) throws {
        var writer = JSONWriter(capacity: 256 * files.count + 16)
        writer.raw("{\"files\":[")
        for (index, file) in files.enumerated() {
            if index > 0 { writer.comma() }
            writer.raw("{")
            writer.key("path")
            writer.string(file.relativePath)
            writer.comma()
            writer.key("rows")
            writer.integer(file.rows)
            writer.comma()
            writer.key("bytes")
            writer.integer(file.compressedBytes)
            writer.comma()
            writer.key("sha256")
            writer.string(file.sha256)
            writer.comma()
            writer.key("min_timestamp")
            writer.optionalString(file.minTimestamp?.iso8601)
            writer.comma()
            writer.key("max_timestamp")
            writer.optionalString(file.maxTimestamp?.iso8601)
            writer.raw("}")
        }
        writer.raw("]}\n")
        let directory = root + "/_manifests"
        let temporary = directory + "/." + stem + ".json.tmp"
        try POSIXFiles.makeDirectories(directory, mode: settings.folderMode)
        let descriptor = try POSIXFiles.createExclusive(temporary, mode: settings.fileMode)
        _ = POSIXFiles.tryLock(descriptor)  // as for data files: tells other nodes' cleanup it is live
        do {
            try writer.bytes.withUnsafeBytes { bytes in
                try POSIXFiles.writeAll(descriptor, bytes, path: temporary)
            }
            try POSIXFiles.sync(descriptor, path: temporary)
        } catch {
            POSIXFiles.closeQuietly(descriptor)
            POSIXFiles.removeQuietly(temporary)
            throw error
        }
        do {
            try POSIXFiles.close(descriptor, path: temporary)
            try POSIXFiles.rename(temporary, to: directory + "/" + stem + ".json")
        } catch {
            POSIXFiles.removeQuietly(temporary)
            throw error
        }
        try POSIXFiles.syncDirectory(directory)
        try POSIXFiles.syncDirectory(root)
    }

    // MARK: - Names

    /// A config name (source, node id) as one safe path component: `A-Z a-z 0-9 . _ -` kept, any other
    /// UTF-8 byte (and a leading `.`, which would hide the folder) written `%XX`; empty becomes `_`.
    static func pathComponent(_ name: String) -> String {
        guard !name.isEmpty else { return "_" }
        let digits = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for (offset, byte) in name.utf8.enumerated() {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"):
                out.append(byte)
            case UInt8(ascii: ".") where offset > 0:
                out.append(byte)
            default:
                out.append(contentsOf: [UInt8(ascii: "%"), digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func randomHex() -> String {
        let value = UInt32.random(in: .min ... .max)
        let text = String(value, radix: 16)
        return String(repeating: "0", count: 8 - text.count) + text
    }

    /// Whether `name` is a temporary data file or manifest of any node: `.<digits>-….ndjson.gz.tmp` or
    /// `.<digits>-….json.tmp`. Other hidden files under `path` are not ours and are left alone.
    static func isTemporary(_ name: String) -> Bool {
        guard name.hasPrefix("."), name.hasSuffix(WarehouseFile.suffix + ".tmp") || name.hasSuffix(".json.tmp")
        else { return false }
        let millis = name.dropFirst().prefix { $0.isASCII && $0.isNumber }
        return !millis.isEmpty && name.dropFirst(1 + millis.count).hasPrefix("-")
    }

    /// Deletes leftover temporary files under `root` (see the type's contract); returns how many.
    static func removeLeftovers(
        root: String, unlockedOlderThan settle: Duration, withoutLocksOlderThan age: Duration, now: Timestamp
    ) -> Int {
        let keys: [URLResourceKey] = [.isRegularFileKey, .contentModificationDateKey]
        guard
            let walker = FileManager.default.enumerator(
                at: URL(fileURLWithPath: root), includingPropertiesForKeys: keys, options: [])
        else { return 0 }
        var removed = 0
        for case let url as URL in walker {
            guard isTemporary(url.lastPathComponent) else { continue }
            // Unreadable attributes: leave the file; it is hidden and harmless, and the next start retries.
            guard let values = try? url.resourceValues(forKeys: Set(keys)), values.isRegularFile == true,
                let modified = values.contentModificationDate
            else { continue }
            // A file time is whatever `touch` set; an absurd one must not trap (it counts as long idle).
            let modifiedMilliseconds = Int64(exactly: (modified.timeIntervalSince1970 * 1000).rounded(.down)) ?? 0
            let idle = now - Timestamp(milliseconds: modifiedMilliseconds)
            let descriptor = open(url.path, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { continue }
            defer { POSIXFiles.closeQuietly(descriptor) }
            let isLeftover: Bool
            switch POSIXFiles.tryLock(descriptor) {
            case .acquired: isLeftover = idle >= settle
            case .heldElsewhere: isLeftover = false
            case .unsupported: isLeftover = idle >= age
            }
            if isLeftover, POSIXFiles.removeQuietly(url.path) { removed += 1 }
        }
        return removed
    }
}
