import CompressNIO
import Crypto
import NIOCore
import SwitchyardCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One open warehouse file: a gzip stream written to `<folder>/.<stem>.ndjson.gz.tmp`, published as
/// `<folder>/<stem>.ndjson.gz` by ``publish()`` once ``finish()`` has synced it.
///
/// Owned by one ``WarehouseDestination`` and used only on its executor (not `Sendable`). After any
/// thrown error the file is unusable and must be ``abandon()``ed. Memory stays bounded: compressed
/// output is written to the file whenever 64 KiB have accumulated, and zlib's own state is fixed size.
final class WarehouseFile {
    /// `<source>/<table>/dt=YYYY-MM-DD`, relative to the warehouse root.
    let folder: String
    /// `<unixMillis>-<nodeId>-<random8hex>`.
    let stem: String
    let openedAt: Timestamp
    let temporaryPath: String
    let finalPath: String

    private(set) var rows = 0
    /// NDJSON bytes appended (what `rotate.max_bytes` measures).
    private(set) var uncompressedBytes = 0
    /// gzip bytes written to the file so far; final after ``finish()``.
    private(set) var compressedBytes = 0
    private(set) var minTimestamp: Timestamp?
    private(set) var maxTimestamp: Timestamp?
    /// SHA-256 of the compressed bytes, hashed as they are written rather than read back.
    private(set) var sha256 = ""

    private var hasher = SHA256()
    private let compressor: any NIOCompressor
    private var output: ByteBuffer
    private var descriptor: Int32?

    private static let flushThreshold = 64 * 1024

    static let suffix = ".ndjson.gz"

    /// Creates the folder if needed and the hidden temporary file (exclusively).
    init(root: String, folder: String, stem: String, openedAt: Timestamp, fileMode: Int, folderMode: Int) throws {
        self.folder = folder
        self.stem = stem
        self.openedAt = openedAt
        let directory = root + "/" + folder
        temporaryPath = directory + "/." + stem + Self.suffix + ".tmp"
        finalPath = directory + "/" + stem + Self.suffix
        try POSIXFiles.makeDirectories(directory, mode: folderMode)
        compressor = CompressionAlgorithm.gzip().compressor
        try compressor.startStream()
        output = ByteBufferAllocator().buffer(capacity: Self.flushThreshold * 2)
        let descriptor = try POSIXFiles.createExclusive(temporaryPath, mode: fileMode)
        // Marks the file as live for other nodes' start-up cleanup. Without lock support that cleanup
        // falls back to the file's age, so a failure here is no reason to refuse writing.
        _ = POSIXFiles.tryLock(descriptor)
        self.descriptor = descriptor
    }

    /// Path relative to the root, as the manifest lists it.
    var relativePath: String { folder + "/" + stem + Self.suffix }

    /// Appends one line (ending in `\n`) whose event time is `timestamp`.
    func append(_ line: [UInt8], timestamp: Timestamp) throws {
        var input = ByteBuffer(bytes: line)
        while input.readableBytes > 0 {
            output.reserveCapacity(minimumWritableBytes: Self.flushThreshold)
            do {
                try compressor.streamDeflate(from: &input, to: &output, flush: .no)
            } catch let error as CompressNIOError where error == .bufferOverflow {
                // The output buffer filled up; it is written out below and deflate resumes.
            }
            if output.readableBytes >= Self.flushThreshold { try writeOutput() }
        }
        rows += 1
        uncompressedBytes += line.count
        minTimestamp = minTimestamp.map { min($0, timestamp) } ?? timestamp
        maxTimestamp = maxTimestamp.map { max($0, timestamp) } ?? timestamp
    }

    /// Ends the gzip stream, writes the rest, fsyncs and closes the temporary file.
    func finish() throws {
        while true {
            output.reserveCapacity(minimumWritableBytes: Self.flushThreshold)
            do {
                try compressor.finishDeflate(to: &output)
                break
            } catch let error as CompressNIOError where error == .bufferOverflow {
                try writeOutput()
            }
        }
        try writeOutput()
        try compressor.finishStream()
        guard let descriptor else { throw WarehouseError.writeFailed("finishing", path: temporaryPath, errno: EBADF) }
        try POSIXFiles.sync(descriptor, path: temporaryPath)
        self.descriptor = nil
        try POSIXFiles.close(descriptor, path: temporaryPath)
        sha256 = hasher.finalize().map { byte in
            let digits = Array("0123456789abcdef".utf8)
            return String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]], as: UTF8.self)
        }.joined()
    }

    /// Renames the finished file to its visible name. The caller syncs the folder afterwards.
    func publish() throws {
        try POSIXFiles.rename(temporaryPath, to: finalPath)
    }

    /// Closes and deletes the temporary file without publishing it.
    func abandon() {
        if let descriptor {
            POSIXFiles.closeQuietly(descriptor)
            self.descriptor = nil
        }
        POSIXFiles.removeQuietly(temporaryPath)
    }

    private func writeOutput() throws {
        guard output.readableBytes > 0 else { return }
        guard let descriptor else { throw WarehouseError.writeFailed("writing", path: temporaryPath, errno: EBADF) }
        try output.withUnsafeReadableBytes { bytes in
            try POSIXFiles.writeAll(descriptor, bytes, path: temporaryPath)
            hasher.update(bufferPointer: bytes)
        }
        compressedBytes += output.readableBytes
        output.clear()
    }
}
