import SwitchyardCore

/// The `server:` section: where to listen, who may use the admin API, ingest limits and back-pressure.
public struct ServerSettings: Sendable {
    /// `listen`: `HOST:PORT`; default `127.0.0.1:8088`. Port 0 picks a free port; IPv6 as `[::1]:8088`.
    public var listen: ListenAddress
    /// `admin_token`: bearer token for `/api/`, the UI and `/metrics`; `nil` (absent or empty) means the
    /// gateway generates one at first start and keeps it in the data directory. Secret: never printed whole.
    public var adminToken: String?
    /// `cors_origins`: browser origins answered for CORS, like `https://www.example.com` (no path, no
    /// trailing slash), or `*`; default none.
    public var corsOrigins: [String]
    /// `limits`: event, request and batch size limits.
    public var limits: IngestLimits
    /// `dedupe_window`: how long a `messageId` is remembered per source; default `24h`.
    public var dedupeWindow: Duration
    /// `max_pending_events`: size of the group-commit queue past which ingest answers `429`;
    /// default 50,000, at least 1.
    public var commitQueue: Int
    /// `shutdown_grace`: how long shutdown waits for in-flight work; default `10s`.
    public var shutdownGrace: Duration
    /// `max_pending_bytes`: bytes of events waiting for the group commit past which ingest answers `429`;
    /// default `64MiB`, at least 1 KiB. Bounds the commit queue's memory whatever the events' sizes.
    public var maxPendingBytes: Int
    /// `max_connections`: open client connections past which new ones are closed at once; default
    /// 4,096, at least 1.
    public var maxConnections: Int
    /// `timeouts`: how long a client may take to send a request head and body, and stay idle between
    /// requests.
    public var timeouts: ServerTimeouts

    static let keys: Set<String> = [
        "listen", "admin_token", "cors_origins", "limits", "dedupe_window", "max_pending_events", "shutdown_grace",
        "max_pending_bytes", "max_connections", "timeouts",
    ]

    /// Creates server settings; every default is the one documented on its property.
    public init(
        listen: ListenAddress = .loopbackDefault,
        adminToken: String? = nil,
        corsOrigins: [String] = [],
        limits: IngestLimits = IngestLimits(),
        dedupeWindow: Duration = .seconds(24 * 3600),
        commitQueue: Int = 50_000,
        shutdownGrace: Duration = .seconds(10),
        maxPendingBytes: Int = 64 << 20,
        maxConnections: Int = 4096,
        timeouts: ServerTimeouts = ServerTimeouts()
    ) {
        self.listen = listen
        self.adminToken = adminToken
        self.corsOrigins = corsOrigins
        self.limits = limits
        self.dedupeWindow = dedupeWindow
        self.commitQueue = commitQueue
        self.shutdownGrace = shutdownGrace
        self.maxPendingBytes = maxPendingBytes
        self.maxConnections = maxConnections
        self.timeouts = timeouts
    }

    init(_ mapping: ConfigMapping) throws {
        try mapping.rejectUnknownKeys(allowed: Self.keys)
        let defaults = ServerSettings()
        var listen = defaults.listen
        if let node = mapping["listen"] {
            guard let address = ListenAddress(parsing: try node.string()) else {
                throw node.expected("HOST:PORT like 127.0.0.1:8088 or [::1]:8088")
            }
            listen = address
        }
        var origins: [String] = []
        for node in try mapping.sequence("cors_origins") {
            guard let origin = Self.origin(try node.nonEmptyString()) else {
                throw node.expected("an origin like https://www.example.com (no path) or *")
            }
            origins.append(origin)
        }
        self.init(
            listen: listen,
            adminToken: try mapping.optionalString("admin_token"),
            corsOrigins: origins,
            limits: try IngestLimits(mapping.mapping("limits")),
            dedupeWindow: try mapping.duration("dedupe_window", default: defaults.dedupeWindow),
            commitQueue: try mapping.int("max_pending_events", default: defaults.commitQueue, in: 1...Int.max),
            shutdownGrace: try mapping.duration("shutdown_grace", default: defaults.shutdownGrace),
            maxPendingBytes: try Self.pendingBytes(mapping, default: defaults.maxPendingBytes),
            maxConnections: try mapping.int("max_connections", default: defaults.maxConnections, in: 1...1_000_000),
            timeouts: try ServerTimeouts(mapping.mapping("timeouts"))
        )
    }

    static func pendingBytes(_ mapping: ConfigMapping, default defaultValue: Int) throws -> Int {
        guard let node = mapping["max_pending_bytes"] else { return defaultValue }
        let size = try node.size()
        guard size.bytes >= 1024 else { throw node.expected("a size of at least 1KiB, like 64MiB") }
        return size.bytes
    }

    /// `*`, or `scheme://host[:port]` with an http(s) scheme, a trailing `/` dropped; `nil` otherwise.
    static func origin(_ text: String) -> String? {
        if text == "*" { return text }
        let trimmed = text.hasSuffix("/") ? String(text.dropLast()) : text
        guard let schemeEnd = trimmed.firstRange(of: "://"),
            ["http", "https"].contains(trimmed[..<schemeEnd.lowerBound].lowercased())
        else { return nil }
        let authority = trimmed[schemeEnd.upperBound...]
        guard !authority.isEmpty,
            !authority.contains(where: { $0 == "/" || $0 == "?" || $0 == "#" || $0 == "@" || $0.isWhitespace })
        else { return nil }
        return trimmed
    }
}

/// `server.timeouts`: deadlines that keep slow or silent clients from holding connections (slowloris).
public struct ServerTimeouts: Sendable, Equatable {
    /// `head`: from the first byte of a request (or the connection's start) to the end of its head;
    /// default `10s`. Past it the connection gets `408` and is closed (quietly when not one byte came).
    public var head: Duration
    /// `body`: from the end of the head to the end of the body; default `30s`. Past it, `408` and close.
    public var body: Duration
    /// `idle`: how long a keep-alive connection may wait for its next request, and a response wait for a
    /// client that does not read it; default `60s`. Past it the connection is closed without an answer.
    public var idle: Duration

    static let keys: Set<String> = ["head", "body", "idle"]

    public init(head: Duration = .seconds(10), body: Duration = .seconds(30), idle: Duration = .seconds(60)) {
        self.head = head
        self.body = body
        self.idle = idle
    }

    /// The accepted range of each timeout. Zero would close every connection at once (or, read as "no
    /// limit", bring slowloris back); past an hour a deadline no longer protects anything.
    static let range: ClosedRange<Duration> = .milliseconds(1)...Duration.seconds(3600)

    init(_ mapping: ConfigMapping) throws {
        try mapping.rejectUnknownKeys(allowed: Self.keys)
        let defaults = ServerTimeouts()
        self.init(
            head: try Self.timeout(mapping, "head", default: defaults.head),
            body: try Self.timeout(mapping, "body", default: defaults.body),
            idle: try Self.timeout(mapping, "idle", default: defaults.idle)
        )
    }

    static func timeout(_ mapping: ConfigMapping, _ key: String, default defaultValue: Duration) throws -> Duration {
        guard let node = mapping[key] else { return defaultValue }
        let duration = try node.duration()
        guard range.contains(duration) else { throw node.expected("a duration from 1ms to 1h, like 10s") }
        return duration
    }
}
