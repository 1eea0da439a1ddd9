import Foundation
import SwitchyardCore

/// The resolved config file (SPEC §5): every section decoded, defaults filled in, `${VAR}` replaced.
///
/// Loading refuses, with a ``ConfigError`` naming file, line and key path: unknown keys at every
/// level, wrong types, missing required settings, duplicate source or destination names (at the
/// second one's line), a write key used by two sources, unknown destination types, unset
/// environment variables, YAML syntax errors, and an unreadable file.
public struct SwitchyardConfig: Sendable {
    /// The path the config was loaded from, as given (e.g. `config/switchyard.yaml`).
    public var file: String
    /// `server:`.
    public var server: ServerSettings
    /// `storage:`.
    public var storage: StorageSettings
    /// `retention:`.
    public var retention: RetentionSettings
    /// `sources:`; at least one, names and write keys unique.
    public var sources: [SourceSettings]
    /// `identity:`.
    public var identity: IdentitySettings
    /// `destinations:`, in file order, disabled ones included; names unique. May be empty.
    public var destinations: [DestinationSettings]

    /// The default config path, relative to the working directory.
    public static let defaultPath = "config/switchyard.yaml"

    /// The top-level keys.
    static let keys: Set<String> = ["server", "storage", "retention", "sources", "identity", "destinations"]

    /// Creates a config from decoded parts, for tests and embedders; files go through
    /// ``load(path:environment:destinationTypes:)``.
    public init(
        file: String = "",
        server: ServerSettings = ServerSettings(),
        storage: StorageSettings = StorageSettings(),
        retention: RetentionSettings = RetentionSettings(),
        sources: [SourceSettings],
        identity: IdentitySettings = IdentitySettings(),
        destinations: [DestinationSettings] = []
    ) {
        self.file = file
        self.server = server
        self.storage = storage
        self.retention = retention
        self.sources = sources
        self.identity = identity
        self.destinations = destinations
    }

    /// Reads and decodes the config file at `path`.
    ///
    /// - Parameters:
    ///   - path: the file; errors name it as given.
    ///   - environment: the variables `${VAR}` reads.
    ///   - destinationTypes: the types `type:` may name (production: `DestinationRegistry.catalog`).
    /// - Throws: ``ConfigError``, also for a missing or unreadable file (line 0) and YAML syntax errors.
    public static func load(
        path: String,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        destinationTypes: DestinationTypeCatalog
    ) throws -> SwitchyardConfig {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ConfigError(file: path, line: 0, keyPath: "", message: "config file not found")
        }
        guard !isDirectory.boolValue else {
            throw ConfigError(file: path, line: 0, keyPath: "", message: "is a directory, not a config file")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(file: path, line: 0, keyPath: "", message: "cannot read the config file")
        }
        guard let yaml = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: path, line: 0, keyPath: "", message: "the config file is not UTF-8 text")
        }
        return try parse(yaml: yaml, file: path, environment: environment, destinationTypes: destinationTypes)
    }

    /// Decodes config text; `file` is only used to name the source in errors and ``file``.
    ///
    /// - Throws: ``ConfigError``.
    public static func parse(
        yaml: String,
        file: String,
        environment: [String: String],
        destinationTypes: DestinationTypeCatalog
    ) throws -> SwitchyardConfig {
        let parsed = try YAMLReader.read(yaml, file: file)
        let root = try EnvironmentInterpolation.resolve(parsed, environment: environment)
        guard case .mapping = root.value else {
            throw root.error("expected a mapping of sections (server, storage, sources, …) at the top level")
        }
        let mapping = try root.mapping()
        try mapping.rejectUnknownKeys(allowed: keys)
        let server = try ServerSettings(mapping.mapping("server"))
        return SwitchyardConfig(
            file: file,
            server: server,
            storage: try StorageSettings(mapping.mapping("storage")),
            retention: try RetentionSettings(mapping.mapping("retention")),
            sources: try decodeSources(mapping, listen: server.listen),
            identity: try IdentitySettings(mapping.mapping("identity")),
            destinations: try decodeDestinations(mapping, types: destinationTypes)
        )
    }

    private static func decodeSources(_ root: ConfigMapping, listen: ListenAddress) throws -> [SourceSettings] {
        let nodes = try root.sequence("sources")
        guard !nodes.isEmpty else {
            let at = root.entry("sources") ?? root.node
            throw ConfigError(
                file: at.file,
                line: at.line,
                keyPath: "sources",
                message: "at least one source is required (a name and a write_key)"
            )
        }
        var sources: [SourceSettings] = []
        for node in nodes {
            let source = try SourceSettings(node)
            if let first = sources.first(where: { $0.name == source.name }) {
                throw try node.mapping().required("name")
                    .error("duplicate source name \(source.name.debugDescription); first used at line \(first.line)")
            }
            if let first = sources.first(where: { $0.writeKey == source.writeKey }) {
                throw try node.mapping().required("write_key")
                    .error("this write key is already used by source \(first.name.debugDescription)")
            }
            // The default config's key is in the repository for anyone to read: fine on loopback, an open
            // door on a network.
            if source.writeKey == SourceSettings.developmentWriteKey, !listen.isLoopback {
                throw try node.mapping().required("write_key")
                    .error(
                        "the development write key \(SourceSettings.developmentWriteKey) is public; it is refused while "
                            + "server.listen (\(listen)) is not a loopback address: set a secret write key")
            }
            sources.append(source)
        }
        return sources
    }

    private static func decodeDestinations(
        _ root: ConfigMapping,
        types: DestinationTypeCatalog
    ) throws -> [DestinationSettings] {
        var destinations: [DestinationSettings] = []
        for node in try root.sequence("destinations") {
            let destination = try DestinationSettings(node, types: types)
            if let first = destinations.first(where: { $0.name == destination.name }) {
                throw try node.mapping().required("name").error(
                    "duplicate destination name \(destination.name.debugDescription); first used at line \(first.line)"
                )
            }
            destinations.append(destination)
        }
        return destinations
    }
}
