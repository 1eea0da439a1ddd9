import SwitchyardCore

/// One entry of `sources:`: a sender of events, authenticated by its write key.
public struct SourceSettings: Sendable {
    /// `name`: unique among sources; 1–64 letters, digits, `.`, `_`, `-`.
    public var name: String
    /// `write_key`: required, non-empty, unique across sources. Secret: never logged or printed whole.
    public var writeKey: String
    /// `rate_limit`: events per second accepted from this source before ingest answers `429`;
    /// `nil` (the default) means unlimited. Greater than 0.
    public var rateLimit: Double?
    /// The line of this source's entry in the config file.
    public var line: Int

    static let keys: Set<String> = ["name", "write_key", "rate_limit"]

    /// Creates a source.
    public init(name: String, writeKey: String, rateLimit: Double? = nil, line: Int = 0) {
        self.name = name
        self.writeKey = writeKey
        self.rateLimit = rateLimit
        self.line = line
    }

    init(_ node: ConfigNode) throws {
        let mapping = try node.mapping()
        try mapping.rejectUnknownKeys(allowed: Self.keys)
        self.init(
            name: try ConfigName.read(mapping.required("name")),
            writeKey: try mapping.string("write_key"),
            rateLimit: try mapping.optionalPositiveNumber("rate_limit"),
            line: node.line
        )
    }
}
