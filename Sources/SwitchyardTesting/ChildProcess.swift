import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A child process started with `posix_spawn`, for tests that run the gateway's binary or a tool.
///
/// Not Foundation's `Process`: on Linux its `run()` finds the highest open descriptor by copying each
/// `/proc/self/fd` entry's name as a full 256-byte `d_name`, which reads past the end of `readdir`'s buffer
/// when an entry ends near a page boundary — a parallel test run (over a thousand descriptors open) crashed
/// inside it three times. Here every descriptor from 3 up is closed in the child by
/// `posix_spawn_file_actions_addclosefrom_np`, and reads and writes retry on `EINTR` (Foundation's
/// `availableData` traps on it).
public final class ChildProcess: Sendable {
    public let processIdentifier: pid_t
    /// The raw `waitpid` status, once the child was reaped.
    let reaped = Mutex<Int32?>(nil)

    /// Where one of the child's standard descriptors comes from.
    public enum Stream {
        /// `/dev/null`.
        case null
        /// This descriptor of ours (a pipe end, an open file), duplicated into the child.
        case descriptor(Int32)
    }

    /// Starts `executable` with `arguments`. `environment` nil inherits ours.
    public init(
        _ executable: String, _ arguments: [String], directory: String? = nil, environment: [String: String]? = nil,
        stdin: Stream = .null, stdout: Stream = .null, stderr: Stream = .null
    ) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (target, stream) in [(Int32(0), stdin), (1, stdout), (2, stderr)] {
            switch stream {
            case .null: posix_spawn_file_actions_addopen(&actions, target, "/dev/null", target == 0 ? O_RDONLY : O_WRONLY, 0)
            case .descriptor(let fd): posix_spawn_file_actions_adddup2(&actions, fd, target)
            }
        }
        if let directory {
            guard let addChdir = Self.addChdir, addChdir(&actions, directory) == 0 else {
                throw PostgresTestCluster.Unavailable(description: "posix_spawn_file_actions_addchdir_np is missing")
            }
        }
        guard let closeFrom = PostgresTestCluster.addCloseFrom, closeFrom(&actions, 3) == 0 else {
            throw PostgresTestCluster.Unavailable(
                description: "posix_spawn_file_actions_addclosefrom_np is missing (glibc 2.34 or later needed)")
        }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let envp = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer { envp?.forEach { free($0) } }
        var pid = pid_t()
        let spawned =
            if let envp { posix_spawn(&pid, executable, &actions, nil, argv, envp) } else {
                posix_spawn(&pid, executable, &actions, nil, argv, environ)
            }
        guard spawned == 0 else {
            throw PostgresTestCluster.Unavailable(description: "cannot start \(executable): \(String(cString: strerror(spawned)))")
        }
        processIdentifier = pid
    }

    /// glibc's `posix_spawn_file_actions_addchdir_np`, which Swift's Glibc module does not export.
    static let addChdir: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addchdir_np") else {
            return nil
        }
        return unsafeBitCast(
            symbol,
            to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32).self)
    }()

    /// Runs a program found on `PATH`, through `/usr/bin/env`.
    public convenience init(
        program: String, _ arguments: [String], stdin: Stream = .null, stdout: Stream = .null, stderr: Stream = .null
    ) throws {
        try self.init("/usr/bin/env", [program] + arguments, stdin: stdin, stdout: stdout, stderr: stderr)
    }

    public var isRunning: Bool {
        reaped.withLock { reaped in
            guard reaped == nil else { return false }
            var status: Int32 = 0
            guard waitpid(processIdentifier, &status, WNOHANG) == processIdentifier else { return true }
            reaped = status
            return false
        }
    }

    /// Blocks until the child ends (a thread of its own, or a test that starts a short tool).
    public func waitUntilExit() {
        while isRunning { usleep(5_000) }
    }

    /// Its exit code, or the number of the signal that ended it (as Foundation's `Process` says it).
    public var terminationStatus: Int32 {
        waitUntilExit()
        let status = reaped.withLock { $0 } ?? 0
        return status & 0x7F == 0 ? (status >> 8) & 0xFF : status & 0x7F
    }

    public func terminate() { signal(SIGTERM) }

    public func signal(_ signal: Int32) {
        if isRunning { _ = kill(processIdentifier, signal) }
    }
}

/// A pipe between the test and a child. Pass one end to ``ChildProcess`` (it is duplicated there) and close
/// it here once the child started, so that reading the other end ends when the child closes its copy.
public final class ChildPipe: Sendable {
    public let readEnd: Int32
    public let writeEnd: Int32
    /// Which ends are still open: each is closed once, here or in `deinit` (a second close could hit a
    /// descriptor number another test opened meanwhile).
    let open = Mutex((read: true, write: true))

    /// A write to a pipe whose reader left must fail with EPIPE, not kill the test process.
    static let ignoreBrokenPipes: Void = { _ = Glibc.signal(SIGPIPE, SIG_IGN) }()

    public init() throws {
        Self.ignoreBrokenPipes
        var fds: [Int32] = [0, 0]
        // Close-on-exec at once: our children get only what `ChildProcess` duplicates (it also closes the rest).
        guard pipe(&fds) == 0, fcntl(fds[0], F_SETFD, FD_CLOEXEC) == 0, fcntl(fds[1], F_SETFD, FD_CLOEXEC) == 0 else {
            throw PostgresTestCluster.Unavailable(description: "pipe failed: \(String(cString: strerror(errno)))")
        }
        readEnd = fds[0]
        writeEnd = fds[1]
    }

    deinit {
        closeRead()
        closeWrite()
    }

    public func closeRead() {
        let wasOpen = open.withLock { state in
            defer { state.read = false }
            return state.read
        }
        if wasOpen { Glibc.close(readEnd) }
    }

    public func closeWrite() {
        let wasOpen = open.withLock { state in
            defer { state.write = false }
            return state.write
        }
        if wasOpen { Glibc.close(writeEnd) }
    }

    /// Reads what is there, waiting for at least a byte; empty at the end. Retries on `EINTR`.
    public static func readChunk(_ fd: Int32) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            return count > 0 ? Array(buffer[..<count]) : []
        }
    }

    /// Reads to the end.
    public static func readAll(_ fd: Int32) -> [UInt8] {
        var all: [UInt8] = []
        while true {
            let chunk = readChunk(fd)
            if chunk.isEmpty { return all }
            all += chunk
        }
    }

    /// Writes all of `bytes`; stops early if the reader went away.
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let count = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return }
            offset += count
        }
    }
}
