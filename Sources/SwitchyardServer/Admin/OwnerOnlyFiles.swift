#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Creates the gateway's own files and folders readable by its user only (SPEC §6): the data folder
/// `0700`, the SQLite database and the admin token `0600`.
///
/// Modes are set explicitly with `chmod` rather than through the process umask: the umask is process-wide
/// (tests run gateways inside the test process) and the warehouse may ask for a wider `file_mode`.
/// Files and folders that already exist keep the mode their owner gave them.
enum OwnerOnlyFiles {
    static let folderMode: mode_t = 0o700
    static let fileMode: mode_t = 0o600

    /// `mkdir -p` where every folder created gets `0700`.
    static func makeDirectories(_ path: String) throws {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            if !prefix.isEmpty && prefix != "/" { prefix += "/" }
            prefix += component
            if mkdir(prefix, folderMode) == 0 {
                guard chmod(prefix, folderMode) == 0 else { throw OwnerOnlyFileError("setting the mode of", prefix, errno) }
                continue
            }
            let code = errno
            var info = stat()
            guard code == EEXIST, stat(prefix, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
                throw OwnerOnlyFileError("creating the folder", prefix, code == EEXIST ? ENOTDIR : code)
            }
        }
    }

    /// Creates an empty `0600` file at `path` unless something exists there already (SQLite then opens it
    /// and gives its `-wal` and `-shm` files the same mode).
    static func createIfMissing(_ path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, fileMode)
        if fd < 0 {
            let code = errno
            if code == EEXIST { return }
            throw OwnerOnlyFileError("creating", path, code)
        }
        defer { _ = close(fd) }
        guard fchmod(fd, fileMode) == 0 else { throw OwnerOnlyFileError("setting the mode of", path, errno) }
    }

    /// Writes a new `0600` file holding `bytes`, failing with `EEXIST` when one is there already (two
    /// gateways starting together: the second reads the first one's file).
    static func createExclusive(_ path: String, bytes: [UInt8]) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, fileMode)
        guard fd >= 0 else { throw OwnerOnlyFileError("creating", path, errno) }
        var failure: OwnerOnlyFileError?
        if fchmod(fd, fileMode) != 0 { failure = OwnerOnlyFileError("setting the mode of", path, errno) }
        var offset = 0
        while failure == nil, offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                failure = OwnerOnlyFileError("writing", path, errno)
            } else {
                offset += written
            }
        }
        if failure == nil, fsync(fd) != 0 { failure = OwnerOnlyFileError("syncing", path, errno) }
        _ = close(fd)
        if let failure {
            _ = unlink(path)
            throw failure
        }
    }

    /// Up to `limit` bytes of the file at `path`, nil when it does not exist; also whether others than its
    /// owner could read or write it.
    static func readFile(_ path: String, limit: Int) throws -> (bytes: [UInt8], shared: Bool)? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let code = errno
            if code == ENOENT { return nil }
            throw OwnerOnlyFileError("reading", path, code)
        }
        defer { _ = close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw OwnerOnlyFileError("reading", path, errno) }
        var bytes = [UInt8](repeating: 0, count: limit)
        var count = 0
        while count < limit {
            let got = bytes[count...].withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if got < 0 {
                if errno == EINTR { continue }
                throw OwnerOnlyFileError("reading", path, errno)
            }
            if got == 0 { break }
            count += got
        }
        return (Array(bytes[..<count]), info.st_mode & 0o077 != 0)
    }

    /// Takes group and other permissions away from an existing file.
    static func restrict(_ path: String) throws {
        guard chmod(path, fileMode) == 0 else { throw OwnerOnlyFileError("setting the mode of", path, errno) }
    }
}

/// A file operation of ``OwnerOnlyFiles`` that failed, with the path and the system's reason.
struct OwnerOnlyFileError: Error, CustomStringConvertible {
    let description: String
    let code: Int32

    init(_ action: String, _ path: String, _ code: Int32) {
        let reason = strerror(code).map { String(cString: $0) } ?? "error \(code)"
        description = "\(action) \(path) failed: \(reason)"
        self.code = code
    }
}
