/// The destination types a config may name, each with its keys and its settings decoder.
///
/// A value, so the loader and tests can use any set of types; production uses the catalog that
/// `SwitchyardDestinations` publishes (`DestinationRegistry.catalog`), the only list of all types.
public struct DestinationTypeCatalog: Sendable {
    /// Decodes one destination's type-specific settings from its whole mapping node.
    public typealias Decoder = @Sendable (ConfigNode) throws -> any DestinationTypeSettings

    /// One registered type.
    public struct Entry: Sendable {
        /// The `type:` word.
        public var type: String
        /// The type's own keys, besides the common ones.
        public var keys: Set<String>
        /// The type's settings decoder.
        public var decode: Decoder

        /// Creates an entry from its parts.
        public init(type: String, keys: Set<String>, decode: @escaping Decoder) {
            self.type = type
            self.keys = keys
            self.decode = decode
        }
    }

    private var entries: [String: Entry] = [:]

    /// An empty catalog.
    public init() {}

    /// A catalog of `types`. Precondition: their `type` words are distinct.
    public init(_ types: [any DestinationTypeSettings.Type]) {
        for type in types {
            register(type)
        }
    }

    /// Adds `settingsType` under its ``DestinationTypeSettings/type`` word.
    /// Precondition: no type with that word is registered yet.
    public mutating func register<Settings: DestinationTypeSettings>(_ settingsType: Settings.Type) {
        register(Entry(type: Settings.type, keys: Settings.keys) { node in try Settings(node: node) })
    }

    /// Adds `entry`. Precondition: no type with the same word is registered yet.
    public mutating func register(_ entry: Entry) {
        precondition(entries[entry.type] == nil, "destination type \(entry.type) is registered twice")
        entries[entry.type] = entry
    }

    /// The entry for the `type:` word, or `nil` when no such type is registered.
    public func entry(for type: String) -> Entry? {
        entries[type]
    }

    /// Every registered `type:` word, sorted.
    public var typeNames: [String] {
        entries.keys.sorted()
    }
}
