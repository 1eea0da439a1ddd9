/// Reads the keys of one config mapping with types, defaults and errors that point at the file.
///
/// A destination type decodes its own settings in a few lines:
///
/// ```swift
/// let settings = try node.mapping()
/// url = try settings.url("url")
/// headers = try settings.stringMap("headers")
/// let rotate = try settings.mapping("rotate")
/// try rotate.rejectUnknownKeys(allowed: ["max_bytes", "max_age"])
/// maxAge = try rotate.duration("max_age", default: .seconds(300))
/// ```
///
/// Rules every reader follows:
/// - An absent key, or one whose value is null (`key:` with nothing, `~`), takes the default; a
///   required key that is absent is reported at the **mapping's** line as `required key is missing`.
/// - Optional strings treat `""` as absent, so `${VAR:-}` switches a setting off.
/// - A present value of the wrong type is reported at the value's line with what was expected.
public struct ConfigMapping: Sendable {
    /// The mapping node itself (or, for an absent nested mapping, an empty stand-in at the parent's line).
    public let node: ConfigNode
    /// The entries in file order.
    public let entries: [(key: String, node: ConfigNode)]

    /// Reads `node` as a mapping; null reads as empty. Throws `expected a mapping` otherwise.
    public init(_ node: ConfigNode) throws {
        switch node.value {
        case .mapping(let entries): self.entries = entries
        case .null: self.entries = []
        default: throw node.expected("a mapping")
        }
        self.node = node
    }

    /// The keys in file order.
    public var keys: [String] { entries.map(\.key) }

    /// The node for `key`, including a null one; `nil` when the key is absent.
    public func entry(_ key: String) -> ConfigNode? {
        entries.first { $0.key == key }?.node
    }

    /// The node for `key` when it is present and not null.
    public subscript(key: String) -> ConfigNode? {
        guard let node = entry(key), !node.isNull else { return nil }
        return node
    }

    /// True when `key` is present with a non-null value.
    public func contains(_ key: String) -> Bool {
        self[key] != nil
    }

    /// The error for a required `key` that is absent, at this mapping's line.
    public func missing(_ key: String) -> ConfigError {
        ConfigError(
            file: node.file,
            line: node.line,
            keyPath: ConfigNode.childPath(node.path, key: key),
            message: "required key is missing"
        )
    }

    /// The node for a required `key`; absent or null is ``missing(_:)``.
    public func required(_ key: String) throws -> ConfigNode {
        if let value = self[key] { return value }
        if let present = entry(key) { throw present.error("must not be empty") }
        throw missing(key)
    }

    /// Errors on the first key (in file order) not in `allowed`:
    /// `unknown key; expected one of: a, b, c` (sorted), at that key's line.
    public func rejectUnknownKeys(allowed: Set<String>) throws {
        if let unknown = entries.first(where: { !allowed.contains($0.key) }) {
            throw unknown.node.error("unknown key; expected one of: " + allowed.sorted().joined(separator: ", "))
        }
    }

    // MARK: Strings

    /// A required, non-empty string.
    public func string(_ key: String) throws -> String {
        try required(key).nonEmptyString()
    }

    /// A string, or `nil` when absent, null or `""`.
    public func optionalString(_ key: String) throws -> String? {
        guard let value = self[key] else { return nil }
        let text = try value.string()
        return text.isEmpty ? nil : text
    }

    /// A string, or `defaultValue` when absent, null or `""`.
    public func string(_ key: String, default defaultValue: String) throws -> String {
        try optionalString(key) ?? defaultValue
    }

    /// A list of strings, or `defaultValue` when absent or null. A single string is refused: write `[a]`.
    public func stringList(_ key: String, default defaultValue: [String] = []) throws -> [String] {
        try self[key]?.stringList() ?? defaultValue
    }

    /// A list of strings, or `nil` when absent or null.
    public func optionalStringList(_ key: String) throws -> [String]? {
        try self[key]?.stringList()
    }

    /// A string-to-string mapping (e.g. `headers`), or empty when absent or null.
    public func stringMap(_ key: String) throws -> [String: String] {
        try self[key]?.stringMap() ?? [:]
    }

    /// A required absolute URL with one of `schemes` (see ``ConfigNode/url(schemes:)``).
    public func url(_ key: String, schemes: [String] = ["http", "https"]) throws -> String {
        try required(key).url(schemes: schemes)
    }

    /// An absolute URL, or `nil` when absent, null or `""`.
    public func optionalURL(_ key: String, schemes: [String] = ["http", "https"]) throws -> String? {
        guard let value = self[key], value.scalarText != "" else { return nil }
        return try value.url(schemes: schemes)
    }

    /// A vendor base URL (see ``ConfigNode/baseURL()``), or `nil` when absent, null or `""`.
    public func optionalBaseURL(_ key: String) throws -> String? {
        guard let value = self[key], value.scalarText != "" else { return nil }
        return try value.baseURL()
    }

    // MARK: Scalars

    /// `true`/`false`, or `defaultValue` when absent or null.
    public func bool(_ key: String, default defaultValue: Bool) throws -> Bool {
        try self[key]?.bool() ?? defaultValue
    }

    /// `true`/`false`, or `nil` when absent or null.
    public func optionalBool(_ key: String) throws -> Bool? {
        try self[key]?.bool()
    }

    /// A whole number in `range`, or `defaultValue` when absent or null.
    public func int(_ key: String, default defaultValue: Int, in range: ClosedRange<Int>? = nil) throws -> Int {
        try self[key]?.int(in: range) ?? defaultValue
    }

    /// A whole number in `range`, or `nil` when absent or null.
    public func optionalInt(_ key: String, in range: ClosedRange<Int>? = nil) throws -> Int? {
        try self[key]?.int(in: range)
    }

    /// A number greater than zero, or `nil` when absent or null.
    public func optionalPositiveNumber(_ key: String) throws -> Double? {
        try self[key]?.positiveNumber()
    }

    /// A duration, or `defaultValue` when absent or null.
    public func duration(_ key: String, default defaultValue: Duration) throws -> Duration {
        try self[key]?.duration() ?? defaultValue
    }

    /// A duration, or `nil` when absent or null.
    public func optionalDuration(_ key: String) throws -> Duration? {
        try self[key]?.duration()
    }

    /// A size, or `defaultValue` when absent or null.
    public func size(_ key: String, default defaultValue: ByteSize) throws -> ByteSize {
        try self[key]?.size() ?? defaultValue
    }

    /// One of `words`, or `defaultValue` when absent or null.
    public func word(_ key: String, oneOf words: [String], default defaultValue: String) throws -> String {
        try self[key]?.word(oneOf: words) ?? defaultValue
    }

    /// A case of `E` by raw value (`anonymous: hold`), or `defaultValue` when absent or null.
    public func choice<E: RawRepresentable & CaseIterable>(_ key: String, default defaultValue: E) throws -> E
    where E.RawValue == String {
        try self[key]?.choice(E.self) ?? defaultValue
    }

    // MARK: Containers

    /// The nested mapping at `key`. Absent or null reads as an empty mapping located at this mapping's
    /// line with the child's path, so its required keys are reported where the parent is.
    public func mapping(_ key: String) throws -> ConfigMapping {
        if let value = self[key] { return try value.mapping() }
        let standIn = ConfigNode(
            .mapping([]),
            line: node.line,
            path: ConfigNode.childPath(node.path, key: key),
            file: node.file
        )
        return try ConfigMapping(standIn)
    }

    /// The elements of the list at `key`; empty when absent or null.
    public func sequence(_ key: String) throws -> [ConfigNode] {
        try self[key]?.sequence() ?? []
    }
}
