/// One node of the config file, independent of the YAML library: a scalar's text, an ordered
/// mapping, a sequence or null, with the file, line and key path that errors point at.
///
/// Scalars keep their text as written (after `${VAR}` interpolation): `yes`, `0x10` and `1e3` are
/// strings until a typed reader (``ConfigMapping``, `ConfigNode+Readers.swift`) reads them, so the
/// loader decides what a value means, not YAML 1.1's implicit typing.
///
/// Invariants kept by the loader: mapping keys are unique and in file order; `path` of a mapping
/// entry is the parent's path plus `.key`, of a sequence element the parent's path plus `[index]`
/// (0-based); `line` of a mapping entry is the line of its key, so a nested mapping (`retry:` on one
/// line, its keys below) is reported at the `retry:` line.
public struct ConfigNode: Sendable, Equatable {
    /// The shape and content of a node.
    public enum Value: Sendable, Equatable {
        /// A scalar's text as written (quoted or not). An empty quoted string is `.scalar("")`.
        case scalar(String)
        /// Key–node pairs in file order; keys are unique.
        case mapping([(key: String, node: ConfigNode)])
        /// Elements in file order.
        case sequence([ConfigNode])
        /// An unquoted empty value, `~` or `null`.
        case null

        public static func == (lhs: Value, rhs: Value) -> Bool {
            switch (lhs, rhs) {
            case (.scalar(let a), .scalar(let b)):
                return a == b
            case (.mapping(let a), .mapping(let b)):
                return a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.node == $1.node }
            case (.sequence(let a), .sequence(let b)):
                return a == b
            case (.null, .null):
                return true
            default:
                return false
            }
        }
    }

    /// What this node holds.
    public var value: Value
    /// 1-based line in `file` (for a mapping entry: the line of its key).
    public var line: Int
    /// Key path like `destinations[1].retry.max_age`; `""` for the root.
    public var path: String
    /// The config file as the operator named it; carried so every reader can build a full ``ConfigError``.
    public var file: String

    /// Creates a node. `path` and `line` should follow the invariants above.
    public init(_ value: Value, line: Int, path: String, file: String) {
        self.value = value
        self.line = line
        self.path = path
        self.file = file
    }

    /// The path of `key` inside the mapping at `parent`: `retry` + `max_age` → `retry.max_age`.
    public static func childPath(_ parent: String, key: String) -> String {
        parent.isEmpty ? key : parent + "." + key
    }

    /// The path of element `index` of the sequence at `parent`: `destinations` + 1 → `destinations[1]`.
    public static func elementPath(_ parent: String, index: Int) -> String {
        parent + "[\(index)]"
    }
}
