import SwitchyardCore

/// The `storage:` section: which database holds events, queues and identities, and the disk budget.
public struct StorageSettings: Sendable {
    /// Where the store lives; exactly one of the `sqlite:` and `postgres:` keys.
    public enum Backend: Sendable, Equatable {
        /// `sqlite: PATH`, a file created with its folder on first start (WAL mode).
        case sqlite(path: String)
        /// `postgres: URL` (`postgres://user:password@host:5432/db`). Secret: contains credentials.
        case postgres(url: String)
    }

    /// SQLite's `synchronous` pragma. `full` fsyncs every commit (a `200` survives power loss);
    /// `normal` fsyncs at WAL checkpoints (survives a crash of the process, not of the machine).
    public enum Synchronous: String, Sendable, CaseIterable {
        case full
        case normal
    }

    /// `sqlite` | `postgres`; default `sqlite: data/switchyard.db`.
    public var backend: Backend
    /// `max_backlog`: disk budget for stored events and queues; past it ingest answers `429`;
    /// default `20GiB`, more than 0.
    public var maxBacklog: ByteSize
    /// `synchronous`: `full` (default) | `normal`; used by the SQLite back end only.
    public var synchronous: Synchronous
    /// `lease_ttl`: how long a node's claim on a destination's delivery lasts without a heartbeat; a dead
    /// node's destinations are taken over after one to two of these. Default `10s`, at least `1s`.
    public var leaseTTL: Duration
    /// `connection_wait`: how long a request waits for a database connection (the server is down, or every
    /// connection is busy) before it fails — ingest then answers `503`. PostgreSQL only. Default `10s`,
    /// at least `100ms`.
    public var connectionWait: Duration
    /// `max_connections`: the most connections this node opens to PostgreSQL (its pool). Nodes × this must
    /// stay under the server's `max_connections`. PostgreSQL only. Default `8`, 1 to 1000.
    public var maxConnections: Int

    static let keys: Set<String> = [
        "sqlite", "postgres", "max_backlog", "synchronous", "lease_ttl", "connection_wait", "max_connections",
    ]

    /// Creates storage settings; every default is the one documented on its property.
    public init(
        backend: Backend = .sqlite(path: "data/switchyard.db"),
        maxBacklog: ByteSize = .gibibytes(20),
        synchronous: Synchronous = .full,
        leaseTTL: Duration = .seconds(10),
        connectionWait: Duration = .seconds(10),
        maxConnections: Int = 8
    ) {
        self.backend = backend
        self.maxBacklog = maxBacklog
        self.synchronous = synchronous
        self.leaseTTL = leaseTTL
        self.connectionWait = connectionWait
        self.maxConnections = maxConnections
    }

    init(_ mapping: ConfigMapping) throws {
        try mapping.rejectUnknownKeys(allowed: Self.keys)
        let defaults = StorageSettings()
        var backend = defaults.backend
        if mapping.entry("sqlite") != nil, let postgres = mapping.entry("postgres") {
            throw postgres.error("set either sqlite or postgres, not both")
        }
        if mapping.entry("sqlite") != nil {
            backend = .sqlite(path: try mapping.string("sqlite"))
        } else if mapping.entry("postgres") != nil {
            backend = .postgres(url: try mapping.required("postgres").url(schemes: ["postgres", "postgresql"]))
        }
        let maxBacklog = try mapping.size("max_backlog", default: defaults.maxBacklog)
        if maxBacklog.bytes == 0, let node = mapping["max_backlog"] {
            throw node.error("must be greater than 0")
        }
        let leaseTTL = try mapping.duration("lease_ttl", default: defaults.leaseTTL)
        if leaseTTL < .seconds(1), let node = mapping["lease_ttl"] {
            throw node.error("must be at least 1s")
        }
        let connectionWait = try mapping.duration("connection_wait", default: defaults.connectionWait)
        if connectionWait < .milliseconds(100), let node = mapping["connection_wait"] {
            throw node.error("must be at least 100ms")
        }
        self.init(
            backend: backend,
            maxBacklog: maxBacklog,
            synchronous: try mapping.choice("synchronous", default: defaults.synchronous),
            leaseTTL: leaseTTL,
            connectionWait: connectionWait,
            maxConnections: try mapping.int("max_connections", default: defaults.maxConnections, in: 1...1000)
        )
    }
}
