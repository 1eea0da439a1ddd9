import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A throwaway PostgreSQL cluster for tests: `initdb` into a temporary folder, `pg_ctl start` on a free
/// loopback port, one fresh database per test, `pg_ctl stop` when the test process exits.
///
/// The binaries come from `SWITCHYARD_PG_BIN` or Debian's `/usr/lib/postgresql/<version>/bin`. PostgreSQL
/// refuses to run as root, so under root (CI) the cluster runs as the `postgres` user Debian's package creates.
public final class PostgresTestCluster: Sendable {
    public let port: Int
    public let directory: URL
    let binaries: URL
    let runAs: String?

    public struct Unavailable: Error, CustomStringConvertible {
        public var description: String
    }

    /// Whether tests must have PostgreSQL: under `SWITCHYARD_CI=1` a missing server is a failure, not a skip.
    public static var required: Bool { ProcessInfo.processInfo.environment["SWITCHYARD_CI"] == "1" }

    /// Where `initdb` and `pg_ctl` are, or nil when PostgreSQL is not installed.
    public static var binaryDirectory: URL? {
        if let path = ProcessInfo.processInfo.environment["SWITCHYARD_PG_BIN"] { return URL(fileURLWithPath: path) }
        let root = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        for version in versions.sorted(by: { (Int($0) ?? 0) > (Int($1) ?? 0) }) {
            let bin = URL(fileURLWithPath: "\(root)/\(version)/bin")
            if FileManager.default.isExecutableFile(atPath: bin.appendingPathComponent("initdb").path) { return bin }
        }
        return nil
    }

    /// PostgreSQL can run here (or must, in CI).
    public static var available: Bool { binaryDirectory != nil || required }

    /// The cluster shared by every test of this process, started on first use.
    public static func shared() async throws -> PostgresTestCluster {
        try await SharedCluster.instance.get()
    }

    actor SharedCluster {
        static let instance = SharedCluster()
        var started: Result<PostgresTestCluster, any Error>?

        func get() throws -> PostgresTestCluster {
            if let started { return try started.get() }
            let result = Result { try PostgresTestCluster.start() }
            started = result
            return try result.get()
        }
    }

    /// A cluster of its own, for a test that stops and restarts the server (`stop()`, `restart()`) or
    /// needs TLS; it is stopped and deleted by `destroy()` or when the test process exits.
    /// - Parameter tls: serve TLS only, with a certificate for `localhost` (not for `127.0.0.1`) signed by a
    ///   throwaway certificate authority (`certificateAuthority`); connections without TLS are refused.
    public static func dedicated(tls: Bool = false) throws -> PostgresTestCluster { try start(tls: tls) }

    /// The PEM file of the authority that signed the server's certificate (a `tls` cluster).
    public var certificateAuthority: URL { directory.appendingPathComponent("ca.crt") }

    let tls: Bool

    init(port: Int, directory: URL, binaries: URL, runAs: String?, tls: Bool = false) {
        self.port = port
        self.directory = directory
        self.binaries = binaries
        self.runAs = runAs
        self.tls = tls
    }

    var dataDirectory: String { directory.appendingPathComponent("data").path }
    var pgCtl: String { binaries.appendingPathComponent("pg_ctl").path }

    /// The clusters this process started, by directory, each with the command that stops it: the exit handler
    /// stops them all (atexit takes no context).
    static let running = Mutex<[URL: [String]]>([:])
    static let exitHandler: Void = {
        atexit {
            for (directory, command) in PostgresTestCluster.running.withLock({ $0 }) {
                try? PostgresTestCluster.run(command[0], Array(command.dropFirst()), as: nil)
                try? FileManager.default.removeItem(at: directory)
            }
        }
    }()

    static func start(tls: Bool = false) throws -> PostgresTestCluster {
        guard let binaries = binaryDirectory else {
            throw Unavailable(
                description: "PostgreSQL is not installed: the tests need initdb and pg_ctl (apt-get install postgresql-15, or set SWITCHYARD_PG_BIN)")
        }
        let runAs: String? = getuid() == 0 ? "postgres" : nil
        sweepAbandoned(binaries: binaries, runAs: runAs)
        let directory = URL(fileURLWithPath: "/tmp/switchyard-pg-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try String(getpid()).write(to: directory.appendingPathComponent("owner.pid"), atomically: true, encoding: .utf8)
        if let runAs {
            try run("/bin/chown", [runAs, directory.path], as: nil)
        }
        let cluster = PostgresTestCluster(
            port: try freePort(), directory: directory, binaries: binaries, runAs: runAs, tls: tls)
        try run(
            binaries.appendingPathComponent("initdb").path,
            ["-D", cluster.dataDirectory, "-U", "switchyard", "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"],
            as: runAs)
        if tls { try cluster.makeCertificates() }
        Self.exitHandler
        running.withLock {
            $0[directory] =
                (runAs.map { ["/usr/sbin/runuser", "-u", $0, "--"] } ?? [])
                + [cluster.pgCtl, "-D", cluster.dataDirectory, "-m", "immediate", "-w", "stop"]
        }
        try cluster.restart()
        return cluster
    }

    /// Starts the server (again, after `stop()`) on the same port and data.
    public func restart() throws {
        // fsync off: these tests kill gateways, never the database server, and it keeps the suite fast.
        let options = ([
            "-p \(port)", "-k \(directory.path)", "-c listen_addresses=127.0.0.1", "-c max_connections=400",
            "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off", "-c shared_buffers=64MB",
        ] + (tls ? [
            "-c ssl=on", "-c ssl_cert_file=\(file("server.crt"))", "-c ssl_key_file=\(file("server.key"))",
            "-c hba_file=\(file("pg_hba.conf"))",
        ] : [])).joined(separator: " ")
        try Self.run(
            pgCtl,
            ["-D", dataDirectory, "-o", options, "-l", directory.appendingPathComponent("server.log").path, "-w", "-t", "60", "start"],
            as: runAs)
    }

    /// Stops the server and deletes the cluster (a dedicated one, when its test is done).
    public func destroy() {
        guard let command = Self.running.withLock({ $0.removeValue(forKey: directory) }) else { return }
        try? Self.run(command[0], Array(command.dropFirst()), as: nil)
        try? FileManager.default.removeItem(at: directory)
    }

    func file(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// A certificate authority and a server certificate it signed (for `localhost` only), and
    /// access rules that accept TCP connections with TLS only.
    func makeCertificates() throws {
        let openssl = "/usr/bin/openssl"
        let key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try Self.run(
            openssl, ["req", "-x509"] + key + ["-days", "2", "-subj", "/CN=Switchyard test CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout", file("ca.key"), "-out", file("ca.crt")], as: nil)
        try Self.run(
            openssl, ["req"] + key + ["-subj", "/CN=localhost", "-keyout", file("server.key"), "-out", file("server.csr")],
            as: nil)
        try "subjectAltName=DNS:localhost\n".write(toFile: file("server.ext"), atomically: true, encoding: .utf8)
        try Self.run(
            openssl, ["x509", "-req", "-in", file("server.csr"), "-CA", file("ca.crt"), "-CAkey", file("ca.key"),
            "-CAcreateserial", "-days", "2", "-extfile", file("server.ext"), "-out", file("server.crt")], as: nil)
        try "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\n"
            .write(toFile: file("pg_hba.conf"), atomically: true, encoding: .utf8)
        if let runAs {
            for name in ["server.key", "server.crt", "pg_hba.conf"] { try Self.run("/bin/chown", [runAs, file(name)], as: nil) }
        }
        // The server refuses a key others may read.
        try Self.run("/bin/chmod", ["600", file("server.key")], as: nil)
    }

    /// Stops the server as an outage would: clients are disconnected, new connections refused.
    public func stop() throws {
        try Self.run(pgCtl, ["-D", dataDirectory, "-m", "fast", "-w", "stop"], as: runAs)
    }

    /// Stops and deletes clusters whose test process died without its exit handler (a crash, `kill -9`).
    static func sweepAbandoned(binaries: URL, runAs: String?) {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? []
        for entry in entries where entry.hasPrefix("switchyard-pg-") {
            let directory = URL(fileURLWithPath: "/tmp/\(entry)")
            guard let text = try? String(contentsOf: directory.appendingPathComponent("owner.pid"), encoding: .utf8),
                let owner = Int32(text), kill(owner, 0) != 0, errno == ESRCH
            else { continue }  // its test process still runs (or it is not ours)
            try? run(
                binaries.appendingPathComponent("pg_ctl").path,
                ["-D", directory.appendingPathComponent("data").path, "-m", "immediate", "-w", "stop"], as: runAs)
            try? FileManager.default.removeItem(at: directory)
        }
    }

    /// Creates an empty database and returns its `postgres://` URL.
    public func createDatabase() throws -> String {
        let name = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try sql("CREATE DATABASE \(name)")
        return url(database: name)
    }

    public func url(database: String) -> String { "postgres://switchyard@127.0.0.1:\(port)/\(database)" }

    /// Runs one statement through `psql` against the `postgres` database.
    public func sql(_ statement: String, database: String = "postgres") throws {
        try Self.run(
            binaries.appendingPathComponent("psql").path,
            ["-h", "127.0.0.1", "-p", "\(port)", "-U", "switchyard", "-d", database, "-v", "ON_ERROR_STOP=1", "-q", "-c", statement],
            as: nil)
    }

    /// Runs a command to its end with posix_spawn and waitpid. Not Foundation's `Process`: it notices a
    /// child's exit through a descriptor the child inherits, and the server `pg_ctl start` leaves running
    /// keeps that open, so `waitUntilExit` would never return.
    static func run(_ executable: String, _ arguments: [String], as user: String?) throws {
        let argv = (user.map { ["/usr/sbin/runuser", "-u", $0, "--"] } ?? []) + [executable] + arguments
        let outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("pg-\(UUID().uuidString).out").path
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Nothing else of this process may leak into the server `pg_ctl start` leaves running: a pipe end
        // or socket it kept open would never see its EOF, and the test waiting for that (a child gateway's
        // output, a closed connection) would wait as long as the server runs.
        guard let closeFrom = Self.addCloseFrom, closeFrom(&actions, 3) == 0 else {
            throw Unavailable(description: "posix_spawn_file_actions_addclosefrom_np is missing (glibc 2.34 or later needed)")
        }
        let cArguments = argv.map { strdup($0) } + [nil]
        defer { cArguments.forEach { free($0) } }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, argv[0], &actions, nil, cArguments, environ)
        guard spawned == 0 else {
            throw Unavailable(description: "cannot start \(argv[0]): error \(spawned)")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exitCode = (status >> 8) & 0xFF
        guard status & 0x7F == 0, exitCode == 0 else {
            let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
            throw Unavailable(description: "\(argv.joined(separator: " ")) failed (status \(status)): \(text)")
        }
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np`, which Swift's Glibc module does not export.
    static let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else {
            return nil
        }
        return unsafeBitCast(
            symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()

    /// A loopback port nobody listens on now.
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Unavailable(description: "socket() failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw Unavailable(description: "could not find a free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
