import SwitchyardCore

/// Settings of a `type: warehouse` destination: gzipped NDJSON files under `path`.
///
/// Keys: `path` (required; created if missing), `rotate` with `max_bytes` (default `64MiB`) and
/// `max_age` (default `5m`): an open file is closed and renamed once it reaches either; `file_mode`
/// (default `"0600"`): the permissions of the files written.
public struct WarehouseSettings: DestinationTypeSettings {
    public static let type = "warehouse"
    public static let keys: Set<String> = ["path", "rotate", "file_mode"]

    /// Owner-only: events hold personal data.
    public static let defaultFileMode = 0o600

    /// `path`: the root folder of `<source>/<table>/dt=YYYY-MM-DD/` and `_manifests/`.
    public var path: String
    /// `rotate.max_bytes`: rotate when a file's uncompressed bytes reach this; default `64MiB`, more than 0.
    public var rotateMaxBytes: ByteSize
    /// `rotate.max_age`: rotate when the file has been open this long; default `5m`, more than 0.
    public var rotateMaxAge: Duration
    /// `file_mode`: octal permissions of data and manifest files, like `"0640"` to let a loader's group
    /// read them; default `0600`. The owner must keep read and write; no set-id or sticky bits. Folders
    /// the warehouse creates get the same bits plus search (`x`) wherever read is granted (`0640` → `0750`).
    public var fileMode: Int

    /// Creates settings directly (tests, embedders).
    public init(
        path: String, rotateMaxBytes: ByteSize = .mebibytes(64), rotateMaxAge: Duration = .seconds(300),
        fileMode: Int = WarehouseSettings.defaultFileMode
    ) {
        self.path = path
        self.rotateMaxBytes = rotateMaxBytes
        self.rotateMaxAge = rotateMaxAge
        self.fileMode = fileMode
    }

    /// The mode of folders the warehouse creates: `fileMode` plus `x` wherever `r` is set.
    public var folderMode: Int {
        fileMode | (fileMode & 0o444) >> 2
    }

    /// `"0640"`, `"640"` or `0640` (octal digits, 3 or 4 of them) as a mode, or nil.
    static func parseFileMode(_ text: String) -> Int? {
        let digits = text.hasPrefix("0o") ? Substring(text.dropFirst(2)) : Substring(text)
        guard (3...4).contains(digits.count), digits.allSatisfy({ ("0"..."7").contains($0) }),
            let mode = Int(digits, radix: 8), mode <= 0o777, mode & 0o600 == 0o600
        else { return nil }
        return mode
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
        fileMode = Self.defaultFileMode
        if let node = mapping["file_mode"] {
            guard let mode = Self.parseFileMode(try node.string()) else {
                throw node.expected(
                    "octal permissions like \"0640\" that keep the owner's read and write (0600 to 0777)")
            }
            fileMode = mode
        }
    }

    /// None: the warehouse writes files and holds no credential.
    public var secretValues: [String] { [] }

    public var summary: [(key: String, value: String)] {
        [
            ("path", path),
            ("rotate", "max_bytes \(rotateMaxBytes), max_age \(rotateMaxAge.configText)"),
            ("file_mode", "0" + String(fileMode, radix: 8)),
        ]
    }
}
