/// A problem in the config file, located by file, line and key path.
///
/// `description` is the one line an operator reads:
///
///     config/switchyard.yaml:14: destinations[1].retry.max_age: expected a duration like 4h, got "four hours"
///
/// Parts that are unknown are left out rather than invented: `line` is `0` when the problem has no
/// line (the file cannot be read), and `keyPath` is `""` for the document itself (a YAML syntax
/// error). Key paths use 0-based sequence indexes.
///
/// Contract: `message` never contains the value of a secret-looking key (see
/// ``ConfigNode/isSecret``); the readers that build these errors say "got a value" instead.
public struct ConfigError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The config file as the operator named it, e.g. `config/switchyard.yaml`.
    public var file: String
    /// 1-based line in `file`; `0` when there is no line to point at.
    public var line: Int
    /// Key path like `destinations[1].retry.max_age`; `""` for the whole document.
    public var keyPath: String
    /// What is wrong and, where it helps, what would be right. Never a secret value.
    public var message: String

    /// Creates an error at an explicit location.
    public init(file: String, line: Int, keyPath: String, message: String) {
        self.file = file
        self.line = line
        self.keyPath = keyPath
        self.message = message
    }

    /// Creates an error located at `node` (its file, line and key path).
    public init(at node: ConfigNode, _ message: String) {
        self.init(file: node.file, line: node.line, keyPath: node.path, message: message)
    }

    /// `FILE:LINE: key.path: message`, leaving out a line of `0` and an empty key path.
    public var description: String {
        var text = file
        if line > 0 {
            text += ":\(line)"
        }
        text += ": "
        if !keyPath.isEmpty {
            text += keyPath + ": "
        }
        return text + message
    }
}
