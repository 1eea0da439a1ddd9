import SwitchyardCore
import Yams

/// Turns YAML text into a ``ConfigNode`` tree with lines and key paths, translating Yams' errors into
/// ``ConfigError``s with a line.
///
/// - Scalars keep their text as written; an unquoted empty value, `~` or `null` becomes `.null`.
/// - Mapping keys must be scalars; duplicate keys are an error at the second occurrence's line.
/// - Aliases (`*name`) are expanded by Yams, and keep the line of their anchor.
/// - An empty document is an empty mapping at line 1.
enum YAMLReader {
    static func read(_ yaml: String, file: String) throws -> ConfigNode {
        // Editors on Windows save a byte order mark; libyaml, told the encoding, would refuse it.
        let yaml = yaml.hasPrefix("\u{FEFF}") ? String(yaml.dropFirst()) : yaml
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw translate(error, yaml: yaml, file: file)
        }
        guard let root else {
            return ConfigNode(.mapping([]), line: 1, path: "", file: file)
        }
        return try convert(root, line: root.mark?.line ?? 1, path: "", file: file)
    }

    private static func convert(_ node: Node, line: Int, path: String, file: String) throws -> ConfigNode {
        switch node {
        case .scalar(let scalar):
            // YAML's null spellings, only when unquoted: `key: ""` is an empty string.
            let isNull = scalar.style == .plain && ["", "~", "null", "Null", "NULL"].contains(scalar.string)
            return ConfigNode(isNull ? .null : .scalar(scalar.string), line: line, path: path, file: file)
        case .mapping(let mapping):
            var entries: [(key: String, node: ConfigNode)] = []
            for (keyNode, valueNode) in mapping {
                let keyLine = keyNode.mark?.line ?? line
                guard case .scalar(let key) = keyNode else {
                    throw ConfigError(
                        file: file, line: keyLine, keyPath: path, message: "mapping keys must be plain strings"
                    )
                }
                let childPath = ConfigNode.childPath(path, key: key.string)
                entries.append((key.string, try convert(valueNode, line: keyLine, path: childPath, file: file)))
            }
            return ConfigNode(.mapping(entries), line: line, path: path, file: file)
        case .sequence(let sequence):
            var elements: [ConfigNode] = []
            for (index, element) in sequence.enumerated() {
                let elementPath = ConfigNode.elementPath(path, index: index)
                elements.append(try convert(element, line: element.mark?.line ?? line, path: elementPath, file: file))
            }
            return ConfigNode(.sequence(elements), line: line, path: path, file: file)
        case .alias:
            // Yams.compose resolves aliases to their anchored node; an alias left here has no value.
            throw ConfigError(file: file, line: line, keyPath: path, message: "unresolved YAML alias")
        }
    }

    private static func translate(_ error: YamlError, yaml: String, file: String) -> ConfigError {
        func syntax(_ problem: String, _ context: YamlError.Context?, _ mark: Mark) -> ConfigError {
            var message = "invalid YAML: \(problem)"
            var line = mark.line
            if let context {
                message += " (\(context.text) at line \(context.mark.line))"
                // Found at the end of the text (an unclosed quote or bracket): the construct that
                // was left open is where the fix goes.
                let lines = yaml.split(separator: "\n", omittingEmptySubsequences: false)
                let atEnd =
                    mark.line > lines.count
                    || (mark.line == lines.count && mark.column > (lines.last?.unicodeScalars.count ?? 0))
                if atEnd {
                    line = context.mark.line
                }
            }
            return ConfigError(file: file, line: line, keyPath: "", message: message)
        }
        switch error {
        case .scanner(let context, let problem, let mark, _),
            .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            return syntax(problem, context, mark)
        case .reader(let problem, let offset, _, _):
            let line = offset.map { offset in yaml.prefix(offset).count { $0 == "\n" } + 1 } ?? 0
            return ConfigError(file: file, line: line, keyPath: "", message: "cannot read the YAML text: \(problem)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            let key = duplicates.first ?? ""
            return ConfigError(
                file: file,
                line: secondOccurrence(of: key, after: context.mark, in: yaml),
                keyPath: "",
                message: "duplicate key \(key.debugDescription); each key may appear only once in a mapping"
            )
        default:
            return ConfigError(file: file, line: 0, keyPath: "", message: "invalid YAML: \(error)")
        }
    }

    /// Yams reports a duplicate key at its first occurrence; operators fix the second. Looks for the
    /// next line with the same key at the same column (block style), else keeps the first line.
    private static func secondOccurrence(of key: String, after first: Mark, in yaml: String) -> Int {
        let lines = yaml.split(separator: "\n", omittingEmptySubsequences: false)
        guard first.line >= 1, first.column >= 1 else { return first.line }
        for index in first.line..<lines.count {
            let scalars = lines[index].unicodeScalars
            guard scalars.count >= first.column else { continue }
            let lead = scalars.prefix(first.column - 1)
            guard lead.allSatisfy({ $0 == " " || $0 == "-" }) else {
                continue
            }
            let rest = String(String.UnicodeScalarView(scalars.dropFirst(first.column - 1)))
            if rest.hasPrefix(key), rest.dropFirst(key.count).drop(while: { $0 == " " }).first == ":" {
                return index + 1
            }
        }
        return first.line
    }
}
