import SwitchyardCore

/// The resolved config as `switchyard check` prints it: every section, every source and every
/// destination with its common settings and its type's `summary`, defaults filled in.
///
/// Contract: no secret appears whole. Write keys and the admin token are masked with ``SecretMask``,
/// a PostgreSQL URL shows scheme, host and port only, and destination secrets are masked by their
/// type's `summary`.
public struct CheckReport: Sendable, CustomStringConvertible {
    /// The config being reported.
    public var config: SwitchyardConfig

    /// The token kept in ``SwitchyardConfig/adminTokenFile`` when `server.admin_token` is empty and a
    /// gateway already generated one; nil when there is none yet (or it is unknown).
    public var generatedAdminToken: String?

    /// A report of `config`.
    public init(config: SwitchyardConfig, generatedAdminToken: String? = nil) {
        self.config = config
        self.generatedAdminToken = generatedAdminToken
    }

    /// The report, one line per element, indented by section.
    public var lines: [String] {
        var lines = ["config: \(config.file.isEmpty ? "(in memory)" : config.file)"]
        lines += serverLines + storageLines + sourceLines + identityLines + destinationLines
        return lines
    }

    /// ``lines`` joined with newlines, without a final one (`print(report)` adds it).
    public var description: String {
        lines.joined(separator: "\n")
    }

    private var serverLines: [String] {
        let server = config.server
        let limits = server.limits
        return [
            "server:",
            "  listen: \(server.listen)",
            "  admin_token: " + adminTokenText,
            "  cors_origins: " + (server.corsOrigins.isEmpty ? "none" : server.corsOrigins.joined(separator: ", ")),
            "  limits: max_event_size \(limits.maxEventSize), max_request_size \(limits.maxRequestSize), "
                + "max_batch_events \(limits.maxBatchEvents)",
            "  dedupe_window: \(server.dedupeWindow.configText)",
            "  max_pending_events: \(server.commitQueue)",
            "  shutdown_grace: \(server.shutdownGrace.configText)",
            "  max_connections: \(server.maxConnections)",
            "  timeouts: head \(server.timeouts.head.configText), body \(server.timeouts.body.configText), "
                + "idle \(server.timeouts.idle.configText)",
        ]
    }

    /// Where the admin token comes from, masked: the config, or the file a gateway generates it into.
    private var adminTokenText: String {
        if let token = config.server.adminToken { return SecretMask.mask(token) + " (from the config)" }
        if let generatedAdminToken {
            return SecretMask.mask(generatedAdminToken) + " (generated, kept in \(config.adminTokenFile))"
        }
        return "not set; generated at first start and kept in \(config.adminTokenFile) (mode 0600)"
    }

    private var storageLines: [String] {
        let storage = config.storage
        var lines = ["storage:"]
        switch storage.backend {
        case .sqlite(let path):
            lines.append("  sqlite: \(path)")
            lines.append("  synchronous: \(storage.synchronous.rawValue)")
        case .postgres(let url):
            lines.append("  postgres: \(SecretMask.maskURL(url))")
            lines.append("  lease_ttl: \(storage.leaseTTL.configText)")
            lines.append("  connection_wait: \(storage.connectionWait.configText)")
            lines.append("  max_connections: \(storage.maxConnections)")
        }
        lines.append("  max_backlog: \(storage.maxBacklog)")
        lines.append("retention:")
        lines.append("  events: \(config.retention.events.configText)")
        return lines
    }

    private var sourceLines: [String] {
        var lines = ["sources: \(config.sources.count)"]
        for source in config.sources {
            var line = "  - \(source.name): write_key \(SecretMask.mask(source.writeKey))"
            if let rate = source.rateLimit {
                line += ", rate_limit \(Self.number(rate))/s"
            }
            lines.append(line)
        }
        return lines
    }

    private var identityLines: [String] {
        let identity = config.identity
        return [
            "identity:",
            "  enabled: \(identity.enabled)",
            "  anonymous_ttl: \(identity.anonymousTTL.configText)",
            "  late_window: " + (identity.lateWindow?.configText ?? "forever"),
            "  allow_user_merge: \(identity.allowUserMerge)",
            "  merge_on_any_event: \(identity.mergeOnAnyEvent)",
            "  blocked_ids: " + identity.blockedIDs.map(\.debugDescription).joined(separator: ", "),
            "  max_anonymous_ids: \(identity.maxAnonymousIDs)",
        ]
    }

    private var destinationLines: [String] {
        var lines = ["destinations: \(config.destinations.count)"]
        for destination in config.destinations {
            lines.append("  - \(destination.name) (\(destination.type)\(destination.enabled ? "" : ", disabled"))")
            lines += Self.common(destination).map { "      \($0.key): \($0.value)" }
            lines += destination.typeSettings.summary.map { "      \($0.key): \($0.value)" }
        }
        return lines
    }

    private static func common(_ destination: DestinationSettings) -> [(key: String, value: String)] {
        var pairs: [(key: String, value: String)] = [("anonymous", destination.anonymous.rawValue)]
        if destination.anonymous == .hold {
            pairs.append(("hold_ttl", destination.holdTTL.configText))
            if let holdMaxAge = destination.holdMaxAge { pairs.append(("hold_max_age", holdMaxAge.configText)) }
        }
        pairs.append(("filter", filter(destination.filter)))
        let batch = destination.batch
        pairs.append(
            (
                "batch",
                "max_events \(batch.maxEvents), max_bytes \(batch.maxBytes), max_wait \(batch.maxWait.configText)"
            )
        )
        pairs.append(("concurrency", "\(destination.concurrency)"))
        pairs.append(("rate_limit", destination.rateLimit.map { "\(number($0))/s" } ?? "unlimited"))
        let retry = destination.retry
        pairs.append(
            (
                "retry",
                "initial_backoff \(retry.initialBackoff.configText), max_backoff \(retry.maxBackoff.configText), "
                    + "max_age \(retry.maxAge.configText), max_attempts "
                    + (retry.maxAttempts.map(String.init) ?? "unlimited")
            )
        )
        pairs.append(("timeout", destination.timeout.configText))
        return pairs
    }

    private static func filter(_ filter: EventFilterSettings) -> String {
        if filter.acceptsEverything { return "all events" }
        var parts: [String] = []
        if !filter.types.isEmpty { parts.append("types [\(filter.types.joined(separator: ", "))]") }
        if !filter.events.isEmpty { parts.append("events [\(filter.events.joined(separator: ", "))]") }
        if !filter.excludeEvents.isEmpty {
            parts.append("exclude_events [\(filter.excludeEvents.joined(separator: ", "))]")
        }
        if !filter.paths.isEmpty { parts.append("paths [\(filter.paths.joined(separator: ", "))]") }
        if let identified = filter.identified { parts.append(identified ? "identified only" : "anonymous only") }
        return parts.joined(separator: "; ")
    }

    /// `100` rather than `100.0`.
    private static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }
}
