import SwitchyardCore

/// One entry of `destinations:`: the keys every destination takes, plus its type's own settings.
public struct DestinationSettings: Sendable {
    /// `name`: unique among destinations; 1–64 letters, digits, `.`, `_`, `-`. Used in the admin API,
    /// metrics, and the `integrations` object of events (`{"crm-hook": false}`).
    public var name: String
    /// `type`: a registered destination type word (`webhook`, `warehouse`, `mixpanel`, …).
    public var type: String
    /// `enabled`: default `true`. A disabled destination is validated but receives nothing.
    public var enabled: Bool
    /// `anonymous`: `forward` (default) | `hold` | `drop`.
    public var anonymous: AnonymousPolicy
    /// `hold_ttl`: held events older than this are dropped and counted; default `30d`.
    public var holdTTL: Duration
    /// `hold_max_age`: held events older than this when their anonymous id merges are dropped (counted)
    /// instead of replayed — for receivers that refuse old events; nil (default): as old as `hold_ttl` allows.
    public var holdMaxAge: Duration?
    /// `filter`: which events this destination receives; default all.
    public var filter: EventFilterSettings
    /// `batch`: batching limits.
    public var batch: BatchSettings
    /// `concurrency`: requests in flight at once; default 1, 1 to 1000.
    public var concurrency: Int
    /// `rate_limit`: events per second sent at most; `nil` (default) means unlimited. More than 0.
    public var rateLimit: Double?
    /// `retry`: backoff and give-up rules.
    public var retry: RetrySettings
    /// `timeout`: for one request; default `10s`, more than 0.
    public var timeout: Duration
    /// The line of this destination's entry in the config file.
    public var line: Int
    /// The whole mapping of this destination, after `${VAR}` interpolation.
    public var node: ConfigNode
    /// The type's own settings, decoded by the type registered for ``type``; cast to the concrete type
    /// (`settings.typeSettings as? WebhookSettings`) where it is used.
    public var typeSettings: any DestinationTypeSettings

    /// The keys every destination takes, besides its type's own.
    public static let commonKeys: Set<String> = [
        "name", "type", "enabled", "anonymous", "hold_ttl", "hold_max_age", "filter", "batch", "concurrency", "rate_limit", "retry",
        "timeout",
    ]

    /// Creates destination settings from their parts; every default is the one documented on its property.
    public init(
        name: String,
        typeSettings: any DestinationTypeSettings,
        enabled: Bool = true,
        anonymous: AnonymousPolicy = .forward,
        holdTTL: Duration = .seconds(30 * 86_400),
        holdMaxAge: Duration? = nil,
        filter: EventFilterSettings = EventFilterSettings(),
        batch: BatchSettings = BatchSettings(),
        concurrency: Int = 1,
        rateLimit: Double? = nil,
        retry: RetrySettings = RetrySettings(),
        timeout: Duration = .seconds(10),
        line: Int = 0,
        node: ConfigNode? = nil
    ) {
        self.name = name
        self.type = Swift.type(of: typeSettings).type
        self.typeSettings = typeSettings
        self.enabled = enabled
        self.anonymous = anonymous
        self.holdTTL = holdTTL
        self.holdMaxAge = holdMaxAge
        self.filter = filter
        self.batch = batch
        self.concurrency = concurrency
        self.rateLimit = rateLimit
        self.retry = retry
        self.timeout = timeout
        self.line = line
        self.node = node ?? ConfigNode(.mapping([]), line: line, path: "", file: "")
    }

    /// Decodes one `destinations:` entry: the common keys here, the rest by its type's decoder.
    /// Unknown keys are refused against the common keys plus the type's ``DestinationTypeSettings/keys``.
    init(_ node: ConfigNode, types: DestinationTypeCatalog) throws {
        let mapping = try node.mapping()
        let name = try ConfigName.read(mapping.required("name"))
        let typeNode = try mapping.required("type")
        let typeName = try typeNode.nonEmptyString()
        guard let entry = types.entry(for: typeName) else {
            let known =
                types.typeNames.isEmpty
                ? "no destination types are registered"
                : "expected one of: " + types.typeNames.joined(separator: ", ")
            throw typeNode.error("unknown destination type \(typeName.debugDescription); " + known)
        }
        try mapping.rejectUnknownKeys(allowed: Self.commonKeys.union(entry.keys))
        let timeout = try mapping.duration("timeout", default: .seconds(10))
        if timeout <= .zero, let timeoutNode = mapping["timeout"] {
            throw timeoutNode.error("must be greater than 0")
        }
        // Common keys first, then the type's, so errors come roughly in the order an operator reads.
        let enabled = try mapping.bool("enabled", default: true)
        let anonymous = try mapping.choice("anonymous", default: AnonymousPolicy.forward)
        let holdTTL = try mapping.duration("hold_ttl", default: .seconds(30 * 86_400))
        let holdMaxAge = try mapping.optionalDuration("hold_max_age")
        if let holdMaxAge, holdMaxAge <= .zero, let node = mapping["hold_max_age"] {
            throw node.error("must be greater than 0")
        }
        let filter = try EventFilterSettings(mapping.mapping("filter"))
        let batch = try BatchSettings(mapping.mapping("batch"))
        let concurrency = try mapping.int("concurrency", default: 1, in: 1...1000)
        let rateLimit = try mapping.optionalPositiveNumber("rate_limit")
        let retry = try RetrySettings(mapping.mapping("retry"))
        self.init(
            name: name,
            typeSettings: try entry.decode(node),
            enabled: enabled,
            anonymous: anonymous,
            holdTTL: holdTTL,
            holdMaxAge: holdMaxAge,
            filter: filter,
            batch: batch,
            concurrency: concurrency,
            rateLimit: rateLimit,
            retry: retry,
            timeout: timeout,
            line: node.line,
            node: node
        )
        // The catalog's word is authoritative even if a decoder's static `type` differs.
        self.type = entry.type
    }
}
