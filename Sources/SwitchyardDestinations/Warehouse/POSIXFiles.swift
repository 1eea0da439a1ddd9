#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The few POSIX file calls the warehouse needs, throwing ``WarehouseError`` with the path and `errno`
/// text. Plain syscalls rather than FileHandle: the warehouse must know that `fsync` of a file and of its
/// folder succeeded, and must create files exclusively (`O_EXCL`).
enum POSIXFiles {
    /// Creates `path` and any missing parents (`mkdir -p`) with `mode`; a component that exists but is not
    /// a folder is an error. Existing folders keep their mode.
    static func makeDirectories(_ path: String, mode: Int) throws {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            if !prefix.isEmpty && prefix != "/" { prefix += "/" }
            prefix += component
            if mkdir(prefix, mode_t(mode & 0o777)) == 0 {
                // Exactly `mode`, whatever the process umask took away.
                guard chmod(prefix, mode_t(mode & 0o777)) == 0 else {
                    throw WarehouseError.writeFailed("setting the mode of folder", path: prefix, errno: errno)
                }
                continue
            }
            let code = errno
            guard code == EEXIST else { throw WarehouseError.writeFailed("creating folder", path: prefix, errno: code) }
            guard isDirectory(prefix) else {
                throw WarehouseError.writeFailed("creating folder", path: prefix, errno: ENOTDIR)
            }
        }
    }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// Opens a new file for writing with permissions exactly `mode`; fails if it exists.
    static func createExclusive(_ path: String, mode: Int) throws -> Int32 {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode_t(mode & 0o777))
        guard fd >= 0 else { throw WarehouseError.writeFailed("creating file", path: path, errno: errno) }
        guard fchmod(fd, mode_t(mode & 0o777)) == 0 else {
            let code = errno
            _ = closeQuietly(fd)
            removeQuietly(path)
            throw WarehouseError.writeFailed("setting the mode of file", path: path, errno: code)
        }
        return fd
    }

    /// Writes every byte, retrying short writes and `EINTR`.
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        guard var base = bytes.baseAddress else { return }
        var remaining = bytes.count
        while remaining > 0 {
            let written = write(fd, base, remaining)
            if written < 0 {
                if errno == EINTR { continue }
                throw WarehouseError.writeFailed("writing", path: path, errno: errno)
            }
            remaining -= written
            base += written
        }
    }

    static func sync(_ fd: Int32, path: String) throws {
        guard fsync(fd) == 0 else { throw WarehouseError.writeFailed("syncing", path: path, errno: errno) }
    }

    /// `close` errors are reported: on some file systems a deferred write error surfaces only there.
    static func close(_ fd: Int32, path: String) throws {
        #if canImport(Glibc)
            let result = Glibc.close(fd)
        #else
            let result = Darwin.close(fd)
        #endif
        guard result == 0 else { throw WarehouseError.writeFailed("closing", path: path, errno: errno) }
    }

    /// Makes the entries of folder `path` (new files, renames) durable.
    static func syncDirectory(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw WarehouseError.writeFailed("opening folder", path: path, errno: errno) }
        defer { _ = closeQuietly(fd) }
        guard fsync(fd) == 0 else { throw WarehouseError.writeFailed("syncing folder", path: path, errno: errno) }
    }

    static func rename(_ from: String, to: String) throws {
        #if canImport(Glibc)
            let result = Glibc.rename(from, to)
        #else
            let result = Darwin.rename(from, to)
        #endif
        guard result == 0 else { throw WarehouseError.writeFailed("renaming \(from) to", path: to, errno: errno) }
    }

    /// What ``tryLock(_:)`` found.
    enum LockResult {
        /// This descriptor now holds the lock: no live process has the file open for writing.
        case acquired
        /// Another open file description holds it: a live writer.
        case heldElsewhere
        /// The file system has no locks; the caller must decide without them.
        case unsupported
    }

    /// Takes an exclusive advisory `flock` without waiting. Writers hold one on every open temporary file
    /// until they close it (the kernel drops it when the process dies, even on `kill -9`), so another
    /// node's start-up cleanup can tell a live file from a crashed one.
    static func tryLock(_ fd: Int32) -> LockResult {
        if flock(fd, LOCK_EX | LOCK_NB) == 0 { return .acquired }
        return errno == EWOULDBLOCK ? .heldElsewhere : .unsupported
    }

    /// Whether the current user may create entries in the folder at `path`.
    static func isWritableDirectory(_ path: String) -> Bool {
        isDirectory(path) && access(path, W_OK | X_OK) == 0
    }

    /// Removes a file, reporting only whether it worked: callers use it to clean up after a failure
    /// already being reported, and a hidden `.tmp` left behind is removed at the next start.
    @discardableResult
    static func removeQuietly(_ path: String) -> Bool {
        unlink(path) == 0
    }

    @discardableResult
    static func closeQuietly(_ fd: Int32) -> Bool {
        #if canImport(Glibc)
            return Glibc.close(fd) == 0
        #else
            return Darwin.close(fd) == 0
        #endif
    }
}

/// `strerror` text for an errno value, e.g. `No space left on device`.
func systemMessage(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "error \(code)" }
    return String(cString: text)
}
