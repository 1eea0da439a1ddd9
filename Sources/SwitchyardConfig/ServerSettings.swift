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

    static let keys: Set<String> = [
        "listen", "admin_token", "cors_origins", "limits", "dedupe_window", "max_pending_events", "shutdown_grace",
    ]

    /// Creates server settings; every default is the one documented on its property.
    public init(
        listen: ListenAddress = .loopbackDefault,
        adminToken: String? = nil,
        corsOrigins: [String] = [],
        limits: IngestLimits = IngestLimits(),
        dedupeWindow: Duration = .seconds(24 * 3600),
        commitQueue: Int = 50_000,
        shutdownGrace: Duration = .seconds(10)
    ) {
        self.listen = listen
        self.adminToken = adminToken
        self.corsOrigins = corsOrigins
        self.limits = limits
        self.dedupeWindow = dedupeWindow
        self.commitQueue = commitQueue
        self.shutdownGrace = shutdownGrace
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
            shutdownGrace: try mapping.duration("shutdown_grace", default: defaults.shutdownGrace)
        )
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
