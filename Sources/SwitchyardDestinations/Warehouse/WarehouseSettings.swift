import SwitchyardCore

/// Settings of a `type: warehouse` destination: gzipped NDJSON files under `path`.
///
/// Keys: `path` (required; created if missing), `rotate` with `max_bytes` (default `64MiB`) and
/// `max_age` (default `5m`): an open file is closed and renamed once it reaches either.
public struct WarehouseSettings: DestinationTypeSettings {
    public static let type = "warehouse"
    public static let keys: Set<String> = ["path", "rotate"]

    /// `path`: the root folder of `<source>/<table>/dt=YYYY-MM-DD/` and `_manifests/`.
    public var path: String
    /// `rotate.max_bytes`: rotate when a file's uncompressed bytes reach this; default `64MiB`, more than 0.
    public var rotateMaxBytes: ByteSize
    /// `rotate.max_age`: rotate when the file has been open this long; default `5m`, more than 0.
    public var rotateMaxAge: Duration

    /// Creates settings directly (tests, embedders).
    public init(path: String, rotateMaxBytes: ByteSize = .mebibytes(64), rotateMaxAge: Duration = .seconds(300)) {
        self.path = path
        self.rotateMaxBytes = rotateMaxBytes
        self.rotateMaxAge = rotateMaxAge
    }

    public init(node: ConfigNode) throws {
        let mapping = try node.mapping()
        path = try mapping.string("path")
        let rotate = try mapping.mapping("rotate")
        try rotate.rejectUnknownKeys(allowed: ["max_bytes", "max_age"])
        rotateMaxBytes = try rotate.size("max_bytes", default: .mebibytes(64))
        rotateMaxAge = try rotate.duration("max_age", default: .seconds(300))
        if rotateMaxBytes.bytes == 0, let bad = rotate["max_bytes"] {
            throw bad.error("must be greater than 0")
        }
        if rotateMaxAge <= .zero, let bad = rotate["max_age"] {
            throw bad.error("must be greater than 0")
        }
    }

    public var summary: [(key: String, value: String)] {
        [
            ("path", path),
            ("rotate", "max_bytes \(rotateMaxBytes), max_age \(rotateMaxAge.configText)"),
        ]
    }
}
